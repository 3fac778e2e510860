import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { initBackend } from '../backend';
import { maxRelativeError, onBackend, randomArray } from './kernel-test-support';

/** Runs f on fresh tensors from the same values on the cpu backend and on wasm; checks values, shapes and leaks. */
async function compare(
  shapes: number[][],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  seed: number,
  tol = 1e-5,
): Promise<void> {
  const rng = new Rng(seed);
  const values = shapes.map((s) =>
    randomArray(
      rng,
      s.reduce((p, d) => p * d, 1),
    ),
  );
  const run = () =>
    tf.tidy(() => {
      const y = f(...values.map((v, i) => tf.tensor(v, shapes[i])));
      return { shape: y.shape, data: y.dataSync() as Float32Array };
    });
  const want = await onBackend('cpu', run);
  const wasm = tf.backend() as unknown as { numDataIds(): number };
  const ids = wasm.numDataIds();
  const tensors = tf.memory().numTensors;
  const got = run();
  expect(got.shape).toEqual(want.shape);
  expect(maxRelativeError(got.data, want.data)).toBeLessThan(tol);
  expect(wasm.numDataIds()).toBe(ids);
  expect(tf.memory().numTensors).toBe(tensors);
}

describe('wasm kernels replaced for speed give the cpu backend results', () => {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', threads: 2 });
  });

  const big4 = [8, 12, 12, 16];
  it.each([
    ['sum over leading axes', [big4], (x: tf.Tensor) => tf.sum(x, [0, 1, 2])],
    ['sum keepDims', [big4], (x: tf.Tensor) => tf.sum(x, [0, 1, 2], true)],
    ['mean over leading axes', [big4], (x: tf.Tensor) => tf.mean(x, [0, 1, 2])],
    ['mean, axes unsorted', [[4, 16, 16, 32]], (x: tf.Tensor) => tf.mean(x, [2, 0, 1])],
    ['moments variance', [[16, 7, 7, 64]], (x: tf.Tensor) => tf.moments(x, [0, 1, 2]).variance],
    ['mean rank 2 [B, C]', [[512, 128]], (x: tf.Tensor) => tf.mean(x, 0)],
    ['sum rank 2, prime rows', [[8209, 3]], (x: tf.Tensor) => tf.sum(x, 0)],
    ['sum rank 3', [[32, 40, 16]], (x: tf.Tensor) => tf.sum(x, [0, 1])],
    ['global average pool', [big4], (x: tf.Tensor) => tf.mean(x, [1, 2])],
    ['spatial sum keepDims', [big4], (x: tf.Tensor) => tf.sum(x, [2, 1], true)],
    ['sum over other axes (shipped)', [big4], (x: tf.Tensor) => tf.sum(x, [0, 2])],
    ['sum small (shipped)', [[2, 3, 3, 4]], (x: tf.Tensor) => tf.sum(x, [0, 1, 2])],
    ['mul by [C]', [big4, [16]], (x: tf.Tensor, v: tf.Tensor) => tf.mul(x, v)],
    ['mul [C] first', [[16], big4], (v: tf.Tensor, x: tf.Tensor) => tf.mul(v, x)],
    ['mul by [1,1,1,C]', [big4, [1, 1, 1, 16]], (x: tf.Tensor, v: tf.Tensor) => tf.mul(x, v)],
    ['mul by scalar', [big4, []], (x: tf.Tensor, v: tf.Tensor) => tf.mul(x, v)],
    ['add [C]', [big4, [16]], (x: tf.Tensor, v: tf.Tensor) => tf.add(x, v)],
    ['add to [B, C]', [[128, 128], [128]], (x: tf.Tensor, v: tf.Tensor) => tf.add(x, v)],
    ['sub [C]', [big4, [16]], (x: tf.Tensor, v: tf.Tensor) => tf.sub(x, v)],
    ['[C] minus x', [[16], big4], (v: tf.Tensor, x: tf.Tensor) => tf.sub(v, x)],
    ['div by [C]', [big4, [16]], (x: tf.Tensor, v: tf.Tensor) => tf.div(x, tf.add(tf.abs(v), 0.5))],
    ['[C] divided by x (shipped)', [[16], big4], (v: tf.Tensor, x: tf.Tensor) => tf.div(v, tf.add(tf.abs(x), 0.5))],
    ['mul by [H, W, C] (shipped)', [big4, [12, 12, 16]], (x: tf.Tensor, v: tf.Tensor) => tf.mul(x, v)],
    ['mul same shape (shipped)', [big4, big4], (x: tf.Tensor, v: tf.Tensor) => tf.mul(x, v)],
    [
      'matMul',
      [
        [64, 32],
        [32, 48],
      ],
      (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    ],
    [
      'matMul transposeB',
      [
        [64, 32],
        [48, 32],
      ],
      (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true),
    ],
    [
      'matMul transposeA',
      [
        [32, 64],
        [32, 48],
      ],
      (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false),
    ],
    [
      'matMul both transposed',
      [
        [32, 64],
        [48, 32],
      ],
      (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true),
    ],
    [
      'batched matMul transposeB',
      [
        [3, 20, 8],
        [3, 24, 8],
      ],
      (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, false, true),
    ],
  ] as [string, number[][], (...xs: tf.Tensor[]) => tf.Tensor][])('%s', async (_name, shapes, f) => {
    await compare(shapes, f, shapes.flat().reduce((p, d) => p * 31 + d, 7) % 100000);
  });

  it('gradients of a BatchNorm written as plain ops match', async () => {
    const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.tidy(() => {
        const grads = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(x, [0, 1, 2]);
          const y = tf.relu(tf.add(tf.mul(tf.sub(x, mean), tf.mul(g, tf.rsqrt(tf.add(variance, 1e-5)))), b));
          return tf.sum(tf.mul(y, tf.sin(x)));
        })([x, g, b]);
        return tf.concat(grads.map((t) => t.flatten()));
      });
    await compare([[8, 10, 10, 16], [16], [16]], f, 5, 1e-4);
  });
});
