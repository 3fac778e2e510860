/** Shared by the kernel and engine tests: seeded inputs, a normwise error, running a function on another backend, a tiny step. */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';
import type { Method, TrainingStepOptions } from '../training-step';

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
