// One history, one queue, across real processes on one --db: two web hosts and `isd train` processes.
// The repro (serve 1 pauses A and queues C; serve 2 resumes then pauses C; serve 1 stops A and
// trains C; serve 2 resumes C again) must not train C twice; a CLI run waits behind the host's run and
// says so, Ctrl-C takes a waiting CLI run out; queued runs of a killed process can be resumed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HOST_JS,
  HostClient,
  endProcess,
  runIsdProcess,
  startHostProcess,
  type HostProcess,
} from './host-test-support';

const ENGINE = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
/** 2 epochs × 4 steps. */
const SHORT = { dataset: 'sample', trainLimit: 64, batchSize: 16, queueSize: 64, epochs: 2, imageSize: 0 };
/** 4 epochs × 8 steps: long enough to pause and look around. */
const LONGER = { ...SHORT, trainLimit: 128, epochs: 4 };

let dir: string;
let db: string;
const hosts: HostProcess[] = [];

async function host(): Promise<HostProcess> {
  const h = await startHostProcess(db, ENGINE, path.join(dir, 'no-renderer'));
  hosts.push(h);
  return h;
}

function rows<T>(sql: string, ...params: unknown[]): T[] {
  const raw = new Database(db, { readonly: true });
  try {
    return raw.prepare(sql).all(...params) as T[];
  } finally {
    raw.close();
  }
}

beforeAll(() => {
  if (!fs.existsSync(HOST_JS)) throw new Error(`${HOST_JS} is missing: build first (npx tsc -p tsconfig.node.json)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-queue-'));
  db = path.join(dir, 'history.db');
});

afterAll(async () => {
  for (const h of hosts) await endProcess(h.child, 'SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('one history, one queue', () => {
  it('never trains a run twice in two hosts, and a CLI run waits behind the host and says so', async () => {
    const h1 = await host();
    const h2 = await host();
    const c1 = await HostClient.open(h1);
    const c2 = await HostClient.open(h2);
    try {
      const a = await c1.value('runs.start', { config: { ...LONGER, name: 'A' } });
      await c1.waitFor('run.progress', (p) => p.runId === a.id);
      await c1.value('runs.pause', { id: a.id });
      await c1.waitFor('run.status', (p) => p.runId === a.id && p.status === 'paused');
      const c = await c1.value('runs.start', { config: { ...SHORT, name: 'C' } });
      expect(c.status).toBe('queued');

      // Serve 2 may neither take C out of serve 1's queue nor train a second run while A is paused there.
      const resumed = await c2.call('runs.resume', { id: c.id });
      expect(resumed.ok).toBe(false);
      if (!resumed.ok) expect(resumed.error.message).toMatch(new RegExp(`queued in process ${h1.child.pid}`));
      const d = await c2.value('runs.start', { config: { ...SHORT, name: 'D' } });
      expect(d.status).toBe('queued'); // waits behind A, held paused by serve 1

      await c1.value('runs.stop', { id: a.id });
      await c1.waitFor('run.status', (p) => p.runId === c.id && p.status === 'completed');
      const again = await c2.call('runs.resume', { id: c.id });
      expect(again.ok).toBe(false);
      if (!again.ok) expect(again.error.code).toBe('CONFLICT');

      // While serve 2 trains D, a CLI run joins the queue behind it and says so.
      await c2.waitFor('run.status', (p) => p.runId === d.id && p.status === 'running');
      const cli = await runIsdProcess(
        [
          'train',
          '--db',
          db,
          '--dataset',
          'sample',
          '--train-limit',
          '64',
          '--batch-size',
          '16',
          '--queue-size',
          '64',
          '--epochs',
          '1',
          '--name',
          'E',
          '--json',
        ],
        ENGINE,
      );
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stderr).toMatch(
        new RegExp(`waits in the history's queue behind run ${d.id} \\(D\\), training in process ${h2.child.pid}`),
      );
      // --json's first line says the same: queued, behind whom.
      expect(JSON.parse(cli.stdout.split('\n')[0])).toMatchObject({
        type: 'start',
        name: 'E',
        status: 'queued',
        waitingBehind: { runId: d.id, name: 'D', pid: h2.child.pid },
      });
      await c2.waitFor('run.status', (p) => p.runId === d.id && p.status === 'completed');

      const runs = rows<{ id: string; name: string; status: string; startedAt: number; finishedAt: number }>(
        'SELECT id, name, status, started_at AS startedAt, finished_at AS finishedAt FROM runs ORDER BY created_at',
      );
      expect(runs.map((r) => [r.name, r.status])).toEqual([
        ['A', 'stopped'],
        ['C', 'completed'],
        ['D', 'completed'],
        ['E', 'completed'],
      ]);
      // None trained at the same time as another, none twice: steps unique, one final checkpoint each.
      const byName = new Map(runs.map((r) => [r.name, r]));
      expect(byName.get('D')!.startedAt).toBeGreaterThanOrEqual(byName.get('A')!.finishedAt);
      expect(byName.get('E')!.startedAt).toBeGreaterThanOrEqual(byName.get('D')!.finishedAt);
      for (const r of runs.filter((x) => x.status === 'completed')) {
        const [steps] = rows<{ n: number; uniq: number }>(
          'SELECT COUNT(*) AS n, COUNT(DISTINCT step) AS uniq FROM step_metrics WHERE run_id = ?',
          r.id,
        );
        expect(steps.n).toBe(steps.uniq);
        const finals = rows<{ n: number }>(
          "SELECT COUNT(*) AS n FROM checkpoints WHERE run_id = ? AND kind = 'final'",
          r.id,
        );
        expect(finals[0].n, r.name).toBe(1);
      }
    } finally {
      c1.close();
      c2.close();
    }
  }, 400_000);

  it('Ctrl-C takes a waiting CLI run out of the queue; queued runs of a killed host can be resumed', async () => {
    const h1 = hosts[0];
    const c1 = await HostClient.open(h1);
    try {
      const busy = await c1.value('runs.start', { config: { ...LONGER, name: 'busy' } });
      await c1.waitFor('run.status', (p) => p.runId === busy.id && p.status === 'running');
      await c1.value('runs.pause', { id: busy.id });
      const waiting = await c1.value('runs.start', { config: { ...SHORT, name: 'left queued' } });
      expect(waiting.status).toBe('queued');

      const cli = await runIsdProcess(
        [
          'train',
          '--db',
          db,
          ...[
            '--dataset',
            'sample',
            '--train-limit',
            '64',
            '--batch-size',
            '16',
            '--queue-size',
            '64',
            '--name',
            'cancelled',
          ],
        ],
        ENGINE,
        {
          onSpawn: (child) => {
            let seen = '';
            child.stdout!.on('data', (d) => {
              seen += String(d);
              // Once: a second Ctrl-C while the CLI closes ends it at once, as it should.
              if (/waits in the history's queue/.test(seen) && !child.killed) child.kill('SIGINT');
            });
          },
        },
      );
      expect(cli.stdout).toMatch(/waits in the history's queue behind run/);
      expect(cli.code).toBe(130);
      const [cancelled] = rows<{ status: string; steps: number }>(
        "SELECT status, steps_done AS steps FROM runs WHERE name = 'cancelled'",
      );
      expect(cancelled).toEqual({ status: 'stopped', steps: 0 });

      await endProcess(h1.child, 'SIGKILL');
      const h3 = await host();
      const c3 = await HostClient.open(h3);
      try {
        const left = await c3.value('runs.get', { id: waiting.id });
        expect(left.run.status).toBe('stopped');
        expect(left.run.error?.code).toBe('INTERRUPTED');
        expect(left.canResume).toBe(true);
        await c3.value('runs.resume', { id: waiting.id });
        await c3.waitFor('run.status', (p) => p.runId === waiting.id && p.status === 'completed');
      } finally {
        c3.close();
      }
    } finally {
      c1.close();
    }
  }, 400_000);
});
