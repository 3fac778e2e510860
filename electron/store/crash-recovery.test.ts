/**
 * Crash recovery on real processes: a child Node process runs the store's own code (transpiled from
 * these sources into a temp folder), writes metrics in a loop and is killed with SIGKILL mid-write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { END_NOTE_FILE, writeEndNote } from './crash-recovery';
import { openRunStore } from './run-store';

const repo = path.resolve(__dirname, '..', '..');
let dir: string;
let childScript: string;

/** The store and every local module it imports (followed through require calls), as CommonJS for a plain `node` child. */
function transpileStore(outDir: string): void {
  const pending = ['electron/store/index.ts'];
  const done = new Set<string>();
  while (pending.length) {
    const rel = pending.pop()!;
    if (done.has(rel)) continue;
    done.add(rel);
    const out = ts.transpileModule(fs.readFileSync(path.join(repo, rel), 'utf8'), {
      fileName: rel,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    for (const m of out.matchAll(/require\("(\.{1,2}\/[^"]+)"\)/g)) {
      pending.push(path.posix.join(path.posix.dirname(rel), `${m[1]}.ts`));
    }
    const dest = path.join(outDir, rel.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out);
  }
}

const CHILD = `
const { openRunStore } = require('./electron/store/index.js');
const { DEFAULT_RUN_CONFIG } = require('./electron/run-config.js');
const store = openRunStore(process.argv[2]);
const run = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'fashion-mnist' }, { status: 'running', datasetName: 'Fashion-MNIST' });
process.stdout.write('run ' + run.id + '\\n');
let step = 0;
for (;;) {
  const rows = [];
  for (let i = 0; i < 100; i++) {
    step++;
    rows.push({ step, epoch: Math.floor(step / 1000), loss: 1 / step, lr: 0.05, imagesPerSec: 300 });
  }
  store.appendStepMetrics(run.id, rows);
  process.stdout.write('committed ' + step + '\\n');
}
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-store-crash-'));
  transpileStore(path.join(dir, 'code'));
  childScript = path.join(dir, 'code', 'crash-child.js');
  fs.writeFileSync(childScript, CHILD);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Starts the writer, waits until it has committed `atLeast` steps, kills it with SIGKILL. */
async function killWriterMidRun(
  dbFile: string,
  atLeast: number,
): Promise<{ runId: string; lastReported: number; signal: string | null }> {
  const child = spawn(process.execPath, [childScript, dbFile], {
    cwd: path.dirname(childScript),
    env: { ...process.env, NODE_PATH: path.join(repo, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let runId = '';
  let lastReported = 0;
  let buffered = '';
  let killed = false;
  await new Promise<void>((resolve, reject) => {
    const onEarlyExit = () => {
      clearTimeout(timer);
      reject(new Error(`writer exited on its own; stderr: ${stderr}`));
    };
    const timer = setTimeout(() => {
      child.off('exit', onEarlyExit);
      child.kill('SIGKILL');
      reject(new Error(`writer did not reach ${atLeast} steps in time; stderr: ${stderr}`));
    }, 60_000);
    child.once('exit', onEarlyExit);
    child.stdout!.on('data', (d: Buffer) => {
      if (killed) return; // output still buffered in the pipe after the kill
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('run ')) runId = line.slice(4);
        if (line.startsWith('committed ')) lastReported = Number(line.slice(10));
      }
      if (lastReported >= atLeast) {
        killed = true;
        clearTimeout(timer);
        child.off('exit', onEarlyExit);
        child.kill('SIGKILL'); // while it is busy inside the next batch's transaction
        resolve();
      }
    });
  });
  const { signal } = await exited(child);
  return { runId, lastReported, signal };
}

describe('crash recovery', () => {
  it('a writer killed with SIGKILL leaves a readable file, its committed metrics, and the run interrupted', async () => {
    const dbFile = path.join(dir, 'crash.sqlite');
    const { runId, lastReported, signal } = await killWriterMidRun(dbFile, 20_000);
    expect(signal).toBe('SIGKILL');
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fs.existsSync(`${dbFile}-wal`)).toBe(true); // the commits were still in the write-ahead log

    const store = openRunStore(dbFile);
    try {
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(store.openReport.interruptedRunIds).toEqual([runId]);
      const stats = store.db
        .prepare<[string], { n: number; lo: number; hi: number }>(
          'SELECT COUNT(*) AS n, MIN(step) AS lo, MAX(step) AS hi FROM step_metrics WHERE run_id = ?',
        )
        .get(runId)!;
      // Every reported commit is there; a batch is all or nothing; no gaps.
      expect(stats.n).toBeGreaterThanOrEqual(lastReported);
      expect(stats.n % 100).toBe(0);
      expect([stats.lo, stats.hi]).toEqual([1, stats.n]);
      const run = store.getRunRecord(runId);
      expect(run.status).toBe('interrupted');
      expect(run.endedAt).toBeNull();
      expect(run.stepsDone).toBe(stats.n);
      expect(run.error).toMatch(
        /^INTERRUPTED: process \d+ ended while the run was running \(found at .*\); resume it from its last checkpoint$/,
      );
      expect(store.getCurves(runId, { maxPoints: 100 }).points.at(-1)!.step).toBe(stats.n);
    } finally {
      store.close();
    }
    const again = openRunStore(dbFile);
    expect(again.openReport.interruptedRunIds).toEqual([]);
    again.close();
  });

  it('leaves alone the runs of a process that is still alive, and recovers them once it is gone', async () => {
    const dbFile = path.join(dir, 'live.sqlite');
    const sleeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
    const sleeperPid = sleeper.pid!;
    const store = openRunStore(dbFile);
    const live = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'x' }, { status: 'running' });
    const paused = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'x' }, { status: 'running' });
    store.updateRun(paused.id, { status: 'paused' });
    store.db.prepare('UPDATE runs SET owner_pid = ?').run(sleeperPid);
    store.close();
    try {
      const during = openRunStore(dbFile);
      expect(during.openReport.interruptedRunIds).toEqual([]);
      expect(during.getRunRecord(live.id).status).toBe('running');
      during.close();
    } finally {
      sleeper.kill('SIGKILL');
      await exited(sleeper);
    }
    const after = openRunStore(dbFile);
    try {
      expect([...after.openReport.interruptedRunIds].sort()).toEqual([live.id, paused.id].sort());
      expect(after.getRunRecord(paused.id).error).toMatch(
        new RegExp(`^INTERRUPTED: process ${sleeperPid} ended while the run was paused`),
      );
    } finally {
      after.close();
    }
  });

  it('gives a run the reason its end note keeps (a history that refused the end), then removes the note', async () => {
    const dbFile = path.join(dir, 'noted.sqlite');
    const gone = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await exited(gone);
    const store = openRunStore(dbFile);
    const noted = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'x' }, { status: 'running' });
    const plain = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'x' }, { status: 'running' });
    const ckDir = path.join(dir, 'noted-runs', noted.id);
    store.updateRun(noted.id, { checkpointDir: ckDir });
    store.db.prepare('UPDATE runs SET owner_pid = ?').run(gone.pid!);
    store.close();
    expect(
      writeEndNote(ckDir, { code: 'DISK_FULL', message: 'the disk at /x is full', at: Date.UTC(2026, 0, 2) }),
    ).toBe(true);
    const after = openRunStore(dbFile);
    try {
      expect(after.getRunRecord(noted.id)).toMatchObject({
        status: 'interrupted',
        error: expect.stringMatching(
          /^DISK_FULL: the disk at \/x is full \[the run ended at 2026-01-02T00:00:00.000Z but the history could not record it then; found at /,
        ),
      });
      expect(after.getRunRecord(plain.id).error).toMatch(/^INTERRUPTED: process \d+ ended while the run was running/);
      expect(fs.existsSync(path.join(ckDir, END_NOTE_FILE))).toBe(false);
    } finally {
      after.close();
    }
  });
});
