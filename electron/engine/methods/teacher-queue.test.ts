import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendName } from '../backend';
import { Rng } from '../../rng';
import { ParamStore } from '../models/param-store';
import { TeacherQueue } from './teacher-queue';

const BACKEND = (process.env.ISD_TEST_BACKEND ?? 'cpu') as BackendName;

/** [b, 2] keys whose first column numbers them (second column 0), so the queue's contents read as ids. */
function keys(ids: number[]): tf.Tensor2D {
  return tf.tensor2d(ids.map((i) => [i, 0]));
}

function ids(q: TeacherQueue): number[] {
  return Array.from((q.keys.dataSync() as Float32Array).filter((_, i) => i % 2 === 0));
}

describe('TeacherQueue', () => {
  beforeAll(async () => {
    await initBackend({ prefer: BACKEND });
  });

  it('starts with random unit vectors labelled −1', () => {
    const store = new ParamStore();
    const q = new TeacherQueue(store, 8, 16, new Rng(1));
    const rows = tf.tidy(() => tf.sqrt(tf.sum(tf.square(q.keys), 1)).arraySync() as number[]);
    for (const n of rows) expect(n).toBeCloseTo(1, 5);
    expect(Array.from(q.labels)).toEqual(new Array(8).fill(-1));
    expect(q.pointer).toBe(0);
    expect(store.has('queue.keys')).toBe(true);
    store.dispose();
  });

  it('replaces the oldest keys first and wraps around the end (FIFO)', () => {
    const store = new ParamStore();
    const q = new TeacherQueue(store, 6, 2, new Rng(1));
    const before = tf.memory().numTensors;
    const put = (list: number[], labels?: number[]) => {
      const k = keys(list);
      q.enqueue(k, labels);
      k.dispose();
    };
    put([1, 2], [10, 20]);
    expect(ids(q).slice(0, 2)).toEqual([1, 2]);
    expect(q.pointer).toBe(2);
    put([3, 4], [30, 40]);
    put([5, 6], [50, 60]);
    expect(ids(q)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.pointer).toBe(0);
    put([7, 8]); // unlabeled keys get −1
    expect(ids(q)).toEqual([7, 8, 3, 4, 5, 6]);
    expect(Array.from(q.labels)).toEqual([-1, -1, 30, 40, 50, 60]);
    // a batch that does not divide K wraps inside one enqueue: 9, 10, 11, 12 go to slots 2, 3, 4, 5 …
    put([9, 10, 11, 12], [9, 10, 11, 12]);
    expect(q.pointer).toBe(0);
    put([13, 14, 15, 16], [13, 14, 15, 16]); // slots 0–3
    put([17, 18, 19], [17, 18, 19]); // slots 4, 5, then 0
    expect(ids(q)).toEqual([19, 14, 15, 16, 17, 18]);
    expect(Array.from(q.labels)).toEqual([19, 14, 15, 16, 17, 18]);
    expect(q.pointer).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => put([1, 2, 3, 4, 5, 6, 7])).toThrow(/cannot enqueue 7/);
    store.dispose();
  });

  it('keeps the training image index of each key beside its label, through wrap-around and restore', () => {
    const store = new ParamStore();
    const q = new TeacherQueue(store, 4, 2, new Rng(1));
    expect(Array.from(q.sources)).toEqual([-1, -1, -1, -1]);
    const put = (list: number[], sources?: number[]) => {
      const k = keys(list);
      q.enqueue(k, null, sources);
      k.dispose();
    };
    put([1, 2, 3], [700, 701, 702]);
    put([4, 5], [5, 6]); // slots 3, then 0
    expect(Array.from(q.sources)).toEqual([6, 701, 702, 5]);
    put([6]); // no indices given: unknown
    expect(Array.from(q.sources)).toEqual([6, -1, 702, 5]);
    expect(() => put([7, 8], [1])).toThrow(/1 image indices for 2 keys/);
    q.restore(2, [0, 1, 2, 3], [9, 8, 7, 6]);
    expect(Array.from(q.sources)).toEqual([9, 8, 7, 6]);
    q.restore(2, [0, 1, 2, 3]); // a checkpoint from before the indices were kept
    expect(Array.from(q.sources)).toEqual([-1, -1, -1, -1]);
    store.dispose();
  });

  it('purity counts top-5 neighbours sharing the query label; −1 slots never match', async () => {
    const store = new ParamStore();
    const q = new TeacherQueue(store, 10, 2, new Rng(1));
    q.restore(0, [0, 0, 0, 1, 1, 1, 1, 1, -1, -1]);
    // similarity rises with the slot index: top-5 of every query = slots 9, 8, 7, 6, 5 (labels −1, −1, 1, 1, 1)
    const sim = tf.tensor2d([Array.from({ length: 10 }, (_, i) => i), Array.from({ length: 10 }, (_, i) => i)]);
    expect(await q.neighbourPurity(sim, [1, 0])).toBeCloseTo(3 / 10, 10);
    expect(await q.neighbourPurity(sim, [-1, -1])).toBe(0);
    sim.dispose();
    store.dispose();
  });
});
