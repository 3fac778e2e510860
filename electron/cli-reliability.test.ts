// Bad datasets and a full checkpoint disk against real `isd` processes and a real web-host process on
// real files: a dataset is checked before a run row is written (runs.start with /etc, isd train on an
// invalid dataset leave no row), a skipped image is named with its file and reason, and a checkpoint
// that finds its disk full ends the run failed with DISK_FULL and the path, which `train --json` prints;
// Ctrl-C stops a run with exit 130, and --resume continues it on its own settings only.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeIdx } from './data/idx';
import { END_RETRY_MS } from './app/unrecorded-ends';
import { HostClient, alive, endProcess, runIsdProcess, startHostProcess } from './host-test-support';

const ENGINE = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
const TINY = ['--dataset', 'sample', '--train-limit', '64', '--batch-size', '16', '--queue-size', '64'];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-reliab-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function runRows(db: string): number {
  if (!fs.existsSync(db)) return 0;
  const raw = new Database(db, { readonly: true });
  try {
    return (raw.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n;
  } finally {
    raw.close();
  }
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** An IDX folder of 20 4×3 images, labels 0–4, with `label255At` set to 255 when given. */
function writeIdxFolder(name: string, o: { label255At?: number; truncate?: boolean } = {}): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  const images = encodeIdx(
    [20, 4, 3],
    Uint8Array.from({ length: 240 }, (_, i) => i % 256),
  );
  fs.writeFileSync(path.join(d, 'train-images-idx3-ubyte'), o.truncate ? images.subarray(0, 100) : images);
  const labels = Uint8Array.from({ length: 20 }, (_, i) => i % 5);
  if (o.label255At !== undefined) labels[o.label255At] = 255;
  fs.writeFileSync(path.join(d, 'train-labels-idx1-ubyte'), encodeIdx([20], labels));
  return d;
}

describe('a dataset is checked before the run row is written', () => {
  it('isd train on /etc, on a stray label 255 and on a truncated images file: exit 2, one line, no row', async () => {
    const db = path.join(dir, 'train-bad.db');
    const stray = writeIdxFolder('stray', { label255At: 7 });
    const cut = writeIdxFolder('cut', { truncate: true });
    const cases: [string, RegExp, string][] = [
      ['/etc', /holds no images/, '/etc'],
      [stray, /label 255 at index 7 is out of range/, path.join(stray, 'train-labels-idx1-ubyte')],
      [cut, /truncated/, path.join(cut, 'train-images-idx3-ubyte')],
    ];
    for (const [dataset, why, file] of cases) {
      const r = await runIsdProcess(['train', '--json', '--db', db, ...TINY, '--dataset', dataset], ENGINE);
      expect(r.code, r.stderr).toBe(2);
      const [line] = jsonLines(r.stdout).filter((l) => l.type === 'error');
      expect(line).toMatchObject({ type: 'error', code: 'DATASET_INVALID', field: '--dataset', path: file });
      expect(String(line.message)).toMatch(why);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(runRows(db)).toBe(0);
    }
  }, 120_000);

  it('runs.start on a web host with /etc is refused and leaves no row', async () => {
    const db = path.join(dir, 'host-bad.db');
    const host = await startHostProcess(db, ENGINE, path.join(dir, 'no-renderer'));
    const client = await HostClient.open(host);
    try {
      const r = await client.call('runs.start', { config: { dataset: '/etc', trainLimit: 64, batchSize: 16 } });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatchObject({ code: 'DATASET_INVALID', field: 'config.dataset', path: '/etc' });
      const list = await client.value('runs.list', {});
      expect(list.total).toBe(0);
    } finally {
      client.close();
      await endProcess(host.child);
    }
    expect(runRows(db)).toBe(0);
  }, 60_000);
});

describe('a skipped image', () => {
  it('is reported with its file and reason by isd datasets inspect, and by isd train', async () => {
    const d = path.join(dir, 'folder');
    for (const cls of ['cat', 'dog']) {
      fs.mkdirSync(path.join(d, cls), { recursive: true });
      for (let i = 0; i < 3; i++) {
        await sharp(Buffer.alloc(8 * 8 * 3, 40 * i + (cls === 'cat' ? 0 : 100)), {
          raw: { width: 8, height: 8, channels: 3 },
        })
          .png()
          .toFile(path.join(d, cls, `${i}.png`));
      }
    }
    const broken = path.join(d, 'cat', 'broken.png');
    fs.writeFileSync(broken, 'this is not a PNG');
    const human = await runIsdProcess(['datasets', 'inspect', d, '--db', path.join(dir, 'inspect.db')], ENGINE);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(`skipped ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*unsupported image format`, 'i'),
    );
    const json = await runIsdProcess(
      ['datasets', 'inspect', d, '--json', '--db', path.join(dir, 'inspect.db')],
      ENGINE,
    );
    const summary = JSON.parse(json.stdout) as { skipped: number; skippedFiles: { path: string; reason: string }[] };
    expect(summary.skipped).toBe(1);
    expect(summary.skippedFiles).toEqual([
      { path: broken, reason: expect.stringMatching(/unsupported image format/i) },
    ]);
    // Training on the folder says so too, on stderr beside the JSON lines.
    const train = await runIsdProcess(
      [
        'train',
        '--dataset',
        d,
        '--batch-size',
        '4',
        '--queue-size',
        '4',
        '--epochs',
        '1',
        '--json',
        '--db',
        path.join(dir, 'inspect.db'),
      ],
      ENGINE,
    );
    expect(train.code, train.stderr).toBe(0);
    expect(train.stderr).toMatch(
      new RegExp(
        `isd: warn: run [0-9a-f]{8}: skipped ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*unsupported image format`,
        'i',
      ),
    );
  }, 60_000);
});

/** Mounts a tmpfs of `size` at `at` (root only); false where the machine does not allow it. */
function mountTmpfs(at: string, size: string): boolean {
  fs.mkdirSync(at, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a checkpoint that finds its disk full', () => {
  it('ends the run failed with DISK_FULL naming the disk, and train --json prints the error with its path', async (ctx) => {
    const home = path.join(dir, 'ckfull');
    const runs = path.join(home, 'runs'); // the history's checkpoint root (paths.ts checkpointRootFor)
    if (!mountTmpfs(runs, '16k')) {
      // No tmpfs here: a real ENOSPC from /dev/full must still map to DISK_FULL.
      const { fsError } = await import('./fs-errors');
      let err: unknown;
      try {
        fs.writeFileSync('/dev/full', 'x');
      } catch (e) {
        err = e;
      }
      expect(fsError(err, '/dev/full', 'checkpoint folder').code).toBe('DISK_FULL');
      ctx.skip();
      return;
    }
    try {
      const db = path.join(home, 'history.db');
      const r = await runIsdProcess(['train', '--json', '--db', db, ...TINY, '--epochs', '1'], ENGINE);
      expect(r.code, r.stderr).toBe(1);
      const error = jsonLines(r.stdout).find((l) => l.type === 'error');
      expect(error).toMatchObject({ type: 'error', code: 'DISK_FULL' });
      expect(String(error?.path)).toContain(runs);
      expect(String(error?.message)).toContain(`the disk at ${runs} is full`);
      const raw = new Database(db, { readonly: true });
      const row = raw.prepare('SELECT status, error FROM runs').get() as { status: string; error: string };
      raw.close();
      expect(row.status).toBe('failed');
      expect(row.error).toMatch(/^DISK_FULL: /);
    } finally {
      execFileSync('umount', [runs]);
    }
  }, 120_000);
});

/** Fills the file system holding `folder` with one file until a write meets ENOSPC; returns that file. */
function fillDisk(folder: string): string {
  const filler = path.join(folder, 'filler');
  const fd = fs.openSync(filler, 'w');
  try {
    for (const size of [1 << 16, 1 << 12, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

/** Reads rows from a history on its own read-only connection (while another process writes it). */
function query<T>(db: string, sql: string, ...args: unknown[]): T[] {
  const raw = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return raw.prepare(sql).all(...args) as T[];
  } finally {
    raw.close();
  }
}

async function until<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 240_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The history on a real 3 MB tmpfs, its checkpoints on another disk (runs/ a link to a folder in /tmp),
 * as in the reproduction; filled once the run has committed step rows, so the next write of the
 * run meets a real SQLITE_FULL (ENOSPC under SQLite's WAL). Root only; skipped elsewhere (the
 * recorder's own test makes a real SQLITE_FULL with PRAGMA max_page_count on any machine).
 */
describe('a full disk under the history, mid-run', () => {
  // 3 epochs of 16 steps, an evaluation after each: the disk fills a few steps in.
  const RUN = [
    '--dataset',
    'sample',
    '--train-limit',
    '256',
    '--batch-size',
    '16',
    '--queue-size',
    '64',
    '--epochs',
    '3',
  ];

  function setUp(name: string): { home: string; db: string; runs: string } | null {
    const home = path.join(dir, name);
    if (!mountTmpfs(home, '3m')) return null;
    const runs = path.join(dir, `${name}-runs`);
    fs.mkdirSync(runs);
    fs.symlinkSync(runs, path.join(home, 'runs'));
    return { home, db: path.join(home, 'history.db'), runs };
  }

  const stepRows = (db: string, runId?: string) =>
    query<{ step: number }>(
      db,
      `SELECT step FROM step_metrics${runId ? ' WHERE run_id = ?' : ''} ORDER BY step`,
      ...(runId ? [runId] : []),
    ).map((r) => r.step);
  // The file exists before its first migration commits: until then it has no step_metrics table.
  const migrated = (db: string) =>
    fs.existsSync(db) && query(db, "SELECT 1 FROM sqlite_master WHERE name = 'step_metrics'").length > 0;

  it('isd train exits 1 with the one DISK_FULL line; the next open marks the run interrupted with that reason; nothing committed is lost', async (ctx) => {
    const where = setUp('histfull-cli');
    if (!where) return ctx.skip();
    const { home, db, runs } = where;
    try {
      let committedAtFill: number[] = [];
      const r = await runIsdProcess(['train', '--db', db, ...RUN, '--name', 'full'], ENGINE, {
        onSpawn: () => {
          void until('committed step rows', () => migrated(db) && stepRows(db).length > 0).then(() => {
            committedAtFill = stepRows(db);
            fillDisk(home);
          });
        },
      });
      expect(r.code, r.stderr).toBe(1);
      // One line from isd on stderr (Dawn's probe may add warnings of its own there, which are not ours).
      const lines = r.stderr.split('\n').filter((l) => /^isd:|\[isd\]/.test(l));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        new RegExp(`^isd: the disk at ${home} is full \\(no space left while writing the run history ${db}\\)`),
      );
      expect(r.stdout).toMatch(/: failed \(the disk at .* is full/);
      expect(committedAtFill.length).toBeGreaterThan(0);
      const [{ id }] = query<{ id: string }>(db, 'SELECT id FROM runs');
      // The end could not be written: the note beside the checkpoints (another disk) keeps the reason.
      const note = JSON.parse(fs.readFileSync(path.join(runs, id, 'unrecorded-end.json'), 'utf8')) as {
        code: string;
      };
      expect(note.code).toBe('DISK_FULL');

      // Opening it while the disk is still full (recovery has a row to write): the same one line, exit 1, the note kept.
      const full = await runIsdProcess(['runs', 'list', '--db', db], ENGINE);
      expect(full.code, full.stderr).toBe(1);
      expect(full.stderr.split('\n').filter((l) => l.startsWith('isd:'))).toEqual([
        expect.stringMatching(
          new RegExp(`^isd: the disk at ${home} is full \\(no space left while opening the run history ${db}\\)`),
        ),
      ]);
      expect(fs.existsSync(path.join(runs, id, 'unrecorded-end.json'))).toBe(true);

      fs.rmSync(path.join(home, 'filler'));
      const list = await runIsdProcess(['runs', 'list', '--json', '--db', db], ENGINE);
      expect(list.code, list.stderr).toBe(0);
      const [row] = query<{ status: string; error: string }>(db, 'SELECT status, error FROM runs');
      expect(row.status).toBe('interrupted');
      expect(row.error).toMatch(
        new RegExp(
          `^DISK_FULL: the disk at ${home} is full .*\\[the run ended at .* but the history could not record it then`,
        ),
      );
      expect(fs.existsSync(path.join(runs, id, 'unrecorded-end.json'))).toBe(false);
      expect(query<{ integrity_check: string }>(db, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      const kept = stepRows(db);
      expect(kept.slice(0, committedAtFill.length)).toEqual(committedAtFill);
      expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => i + 1));
    } finally {
      execFileSync('umount', [home]);
    }
  }, 300_000);

  it('the web host lives on: the run fails with DISK_FULL, reads answer, the end is written once there is room, the run queued behind starts by itself, and the failed one resumes to completion', async (ctx) => {
    const where = setUp('histfull-host');
    if (!where) return ctx.skip();
    const { home, db } = where;
    const host = await startHostProcess(db, ENGINE, path.join(dir, 'no-renderer'));
    const client = await HostClient.open(host);
    try {
      const run = await client.value('runs.start', {
        config: { dataset: 'sample', trainLimit: 256, batchSize: 16, queueSize: 64, epochs: 3, name: 'full-host' },
      });
      // Queued behind it: its claim meets the full disk, and it must keep its turn rather than be dropped.
      const next = await client.value('runs.start', {
        config: { dataset: 'sample', trainLimit: 64, batchSize: 16, queueSize: 64, epochs: 1, name: 'queued-behind' },
      });
      await until('committed step rows', () => stepRows(db, run.id).length > 0);
      const committedAtFill = stepRows(db, run.id);
      const filler = fillDisk(home);
      const failed = await client.waitFor('run.status', (p) => p.runId === run.id && p.status === 'failed', 240_000);
      expect(failed.error).toMatchObject({ code: 'DISK_FULL', path: db });
      // Reads answer on a full disk, and say what happened.
      const during = await client.value('runs.get', { id: run.id });
      expect(during.run.status).toBe('failed');
      expect((await client.value('runs.list', {})).total).toBe(2);
      await new Promise((r) => setTimeout(r, 3 * END_RETRY_MS)); // claims tried and refused meanwhile
      expect((await client.value('runs.get', { id: next.id })).run.status).toBe('queued');
      fs.rmSync(filler);
      await client.waitFor('run.status', (p) => p.runId === next.id && p.status === 'completed', 280_000);
      const recorded = await until(
        'the end recorded',
        () => query<{ status: string; error: string }>(db, "SELECT status, error FROM runs WHERE status = 'failed'")[0],
      );
      expect(recorded.error).toMatch(new RegExp(`^DISK_FULL: the disk at ${home} is full`));
      expect(stepRows(db, run.id).slice(0, committedAtFill.length)).toEqual(committedAtFill);
      await client.value('runs.resume', { id: run.id });
      await client.waitFor('run.status', (p) => p.runId === run.id && p.status === 'completed', 280_000);
      expect(alive(host.child)).toBe(true);
      expect(stepRows(db, run.id)).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
      expect(stepRows(db, next.id)).toEqual([1, 2, 3, 4]);
      expect(query(db, "SELECT 1 FROM checkpoints WHERE kind = 'final'")).toHaveLength(2);
      expect(query<{ integrity_check: string }>(db, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    } finally {
      client.close();
      await endProcess(host.child);
      execFileSync('umount', [home]);
    }
  }, 600_000);
});

describe('Ctrl-C and --resume', () => {
  it('Ctrl-C mid-run exits 130 with the run stopped; --resume refuses a setting, then trains on as the run began', async () => {
    const db = path.join(dir, 'ctrl-c.db');
    const STEPS = (64 / 16) * 3; // TINY's 64 images in batches of 16, 3 epochs
    const args = ['train', '--db', db, '--json', ...TINY, '--epochs', '3', '--name', 'interrupted'];
    const first = await runIsdProcess(args, ENGINE, {
      onSpawn: (child) => {
        let seen = '';
        child.stdout!.on('data', (d) => {
          seen += String(d);
          // The first step's progress: training has begun, and steps are left to stop before.
          if (/"type":"progress"/.test(seen) && !child.killed) child.kill('SIGINT');
        });
      },
    });
    const lines = jsonLines(first.stdout);
    const done = lines.find((l) => l.type === 'done')!;
    expect(done.status).toBe('stopped');
    // Not 0: `isd train … && isd export-encoder …` must not go on with a half-trained run.
    expect(first.code).toBe(130);
    const runId = String(done.runId);
    const row = () =>
      new Database(db, { readonly: true })
        .prepare('SELECT status, steps_done AS steps, epochs_done AS epochs, config FROM runs WHERE id = ?')
        .get(runId) as { status: string; steps: number; epochs: number; config: string };
    const stopped = row();
    expect(stopped.status).toBe('stopped');
    expect(stopped.steps).toBeLessThan(STEPS);

    // A setting given with --resume would be ignored: refused, naming it, the run untouched.
    const refused = await runIsdProcess(['train', '--db', db, '--resume', runId, '--epochs', '5'], ENGINE);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/isd: --epochs: a resumed run keeps the settings it started with/);
    expect(row()).toEqual(stopped);

    const resumed = await runIsdProcess(['train', '--db', db, '--json', '--resume', runId], ENGINE);
    expect(resumed.code).toBe(0);
    expect(jsonLines(resumed.stdout).find((l) => l.type === 'done')?.status).toBe('completed');
    const end = row();
    expect([end.status, end.steps, end.epochs, end.config]).toEqual(['completed', STEPS, 3, stopped.config]);
  }, 300_000);
});
