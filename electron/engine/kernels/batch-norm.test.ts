import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { initBackend } from '../backend';
import { batchNormTraining } from './batch-norm';
import { maxRelativeError, onBackend, randomArray } from './kernel-test-support';

/** BatchNorm written as plain ops (the reference), relu optional; with groups, one call per slice of the batch. */
function plainBatchNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, relu: boolean, groups = 1): tf.Tensor {
  if (groups > 1)
    return tf.concat(
      tf.split(x, groups, 0).map((part) => plainBatchNorm(part, g, b, relu)),
      0,
    );
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  return relu ? tf.relu(y) : y;
}

/** The groups' statistics, averaged over the groups (what the grouped op reports for the running ones). */
function groupMoments(x: tf.Tensor, groups: number): { mean: tf.Tensor; variance: tf.Tensor } {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const each = tf.split(x, groups, 0).map((part) => tf.moments(part, axes));
  return {
    mean: tf.div(tf.addN(each.map((m) => m.mean)), groups),
    variance: tf.div(tf.addN(each.map((m) => m.variance)), groups),
  };
}

type Outputs = {
  y: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  dx: Float32Array;
  dg: Float32Array;
  db: Float32Array;
};

function run(shape: number[], relu: boolean, values: Float32Array[], fused: boolean, groups = 1): Outputs {
  return tf.tidy(() => {
    const c = shape[shape.length - 1];
    const [xv, gv, bv, rv] = values;
    const x = tf.tensor(xv, shape);
    const g = tf.tensor1d(gv.subarray(0, c));
    const b = tf.tensor1d(bv.subarray(0, c));
    const r = tf.tensor(rv, shape); // the loss Σ y·r gives a dy of r
    const forward = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      fused ? batchNormTraining(xx, gg, bb, { relu, groups }).y : plainBatchNorm(xx, gg, bb, relu, groups);
    const [dx, dg, db] = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(forward(xx, gg, bb), r)),
    )([x, g, b]);
    const stats = fused
      ? batchNormTraining(x, g, b, { relu, groups })
      : { ...groupMoments(x, groups), y: forward(x, g, b) };
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      y: read(stats.y),
      mean: read(stats.mean),
      variance: read(stats.variance),
      dx: read(dx),
      dg: read(dg),
      db: read(db),
    };
  });
}

describe('batchNormTraining (fused BatchNorm + ReLU with its own gradient)', () => {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', threads: 2 });
  });

  it.each([
    [[4, 6, 6, 3], true],
    [[4, 6, 6, 3], false],
    [[8, 5, 5, 16], true],
    [[3, 7, 7, 1], false],
    [[32, 128], true],
    [[16, 12, 12, 32], true],
  ] as [number[], boolean][])(
    'shape %j relu %s: matches plain ops on cpu, values and gradients',
    async (shape, relu) => {
      const rng = new Rng(shape.reduce((p, d) => p * 7 + d, relu ? 1 : 2));
      const size = shape.reduce((p, d) => p * d, 1);
      const x = randomArray(rng, size).map((v, i) => 2 * v + 0.5 + (i % shape[shape.length - 1])); // per-channel offsets
      const values = [x, randomArray(rng, 128).map((v) => 1 + 0.3 * v), randomArray(rng, 128), randomArray(rng, size)];
      const want = await onBackend('cpu', () => run(shape, relu, values, false));
      const wasm = tf.backend() as unknown as { numDataIds(): number };
      const ids = wasm.numDataIds();
      const tensors = tf.memory().numTensors;
      const got = run(shape, relu, values, true);
      for (const k of ['y', 'mean', 'variance', 'dx', 'dg', 'db'] as const) {
        expect(maxRelativeError(got[k], want[k]), k).toBeLessThan(1e-4);
      }
      expect(wasm.numDataIds()).toBe(ids);
      expect(tf.memory().numTensors).toBe(tensors);
    },
  );

  it('runs the same on the cpu backend', async () => {
    const rng = new Rng(3);
    const shape = [6, 4, 4, 8];
    const values = [randomArray(rng, 768), randomArray(rng, 8), randomArray(rng, 8), randomArray(rng, 768)];
    const fusedCpu = await onBackend('cpu', () => run(shape, true, values, true));
    const plainCpu = await onBackend('cpu', () => run(shape, true, values, false));
    for (const k of ['y', 'dx', 'dg', 'db'] as const)
      expect(maxRelativeError(fusedCpu[k], plainCpu[k]), k).toBeLessThan(1e-4);
  });

  // Grouped (Shuffle BN's SplitBatchNorm): one op over [G, m, 1, C], against one plain BatchNorm per group.
  it.each([
    [[16, 12, 12, 32], true, 2],
    [[16, 12, 12, 32], false, 4],
    [[8, 6, 6, 16], true, 4],
    [[32, 128], true, 2],
    [[32, 256], false, 8],
  ] as [number[], boolean, number][])(
    'shape %j relu %s in %i groups: matches one plain BatchNorm per group, wasm and cpu',
    async (shape, relu, groups) => {
      const rng = new Rng(shape.reduce((p, d) => p * 5 + d, groups));
      const size = shape.reduce((p, d) => p * d, 1);
      const c = shape[shape.length - 1];
      // Each group its own offset: group statistics that differ from the batch's.
      const x = randomArray(rng, size).map((v, i) => 2 * v + (i % c) * 0.1 + Math.floor((i * groups) / size));
      const values = [x, randomArray(rng, 256).map((v) => 1 + 0.3 * v), randomArray(rng, 256), randomArray(rng, size)];
      const want = await onBackend('cpu', () => run(shape, relu, values, false, groups));
      const onCpu = await onBackend('cpu', () => run(shape, relu, values, true, groups));
      const wasm = tf.backend() as unknown as { numDataIds(): number };
      const ids = wasm.numDataIds();
      const tensors = tf.memory().numTensors;
      const got = run(shape, relu, values, true, groups);
      for (const k of ['y', 'mean', 'variance', 'dx', 'dg', 'db'] as const) {
        expect(maxRelativeError(got[k], want[k]), `wasm ${k}`).toBeLessThan(1e-4);
        expect(maxRelativeError(onCpu[k], want[k]), `cpu ${k}`).toBeLessThan(1e-4);
      }
      expect(wasm.numDataIds()).toBe(ids);
      expect(tf.memory().numTensors).toBe(tensors);
    },
  );

  it('refuses groups that do not split the batch into groups of two or more', () => {
    const x = tf.zeros([6, 4]);
    const g = tf.ones([4]);
    expect(() => batchNormTraining(x, g, g, { groups: 4 })).toThrow(/cannot split a batch of 6 into 4/);
    expect(() => batchNormTraining(x, g, g, { groups: 6 })).toThrow(/groups of 2 or more/);
    tf.dispose([x, g]);
  });
});
