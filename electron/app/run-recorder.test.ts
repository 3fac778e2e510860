import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventName } from '../contract';
import type { ProgressEvent, ReadyEvent } from '../engine/protocol';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { openRunStore, type RunStore } from '../store';
import { AppEvents } from './app-events';
import { readRunReport } from './run-dto';
import { RunRecorder } from './run-recorder';

let dir: string;
let store: RunStore;
let events: AppEvents;
let seen: { event: EventName; payload: unknown }[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-recorder-'));
  store = openRunStore(path.join(dir, 'runs.sqlite'));
  events = new AppEvents();
  seen = [];
  events.onAny((event, payload) => seen.push({ event, payload }));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function newRun(): { id: string; recorder: RunRecorder; checkpointDir: string } {
  const id = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'fashion-mnist' }).id;
  // The run service records only a run this process has claimed (queued → running, run-claims.ts).
  expect(store.claimRun(id)).toMatchObject({ claimed: true });
  const checkpointDir = path.join(dir, 'runs', id);
  const recorder = new RunRecorder({ store, events, runId: id, checkpointDir, flushSteps: 5, flushMs: 60_000 });
  recorder.started(checkpointDir);
  return { id, recorder, checkpointDir };
}

const progress = (step: number, totalSteps = 100): ProgressEvent => ({
  type: 'progress',
  step,
  totalSteps,
  epoch: 1,
  epochFraction: step / totalSteps,
  loss: 5 - step / 100,
  lr: 0.05,
  imagesPerSec: 200,
  etaSec: 10,
});

const storedSteps = (id: string) => [...store.iterateStepMetrics(id)].map((r) => r.step);

describe('RunRecorder', () => {
  it('writes step metrics in batches of flushSteps, and every progress it sends is stored first', () => {
    const { id, recorder } = newRun();
    const storedWhenSent: number[][] = [];
    events.on('run.progress', () => storedWhenSent.push(storedSteps(id)));
    for (let s = 1; s <= 4; s++) recorder.record(progress(s));
    // The first progress went out at once (so it was written); the others wait for the throttle or the batch.
    expect(storedWhenSent).toEqual([[1]]);
    expect(storedSteps(id)).toEqual([1]);
    for (let s = 5; s <= 6; s++) recorder.record(progress(s));
    expect(storedSteps(id)).toEqual([1, 2, 3, 4, 5, 6]);
    recorder.record(progress(7));
    expect(storedSteps(id)).toHaveLength(6);
    recorder.end();
    expect(storedSteps(id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // end() sent the held-back progress (the newest) after writing it.
    const sent = seen.filter((s) => s.event === 'run.progress').map((s) => (s.payload as { step: number }).step);
    expect(sent).toEqual([1, 7]);
    expect(storedWhenSent[1]).toContain(7);
    expect(recorder.lastProgress?.step).toBe(7);
    // Nothing is recorded after the end.
    recorder.record(progress(8));
    expect(storedSteps(id)).toHaveLength(7);
  });

  it('sends the last step at once, whatever the throttle', () => {
    const { id, recorder } = newRun();
    recorder.record(progress(1, 2));
    recorder.record(progress(2, 2));
    expect(seen.filter((s) => s.event === 'run.progress')).toHaveLength(2);
    expect(storedSteps(id)).toEqual([1, 2]);
  });

  it('records the backend and the run report on ready, evaluations, checkpoints and the end', () => {
    const { id, recorder, checkpointDir } = newRun();
    const backends: string[] = [];
    const withTap = new RunRecorder({
      store,
      events,
      runId: id,
      checkpointDir,
      onBackend: (b) => backends.push(b.backend),
    });
    const ready: ReadyEvent = {
      type: 'ready',
      backend: {
        backend: 'cpu',
        device: 'test cpu',
        adapter: null,
        fallbacks: [],
        versions: {},
        simd: false,
        threads: 1,
      },
      dataset: {
        name: 'fm',
        format: 'idx',
        shape: [28, 28, 1],
        classNames: ['a', 'b'],
        trainImages: 64,
        trainClassCounts: [32, 32],
        evalBankImages: 64,
        evalTestImages: 32,
        rareClasses: null,
      },
      imageSize: 28,
      stepsPerEpoch: 2,
      totalSteps: 4,
      parameters: 1234,
      resumedFrom: null,
    };
    withTap.record(ready);
    expect(backends).toEqual(['cpu']);
    expect(store.getRunRecord(id)).toMatchObject({ backend: 'cpu', device: 'test cpu' });
    expect(readRunReport(checkpointDir)).toMatchObject({ totalSteps: 4, classNames: ['a', 'b'], parameters: 1234 });
    expect(withTap.totalSteps).toBe(4);

    const knn = (v: number) => ({ knn1: v, knn20: v, knn20Weighted: v, knn200Weighted: v });
    const perClass = { knn1: [0.2, 0.2], knn20: [0.2, 0.2], knn20Weighted: [0.2, 0.2], knn200Weighted: [0.2, 0.2] };
    recorder.record({
      type: 'epochEval',
      epoch: 0,
      step: 0,
      ...knn(0.2),
      perClass,
      meanLoss: null,
      meanPurity: null,
      evalSec: 1,
    });
    recorder.record({
      type: 'baseline',
      pixel: knn(0.7),
      init: knn(0.2),
      bankImages: 10,
      testImages: 4,
      testSplitImages: 8,
      pixelSec: 0.1,
    });
    expect(store.getRun(id).baseline).toMatchObject({
      pixelKnn20: 0.7,
      bankImages: 10,
      testImages: 4,
      testSplitImages: 8,
    });
    expect(seen.find((s) => s.event === 'run.baseline')?.payload).toMatchObject({
      runId: id,
      pixelKnn1: 0.7,
      pixelKnn20: 0.7,
      testImages: 4,
      init: { epoch: 0, knn20: 0.2, knn200Weighted: 0.2 },
    });
    recorder.record(progress(1, 4));
    recorder.record(progress(2, 4));
    recorder.record({
      type: 'epochEval',
      epoch: 1,
      step: 2,
      knn1: 0.3,
      knn20: 0.4,
      knn20Weighted: 0.41,
      knn200Weighted: 0.42,
      perClass: { knn1: [0.3, 0.3], knn20: [0.5, 0.3], knn20Weighted: [0.4, 0.4], knn200Weighted: [0.4, 0.4] },
      meanLoss: 4,
      meanPurity: 0.2,
      evalSec: 1,
    });
    recorder.record({
      type: 'checkpoint',
      epoch: 1,
      step: 2,
      path: path.join(checkpointDir, 'step-000000002'),
      kind: 'periodic',
      pruned: [],
    });
    const rows = store.getRun(id);
    expect(rows.evals).toMatchObject([
      { epoch: 0, knn20: 0.2 },
      { epoch: 1, step: 2, knn20: 0.4, knn200Weighted: 0.42, perClass: [0.5, 0.3], purity: 0.2 },
    ]);
    expect(rows.checkpoints).toMatchObject([{ epoch: 1, step: 2, kind: 'periodic' }]);
    expect(rows.run).toMatchObject({ knn20: 0.4, epochsDone: 1, bestKnn20: 0.4 });
    expect(seen.filter((s) => s.event === 'run.eval').at(-1)?.payload).toMatchObject({
      runId: id,
      epoch: 1,
      knn20: 0.4,
    });

    recorder.record({ type: 'status', status: 'paused' });
    expect(store.getRunRecord(id).status).toBe('paused');
    recorder.record({ type: 'status', status: 'running' });
    expect(store.getRunRecord(id).status).toBe('running');

    recorder.end();
    recorder.done({
      type: 'done',
      reason: 'completed',
      epoch: 2,
      step: 4,
      totalSteps: 4,
      loss: 3,
      metrics: { knn1: 0.35, knn20: 0.45, knn20Weighted: 0.46, knn200Weighted: 0.47 },
      checkpointPath: null,
      durationSec: 1,
    });
    expect(store.getRunRecord(id)).toMatchObject({
      status: 'completed',
      epochsDone: 2,
      stepsDone: 4,
      knn20: 0.45,
      knn200Weighted: 0.47,
      imagesPerSec: 200,
    });
    const statuses = seen.filter((s) => s.event === 'run.status').map((s) => (s.payload as { status: string }).status);
    expect(statuses).toEqual(['running', 'paused', 'running', 'completed']);
  });

  it('marks a run failed with its error once, and not after it completed', () => {
    const { id, recorder } = newRun();
    recorder.failed({ code: 'DIVERGED', message: 'loss is NaN', field: 'lr' });
    expect(store.getRunRecord(id)).toMatchObject({ status: 'failed', error: 'DIVERGED: loss is NaN' });
    recorder.failed({ code: 'INTERNAL', message: 'again' });
    expect(store.getRunRecord(id).error).toBe('DIVERGED: loss is NaN');
    const failures = seen.filter(
      (s) => s.event === 'run.status' && (s.payload as { status: string }).status === 'failed',
    );
    expect(failures.map((f) => f.payload)).toEqual([
      { runId: id, status: 'failed', error: { code: 'DIVERGED', message: 'loss is NaN', field: 'lr' } },
    ]);
  });

  it('a history that refuses a write (a real SQLITE_FULL) ends the recording: DISK_FULL once, what was committed kept', () => {
    const { id } = newRun();
    const told: string[] = [];
    const r2 = new RunRecorder({
      store,
      events,
      runId: id,
      checkpointDir: path.join(dir, 'runs', id),
      flushSteps: 5,
      flushMs: 60_000,
      onWriteFailed: (e) => told.push(e.code),
    });
    for (let s = 1; s <= 10; s++) r2.record(progress(s, 100_000));
    const committed = storedSteps(id);
    expect(committed).toEqual([1, 2, 3, 4, 5, 6]); // step 1 at once, then a batch of five
    // SQLite's own limit on this connection: the file may not grow, so the first insert that needs a page fails.
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages}`);
    let step = 10;
    while (!r2.writeError && step < 50_000) r2.record(progress(++step, 100_000));
    expect(r2.writeError?.code).toBe('DISK_FULL');
    expect(r2.writeError?.path).toBe(store.file);
    expect(r2.writeError?.message).toMatch(/^the disk at .+ is full \(no space left while writing the run history /);
    expect(told).toEqual(['DISK_FULL']);
    const before = storedSteps(id);
    r2.record(progress(step + 1, 100_000));
    r2.end();
    expect(storedSteps(id)).toEqual(before); // nothing is written after the failure
    expect(before.slice(0, committed.length)).toEqual(committed);
    expect(before).toEqual(Array.from({ length: before.length }, (_, i) => i + 1)); // no hole
    // Changing a row in place needs no new page: the failed end is written at once.
    r2.failed(r2.writeError!);
    expect(store.getRunRecord(id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^DISK_FULL: /) });
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });
});
