/** Shared by the kernel tests: seeded inputs, a normwise error, running a function on another backend. */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';

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
