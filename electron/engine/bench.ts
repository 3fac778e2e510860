/**
 * `isd bench`: images per second of the engine's real training step (createTrainingStep) on random
 * input, in the configuration docs/cli.md fixes ("The benchmark step"), after warm-up, plus where
 * the time goes (augmentation, forward, backward, update) and whether memory stays flat.
 *
 * imagesPerSec counts the step alone (as scripts/torch_isd_step.py does); the shares are of
 * augmentation + step, so a user sees what augmenting two views costs on top.
 */
import * as tf from '@tensorflow/tfjs';
import type { GpuAdapter } from '../contract';
import { IsdError } from '../errors';
import { Rng } from '../rng';
import { DEFAULT_RUN_CONFIG, METHOD_DEFAULTS } from '../run-config';
import { augmentBatch } from './augment';
import type { BackendName } from './backend';
import { encoderEmbedding } from './models/encoder';
import { l2Normalize, ParamScope } from './models/layers';
import { ParamStore } from './models/param-store';
import type { Arch } from './models/resnet';
import { isdLossFromSimilarities } from './methods/isd';
import { mocoLossFromSimilarities } from './methods/moco';
import { SgdMomentum } from './methods/sgd';
import { emaUpdate, teacherPairs } from './methods/teacher-update';
import { createEngineTrainingStep, initTrainingBackend } from './data-parallel';
import { readAllAndDispose, readAndDispose } from './read-back';
import type { Method, TrainingStep } from './training-step';

export interface BenchmarkOptions {
  steps?: number;
  warmup?: number;
  arch?: Arch;
  batch?: number;
  size?: number;
  channels?: number;
  queue?: number;
  method?: Method;
  /** Force a backend (else initBackend's choice, or ISD_BACKEND). */
  backend?: BackendName;
  /** wasm threads (default: initBackend's, or 1 with two replicas). */
  threads?: number;
  /** 1, or 2 for data parallel over two threads (data-parallel.ts); default as a run would choose. */
  replicas?: number;
  /** Measure the augmentation, forward and update shares (a few extra passes); default true. */
  shares?: boolean;
  /** BatchNorm groups, Shuffle BN (default: a run's) and the projection head's BN (default: the method's). */
  bnGroups?: number;
  shuffleBn?: boolean;
  projectionBn?: boolean;
}

export interface BenchmarkShares {
  augment: number;
  forward: number;
  backward: number;
  update: number;
}

export interface BenchmarkResult {
  backend: BackendName;
  device: string;
  /** webgpu: the adapter it ran on; null on every other backend. */
  adapter: GpuAdapter | null;
  threads: number;
  /** Replicas the batch was split over (data-parallel.ts); threads is per replica. */
  replicas: number;
  arch: Arch;
  method: Method;
  batch: number;
  size: number;
  channels: number;
  queue: number;
  steps: number;
  /** batch · steps / total time of the timed steps (as the PyTorch reference counts). */
  imagesPerSec: number;
  /** From the fastest single step. */
  bestImagesPerSec: number;
  /** Each timed step, ms. */
  stepMs: number[];
  /** Process CPU time (all threads) per timed step, ms: steadier than wall time on a shared machine. */
  cpuMsPerStep: number;
  /** Fractions of (augmentation of two views + step); null when not measured. */
  shares: BenchmarkShares | null;
  /** Milliseconds per step of each part (augment: both views). */
  partsMs: { augment: number; forward: number; backward: number; update: number } | null;
  peakRssMB: number;
  /** tf.memory().numTensors the same after every timed step as after warm-up. */
  numTensorsStable: boolean;
  numTensors: number;
  versions: Record<string, string>;
}

/** The docs/cli.md step's hyperparameters (T_s 0.1, T_t 0.01, EMA 0.99, SGD lr 0.05, momentum 0.9, wd 1e-4). */
const STEP = {
  tempStudent: 0.1,
  tempTeacher: 0.01,
  temperature: 0.2,
  ema: 0.99,
  momentum: 0.9,
  weightDecay: 1e-4,
  lr: 0.05,
};

function positiveInt(v: number, field: string, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new IsdError('BAD_INPUT', `${field} must be a whole number from 1 to ${max}, got ${v}`, { field });
  return v;
}

function randomTensor(rng: Rng, shape: number[]): tf.Tensor4D {
  const a = new Float32Array(shape.reduce((p, d) => p * d, 1));
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  return tf.tensor4d(a, shape as [number, number, number, number]);
}

/** Best of `reps` timings of f (which must finish its work, a read-back included, before it resolves), ms. */
async function bestMs(reps: number, f: () => Promise<void>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** The step's forward passes alone (teacher, student with predictor, loss), ms. */
function forwardMs(
  step: TrainingStep,
  method: Method,
  xs: tf.Tensor4D,
  xt: tf.Tensor4D,
  reps: number,
  bnGroups: number,
): Promise<number> {
  const mode = { training: true, bnGroups };
  const student = new ParamScope(step.params, 'student.', true);
  const teacher = new ParamScope(step.params, 'teacher.', false);
  const queue = step.queue.keys as tf.Tensor2D;
  return bestMs(reps, async () => {
    const loss = tf.tidy(() => {
      const k = l2Normalize(encoderEmbedding(teacher, step.spec, xt, mode, false));
      const q = l2Normalize(encoderEmbedding(student, step.spec, xs, mode, method === 'isd'));
      const simK = tf.matMul(k, queue, false, true) as tf.Tensor2D;
      const simQ = tf.matMul(q, queue, false, true) as tf.Tensor2D;
      return method === 'isd'
        ? isdLossFromSimilarities(simQ, simK, STEP.tempStudent, STEP.tempTeacher)
        : mocoLossFromSimilarities(tf.sum(tf.mul(q, k), 1, true) as tf.Tensor2D, simQ, STEP.temperature);
    });
    await readAndDispose(loss);
  });
}

/** The step's parameter updates alone (teacher EMA, SGD with momentum and weight decay), ms. */
async function updateMs(step: TrainingStep, reps: number): Promise<number> {
  const pairs = teacherPairs(step.params);
  const trainable = step.params.list('student.').filter((e) => e.trainable);
  const scratch = new ParamStore(); // momentum buffers of a throwaway optimizer
  const sgd = new SgdMomentum(scratch, trainable, STEP.momentum, STEP.weightDecay);
  const zeros: tf.NamedTensorMap = {};
  for (const e of trainable) zeros[e.variable.name] = tf.zerosLike(e.variable);
  try {
    return await bestMs(reps, async () => {
      emaUpdate(pairs, STEP.ema);
      sgd.apply(zeros, 0); // lr 0: the same arithmetic, weights unchanged
      await readAndDispose(tf.tidy(() => tf.add(trainable[0].variable, 0))); // wait for the queue of work (async backends)
    });
  } finally {
    tf.dispose(Object.values(zeros));
    scratch.dispose();
  }
}

/** Augmenting the two views of a batch (strong for the student, weak for the teacher), ms. */
function augmentMs(batch: number, size: number, channels: number, rng: Rng, reps: number): Promise<number> {
  const images = new Uint8Array(batch * size * size * channels);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const indices = Int32Array.from({ length: batch }, (_, i) => i);
  const src = { h: size, w: size, c: channels };
  const norm = { mean: new Array<number>(channels).fill(0.5), std: new Array<number>(channels).fill(0.25) };
  return bestMs(reps, async () => {
    const a = augmentBatch(images, indices, src, { size, strength: 'strong', ...norm }, rng);
    const b = augmentBatch(images, indices, src, { size, strength: 'weak', ...norm }, rng);
    await readAllAndDispose([a, b]);
  });
}

/** Times the real training step; see the module comment. */
export async function runBenchmark(opts: BenchmarkOptions = {}): Promise<BenchmarkResult> {
  const steps = positiveInt(opts.steps ?? 10, 'steps', 100_000);
  const warmup = opts.warmup ?? 2;
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new IsdError('BAD_INPUT', `warmup must be a whole number ≥ 0, got ${warmup}`, { field: 'warmup' });
  const arch = opts.arch ?? 'resnet20';
  const method = opts.method ?? 'isd';
  const batch = positiveInt(opts.batch ?? 128, 'batch', 65_536);
  const size = positiveInt(opts.size ?? 28, 'size', 4096);
  const channels = positiveInt(opts.channels ?? 1, 'channels', 4);
  const queue = positiveInt(opts.queue ?? 4096, 'queue', 1_000_000);
  const bnGroups = positiveInt(opts.bnGroups ?? DEFAULT_RUN_CONFIG.bnGroups, 'bnGroups', 64);
  const shuffleBn = opts.shuffleBn ?? DEFAULT_RUN_CONFIG.shuffleBn;
  const { backend: report, replicas } = await initTrainingBackend(
    { prefer: opts.backend, threads: opts.threads, replicas: opts.replicas },
    batch,
    bnGroups,
  );
  const rng = new Rng(0);
  let peakRss = process.memoryUsage().rss;
  const sampleRss = () => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };

  const step = createEngineTrainingStep(
    {
      method,
      arch,
      inputShape: [size, size, channels],
      batchSize: batch,
      queueSize: queue,
      tempTeacher: STEP.tempTeacher,
      tempStudent: STEP.tempStudent,
      temperature: STEP.temperature,
      ema: STEP.ema,
      momentum: STEP.momentum,
      weightDecay: STEP.weightDecay,
      seed: 0,
      bnGroups,
      shuffleBn,
      projectionBn: opts.projectionBn ?? METHOD_DEFAULTS[method].projectionBn,
    },
    replicas,
    report.backend,
  );
  const xs = randomTensor(rng, [batch, size, size, channels]);
  const xt = randomTensor(rng, [batch, size, size, channels]);
  try {
    for (let i = 0; i < warmup; i++) {
      await step.step(xs, xt, STEP.lr);
      sampleRss();
    }
    const tensorsAfterWarmup = tf.memory().numTensors;
    let stable = true;
    const stepMs: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const r = await step.step(xs, xt, STEP.lr); // resolves once the loss is read back
      stepMs.push(performance.now() - t0);
      if (!Number.isFinite(r.loss)) throw new IsdError('DIVERGED', `benchmark step ${i + 1} gave loss ${r.loss}`);
      sampleRss();
      if (tf.memory().numTensors !== tensorsAfterWarmup) stable = false;
    }
    const cpu = process.cpuUsage(cpu0);
    const total = stepMs.reduce((s, t) => s + t, 0);
    let parts: BenchmarkResult['partsMs'] = null;
    let shares: BenchmarkShares | null = null;
    if (opts.shares !== false) {
      const reps = Math.min(3, steps);
      // each replica's share: with two, the forward pass of half the batch on one thread
      const [xsR, xtR] = replicas > 1 ? [xs.slice(0, batch / replicas), xt.slice(0, batch / replicas)] : [xs, xt];
      const fwd = await forwardMs(step, method, xsR, xtR, reps, Math.max(1, bnGroups / replicas));
      if (replicas > 1) tf.dispose([xsR, xtR]);
      sampleRss();
      const upd = await updateMs(step, reps);
      const aug = await augmentMs(batch, size, channels, rng, reps);
      sampleRss();
      const stepBest = Math.min(...stepMs);
      parts = { augment: aug, forward: fwd, backward: Math.max(0, stepBest - fwd - upd), update: upd };
      const whole = aug + Math.max(stepBest, fwd + upd);
      shares = { augment: aug / whole, forward: fwd / whole, backward: parts.backward / whole, update: upd / whole };
    }
    return {
      backend: report.backend,
      device: report.device,
      adapter: report.adapter,
      threads: report.threads,
      replicas,
      arch,
      method,
      batch,
      size,
      channels,
      queue,
      steps,
      imagesPerSec: (batch * steps) / (total / 1000),
      bestImagesPerSec: batch / (Math.min(...stepMs) / 1000),
      stepMs,
      cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps,
      shares,
      partsMs: parts,
      peakRssMB: peakRss / 2 ** 20,
      numTensorsStable: stable,
      numTensors: tf.memory().numTensors,
      versions: report.versions,
    };
  } finally {
    tf.dispose([xs, xt]);
    step.dispose();
  }
}
