import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendName } from '../backend';
import { ParamStore } from '../models/param-store';
import { SgdMomentum } from './sgd';
import { createTeacherFromStudent, emaUpdate, teacherPairs } from './teacher-update';

const BACKEND = (process.env.ISD_TEST_BACKEND ?? 'cpu') as BackendName;

describe('SGD with momentum and the EMA teacher', () => {
  beforeAll(async () => {
    await initBackend({ prefer: BACKEND });
  });

  it('follows PyTorch: d = g + wd·p; buf = m·buf + d; p −= lr·buf', () => {
    const store = new ParamStore();
    const p = store.add('student.w', tf.tensor1d([1, -2]), true);
    const sgd = new SgdMomentum(store, store.list('student.'), 0.9, 0.1);
    expect(store.has('opt.momentum.student.w')).toBe(true);
    // loss = Σ p², gradient 2p
    let ref = [1, -2];
    let buf = [0, 0];
    for (const lr of [0.5, 0.25, 0.1]) {
      const { grads, value } = tf.variableGrads(() => tf.sum(tf.square(p)) as tf.Scalar, [p]);
      sgd.apply(grads, lr);
      tf.dispose(grads);
      value.dispose();
      const d = ref.map((x) => 2 * x + 0.1 * x);
      buf = buf.map((b, i) => 0.9 * b + d[i]);
      ref = ref.map((x, i) => x - lr * buf[i]);
      Array.from(p.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(ref[i], 5));
    }
    Array.from(store.get('opt.momentum.student.w').dataSync()).forEach((v, i) => expect(v).toBeCloseTo(buf[i], 5));
    store.dispose();
  });

  it('teacher starts as a copy; EMA moves parameters, not running stats nor the predictor', () => {
    const store = new ParamStore();
    store.add('student.backbone.w', tf.tensor1d([1, 2]), true);
    store.add('student.backbone.runningMean', tf.tensor1d([5]), false);
    store.add('student.proj.b', tf.tensor1d([3]), true);
    store.add('student.pred.w', tf.tensor1d([7]), true);
    createTeacherFromStudent(store);
    expect(store.list('teacher.').map((e) => e.name)).toEqual([
      'teacher.backbone.w',
      'teacher.backbone.runningMean',
      'teacher.proj.b',
    ]);
    expect(store.list('teacher.').every((e) => !e.trainable)).toBe(true);
    const pairs = teacherPairs(store);
    expect(pairs.map((p) => p.name)).toEqual(['student.backbone.w', 'student.proj.b']);
    store.get('student.backbone.w').assign(tf.tensor1d([11, 12]));
    store.get('student.backbone.runningMean').assign(tf.tensor1d([9]));
    emaUpdate(pairs, 0.99);
    const w = store.get('teacher.backbone.w').dataSync();
    expect(w[0]).toBeCloseTo(0.99 * 1 + 0.01 * 11, 6);
    expect(w[1]).toBeCloseTo(0.99 * 2 + 0.01 * 12, 6);
    expect(store.get('teacher.backbone.runningMean').dataSync()[0]).toBe(5);
    store.dispose();
  });
});
