import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../run-config';
import { openRunStore, type RunStore } from './run-store';
import { blocksOf } from './metric-blocks';
import type { StepMetricInput } from './rows';

let dir: string;
let store: RunStore;
let clock: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-store-'));
  clock = 1_700_000_000_000;
  store = openRunStore(path.join(dir, 'runs.sqlite'), {
    checkpointRoot: path.join(dir, 'checkpoints'),
    now: () => clock,
  });
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const config = (over: Partial<RunConfig> = {}): RunConfig => ({
  ...DEFAULT_RUN_CONFIG,
  dataset: 'fashion-mnist',
  ...over,
});

function caught(fn: () => unknown): IsdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IsdError) return err;
    throw err;
  }
  throw new Error('expected an IsdError, nothing was thrown');
}

function steps(
  from: number,
  to: number,
  loss: (s: number) => number | null = (s) => 2 / (1 + s / 100),
): StepMetricInput[] {
  const rows: StepMetricInput[] = [];
  for (let s = from; s <= to; s++)
    rows.push({
      step: s,
      epoch: Math.floor(s / 100),
      loss: loss(s),
      lr: 0.05,
      imagesPerSec: 400,
      time: 1_700_000_000_000 + s,
    });
  return rows;
}

function count(table: string, runId: string): number {
  return (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id = ?`).get(runId) as { n: number }).n;
}

describe('createRun', () => {
  it('stores the full config and fills the list columns from it', () => {
    const run = store.createRun(
      config({ method: 'moco', epochs: 7, imbalance: 'longtail:10', tags: ['b', 'a', 'b '] }),
      { datasetName: 'Fashion-MNIST' },
    );
    expect(run).toMatchObject({
      name: 'moco on Fashion-MNIST',
      method: 'moco',
      arch: 'resnet20',
      dataset: 'fashion-mnist',
      datasetName: 'Fashion-MNIST',
      imbalance: 'longtail:10',
      status: 'queued',
      epochs: 7,
      epochsDone: 0,
      stepsDone: 0,
      createdAt: clock,
      startedAt: null,
      endedAt: null,
      knn20: null,
      tags: ['a', 'b'],
      notes: '',
    });
    expect(run.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.config).toEqual(config({ method: 'moco', epochs: 7, imbalance: 'longtail:10', tags: ['b', 'a', 'b '] }));
  });

  it('starts a running run now and takes its name from the options or the config', () => {
    const named = store.createRun(config({ name: 'from config' }), { status: 'running' });
    expect(named.name).toBe('from config');
    expect(named.status).toBe('running');
    expect(named.startedAt).toBe(clock);
    expect(store.createRun(config({ name: 'from config' }), { name: '  chosen  ' }).name).toBe('chosen');
  });

  it('refuses an invalid config naming the field, and an unknown study', () => {
    const err = caught(() => store.createRun(config({ queueSize: 1000, batchSize: 128 })));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.field).toBe('config.queueSize');
    expect(caught(() => store.createRun(config(), { studyId: 'nope' })).code).toBe('NOT_FOUND');
    expect(store.listRuns().total).toBe(0);
  });
});

describe('updateRun', () => {
  it('walks a run through its life, setting times and final metrics', () => {
    const run = store.createRun(config());
    clock += 1000;
    const started = store.updateRun(run.id, { status: 'running', backend: 'wasm', device: 'CPU (2 threads)' });
    expect(started).toMatchObject({ status: 'running', startedAt: clock, backend: 'wasm', device: 'CPU (2 threads)' });
    store.updateRun(run.id, { status: 'paused' });
    store.updateRun(run.id, { status: 'running' });
    expect(store.getRunRecord(run.id).startedAt).toBe(clock); // the first start is kept
    clock += 5000;
    const done = store.updateRun(run.id, {
      status: 'completed',
      epochsDone: 20,
      knn1: 0.81,
      knn20: 0.84,
      linear: 0.86,
      imagesPerSec: 512.5,
    });
    expect(done).toMatchObject({
      status: 'completed',
      endedAt: clock,
      epochsDone: 20,
      knn1: 0.81,
      knn20: 0.84,
      linear: 0.86,
      imagesPerSec: 512.5,
    });
  });

  it('refuses transitions that make no sense with CONFLICT, and unknown runs with NOT_FOUND', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.updateRun(run.id, { status: 'completed' });
    const err = caught(() => store.updateRun(run.id, { status: 'running' }));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toBe(`run ${run.id} is completed; it cannot become running`);
    expect(caught(() => store.updateRun(store.createRun(config()).id, { status: 'paused' })).code).toBe('CONFLICT');
    const missing = caught(() => store.updateRun('no-such-run', { knn1: 0.5 }));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toBe('run no-such-run not found');
  });

  it('resumes an interrupted run, clearing its end and error', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.updateRun(run.id, { status: 'interrupted', error: 'power cut' });
    const resumed = store.updateRun(run.id, { status: 'running' });
    expect(resumed).toMatchObject({ status: 'running', error: null, endedAt: null });
    store.updateRun(run.id, { status: 'failed', error: 'loss is NaN at step 40' });
    expect(store.getRunRecord(run.id)).toMatchObject({
      status: 'failed',
      error: 'loss is NaN at step 40',
      endedAt: clock,
    });
  });

  it('checks values and field names', () => {
    const run = store.createRun(config());
    expect(caught(() => store.updateRun(run.id, { knn1: Number.NaN })).field).toBe('knn1');
    expect(caught(() => store.updateRun(run.id, { epochsDone: -1 })).field).toBe('epochsDone');
    expect(caught(() => store.updateRun(run.id, { status: 'bogus' as never })).field).toBe('status');
    expect(caught(() => store.updateRun(run.id, { owner_pid: 1 } as never)).code).toBe('BAD_INPUT');
    expect(caught(() => store.updateRun(run.id, JSON.parse('{"__proto__": 1, "toString": 2}'))).code).toBe('BAD_INPUT');
    expect(caught(() => store.updateRun(run.id, { studyId: 'missing' })).code).toBe('NOT_FOUND');
  });
});

describe('step metrics', () => {
  it('appends batches, raises steps_done, replaces a repeated step and stores a NaN loss as null', () => {
    const run = store.createRun(config(), { status: 'running' });
    expect(store.appendStepMetrics(run.id, steps(1, 100))).toBe(100);
    store.appendStepMetrics(run.id, steps(101, 150));
    expect(store.getRunRecord(run.id).stepsDone).toBe(150);
    store.appendStepMetrics(run.id, [{ step: 150, epoch: 1, loss: Number.NaN, lr: 0.01, time: 5 }]);
    const rows = [...store.iterateStepMetrics(run.id)];
    expect(rows).toHaveLength(150);
    expect(rows[0]).toEqual({
      step: 1,
      epoch: 0,
      loss: 2 / 1.01,
      lr: 0.05,
      purity: null,
      imagesPerSec: 400,
      time: 1_700_000_000_001,
    });
    expect(rows[149]).toEqual({ step: 150, epoch: 1, loss: null, lr: 0.01, purity: null, imagesPerSec: null, time: 5 });
  });

  it('writes nothing of a batch with a bad row or for an unknown run', () => {
    const run = store.createRun(config());
    const bad = [...steps(1, 10), { step: -3, epoch: 0, loss: 1, lr: 1 }];
    expect(caught(() => store.appendStepMetrics(run.id, bad)).field).toBe('rows[10].step');
    expect(count('step_metrics', run.id)).toBe(0);
    expect(caught(() => store.appendStepMetrics('ghost', steps(1, 3))).code).toBe('NOT_FOUND');
  });

  it('discards the steps and evaluations after a checkpoint for a resume', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.appendStepMetrics(run.id, steps(1, 300));
    store.addEpochEval(run.id, { epoch: 1, step: 100, knn1: 0.5, knn20: 0.6 });
    store.addEpochEval(run.id, { epoch: 3, step: 300, knn1: 0.7, knn20: 0.8 });
    store.discardAfterStep(run.id, 200);
    expect(count('step_metrics', run.id)).toBe(200);
    expect(store.getRun(run.id).evals.map((e) => e.epoch)).toEqual([1]);
    expect(store.getRunRecord(run.id)).toMatchObject({ stepsDone: 200, bestKnn20: 0.6 });
  });
});

describe('block rollup', () => {
  /** The stored rollup must equal one computed afresh from the stored rows. */
  function expectRollupMatchesRows(runId: string): void {
    const rows = [...store.iterateStepMetrics(runId)];
    const stored = store.db
      .prepare(
        'SELECT block, n, lo_step AS loStep, lo_loss AS loLoss, hi_step AS hiStep, hi_loss AS hiLoss FROM step_metric_blocks WHERE run_id = ? ORDER BY block',
      )
      .all(runId);
    expect(stored).toEqual([...blocksOf(rows).values()].sort((a, b) => a.block - b.block));
  }

  it('stays equal to the rows through appends out of order, replaced steps, missing losses, ties and discards', () => {
    const run = store.createRun(config(), { status: 'running' });
    const wave = (s: number) => Math.round(Math.sin(s / 7) * 4) / 4; // many ties
    store.appendStepMetrics(run.id, steps(1, 100, wave));
    store.appendStepMetrics(run.id, steps(301, 400, wave)); // a gap
    store.appendStepMetrics(
      run.id,
      steps(101, 300, (s) => (s % 17 === 0 ? null : wave(s))),
    ); // fills it, with NaN-like holes
    expectRollupMatchesRows(run.id);
    store.appendStepMetrics(
      run.id,
      steps(150, 180, () => -9),
    ); // replaces existing steps with new lows
    expectRollupMatchesRows(run.id);
    store.appendStepMetrics(
      run.id,
      steps(150, 180, () => 0),
    ); // and again, removing those lows
    expectRollupMatchesRows(run.id);
    store.appendStepMetrics(run.id, [...steps(401, 410), { step: 405, epoch: 4, loss: 99, lr: 0 }]); // a step twice in one batch
    expectRollupMatchesRows(run.id);
    store.appendStepMetrics(
      run.id,
      steps(411, 440, () => null),
    ); // a block of nothing but missing losses
    expectRollupMatchesRows(run.id);
    store.discardAfterStep(run.id, 250);
    expectRollupMatchesRows(run.id);
    store.discardAfterStep(run.id, 0);
    expectRollupMatchesRows(run.id);
    expect(store.getCurves(run.id).totalPoints).toBe(0);
  });

  it('goes with its run', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.appendStepMetrics(run.id, steps(1, 100));
    store.updateRun(run.id, { status: 'stopped' });
    store.deleteRun(run.id);
    expect(count('step_metric_blocks', run.id)).toBe(0);
  });
});

describe('evaluations and checkpoints', () => {
  it('stores evaluations with per-class accuracy and keeps the best kNN-20', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.addEpochEval(run.id, { epoch: 0, step: 0, knn1: 0.9, knn20: 0.9 }); // the random-init baseline is no "best"
    expect(store.getRunRecord(run.id).bestKnn20).toBeNull();
    const first = store.addEpochEval(run.id, {
      epoch: 1,
      step: 468,
      knn1: 0.6,
      knn20: 0.7,
      perClass: [0.5, 0.9],
      frequentAcc: 0.9,
      rareAcc: 0.5,
    });
    expect(first).toEqual({
      epoch: 1,
      step: 468,
      knn1: 0.6,
      knn20: 0.7,
      knn20Weighted: null,
      knn200Weighted: null,
      linear: null,
      purity: null,
      perClass: [0.5, 0.9],
      frequentAcc: 0.9,
      rareAcc: 0.5,
      time: clock,
    });
    store.addEpochEval(run.id, { epoch: 2, step: 936, knn1: 0.65, knn20: 0.66 });
    expect(store.getRunRecord(run.id).bestKnn20).toBe(0.7);
    store.addEpochEval(run.id, { epoch: 2, step: 936, knn1: 0.7, knn20: 0.75, linear: 0.8 }); // a re-evaluation replaces
    const detail = store.getRun(run.id);
    expect(detail.evals.map((e) => [e.epoch, e.knn20, e.linear])).toEqual([
      [0, 0.9, null],
      [1, 0.7, null],
      [2, 0.75, 0.8],
    ]);
    expect(detail.run.bestKnn20).toBe(0.75);
    expect(
      caught(() => store.addEpochEval(run.id, { epoch: 3, step: 1, knn1: 0, knn20: 0, perClass: [Number.NaN] })).field,
    ).toBe('perClass');
    // A class without test queries is kept as null, not refused (it used to cost the whole evaluation).
    store.addEpochEval(run.id, { epoch: 3, step: 1, knn1: 0, knn20: 0, perClass: [0.5, null] });
    expect(store.getRun(run.id).evals.at(-1)?.perClass).toEqual([0.5, null]);
  });

  it("keeps a run's baseline beside its step-0 evaluation, in its summary too, and drops it with the run", () => {
    const run = store.createRun(config(), { status: 'running' });
    expect(store.getRun(run.id).baseline).toBeNull();
    expect(store.getRunRecord(run.id)).toMatchObject({ initKnn20: null, pixelKnn20: null, evalTestImages: null });
    store.addEpochEval(run.id, { epoch: 0, step: 0, knn1: 0.61, knn20: 0.63, knn200Weighted: 0.64 });
    const stored = store.setBaseline(run.id, {
      pixelKnn1: 0.83,
      pixelKnn20: 0.81,
      pixelKnn20Weighted: 0.82,
      pixelKnn200Weighted: 0.8,
      bankImages: 5000,
      testImages: 2000,
      testSplitImages: 10000,
    });
    expect(stored).toEqual({
      pixelKnn1: 0.83,
      pixelKnn20: 0.81,
      pixelKnn20Weighted: 0.82,
      pixelKnn200Weighted: 0.8,
      bankImages: 5000,
      testImages: 2000,
      testSplitImages: 10000,
      time: clock,
    });
    expect(store.getRun(run.id).baseline).toEqual(stored);
    expect(store.getRun(run.id).evals[0].knn200Weighted).toBe(0.64);
    expect(store.listRuns().runs[0]).toMatchObject({
      initKnn1: 0.61,
      initKnn20: 0.63,
      pixelKnn1: 0.83,
      pixelKnn20: 0.81,
      evalTestImages: 2000,
      evalTestSplitImages: 10000,
    });
    expect(caught(() => store.setBaseline('ghost', { ...stored, time: undefined })).code).toBe('NOT_FOUND');
    expect(caught(() => store.setBaseline(run.id, { ...stored, testImages: -1 })).field).toBe('testImages');
    store.updateRun(run.id, { status: 'stopped' });
    store.deleteRun(run.id);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM run_baselines').get()).toEqual({ n: 0 });
  });

  it('records checkpoints in step order', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.addCheckpoint(run.id, { epoch: 2, step: 200, path: '/c/2', kind: 'periodic' });
    const c1 = store.addCheckpoint(run.id, { epoch: 1, step: 100, path: '/c/1', kind: 'periodic' });
    store.addCheckpoint(run.id, { epoch: 2, step: 250, path: '/c/stop', kind: 'stop' });
    expect(c1).toMatchObject({ runId: run.id, epoch: 1, step: 100, path: '/c/1', kind: 'periodic', createdAt: clock });
    expect(store.getRun(run.id).checkpoints.map((c) => [c.step, c.kind])).toEqual([
      [100, 'periodic'],
      [200, 'periodic'],
      [250, 'stop'],
    ]);
    expect(
      caught(() => store.addCheckpoint(run.id, { epoch: 1, step: 1, path: '/x', kind: 'daily' as never })).field,
    ).toBe('kind');
    expect(caught(() => store.addCheckpoint('ghost', { epoch: 1, step: 1, path: '/x', kind: 'final' })).code).toBe(
      'NOT_FOUND',
    );
  });
});

describe('getRun', () => {
  it('returns the run, its config, evaluations, checkpoints and a summary of its metrics', () => {
    const run = store.createRun(config({ seed: 9 }), { status: 'running' });
    store.appendStepMetrics(run.id, steps(1, 50));
    const d = store.getRun(run.id);
    expect(d.config.seed).toBe(9);
    expect(d.run.id).toBe(run.id);
    expect(d.metrics).toEqual({
      points: 50,
      firstStep: 1,
      lastStep: 50,
      minLoss: 2 / 1.5,
      lastLoss: 2 / 1.5,
      meanImagesPerSec: 400,
      lastTime: 1_700_000_000_050,
    });
    expect(caught(() => store.getRun('nope')).message).toBe('run nope not found');
  });

  it('resolves a unique id prefix', () => {
    const run = store.createRun(config());
    expect(store.resolveRunId(run.id)).toBe(run.id);
    expect(store.resolveRunId(run.id.slice(0, 8).toUpperCase())).toBe(run.id);
    expect(caught(() => store.resolveRunId('zzzz')).code).toBe('NOT_FOUND');
    const short = caught(() => store.resolveRunId(run.id.slice(0, 3)));
    expect(short).toMatchObject({
      code: 'NOT_FOUND',
      message: `run ${run.id.slice(0, 3)} not found (an id prefix needs at least 4 characters)`,
    });
  });
});

describe('listRuns', () => {
  function seed(): string[] {
    const ids: string[] = [];
    const specs: [RunConfig['method'], string, number | null, string][] = [
      ['isd', 'completed', 0.9, 'Fashion-MNIST'],
      ['moco', 'completed', 0.8, 'Fashion-MNIST'],
      ['isd', 'failed', null, 'CIFAR-10'],
      ['isd', 'completed', 0.7, 'CIFAR-10'],
      ['moco', 'running', null, 'CIFAR-10'],
    ];
    specs.forEach(([method, status, knn20, datasetName], i) => {
      clock += 1000;
      const r = store.createRun(config({ method, dataset: datasetName.toLowerCase() }), {
        datasetName,
        name: `run ${i}`,
        status: 'running',
      });
      if (status !== 'running') store.updateRun(r.id, { status: status as 'completed', knn20 });
      ids.push(r.id);
    });
    return ids;
  }

  it('pages newest first with the total count', () => {
    const ids = seed();
    const page = store.listRuns({ limit: 2 });
    expect(page.total).toBe(5);
    expect(page.runs.map((r) => r.id)).toEqual([ids[4], ids[3]]);
    expect(store.listRuns({ limit: 2, offset: 4 }).runs.map((r) => r.id)).toEqual([ids[0]]);
  });

  it('filters by status, method, dataset, search, tag and study', () => {
    const ids = seed();
    const names = (q: Parameters<RunStore['listRuns']>[0]) =>
      store
        .listRuns(q)
        .runs.map((r) => r.name)
        .sort();
    expect(names({ status: 'completed' })).toEqual(['run 0', 'run 1', 'run 3']);
    expect(names({ status: ['failed', 'running'] })).toEqual(['run 2', 'run 4']);
    expect(names({ method: 'moco' })).toEqual(['run 1', 'run 4']);
    expect(names({ dataset: 'CIFAR-10' })).toEqual(['run 2', 'run 3', 'run 4']);
    expect(names({ dataset: 'fashion-mnist', method: 'isd' })).toEqual(['run 0']);
    store.setTags(ids[2], ['baseline', 'cifar']);
    store.setTags(ids[3], ['baseline']);
    expect(names({ tag: 'baseline' })).toEqual(['run 2', 'run 3']);
    // the search box reads tags, the method and the dataset too (History sends it as typed)
    expect(names({ search: 'BASEL' })).toEqual(['run 2', 'run 3']);
    expect(names({ search: 'moco' })).toEqual(['run 1', 'run 4']);
    expect(names({ search: 'cifar' })).toEqual(['run 2', 'run 3', 'run 4']);
    store.setNotes(ids[1], 'queue 100% full_at start');
    expect(names({ search: '100%' })).toEqual(['run 1']);
    expect(names({ search: 'full_at' })).toEqual(['run 1']);
    expect(names({ search: 'u_u' })).toEqual([]); // _ is not a wildcard (it would match "queue")
    expect(names({ search: '1%l' })).toEqual([]); // nor is %
    expect(names({ search: 'RUN 3' })).toEqual(['run 3']);
    expect(names({ search: ids[4].slice(0, 8) })).toEqual(['run 4']);
    expect(names({ search: "'; DROP TABLE runs; --" })).toEqual([]);
    expect(store.listRuns().total).toBe(5);
    const study = store.createStudy({ name: 'temperatures', spec: { grid: { tempTeacher: [0.01, 0.02] } } });
    store.updateRun(ids[0], { studyId: study.id });
    expect(names({ studyId: study.id })).toEqual(['run 0']);
  });

  it('sorts by a whitelisted field with missing values last, and refuses other fields', () => {
    seed();
    expect(store.listRuns({ sort: 'knn20', order: 'desc' }).runs.map((r) => r.knn20)).toEqual([
      0.9,
      0.8,
      0.7,
      null,
      null,
    ]);
    expect(store.listRuns({ sort: 'knn20', order: 'asc' }).runs.map((r) => r.knn20)).toEqual([
      0.7,
      0.8,
      0.9,
      null,
      null,
    ]);
    expect(store.listRuns({ sort: 'name', order: 'asc' }).runs.map((r) => r.name)).toEqual([
      'run 0',
      'run 1',
      'run 2',
      'run 3',
      'run 4',
    ]);
    // a setting without a column of its own sorts from the stored config
    const lrs = [0.3, 0.1, 0.2, 0.05, 0.4];
    store.listRuns({ sort: 'createdAt', order: 'asc' }).runs.forEach((r, i) => {
      store.db.prepare("UPDATE runs SET config = json_set(config, '$.lr', ?) WHERE id = ?").run(lrs[i], r.id);
    });
    expect(store.listRuns({ sort: 'lr', order: 'asc' }).runs.map((r) => r.name)).toEqual([
      'run 3',
      'run 1',
      'run 2',
      'run 0',
      'run 4',
    ]);
    expect(caught(() => store.listRuns({ sort: 'name; DROP TABLE runs' as never })).field).toBe('sort');
    expect(caught(() => store.listRuns({ order: 'sideways' as never })).field).toBe('order');
    expect(caught(() => store.listRuns({ limit: 0 })).field).toBe('limit');
    expect(caught(() => store.listRuns({ status: 'lost' as never })).field).toBe('status');
  });
});

describe('getCurves', () => {
  it('returns every row when they fit', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.appendStepMetrics(run.id, steps(1, 300));
    const c = store.getCurves(run.id, { maxPoints: 300 });
    expect(c.totalPoints).toBe(300);
    expect(c.points.map((p) => p.step)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('stays within maxPoints, keeps both ends and the extremes, and returns only real rows', () => {
    const run = store.createRun(config(), { status: 'running' });
    const spikeAt = 4321;
    const dipAt = 7777;
    const loss = (s: number) => (s === spikeAt ? 50 : s === dipAt ? -5 : 2 + Math.sin(s / 50));
    const all = steps(0, 9999, loss);
    for (let i = 0; i < all.length; i += 500) store.appendStepMetrics(run.id, all.slice(i, i + 500));
    const byStep = new Map([...store.iterateStepMetrics(run.id)].map((r) => [r.step, r]));

    for (const maxPoints of [2, 3, 4, 5, 10, 101, 1000, 9999]) {
      const c = store.getCurves(run.id, { maxPoints });
      expect(c.totalPoints).toBe(10_000);
      expect(c.points.length).toBeLessThanOrEqual(maxPoints);
      expect(c.points[0].step).toBe(0);
      expect(c.points[c.points.length - 1].step).toBe(9999);
      for (let i = 1; i < c.points.length; i++) expect(c.points[i].step).toBeGreaterThan(c.points[i - 1].step);
      for (const p of c.points) expect(p).toEqual(byStep.get(p.step));
      if (maxPoints >= 3) expect(c.points.map((p) => p.step)).toContain(dipAt);
      if (maxPoints >= 4) expect(c.points.map((p) => p.step)).toContain(spikeAt);
      if (maxPoints >= 100) expect(c.points.length).toBeGreaterThan(maxPoints * 0.9);
    }
    expect(caught(() => store.getCurves(run.id, { maxPoints: 1 })).field).toBe('maxPoints');
  });

  it('keeps a stretch of missing (diverged) losses visible', () => {
    const run = store.createRun(config(), { status: 'running' });
    store.appendStepMetrics(
      run.id,
      steps(1, 2000, (s) => (s > 1500 ? Number.NaN : 1 / s)),
    );
    const c = store.getCurves(run.id, { maxPoints: 50 });
    expect(c.points.length).toBeLessThanOrEqual(50);
    const nullSteps = c.points.filter((p) => p.loss === null).map((p) => p.step);
    expect(nullSteps.length).toBeGreaterThan(5);
    expect(nullSteps.every((st) => st > 1500)).toBe(true);
    expect(caught(() => store.getCurves('ghost')).code).toBe('NOT_FOUND');
  });
});

describe('rename, tags and notes', () => {
  it('changes them and checks them', () => {
    const run = store.createRun(config());
    expect(store.renameRun(run.id, '  ISD, T_t 0.01  ').name).toBe('ISD, T_t 0.01');
    expect(caught(() => store.renameRun(run.id, '   ')).field).toBe('name');
    expect(caught(() => store.renameRun('ghost', 'x')).code).toBe('NOT_FOUND');
    expect(store.setTags(run.id, ['rare', ' long-tail', 'rare']).tags).toEqual(['long-tail', 'rare']);
    expect(store.setTags(run.id, []).tags).toEqual([]);
    expect(caught(() => store.setTags(run.id, ['x'.repeat(51)])).field).toBe('tags');
    expect(store.setNotes(run.id, 'line 1\nline 2').notes).toBe('line 1\nline 2');
    expect(caught(() => store.setNotes('ghost', 'x')).code).toBe('NOT_FOUND');
  });
});

describe('deleteRun', () => {
  it('removes the rows by cascade and the checkpoint folder inside the root', () => {
    const ckpt = path.join(dir, 'checkpoints', 'run-a');
    fs.mkdirSync(ckpt, { recursive: true });
    fs.writeFileSync(path.join(ckpt, 'weights.bin'), 'w');
    const run = store.createRun(config({ tags: ['t'] }), { status: 'running', checkpointDir: ckpt });
    const keep = store.createRun(config(), { status: 'running' });
    store.appendStepMetrics(run.id, steps(1, 20));
    store.appendStepMetrics(keep.id, steps(1, 20));
    store.addEpochEval(run.id, { epoch: 1, step: 20, knn1: 0.1, knn20: 0.2 });
    store.addCheckpoint(run.id, { epoch: 1, step: 20, path: path.join(ckpt, 'weights.bin'), kind: 'final' });
    expect(caught(() => store.deleteRun(run.id)).code).toBe('CONFLICT'); // still running
    store.updateRun(run.id, { status: 'completed' });

    expect(store.deleteRun(run.id, { deleteFiles: true })).toEqual({
      id: run.id,
      removedDir: fs.realpathSync(path.join(dir, 'checkpoints')) + '/run-a',
    });
    expect(fs.existsSync(ckpt)).toBe(false);
    for (const t of ['step_metrics', 'epoch_evals', 'checkpoints', 'run_tags']) expect(count(t, run.id)).toBe(0);
    expect(count('step_metrics', keep.id)).toBe(20);
    expect(caught(() => store.getRun(run.id)).code).toBe('NOT_FOUND');
    expect(caught(() => store.deleteRun(run.id)).code).toBe('NOT_FOUND');
  });

  it('refuses to remove a folder outside the checkpoint root, keeping run and folder', () => {
    const outside = path.join(dir, 'elsewhere');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'precious.txt'), 'keep me');
    const run = store.createRun(config(), { checkpointDir: outside });
    const err = caught(() => store.deleteRun(run.id, { deleteFiles: true }));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toBe(
      `refusing to delete ${outside}: it is not inside the checkpoint folder ${path.join(dir, 'checkpoints')}`,
    );
    expect(fs.readFileSync(path.join(outside, 'precious.txt'), 'utf8')).toBe('keep me');
    expect(store.getRunRecord(run.id).id).toBe(run.id);

    // A path that climbs out of the root, and a link inside the root pointing out, are refused too.
    fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
    const sneaky = store.createRun(config(), { checkpointDir: path.join(dir, 'checkpoints', '..', 'elsewhere') });
    expect(caught(() => store.deleteRun(sneaky.id, { deleteFiles: true })).code).toBe('BAD_INPUT');
    fs.symlinkSync(outside, path.join(dir, 'checkpoints', 'link'));
    const linked = store.createRun(config(), { checkpointDir: path.join(dir, 'checkpoints', 'link') });
    expect(caught(() => store.deleteRun(linked.id, { deleteFiles: true })).code).toBe('BAD_INPUT');
    expect(fs.existsSync(path.join(outside, 'precious.txt'))).toBe(true);

    // Without deleteFiles the rows go and the folder stays.
    expect(store.deleteRun(run.id)).toEqual({ id: run.id, removedDir: null });
    expect(fs.existsSync(outside)).toBe(true);
  });

  it('refuses to remove files when the store has no checkpoint root', () => {
    const bare = openRunStore(path.join(dir, 'bare.sqlite'));
    try {
      const ckpt = path.join(dir, 'ck');
      fs.mkdirSync(ckpt);
      const run = bare.createRun(config(), { checkpointDir: ckpt });
      expect(caught(() => bare.deleteRun(run.id, { deleteFiles: true })).code).toBe('BAD_INPUT');
      expect(fs.existsSync(ckpt)).toBe(true);
    } finally {
      bare.close();
    }
  });
});

describe('user datasets and studies', () => {
  it('adds, renames, lists and removes datasets by absolute path', () => {
    store.addUserDataset('/data/flowers', 'Flowers');
    clock += 1;
    store.addUserDataset('/data/cifar/', 'CIFAR copy');
    store.addUserDataset('/data/flowers', 'Flowers 102');
    expect(store.listUserDatasets()).toEqual([
      { path: '/data/flowers', name: 'Flowers 102', addedAt: clock - 1 },
      { path: '/data/cifar', name: 'CIFAR copy', addedAt: clock },
    ]);
    expect(caught(() => store.addUserDataset('relative/path', 'x')).field).toBe('path');
    store.removeUserDataset('/data/flowers');
    expect(store.listUserDatasets().map((d) => d.path)).toEqual(['/data/cifar']);
    expect(caught(() => store.removeUserDataset('/data/flowers')).code).toBe('NOT_FOUND');
  });

  it('creates, gets and lists studies with their run counts', () => {
    const s = store.createStudy({ name: 'queue size', spec: { vary: 'queueSize', values: [1024, 4096] } });
    expect(s).toEqual({
      id: s.id,
      name: 'queue size',
      spec: { vary: 'queueSize', values: [1024, 4096] },
      createdAt: clock,
      runCount: 0,
    });
    store.createRun(config(), { studyId: s.id });
    store.createRun(config(), { studyId: s.id });
    expect(store.getStudy(s.id).runCount).toBe(2);
    clock += 1;
    const t = store.createStudy({ name: 'second', spec: null });
    expect(store.listStudies().map((x) => x.id)).toEqual([t.id, s.id]);
    expect(caught(() => store.getStudy('ghost')).message).toBe('study ghost not found');
    expect(caught(() => store.createStudy({ name: 'bad', spec: undefined })).field).toBe('spec');
  });
});
