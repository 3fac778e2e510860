/**
 * Reading tensors back to JS. The engine reads with `data()`, never `dataSync()`/`arraySync()`: a
 * synchronous read of a webgpu tensor needs OffscreenCanvas, which Node lacks, and on a GPU it stalls
 * the thread while the queue drains. A tensor held across the await is disposed here, read or not.
 */
import type * as tf from '@tensorflow/tfjs';

/** The values of `t`, row-major; `t` is disposed whatever happens. */
export async function readAndDispose<D extends keyof tf.DataTypeMap = 'float32'>(
  t: tf.Tensor,
): Promise<tf.DataTypeMap[D]> {
  try {
    return (await t.data()) as tf.DataTypeMap[D];
  } finally {
    t.dispose();
  }
}

/** The values of each tensor, in order (read concurrently); all of them are disposed whatever happens. */
export async function readAllAndDispose(ts: tf.Tensor[]): Promise<tf.TypedArray[]> {
  try {
    return await Promise.all(ts.map((t) => t.data() as Promise<tf.TypedArray>));
  } finally {
    for (const t of ts) t.dispose();
  }
}
