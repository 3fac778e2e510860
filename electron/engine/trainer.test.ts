/**
 * The training loop on real Fashion-MNIST images (a small slice), resnet20 at a reduced base width so
 * that pure-JS cpu convolution gradients fit the test budget. ISD_TEST_BACKEND=wasm runs the same on wasm.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data';
import type { LoadedDataset } from '../data/types';
import { DEFAULT_RUN_CONFIG, METHOD_DEFAULTS, type RunConfig } from '../run-config';
import { initBackend, type BackendName } from './backend';
import { listCheckpoints, readCheckpoint, restoreTrainingStep } from './checkpoint';
import { knnEvaluate, pixelFeatures } from './evaluate';
import type { TrainerEvent } from './protocol';
import { imageSlice } from './trainer-test-support';
import type { EvaluationSets, ImageSet } from './run-data';
import { Trainer, type TrainerOptions, type TrainerResult } from './trainer';

const BACKEND = (process.env.ISD_TEST_BACKEND ?? 'cpu') as BackendName;
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

let fm: LoadedDataset;
let tmp: string;

function slice(split: LoadedDataset['train'], start: number, count: number): ImageSet {
  return imageSlice(fm, split, start, count);
}

function evaluationSets(bank: number, test: number): EvaluationSets {
  const b = slice(fm.train, 10_000, bank);
  const t = slice(fm.test!, 0, test);
  return { bank: { ...b, labels: b.labels! }, test: { ...t, labels: t.labels! }, numClasses: 10 };
}

function config(over: Partial<RunConfig>): RunConfig {
  return {
    ...DEFAULT_RUN_CONFIG,
    dataset: FASHION_MNIST,
    batchSize: 8,
    queueSize: 32,
    imageSize: 16,
    epochs: 1,
    evalEvery: 1,
    checkpointEvery: 1,
    seed: 3,
    ...over,
  };
}

interface Recorded {
  result: TrainerResult;
  events: TrainerEvent[];
  trainer: Trainer;
}

async function train(
  over: Partial<RunConfig>,
  opts: Omit<Partial<TrainerOptions>, 'onEvent'> & {
    images: number;
    dir: string;
    baseWidth?: number;
    replicas?: number;
    onEvent?: (e: TrainerEvent, t: Trainer, events: TrainerEvent[]) => void;
  },
): Promise<Recorded> {
  const events: TrainerEvent[] = [];
  const trainer: Trainer = new Trainer({
    runId: 'run-1',
    config: config(over),
    train: slice(fm.train, 0, opts.images),
    evaluation: opts.evaluation ?? null,
    checkpointDir: opts.dir,
    resumeFrom: opts.resumeFrom,
    engine: { baseWidth: opts.baseWidth ?? 2, replicas: opts.replicas },
    onEvent: (e) => {
      events.push(e);
      opts.onEvent?.(e, trainer, events);
    },
  });
  const result = await trainer.run();
  return { result, events, trainer };
}

const relClose = (a: number[], b: number[], tol = 1e-4) => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b[i]))));
};

describe(`Trainer on Fashion-MNIST (${BACKEND})`, () => {
  beforeAll(async () => {
    await initBackend({ prefer: BACKEND });
    fm = await loadDataset(FASHION_MNIST);
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'isd-trainer-'));
  });
  afterAll(async () => {
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('same seed and config give the same first 10 losses; another seed does not', async () => {
    const a = await train({}, { images: 80, dir: path.join(tmp, 'det-a'), baseWidth: 1 });
    const b = await train({}, { images: 80, dir: path.join(tmp, 'det-b'), baseWidth: 1 });
    expect(a.result.status).toBe('completed');
    expect(a.result.losses).toHaveLength(10);
    expect(b.result.losses).toEqual(a.result.losses);
    a.result.losses.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    const c = await train(
      { seed: 4 },
      {
        images: 80,
        dir: path.join(tmp, 'det-c'),
        baseWidth: 1,
        onEvent: (e, t) => e.type === 'progress' && e.step === 2 && t.stop(),
      },
    );
    expect(c.result.status).toBe('stopped');
    expect(c.result.losses.slice(0, 2)).not.toEqual(a.result.losses.slice(0, 2));
    // progress events carry what the host needs
    const p = a.events.find((e) => e.type === 'progress' && e.step === 5);
    expect(p).toMatchObject({ type: 'progress', step: 5, totalSteps: 10, epoch: 1, epochFraction: 0.5 });
    expect(p && p.type === 'progress' && p.purity! >= 0 && p.imagesPerSec > 0 && p.lr > 0).toBe(true);
  });

  it('names its phases in order, with evaluation progress, and counts the evaluations left in its ETA', async () => {
    const evaluation = evaluationSets(100, 50);
    const r = await train({ epochs: 3, linearEval: true }, { images: 16, dir: path.join(tmp, 'phases'), evaluation });
    expect(r.result.status).toBe('completed');
    const phases = r.events.flatMap((e) => (e.type === 'phase' ? [e] : []));
    // Consecutive repeats collapsed: the order a user sees on the live page.
    const order = phases.map((p) => p.phase).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(order).toEqual([
      'baseline',
      'training',
      'evaluating',
      'training',
      'evaluating',
      'training',
      'final',
      'linear',
    ]);
    const baseline = phases.filter((p) => p.phase === 'baseline');
    expect(baseline[0]).toMatchObject({ done: 0, total: 150 });
    // One baseline event: after the step-0 evaluation, before the first step; raw pixels on the same sets.
    const types = r.events.map((e) => e.type);
    expect(types.filter((t) => t === 'baseline')).toHaveLength(1);
    expect(types.indexOf('epochEval')).toBeLessThan(types.indexOf('baseline'));
    expect(types.indexOf('baseline')).toBeLessThan(types.indexOf('progress'));
    const px = await knnEvaluate(
      {
        features: pixelFeatures(evaluation.bank.images, 100, evaluation.bank),
        labels: evaluation.bank.labels,
        dim: 784,
      },
      { features: pixelFeatures(evaluation.test.images, 50, evaluation.test), labels: evaluation.test.labels },
      { numClasses: 10 },
    );
    const step0 = r.result.evals[0]!;
    expect(r.events.find((e) => e.type === 'baseline')).toMatchObject({
      pixel: { knn1: px.knn1, knn20: px.knn20, knn20Weighted: px.knn20Weighted, knn200Weighted: px.knn200Weighted },
      init: { knn1: step0.knn1, knn20: step0.knn20, knn200Weighted: step0.knn200Weighted },
      bankImages: 100,
      testImages: 50,
      testSplitImages: 50,
    });
    expect(baseline.every((p, i) => i === 0 || p.done >= baseline[i - 1]!.done)).toBe(true);
    // After the step-0 evaluation measured its rate, the ETA includes the 3 evaluations still to come.
    const first = r.events.find((e) => e.type === 'progress' && e.step === 1);
    const last = r.events.filter((e) => e.type === 'progress').at(-1);
    if (first?.type !== 'progress' || last?.type !== 'progress') throw new Error('no progress');
    const trainLeft = ((first.totalSteps - first.step) * 8) / first.imagesPerSec;
    expect(first.etaSec).toBeGreaterThan(trainLeft);
    // At the last step only the final evaluation is left: the ETA is not 0 s while it runs.
    expect(last.etaSec).toBeGreaterThan(0);
  });

  it('a run paused, stopped mid-epoch and resumed follows the same loss curve, evaluations and weights as one left alone', async () => {
    const evaluation = evaluationSets(100, 50);
    const whole = await train({ epochs: 2 }, { images: 40, dir: path.join(tmp, 'whole'), evaluation });
    expect(whole.result.status).toBe('completed');
    expect(whole.result.losses).toHaveLength(10);
    // evaluations at step 0 (random init), after epoch 1 and after epoch 2
    expect(whole.result.evals.map((e) => [e.epoch, e.step])).toEqual([
      [0, 0],
      [1, 5],
      [2, 10],
    ]);
    expect(whole.result.evals[0].meanLoss).toBeNull();
    for (const e of whole.result.evals)
      for (const k of [e.knn1, e.knn20, e.knn20Weighted]) expect(k >= 0 && k <= 1).toBe(true);

    const dir = path.join(tmp, 'parts');
    const lastStep = (events: TrainerEvent[]) =>
      Math.max(0, ...events.map((e) => (e.type === 'progress' ? e.step : 0)));
    let pausedAt = -1;
    let progressWhilePaused = -1;
    const first = await train(
      { epochs: 2 },
      {
        images: 40,
        dir,
        evaluation,
        onEvent: (e, t, events) => {
          if (e.type === 'progress' && e.step === 2) t.pause();
          if (e.type === 'status' && e.status === 'paused') {
            pausedAt = lastStep(events);
            setTimeout(() => {
              progressWhilePaused = lastStep(events) - pausedAt;
              t.resume();
            }, 150);
          }
          if (e.type === 'progress' && e.step === 7) t.stop();
        },
      },
    );
    expect(first.result.status).toBe('stopped');
    expect(pausedAt).toBe(2);
    expect(progressWhilePaused).toBe(0);
    expect(first.events.filter((e) => e.type === 'status').map((e) => (e.type === 'status' ? e.status : ''))).toEqual(
      expect.arrayContaining(['paused', 'running', 'stopping', 'stopped']),
    );
    const stopCk = first.events.find((e) => e.type === 'checkpoint' && e.kind === 'stop');
    expect(stopCk).toMatchObject({ step: 7, epoch: 1 });
    const done = first.events.find((e) => e.type === 'done');
    expect(done).toMatchObject({ reason: 'stopped', step: 7 });

    const second = await train({ epochs: 2 }, { images: 40, dir, evaluation, resumeFrom: first.result.checkpointPath });
    expect(second.result.status).toBe('completed');
    expect(second.result.losses).toHaveLength(3);
    expect(second.events.some((e) => e.type === 'baseline')).toBe(false); // once per run, in its first session
    relClose([...first.result.losses, ...second.result.losses], whole.result.losses);
    const lastWhole = whole.result.evals[2];
    const lastResumed = second.result.evals[second.result.evals.length - 1];
    expect([lastResumed.epoch, lastResumed.step]).toEqual([2, 10]);
    relClose(
      [lastResumed.knn1, lastResumed.knn20, lastResumed.knn20Weighted, lastResumed.meanLoss!],
      [lastWhole.knn1, lastWhole.knn20, lastWhole.knn20Weighted, lastWhole.meanLoss!],
    );
    const a = await readCheckpoint(whole.result.checkpointPath!);
    const b = await readCheckpoint(second.result.checkpointPath!);
    expect(b.state.variables.map((v) => v.name)).toEqual(a.state.variables.map((v) => v.name));
    let maxDiff = 0;
    a.state.variables.forEach((v, i) =>
      v.values.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - b.state.variables[i].values[j])))),
    );
    expect(maxDiff).toBeLessThan(1e-4);
    expect(Array.from(b.state.queueLabels)).toEqual(Array.from(a.state.queueLabels));
    expect(b.manifest.queue.pointer).toBe(a.manifest.queue.pointer);
    // the final checkpoint rebuilds the model for evaluation after the run
    const restored = await restoreTrainingStep(second.result.checkpointPath!);
    expect(restored.step.stepsDone).toBe(10);
    const feats = tf.tidy(() => restored.step.studentEmbed(tf.zeros([2, 16, 16, 1])).shape);
    expect(feats).toEqual([2, 8]); // resnet20 at base width 2: 4·2 features
    restored.step.dispose();
    // keepCheckpoints (2) prunes older folders
    expect((await listCheckpoints(dir)).map((p) => path.basename(p))).toEqual(['step-000000007', 'step-000000010']);
  });

  it('two replicas (data parallel): a run stopped and resumed follows the same losses as one left alone', async () => {
    const whole = await train({ epochs: 2 }, { images: 32, dir: path.join(tmp, 'dp-whole'), replicas: 2 });
    expect(whole.result.status).toBe('completed');
    expect(whole.result.losses).toHaveLength(8);
    whole.result.losses.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    // 64 keys through a queue of 32: every slot names the training image behind its key, from both halves
    const queue = (await readCheckpoint(whole.result.checkpointPath!)).state;
    const sources = Array.from(queue.queueSources!);
    expect(new Set(sources).size).toBe(32);
    sources.forEach((src, slot) => {
      expect(src).toBeGreaterThanOrEqual(0);
      expect(src).toBeLessThan(32);
      expect(queue.queueLabels[slot]).toBe(fm.train.labels![src]);
    });
    const dir = path.join(tmp, 'dp-parts');
    const first = await train(
      { epochs: 2 },
      { images: 32, dir, replicas: 2, onEvent: (e, t) => e.type === 'progress' && e.step === 3 && t.stop() },
    );
    expect(first.result.status).toBe('stopped');
    const second = await train(
      { epochs: 2 },
      { images: 32, dir, replicas: 2, resumeFrom: first.result.checkpointPath },
    );
    expect(second.result.status).toBe('completed');
    relClose([...first.result.losses, ...second.result.losses], whole.result.losses);
    // BatchNorm over halves: not the one-replica run's losses
    const single = await train({ epochs: 2 }, { images: 32, dir: path.join(tmp, 'dp-single') });
    expect(single.result.losses).not.toEqual(whole.result.losses);
  });

  it('a resume refuses a checkpoint written with other hyperparameters', async () => {
    const dir = path.join(tmp, 'conflict');
    const first = await train({}, { images: 16, dir });
    const other = await train(
      { lr: 0.1 },
      { images: 16, dir: path.join(tmp, 'conflict2'), resumeFrom: first.result.checkpointPath },
    );
    expect(other.result.status).toBe('failed');
    expect(other.events.find((e) => e.type === 'failed')).toMatchObject({ code: 'CONFLICT', field: 'lr' });
  });

  it('a version-1 checkpoint (before Shuffle BN and MoCo v2) resumes with the config it ran, or is refused saying why', async () => {
    // What a MoCo run trained before: ISD+ views and BN head, no Shuffle BN, one BN group (the migrated config).
    const legacy = { method: 'moco', augTeacher: 'weak', projectionBn: true, shuffleBn: false, bnGroups: 1 } as const;
    const dir = path.join(tmp, 'v1');
    const whole = await train({ ...legacy, epochs: 2 }, { images: 16, dir });
    expect(whole.result.status).toBe('completed');
    const [afterEpoch1] = await listCheckpoints(dir);
    // Rewrite it as version 1 wrote it: no version-2 settings in its run config or model options.
    const file = path.join(afterEpoch1, 'manifest.json');
    const m = JSON.parse(await fsp.readFile(file, 'utf8')) as {
      version: number;
      config: { run: Record<string, unknown>; step: Record<string, unknown> };
    };
    expect(m.version).toBe(2);
    m.version = 1;
    for (const part of [m.config.run, m.config.step]) for (const k of Object.keys(legacy).slice(2)) delete part[k];
    await fsp.writeFile(file, JSON.stringify(m));
    const resumed = await train(
      { ...legacy, epochs: 2 },
      { images: 16, dir: path.join(tmp, 'v1-resumed'), resumeFrom: afterEpoch1 },
    );
    expect(resumed.result.status).toBe('completed');
    relClose(resumed.result.losses, whole.result.losses.slice(2));
    // Into today's MoCo (MoCo v2's head and views, Shuffle BN): refused, naming the first setting that differs.
    const v2 = await train(
      { ...METHOD_DEFAULTS.moco, method: 'moco', epochs: 2 },
      { images: 16, dir: path.join(tmp, 'v1-v2'), resumeFrom: afterEpoch1 },
    );
    expect(v2.result.status).toBe('failed');
    const failed = v2.events.find((e) => e.type === 'failed');
    expect(failed).toMatchObject({ code: 'CONFLICT', field: 'augTeacher' });
    expect(failed?.type === 'failed' && failed.message).toMatch(/version-1 checkpoint: ISD\+ head, no Shuffle BN/);
    const head = await train(
      { ...legacy, projectionBn: false, epochs: 2 },
      { images: 16, dir: path.join(tmp, 'v1-head'), resumeFrom: afterEpoch1 },
    );
    expect(head.events.find((e) => e.type === 'failed')).toMatchObject({ code: 'CONFLICT', field: 'projectionBn' });
  });

  it('a non-finite loss fails the run as "diverged at step S" and keeps the last good checkpoint', async () => {
    const dir = path.join(tmp, 'diverge');
    // lr 1e30 blows the weights up after step 1; one step per epoch so step 1 leaves a checkpoint.
    const r = await train({ lr: 1e30, epochs: 5, weightDecay: 0 }, { images: 8, dir });
    expect(r.result.status).toBe('failed');
    const failed = r.events.find((e) => e.type === 'failed');
    expect(failed?.type === 'failed' && failed.code).toBe('DIVERGED');
    const s = r.result.losses.length + 1;
    expect(failed?.type === 'failed' && failed.message).toBe(`diverged at step ${s}`);
    expect(s).toBeGreaterThan(1);
    const kept = await listCheckpoints(dir);
    expect(kept.length).toBeGreaterThan(0);
    expect(failed?.type === 'failed' && failed.lastCheckpoint).toBe(kept[kept.length - 1]);
    const ck = await readCheckpoint(kept[kept.length - 1]);
    expect(ck.manifest.step).toBe(s - 1);
    expect(r.events.some((e) => e.type === 'done')).toBe(false);
  });

  it('tensor count stays flat over 100 steps and returns to its start when the run ends', async () => {
    const before = tf.memory().numTensors;
    let atStep1 = -1;
    let atStep100 = -1;
    const r = await train(
      { epochs: 2 },
      {
        images: 400,
        dir: path.join(tmp, 'memory'),
        baseWidth: 1,
        onEvent: (e) => {
          if (e.type === 'progress' && e.step === 1) atStep1 = tf.memory().numTensors;
          if (e.type === 'progress' && e.step === 100) atStep100 = tf.memory().numTensors;
        },
      },
    );
    expect(r.result.status).toBe('completed');
    expect(r.result.step).toBe(100);
    expect(atStep1).toBeGreaterThan(before);
    expect(atStep100).toBe(atStep1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('says what is wrong with a batch larger than the training set', () => {
    expect(
      () =>
        new Trainer({
          runId: 'x',
          config: config({ batchSize: 64, queueSize: 64 }),
          train: slice(fm.train, 0, 10),
          checkpointDir: tmp,
          onEvent: () => undefined,
        }),
    ).toThrow(/batch size 64 is larger than the 10 training images/);
  });
});
