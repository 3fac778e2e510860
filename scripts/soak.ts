/**
 * The soak test of issue 11: one web host (dist/electron/host.js, what `isd serve` runs) and `isd train`
 * processes on one history; tiny runs from both, random pauses, resumes and stops (from the host, and
 * Ctrl-C of a CLI), one `kill -9` of the host while it trains and a fresh host after it. Then every
 * process is ended as a user would, the history is opened once more (crash recovery), and it is checked:
 * PRAGMA integrity_check, at most one run training at any moment (sampled), no run trained twice (one
 * final checkpoint, no checkpoint or evaluation twice), every run completed, stopped or resumable with
 * its reason, and no committed row lost (step rows 1..n without a hole, up to the newest checkpoint).
 *
 *   npm run build:node && node dist/scripts/soak.js [--runs 20] [--minutes 5] [--seed 1] [--dir D] [--json]
 *
 * Prints its counts; exits 1 when a check fails. scripts/soak.test.ts runs a short variant in the suite.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { Channel } from '../electron/contract';
import type { EngineOptions } from '../electron/engine/protocol';
import {
  HostClient,
  endProcess,
  runIsdProcess,
  startHostProcess,
  type HostProcess,
} from '../electron/host-test-support';
import { Rng } from '../electron/rng';
import { isActive, type RunStatus } from '../electron/run-status';

/** A tiny model and small evaluations: a run is 12 steps (3 epochs of 4) with an evaluation and a checkpoint each epoch. */
export const SOAK_ENGINE: EngineOptions = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
const TINY = { dataset: 'sample', trainLimit: 64, batchSize: 16, queueSize: 64, epochs: 3 };
const TINY_FLAGS = ['--dataset', 'sample', '--train-limit', '64', '--batch-size', '16', '--queue-size', '64'];
const TOTAL_STEPS = 12;
/** At most this many `isd train` processes at once (each is a Node process with its own engine worker). */
const MAX_CLIS = 3;

export interface SoakOptions {
  runs: number;
  /** The whole soak, creation and drain, ends by then (then every process is ended). */
  budgetMs: number;
  seed: number;
  /** Where the history goes (a fresh temp folder by default). */
  dir?: string;
  log?: (line: string) => void;
}

export interface SoakReport {
  db: string;
  seconds: number;
  runsFromHost: number;
  runsFromCli: number;
  /** Control requests sent (pause, resume, stop) and Ctrl-C sent to a CLI. */
  actions: number;
  accepted: number;
  /** Requests refused with a clear error, by its code (CONFLICT: not in that state, or held by another process). */
  refused: Record<string, number>;
  cliInterrupts: number;
  kills: number;
  /** Runs the kill left interrupted (or stopped before their turn) that the fresh host resumed. */
  resumedAfterKill: number;
  /** Whether the kill -9 found the host training a run (with a checkpoint on disk). */
  killMidRun: boolean;
  /** The most runs seen training (or paused) at once in live processes. */
  maxTraining: number;
  statuses: Partial<Record<RunStatus, number>>;
  stepRows: number;
  evalRows: number;
  checkpointRows: number;
  /** Every check that failed, one line each; empty when the soak passed. */
  problems: string[];
}

interface RunRow {
  id: string;
  name: string;
  status: RunStatus;
  ownerPid: number | null;
  startedAt: number | null;
  stepsDone: number;
  error: string | null;
}

const RUNS_SQL =
  'SELECT id, name, status, owner_pid AS ownerPid, started_at AS startedAt, steps_done AS stepsDone, error FROM runs ORDER BY created_at';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? (() => undefined);
  const rng = new Rng(o.seed);
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'isd-soak-'));
  fs.mkdirSync(dir, { recursive: true });
  const db = path.join(dir, 'history.db');
  const started = Date.now();
  const deadline = started + o.budgetMs;
  const report: SoakReport = {
    db,
    seconds: 0,
    runsFromHost: 0,
    runsFromCli: 0,
    actions: 0,
    accepted: 0,
    refused: {},
    cliInterrupts: 0,
    kills: 0,
    resumedAfterKill: 0,
    killMidRun: false,
    maxTraining: 0,
    statuses: {},
    stepRows: 0,
    evalRows: 0,
    checkpointRows: 0,
    problems: [],
  };
  const problem = (line: string) => {
    report.problems.push(line);
    log(`PROBLEM ${line}`);
  };

  let host: HostProcess = await startHostProcess(db, SOAK_ENGINE, path.join(dir, 'no-renderer'));
  let client = await HostClient.open(host);
  const clis = new Map<number, { child: ChildProcess; done: Promise<void>; interrupted: boolean }>();
  const reader = new Database(db, { readonly: true, fileMustExist: true });
  const runs = () => reader.prepare(RUNS_SQL).all() as RunRow[];
  const checkpointsOf = (id: string) =>
    reader.prepare('SELECT step, kind, path FROM checkpoints WHERE run_id = ? ORDER BY step').all(id) as {
      step: number;
      kind: string;
      path: string;
    }[];

  // One training run at a time in the whole history: sampled all along.
  const sampler = setInterval(() => {
    try {
      const live = runs().filter(
        (r) => (r.status === 'running' || r.status === 'paused') && r.ownerPid !== null && pidAlive(r.ownerPid),
      );
      report.maxTraining = Math.max(report.maxTraining, live.length);
      if (live.length > 1)
        problem(`two runs training at once: ${live.map((r) => `${r.name} (${r.ownerPid})`).join(', ')}`);
    } catch {
      // A read that meets a write in progress: the next sample sees it.
    }
  }, 100);

  async function control(channel: Channel, id: string): Promise<void> {
    report.actions++;
    const r = await Promise.race([
      client.call(channel, { id }),
      sleep(60_000).then(() => ({
        ok: false as const,
        error: { code: 'NO_ANSWER', message: 'no answer within 60 s' },
      })),
    ]);
    if (r.ok) report.accepted++;
    else {
      report.refused[r.error.code] = (report.refused[r.error.code] ?? 0) + 1;
      if (r.error.code !== 'CONFLICT') problem(`${channel} ${id.slice(0, 8)}: ${r.error.code} ${r.error.message}`);
    }
  }

  function startCli(n: number): void {
    let child!: ChildProcess;
    const done = runIsdProcess(
      ['train', '--json', '--db', db, ...TINY_FLAGS, '--epochs', '3', '--name', `soak-${n}-cli`],
      SOAK_ENGINE,
      { onSpawn: (c) => (child = c) },
    ).then((r) => {
      const interrupted = clis.get(child.pid!)?.interrupted ?? false;
      clis.delete(child.pid!);
      // Completed: 0. Stopped by our Ctrl-C: 130; stopped from the host (runs.stop): 1 with a `stopped` done line.
      const stopped = /"type":"done"[^\n]*"status":"stopped"/.test(r.stdout);
      const expected = stopped ? (interrupted ? 130 : 1) : 0;
      if (r.code !== expected)
        problem(
          `isd train soak-${n}-cli exited ${r.code} (expected ${expected}): ${r.stderr.trim().split('\n').pop()}`,
        );
    });
    clis.set(child.pid!, { child, done, interrupted: false });
    report.runsFromCli++;
  }

  async function killHost(): Promise<void> {
    const training = runs().find((r) => r.status === 'running' && r.ownerPid === host.child.pid);
    report.killMidRun = training !== undefined && checkpointsOf(training.id).length > 0;
    log(`kill -9 of the web host ${host.child.pid}${training ? ` while it trains ${training.name}` : ''}`);
    client.close();
    await endProcess(host.child, 'SIGKILL');
    report.kills++;
    host = await startHostProcess(db, SOAK_ENGINE, path.join(dir, 'no-renderer'));
    client = await HostClient.open(host);
    if (training) await control('runs.resume', training.id); // interrupted: it continues from its checkpoint
  }

  try {
    // Creation: a run every 1–2.5 s from the host or a CLI, random control in between, the kill on the way.
    let created = 0;
    let nextCreate = Date.now();
    const wantKill = () =>
      report.kills === 0 &&
      created >= Math.min(2, o.runs) &&
      runs().some((r) => r.status === 'running' && r.ownerPid === host.child.pid && checkpointsOf(r.id).length > 0);
    while (Date.now() < deadline && created < o.runs) {
      if (Date.now() >= nextCreate) {
        created++;
        if (rng.next() < 0.5 && clis.size < MAX_CLIS) startCli(created);
        else {
          report.runsFromHost++;
          const r = await client.call('runs.start', { config: { ...TINY, name: `soak-${created}-host` } });
          if (!r.ok) problem(`runs.start: ${r.error.code} ${r.error.message}`);
        }
        nextCreate = Date.now() + rng.uniform(1000, 2500);
      }
      if (wantKill()) await killHost();
      await randomAction();
      await sleep(rng.uniform(300, 1200));
    }
    // Drain: no more pauses or stops; paused runs go on, and so does each run the kill left behind
    // (interrupted, or stopped before its turn); until nothing is active, or the budget ends.
    const resumed = new Set<string>();
    while (Date.now() < deadline) {
      const all = runs();
      if (wantKill()) await killHost();
      const leftByKill = all.find(
        (r) =>
          (r.status === 'interrupted' || r.status === 'stopped') &&
          r.error?.startsWith('INTERRUPTED') &&
          !resumed.has(r.id),
      );
      if (leftByKill && report.kills > 0) {
        resumed.add(leftByKill.id);
        report.resumedAfterKill++;
        await control('runs.resume', leftByKill.id);
        continue;
      }
      const activeLeft = all.some((r) => isActive(r.status) && (r.ownerPid === null || pidAlive(r.ownerPid)));
      if (!activeLeft && clis.size === 0) break;
      const paused = all.find((r) => r.status === 'paused' && r.ownerPid === host.child.pid);
      if (paused) await control('runs.resume', paused.id);
      await sleep(500);
    }
    if (report.kills === 0) await killHost(); // the budget left no run to kill mid-run: kill it idle
  } finally {
    clearInterval(sampler);
    // Ended as a user would: Ctrl-C for each CLI, SIGTERM for the host (runs stop with a checkpoint).
    for (const cli of clis.values()) {
      cli.interrupted = true;
      cli.child.kill('SIGINT');
    }
    await Promise.all([...clis.values()].map((c) => c.done));
    client.close();
    await endProcess(host.child, 'SIGTERM');
  }

  // One more open: crash recovery settles what a gone process left.
  const list = await runIsdProcess(['runs', 'list', '--json', '--db', db], SOAK_ENGINE);
  if (list.code !== 0) problem(`isd runs list exited ${list.code}: ${list.stderr.trim()}`);
  checkHistory(reader, report, problem);
  reader.close();
  report.seconds = Math.round((Date.now() - started) / 1000);
  return report;

  async function randomAction(): Promise<void> {
    const all = runs();
    if (all.length === 0) return;
    const r = all[rng.int(all.length)];
    const p = rng.next();
    const cli = r.ownerPid !== null ? clis.get(r.ownerPid) : undefined;
    if (r.status === 'running') {
      if (cli && p < 0.15) {
        report.actions++;
        report.cliInterrupts++;
        cli.interrupted = true;
        cli.child.kill('SIGINT'); // Ctrl-C: the CLI stops its run with a checkpoint
      } else if (p < 0.35) await control('runs.pause', r.id);
      else if (p < 0.5) await control('runs.stop', r.id);
    } else if (r.status === 'paused' && p < 0.7) await control('runs.resume', r.id);
    else if ((r.status === 'stopped' || r.status === 'interrupted') && p < 0.3) await control('runs.resume', r.id);
    else if (r.status === 'queued' && p < 0.1) await control('runs.stop', r.id);
    else if (r.status === 'completed' && p < 0.05) await control('runs.resume', r.id); // refused: nothing to resume
  }
}

/** The end-state checks (see the header); adds each failure to `problem` and the counts to `report`. */
function checkHistory(db: Database.Database, report: SoakReport, problem: (line: string) => void): void {
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok') problem(`integrity_check: ${String(integrity)}`);
  for (const r of db.prepare(RUNS_SQL).all() as RunRow[]) {
    report.statuses[r.status] = (report.statuses[r.status] ?? 0) + 1;
    const steps = (
      db.prepare('SELECT step FROM step_metrics WHERE run_id = ? ORDER BY step').all(r.id) as {
        step: number;
      }[]
    ).map((s) => s.step);
    const evals = (db.prepare('SELECT epoch FROM epoch_evals WHERE run_id = ?').all(r.id) as { epoch: number }[]).map(
      (e) => e.epoch,
    );
    const cks = db.prepare('SELECT step, kind, path FROM checkpoints WHERE run_id = ?').all(r.id) as {
      step: number;
      kind: string;
      path: string;
    }[];
    report.stepRows += steps.length;
    report.evalRows += evals.length;
    report.checkpointRows += cks.length;
    const name = `${r.name} (${r.id.slice(0, 8)}, ${r.status})`;
    if (isActive(r.status)) problem(`${name}: still ${r.status} after every process ended`);
    if (r.status === 'failed') problem(`${name}: failed: ${r.error}`);
    if (steps.some((s, i) => s !== i + 1)) problem(`${name}: step rows with a hole: ${steps.join(',')}`);
    if (new Set(evals).size !== evals.length) problem(`${name}: an evaluation recorded twice: ${evals.join(',')}`);
    const keys = cks.map((c) => `${c.kind}@${c.step}`);
    if (new Set(keys).size !== keys.length) problem(`${name}: a checkpoint recorded twice: ${keys.join(',')}`);
    const finals = cks.filter((c) => c.kind === 'final').length;
    const newest = Math.max(0, ...cks.map((c) => c.step));
    if (steps.length < newest) problem(`${name}: ${steps.length} step rows, but a checkpoint at step ${newest}`);
    if (r.status === 'completed') {
      if (steps.length !== TOTAL_STEPS || r.stepsDone !== TOTAL_STEPS)
        problem(`${name}: completed with ${steps.length} step rows, steps_done ${r.stepsDone}`);
      if (finals !== 1) problem(`${name}: ${finals} final checkpoints`);
      if ([0, 1, 2, 3].some((e) => !evals.includes(e))) problem(`${name}: evaluations ${evals.join(',')}`);
    } else if (finals > 0) problem(`${name}: a final checkpoint, but ${r.status}`);
    if (r.status === 'interrupted') {
      if (!r.error) problem(`${name}: interrupted without a reason`);
      const resumable = cks.some((c) => fs.existsSync(c.path)) || r.startedAt === null;
      if (!resumable) problem(`${name}: interrupted with nothing to resume from`);
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '20' },
      minutes: { type: 'string', default: '5' },
      seed: { type: 'string', default: '1' },
      dir: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const minutes = Number(values.minutes);
  const seed = Number(values.seed);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a whole number from 1');
  if (!(minutes > 0)) throw new Error('--minutes: a positive number');
  if (!Number.isInteger(seed)) throw new Error('--seed: a whole number');
  const r = await runSoak({
    runs,
    budgetMs: minutes * 60_000,
    seed,
    dir: values.dir,
    log: values.json ? undefined : (line) => console.log(line),
  });
  if (values.json) console.log(JSON.stringify(r));
  else {
    console.log(`history ${r.db}, ${r.seconds} s`);
    console.log(`runs: ${r.runsFromHost} from the web host, ${r.runsFromCli} from isd train`);
    console.log(
      `control: ${r.actions} tried, ${r.accepted} accepted, refused with a clear error ${JSON.stringify(r.refused)}, ${r.cliInterrupts} Ctrl-C`,
    );
    console.log(
      `kill -9: ${r.kills} (${r.killMidRun ? 'mid-run, with a checkpoint' : 'while idle'}), ${r.resumedAfterKill} runs it left resumed; training at once: at most ${r.maxTraining}`,
    );
    console.log(
      `end: ${JSON.stringify(r.statuses)}; rows: ${r.stepRows} steps, ${r.evalRows} evaluations, ${r.checkpointRows} checkpoints`,
    );
    console.log(r.problems.length ? `FAILED: ${r.problems.length} problems` : 'passed: every check held');
  }
  process.exitCode = r.problems.length ? 1 : 0;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`soak: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
