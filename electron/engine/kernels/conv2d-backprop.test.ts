import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { initBackend } from '../backend';
import { maxRelativeError, onBackend, randomArray } from './kernel-test-support';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
// [batch, height, width, in channels, out channels, filter size, stride, padding]
type Case = [number, number, number, number, number, number, number, Pad];

const cases: Case[] = [
  [1, 5, 5, 1, 3, 3, 1, 'same'],
  [2, 7, 7, 3, 16, 3, 2, 'same'],
  [3, 8, 8, 16, 3, 1, 1, 'valid'],
  [2, 8, 8, 16, 16, 1, 2, 'same'],
  [2, 9, 9, 3, 1, 3, 2, 'valid'],
  [4, 6, 6, 3, 3, 1, 1, 'valid'],
  [3, 6, 5, 16, 1, 3, 2, 'same'],
  [2, 8, 8, 3, 4, 2, 2, 'same'],
  [
    1,
    6,
    7,
    3,
    16,
    3,
    1,
    [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  ],
  [
    2,
    10,
    10,
    16,
    3,
    3,
    2,
    [
      [0, 0],
      [2, 1],
      [1, 0],
      [0, 0],
    ],
  ],
  [
    2,
    5,
    5,
    3,
    3,
    3,
    1,
    [
      [0, 0],
      [3, 0],
      [0, 3],
      [0, 0],
    ],
  ], // padding past the filter: the input gradient's fallback path
  [4, 20, 20, 16, 32, 3, 2, 'same'],
  [8, 14, 14, 32, 64, 1, 2, 'same'],
  [
    4,
    12,
    12,
    8,
    16,
    3,
    2,
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
  ], // the engine's resnet: symmetric k//2 padding
];

function name([n, h, w, ci, co, k, s, p]: Case): string {
  return `x [${n},${h},${w},${ci}] ${k}×${k}→${co} stride ${s} pad ${typeof p === 'string' ? p : JSON.stringify(p)}`;
}

/** Both gradients of conv2d through the kernel registry of the current backend. */
function gradients(
  c: Case,
  xv: Float32Array,
  wv: Float32Array,
  dyv: Float32Array,
): { dx: Float32Array; dW: Float32Array; outShape: number[] } {
  const [n, h, w, ci, co, k, s, p] = c;
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, [n, h, w, ci]);
    const filter = tf.tensor4d(wv, [k, k, ci, co]);
    const y = tf.conv2d(x, filter, s, p);
    const dy = tf.tensor(dyv.subarray(0, y.size), y.shape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, p));
    const [dx, dW] = g([x, filter], dy);
    return { dx: dx.dataSync() as Float32Array, dW: dW.dataSync() as Float32Array, outShape: y.shape };
  });
}

describe('conv2d gradients on wasm match the cpu backend', () => {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', threads: 2 });
  });

  it.each([
    ...cases.map((c) => [name(c), c, false] as const),
    // The filter gradient split into groups of 16 images (lowered threshold so small shapes split).
    ...(
      [
        [32, 6, 6, 8, 8, 3, 1, 'same'],
        [
          48,
          8,
          8,
          3,
          16,
          3,
          2,
          [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ],
        ],
        [32, 6, 6, 16, 8, 1, 2, 'same'],
      ] as Case[]
    ).map((c) => [`${name(c)}, filter gradient by image groups`, c, true] as const),
  ])('%s', async (_label, c, grouped) => {
    if (grouped) process.env.ISD_WASM_DW_GROUP_BYTES = '256';
    else delete process.env.ISD_WASM_DW_GROUP_BYTES;
    const [n, h, w, ci, co, k] = c;
    const rng = new Rng(n * 1000 + h * 10 + k);
    const xv = randomArray(rng, n * h * w * ci);
    const wv = randomArray(rng, k * k * ci * co);
    const dyv = randomArray(rng, n * (h + 3) * (w + 3) * co); // enough for the largest output (padding past the filter)
    const ref = await onBackend('cpu', () => gradients(c, xv, wv, dyv));
    const wasmBackend = tf.backend() as unknown as { numDataIds(): number };
    const idsBefore = wasmBackend.numDataIds();
    const tensorsBefore = tf.memory().numTensors;
    const got = gradients(c, xv, wv, dyv);
    expect(got.outShape).toEqual(ref.outShape);
    expect(got.dx.length).toBe(ref.dx.length);
    expect(got.dW.length).toBe(ref.dW.length);
    expect(maxRelativeError(got.dx, ref.dx)).toBeLessThan(1e-4);
    expect(maxRelativeError(got.dW, ref.dW)).toBeLessThan(1e-4);
    // No intermediate of our kernels is left on the wasm heap, no tensor outside tidy.
    expect(wasmBackend.numDataIds()).toBe(idsBefore);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    delete process.env.ISD_WASM_DW_GROUP_BYTES;
  });
});
