import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { initBackend } from '../backend';
import { batchNormTraining } from './batch-norm';
import { maxRelativeError, onBackend, randomArray } from './kernel-test-support';

/** BatchNorm written as plain ops (the reference), relu optional. */
function plainBatchNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, relu: boolean): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  return relu ? tf.relu(y) : y;
}

type Outputs = {
  y: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  dx: Float32Array;
  dg: Float32Array;
  db: Float32Array;
};

function run(shape: number[], relu: boolean, values: Float32Array[], fused: boolean): Outputs {
  return tf.tidy(() => {
    const c = shape[shape.length - 1];
    const [xv, gv, bv, rv] = values;
    const x = tf.tensor(xv, shape);
    const g = tf.tensor1d(gv.subarray(0, c));
    const b = tf.tensor1d(bv.subarray(0, c));
    const r = tf.tensor(rv, shape); // the loss Σ y·r gives a dy of r
    const forward = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      fused ? batchNormTraining(xx, gg, bb, { relu }).y : plainBatchNorm(xx, gg, bb, relu);
    const [dx, dg, db] = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(forward(xx, gg, bb), r)),
    )([x, g, b]);
    const stats = fused
      ? batchNormTraining(x, g, b, { relu })
      : {
          ...tf.moments(
            x,
            shape.slice(0, -1).map((_, i) => i),
          ),
          y: forward(x, g, b),
        };
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
});
