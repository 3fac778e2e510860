import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendName } from '../backend';
import { Rng } from '../../rng';
import { isdLoss } from './isd';
import { mocoLoss } from './moco';

const BACKEND = (process.env.ISD_TEST_BACKEND ?? 'cpu') as BackendName;

/** Rows of unit vectors as float64 JS arrays (the reference) and the same values as a float32 tensor. */
function unitRows(rows: number, dim: number, rng: Rng): number[][] {
  return Array.from({ length: rows }, () => {
    const v = Array.from({ length: dim }, () => rng.normal());
    const n = Math.hypot(...v);
    // round to float32 so the reference sees exactly the tensor's inputs
    return v.map((x) => Math.fround(x / n));
  });
}

const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);

function logSoftmax64(z: number[]): number[] {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
  return z.map((x) => x - lse);
}

function isdReference(q: number[][], k: number[][], queue: number[][], tS: number, tT: number): number {
  let total = 0;
  for (let i = 0; i < q.length; i++) {
    const lq = logSoftmax64(queue.map((a) => dot(q[i], a) / tS));
    const lk = logSoftmax64(queue.map((a) => dot(k[i], a) / tT));
    for (let j = 0; j < queue.length; j++) total += Math.exp(lk[j]) * (lk[j] - lq[j]);
  }
  return total / q.length;
}

function mocoReference(q: number[][], k: number[][], queue: number[][], T: number): number {
  let total = 0;
  for (let i = 0; i < q.length; i++) {
    const logits = [dot(q[i], k[i]) / T, ...queue.map((a) => dot(q[i], a) / T)];
    total -= logSoftmax64(logits)[0];
  }
  return total / q.length;
}

describe('losses against a float64 reference', () => {
  beforeAll(async () => {
    await initBackend({ prefer: BACKEND });
  });

  const rng = new Rng(42);
  const q = unitRows(3, 4, rng);
  const k = unitRows(3, 4, rng);
  const queue = unitRows(5, 4, rng);
  const value = (f: () => tf.Scalar) => tf.tidy(() => f().dataSync()[0]);
  const t = (a: number[][]) => tf.tensor2d(a);

  it.each([
    [0.1, 0.04],
    [0.2, 0.2],
    [0.1, 0.01], // the ISD+ default: sharp teacher, some probabilities underflow in float32
  ])('isdLoss with T_s %s, T_t %s', (tS, tT) => {
    const expected = isdReference(q, k, queue, tS, tT);
    const got = value(() => isdLoss(t(q), t(k), t(queue), tS, tT));
    expect(Number.isFinite(got)).toBe(true);
    expect(Math.abs(got - expected)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected)));
  });

  it('isdLoss is 0 when student and teacher agree (same vector, same temperature)', () => {
    expect(Math.abs(value(() => isdLoss(t(q), t(q), t(queue), 0.1, 0.1)))).toBeLessThan(1e-6);
  });

  it.each([0.07, 0.2, 1])('mocoLoss with T %s', (T) => {
    const expected = mocoReference(q, k, queue, T);
    const got = value(() => mocoLoss(t(q), t(k), t(queue), T));
    expect(Math.abs(got - expected)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected)));
  });

  it('hand-worked case: one query, positive aligned, two orthogonal negatives', () => {
    // logits [1, 0, 0]/T with T = 1: loss = −log(e / (e + 2))
    const got = value(() =>
      mocoLoss(
        tf.tensor2d([[1, 0]]),
        tf.tensor2d([[1, 0]]),
        tf.tensor2d([
          [0, 1],
          [0, -1],
        ]),
        1,
      ),
    );
    expect(got).toBeCloseTo(-Math.log(Math.E / (Math.E + 2)), 6);
  });
});
