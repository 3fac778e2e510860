/** Shared by the kernel and engine tests: seeded inputs, a normwise error, running a function on another backend, a tiny step, whole steps against cpu. */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Rng } from '../../rng';
import {
  createTrainingStep,
  type Method,
  type TrainingStep,
  type TrainingStepOptions,
  type TrainingStepState,
} from '../training-step';

/** Standard-normal values from a seeded Rng. */
export function randomArray(rng: Rng, size: number): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.normal();
  return a;
}

/** max |got - want| / max |want|: relative to the reference's scale, so values near zero do not blow it up. */
export function maxRelativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= err)) err = d; // NaN propagates as error
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / Math.max(scale, 1e-30);
}

/** Runs `f` with `name` as the current backend and switches back to the one before. */
export async function onBackend<T>(name: string, f: () => T): Promise<T> {
  const before = tf.getBackend();
  await tf.setBackend(name);
  try {
    return f();
  } finally {
    await tf.setBackend(before);
  }
}

/** A tiny ISD/MoCo step for tests: resnet20 at base width 4, 16-wide embeddings, queue 32, size×size×1 input. */
export function tinyStepOptions(method: Method, batchSize: number, size: number, seed: number): TrainingStepOptions {
  return {
    method,
    arch: 'resnet20',
    inputShape: [size, size, 1],
    batchSize,
    queueSize: 32,
    tempTeacher: 0.04,
    tempStudent: 0.1,
    temperature: 0.2,
    ema: 0.9,
    momentum: 0.9,
    weightDecay: 1e-4,
    seed,
    baseWidth: 4,
    embedDim: 16,
  };
}

/** Batch and input side of the whole-step equivalence tests (expectStepsMatchCpu). */
const EQ_B = 8;
const EQ_SIZE = 16;

/** Step i of the sequence (the same inputs on both backends); `labels` adds the purity read (TopK). */
async function stepOn(step: TrainingStep, xs: Float32Array[], i: number, labels: Int32Array | null): Promise<number> {
  const a = tf.tensor4d(xs[(2 * i) % xs.length], [EQ_B, EQ_SIZE, EQ_SIZE, 1]);
  const b = tf.tensor4d(xs[(2 * i + 1) % xs.length], [EQ_B, EQ_SIZE, EQ_SIZE, 1]);
  try {
    return (await step.step(a, b, 0.05, labels)).loss;
  } finally {
    tf.dispose([a, b]);
  }
}

/** The state's variables in groups that a step changes in different ways. */
const GROUPS: [string, (name: string) => boolean][] = [
  ['student parameters', (n) => n.startsWith('student.') && !n.includes('.running')],
  ['momentum buffers', (n) => n.startsWith('opt.momentum.')],
  ['teacher parameters', (n) => n.startsWith('teacher.') && !n.includes('.running')],
  ['BatchNorm running statistics', (n) => n.includes('.running')],
  ['queue keys', (n) => n.startsWith('queue.')],
];

/** ‖Δtarget − Δcpu‖ / ‖Δcpu‖ over a group's variables, Δ being what one step changed from `before`. */
function changeError(
  before: TrainingStepState,
  target: TrainingStepState,
  cpu: TrainingStepState,
  inGroup: (name: string) => boolean,
): number {
  let diff = 0;
  let norm = 0;
  before.variables.forEach((v, k) => {
    if (!inGroup(v.name)) return;
    const [w, c] = [target.variables[k].values, cpu.variables[k].values];
    for (let i = 0; i < v.values.length; i++) {
      diff += (w[i] - c[i]) ** 2; // (w − v) − (c − v)
      norm += (c[i] - v.values[i]) ** 2;
    }
  });
  return norm > 0 ? Math.sqrt(diff / norm) : diff === 0 ? 0 : Infinity;
}

/**
 * `steps` tiny training steps on `target` (the current backend) and on cpu, each from the same state
 * (target's, read and loaded as a checkpoint is, so rounding cannot compound; see
 * training-equivalence.test.ts for why and for the tolerances): losses within 1e-4; each group's
 * change within 1e-4 in every step but at most one, and within 3e-2 in that one; no tensor left.
 */
export async function expectStepsMatchCpu(
  method: Method,
  dataSeed: number,
  steps: number,
  withLabels = false,
): Promise<void> {
  const target = tf.getBackend();
  const rng = new Rng(dataSeed);
  const xs = Array.from({ length: 6 }, () => randomArray(rng, EQ_B * EQ_SIZE * EQ_SIZE));
  const labels = withLabels ? Int32Array.from({ length: EQ_B }, (_, i) => i % 3) : null;
  const tensorsBefore = tf.memory().numTensors;
  const options = tinyStepOptions(method, EQ_B, EQ_SIZE, 11);
  const onTarget = createTrainingStep(options);
  await tf.setBackend('cpu');
  const cpu = createTrainingStep(options);
  await tf.setBackend(target);
  const losses: number[] = [];
  const overTight: string[] = []; // 'step i: group error' where a change differs by 1e-4 or more
  try {
    for (let i = 0; i < steps; i++) {
      const before = await onTarget.readState();
      const targetLoss = await stepOn(onTarget, xs, i, labels);
      await tf.setBackend('cpu');
      let cpuLoss: number;
      try {
        cpu.loadState(before);
        cpuLoss = await stepOn(cpu, xs, i, labels);
      } finally {
        await tf.setBackend(target);
      }
      losses.push(targetLoss);
      expect(Number.isFinite(targetLoss)).toBe(true);
      expect(
        Math.abs(targetLoss - cpuLoss) / Math.abs(cpuLoss),
        `step ${i + 1}: loss ${targetLoss} vs ${cpuLoss}`,
      ).toBeLessThan(1e-4);
      const [afterTarget, afterCpu] = [await onTarget.readState(), await cpu.readState()];
      for (const [group, inGroup] of GROUPS) {
        const error = changeError(before, afterTarget, afterCpu, inGroup);
        expect(error, `step ${i + 1}: ${group}`).toBeLessThan(3e-2);
        if (error >= 1e-4) overTight.push(`step ${i + 1}: ${group} ${error.toExponential(1)}`);
      }
    }
  } finally {
    onTarget.dispose();
    cpu.dispose();
  }
  expect(new Set(overTight.map((e) => e.split(':')[0])).size, overTight.join('; ')).toBeLessThanOrEqual(1);
  // The losses move: the steps really train (a frozen model would repeat its loss on repeated inputs).
  if (steps > 1) expect(new Set(losses.map((l) => l.toFixed(6))).size).toBeGreaterThan(1);
  expect(tf.memory().numTensors - tensorsBefore).toBe(0);
}
