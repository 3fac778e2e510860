// Crash: the compiled web host (a child process) is killed with SIGKILL while a run trains, then
// started again on the same database. The run must come back interrupted, the database intact, and
// runs.resume must carry it from its last checkpoint to completion with every step recorded once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_JS, HostClient as Client, endProcess, startHostProcess, type HostProcess } from './host-test-support';

const ENGINE = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
/** 3 epochs × 8 steps, a checkpoint after every epoch. */
const CONFIG = {
  dataset: 'sample',
  trainLimit: 128,
  batchSize: 16,
  queueSize: 64,
  epochs: 3,
  checkpointEvery: 1,
  imageSize: 0,
  name: 'crash me',
};

let dir: string;
let dbPath: string;
const children: HostProcess[] = [];

async function startHost(): Promise<HostProcess> {
  const h = await startHostProcess(dbPath, ENGINE, path.join(dir, 'no-renderer'));
  children.push(h);
  return h;
}

beforeAll(() => {
  if (!fs.existsSync(HOST_JS)) throw new Error(`${HOST_JS} is missing: build first (npx tsc -p tsconfig.node.json)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-crash-'));
  dbPath = path.join(dir, 'history.db');
});

afterAll(() => {
  for (const c of children) c.child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('web host killed mid-run', () => {
  it('comes back interrupted with the database intact, and resumes from the checkpoint to completion', async () => {
    const first = await startHost();
    const c1 = await Client.open(first);
    const run = await c1.value('runs.start', { config: CONFIG });
    // Epoch 2 is under way: the epoch-1 checkpoint is on disk.
    await c1.waitFor('run.progress', (p) => p.runId === run.id && (p.epoch as number) >= 2 && (p.step as number) < 24);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    c1.close();

    const raw = new Database(dbPath, { readonly: true });
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      const row = raw.prepare('SELECT status, steps_done AS steps FROM runs WHERE id = ?').get(run.id) as {
        status: string;
        steps: number;
      };
      expect(row.status).toBe('running'); // nobody has looked yet
      expect(row.steps).toBeGreaterThanOrEqual(8);
    } finally {
      raw.close();
    }

    const second = await startHost();
    const c2 = await Client.open(second);
    try {
      const after = await c2.value('runs.get', { id: run.id });
      expect(after.run.status).toBe('interrupted');
      expect(after.run.error?.message).toMatch(/resume it from its last checkpoint/);
      expect(after.run.error?.code).toBe('INTERRUPTED'); // not INTERNAL: nothing went wrong in the app
      expect(after.canResume).toBe(true);
      expect(after.checkpoints.map((ck) => ck.epoch)).toContain(1);

      const resumed = await c2.value('runs.resume', { id: run.id });
      expect(resumed.status).toBe('running');
      await c2.waitFor('run.status', (p) => p.runId === run.id && p.status === 'completed');
      const done = await c2.value('runs.get', { id: run.id });
      expect(done.run).toMatchObject({ status: 'completed', step: 24, totalSteps: 24, epoch: 3 });
      expect(done.evals.map((e) => e.epoch)).toEqual([1, 2, 3]);
      const curves = await c2.value('runs.curves', { id: run.id, maxPoints: 100 });
      expect(curves.points.map((p) => p.step)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    } finally {
      c2.close();
      await endProcess(second.child);
    }
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  }, 300_000);
});
