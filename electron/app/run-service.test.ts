/**
 * The queue and lifecycle of runs, with real worker threads (small scripts that speak the engine's
 * protocol, started by the real run-engine.ts) and a real SQLite store.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunStatusEvent } from '../contract';
import { startEngineRun, type EngineRunOutcome } from '../engine/run-engine';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { openRunStore, type RunStore } from '../store';
import { AppEvents } from './app-events';
import { RunService, type EngineStarter } from './run-service';

/** Worker scripts: each reads the start message and behaves as named. */
const WORKERS = {
  /** Trains two steps and finishes. */
  completes: `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (m) => {
      if (m.type !== 'start') return;
      parentPort.postMessage({ type: 'status', status: 'running' });
      for (const step of [1, 2])
        parentPort.postMessage({ type: 'progress', step, totalSteps: 2, epoch: 1, epochFraction: step / 2, loss: 1, lr: 0.1, imagesPerSec: 50, etaSec: 0 });
      parentPort.postMessage({ type: 'done', reason: 'completed', epoch: 1, step: 2, totalSteps: 2, loss: 1, metrics: null, checkpointPath: null, durationSec: 0.1 });
    });`,
  /** Reports one step, then its thread exits without done or failed (as a native crash would). */
  exits: `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (m) => {
      if (m.type !== 'start') return;
      parentPort.postMessage({ type: 'progress', step: 1, totalSteps: 10, epoch: 1, epochFraction: 0.1, loss: 2, lr: 0.1, imagesPerSec: 50, etaSec: 9 });
      setTimeout(() => process.exit(7), 20);
    });`,
  /** Trains and never obeys stop (a step that hangs). */
  ignoresStop: `
    const { parentPort } = require('node:worker_threads');
    parentPort.on('message', (m) => {
      if (m.type === 'start') parentPort.postMessage({ type: 'status', status: 'running' });
    });
    setInterval(() => {}, 1000);`,
};
type WorkerName = keyof typeof WORKERS;

let dir: string;
let store: RunStore;
let events: AppEvents;
let statuses: RunStatusEvent[];
let started: { runId: string; worker: WorkerName; done: Promise<EngineRunOutcome> }[];
let service: RunService | null;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-run-service-'));
  for (const [name, code] of Object.entries(WORKERS)) fs.writeFileSync(path.join(dir, `${name}.js`), code);
  store = openRunStore(path.join(dir, 'runs.sqlite'), { checkpointRoot: path.join(dir, 'runs') });
  events = new AppEvents();
  statuses = [];
  events.on('run.status', (e) => statuses.push(e));
  started = [];
  service = null;
});
afterEach(async () => {
  await service?.close({ stopTimeoutMs: 1000 });
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A service whose n-th run starts the n-th named worker script in a real worker thread. */
function serviceWith(
  workers: WorkerName[],
  resolveDatasetPath: (dataset: string) => Promise<string> = async () => '/unused',
): RunService {
  const startEngine: EngineStarter = (request, onEvent) => {
    const worker = workers[started.length];
    const handle = startEngineRun({ ...request, workerPath: path.join(dir, `${worker}.js`) }, onEvent);
    started.push({ runId: request.runId, worker, done: handle.done });
    return handle;
  };
  service = new RunService({
    store,
    events,
    checkpointRoot: path.join(dir, 'runs'),
    startEngine,
    resolveDatasetPath,
    log: () => undefined,
  });
  return service;
}

const config = { ...DEFAULT_RUN_CONFIG, dataset: 'fashion-mnist' };

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const statusOf = (id: string) => store.getRunRecord(id).status;

describe('RunService', () => {
  it('trains one run at a time: the second waits queued and starts when the first completes', async () => {
    const runs = serviceWith(['completes', 'completes']);
    const a = await runs.start(config, 'Fashion-MNIST');
    const b = await runs.start(config, 'Fashion-MNIST');
    expect(b.status).toBe('queued');
    await until('both runs to complete', () => statusOf(a.id) === 'completed' && statusOf(b.id) === 'completed');
    expect(started.map((s) => s.runId)).toEqual([a.id, b.id]);
    expect([...store.iterateStepMetrics(b.id)].map((r) => r.step)).toEqual([1, 2]);
    expect(runs.activeRunId()).toBeNull();
  });

  it('a worker that exits without done fails its run with the reason, and the next run starts', async () => {
    const runs = serviceWith(['exits', 'completes']);
    const a = await runs.start(config, 'Fashion-MNIST');
    const b = await runs.start(config, 'Fashion-MNIST');
    await until('the second run to complete', () => statusOf(b.id) === 'completed');
    const failed = store.getRunRecord(a.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^INTERNAL: .*exited with code 7/);
    // The step it reported before dying was kept.
    expect([...store.iterateStepMetrics(a.id)].map((r) => r.step)).toEqual([1]);
    expect(statuses.find((s) => s.runId === a.id && s.status === 'failed')?.error?.code).toBe('INTERNAL');
    expect((await started[0].done).exitCode).toBe(7);
  });

  it('a close that times out terminates the worker and marks the run interrupted (resumable)', async () => {
    const runs = serviceWith(['ignoresStop']);
    const a = await runs.start(config, 'Fashion-MNIST');
    await until('the run to be training', () => statusOf(a.id) === 'running' && started.length === 1);
    const queued = await runs.start(config, 'Fashion-MNIST');
    const t0 = Date.now();
    await runs.close({ stopTimeoutMs: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const run = store.getRunRecord(a.id);
    expect(run.status).toBe('interrupted');
    expect(run.error).toMatch(/closed before the run could stop/);
    expect((await started[0].done).status).toBe('terminated');
    // The run that was waiting never started, and says why.
    expect(store.getRunRecord(queued.id)).toMatchObject({ status: 'stopped' });
    expect(started).toHaveLength(1);
    expect(statuses.filter((s) => s.runId === a.id).map((s) => s.status)).toEqual(['queued', 'running', 'interrupted']);
    await expect(runs.start(config, 'x')).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('a stop that arrives before the worker exists: the run never starts, ends stopped, and the queue moves on', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const runs = serviceWith(['completes'], async () => {
      if (calls++ === 0) await gate; // the first run's dataset takes a while to resolve
      return '/unused';
    });
    const startingA = runs.start(config, 'Fashion-MNIST');
    await until('the first run to be queued', () => statuses.length === 1);
    const aId = statuses[0].runId;
    expect(runs.activeRunId()).toBe(aId);
    const stopped = runs.stop(aId);
    expect(stopped.id).toBe(aId);
    const startingB = runs.start(config, 'Fashion-MNIST');
    release();
    await startingA;
    const b = await startingB;
    await until('the second run to complete', () => statusOf(b.id) === 'completed');
    expect(statusOf(aId)).toBe('stopped');
    expect(started.map((s) => s.runId)).toEqual([b.id]);
    expect(statuses.filter((s) => s.runId === aId).map((s) => s.status)).toEqual(['queued', 'stopped']);
  });
});
