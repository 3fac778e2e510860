import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendName } from '../backend';
import { maxRelativeError } from '../kernels/kernel-test-support';
import { Rng } from '../../rng';
import { encoderEmbedding, encoderSpec, initEncoder } from './encoder';
import { batchNorm, initBatchNorm, ParamScope } from './layers';
import { ParamStore } from './param-store';
import { backboneForward, backboneSpec, initBackbone } from './resnet';

const BACKEND = (process.env.ISD_TEST_BACKEND ?? 'cpu') as BackendName;

describe('functional models', () => {
  beforeAll(async () => {
    await initBackend({ prefer: BACKEND });
  });

  it('resnet20 has the CIFAR layout: 271,824 backbone parameters for 3 channels, 64 features', () => {
    const store = new ParamStore();
    const spec = backboneSpec('resnet20', 3);
    initBackbone(new ParamScope(store, 'b.', true), spec, new Rng(0));
    // conv 270,256 (stem 432, stages 13,824 + 50,688 + 202,752, shortcuts 512 + 2,048) + BN γ/β 1,568
    const trainable = store
      .list()
      .filter((e) => e.trainable)
      .reduce((n, e) => n + e.variable.size, 0);
    expect(trainable).toBe(271_824);
    expect(store.has('b.stage2.block0.shortcut.conv.w')).toBe(true);
    expect(store.has('b.stage2.block1.shortcut.conv.w')).toBe(false);
    expect(store.get('b.stage1.block0.bn1.runningVar').shape).toEqual([16]);
    const y = tf.tidy(() =>
      backboneForward(new ParamScope(store, 'b.', true), spec, tf.zeros([2, 28, 28, 3]), { training: false }),
    );
    expect(y.shape).toEqual([2, 64]);
    y.dispose();
    store.dispose();
  });

  it('resnet18 (CIFAR form) gives 512 features on 16×16×1 and 3-channel input', () => {
    for (const c of [1, 3]) {
      const store = new ParamStore();
      const spec = encoderSpec('resnet18', c, { baseWidth: 8 }); // narrow: layout, not size, is under test
      const scope = new ParamScope(store, 's.', true);
      initEncoder(scope, spec, new Rng(0), true);
      expect(spec.backbone.stages.map((s) => s.width)).toEqual([8, 16, 32, 64]);
      const out = tf.tidy(() =>
        encoderEmbedding(scope, spec, tf.randomNormal([4, 16, 16, c]), { training: true }, true),
      );
      expect(out.shape).toEqual([4, 128]);
      out.dispose();
      store.dispose();
    }
    expect(backboneSpec('resnet18', 1).featureDim).toBe(512);
    expect(encoderSpec('resnet20', 1).projection).toEqual({ inDim: 64, hiddenDim: 128, outDim: 128, batchNorm: true });
    expect(encoderSpec('resnet20', 1).predictor).toEqual({ inDim: 128, hiddenDim: 128, outDim: 128, batchNorm: true });
    // MoCo v2's head: d → d → 128, no BatchNorm
    expect(encoderSpec('resnet20', 1, { projectionBn: false }).projection).toEqual({
      inDim: 64,
      hiddenDim: 64,
      outDim: 128,
      batchNorm: false,
    });
  });

  it('rejects what the encoders cannot take', () => {
    expect(() => backboneSpec('resnet20', 2)).toThrow(/1 or 3 channels/);
    expect(() => backboneSpec('vgg' as 'resnet20', 1)).toThrow(/unknown architecture/);
  });

  it('BatchNorm: batch statistics in training (running stats move 0.1 toward the unbiased variance), running stats in inference', () => {
    const store = new ParamStore();
    const scope = new ParamScope(store, 'bn.', true);
    initBatchNorm(scope, 2);
    const xs = [
      [1, 10],
      [2, 20],
      [3, 30],
      [6, 0],
    ];
    const x = tf.tensor2d(xs);
    const y = tf.tidy(() => batchNorm(scope, x, { training: true }).arraySync() as number[][]);
    for (let ch = 0; ch < 2; ch++) {
      const col = xs.map((r) => r[ch]);
      const mean = col.reduce((a, b) => a + b) / 4;
      const varB = col.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
      col.forEach((v, i) => expect(y[i][ch]).toBeCloseTo((v - mean) / Math.sqrt(varB + 1e-5), 4));
      expect(store.get('bn.runningMean').dataSync()[ch]).toBeCloseTo(0.1 * mean, 5);
      expect(store.get('bn.runningVar').dataSync()[ch]).toBeCloseTo(0.9 + 0.1 * ((varB * 4) / 3), 4);
    }
    const inf = tf.tidy(() => batchNorm(scope, x, { training: false }).arraySync() as number[][]);
    const rm = store.get('bn.runningMean').dataSync();
    const rv = store.get('bn.runningVar').dataSync();
    expect(inf[3][0]).toBeCloseTo((6 - rm[0]) / Math.sqrt(rv[0] + 1e-5), 4);
    x.dispose();
    store.dispose();
  });

  it('BatchNorm with relu (the fused op): output, gradients, running statistics and inference as relu after plain-op BatchNorm', () => {
    const rng = new Rng(9);
    const shape = [4, 5, 5, 3];
    const xv = Float32Array.from({ length: 300 }, (_, i) => 2 * rng.normal() + (i % 3) - 1); // per-channel offsets
    const rv = Float32Array.from({ length: 300 }, () => rng.normal()); // the loss Σ y·r gives a dy of r
    const store = new ParamStore();
    const scope = new ParamScope(store, 'bn.', true);
    initBatchNorm(scope, 3);
    // The same four variables as before the fused op (checkpoints load by these names and shapes).
    expect(store.list().map((e) => [e.name, e.variable.shape, e.trainable])).toEqual([
      ['bn.gamma', [3], true],
      ['bn.beta', [3], true],
      ['bn.runningMean', [3], false],
      ['bn.runningVar', [3], false],
    ]);
    const [gamma, beta] = [store.get('bn.gamma'), store.get('bn.beta')];
    gamma.assign(tf.tensor1d([1.5, 0.5, -1]));
    beta.assign(tf.tensor1d([0.2, -0.3, 0.1]));
    const reference = tf.tidy(() => {
      const x = tf.tensor(xv, shape);
      const plain = (xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2]);
        return tf.relu(tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b));
      };
      const grads = tf.grads((xx: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(plain(xx, g, b), tf.tensor(rv, shape))),
      )([x, gamma, beta]);
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const runningMean = tf.mul(mean, 0.1);
      const runningVar = tf.add(0.9, tf.mul(variance, (0.1 * 100) / 99)); // unbiased: n = 100 per channel
      return [plain(x, gamma, beta), ...grads, runningMean, runningVar].map((t) => t.dataSync() as Float32Array);
    });
    const x = tf.variable(tf.tensor(xv, shape));
    const r = tf.tensor(rv, shape);
    let y: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      y = tf.keep(batchNorm(scope, x, { training: true }, { relu: true }));
      return tf.sum(tf.mul(y, r)) as tf.Scalar;
    }, [x, gamma, beta]);
    const got = [
      y!,
      grads[x.name],
      grads[gamma.name],
      grads[beta.name],
      store.get('bn.runningMean'),
      store.get('bn.runningVar'),
    ].map((t) => t.dataSync() as Float32Array);
    ['y', 'dx', 'dgamma', 'dbeta', 'runningMean', 'runningVar'].forEach((what, i) =>
      expect(maxRelativeError(got[i], reference[i]), what).toBeLessThan(1e-5),
    );
    // Inference: the running statistics, then relu.
    const [rm, rvar, g, b] = [store.get('bn.runningMean'), store.get('bn.runningVar'), gamma, beta].map((t) =>
      t.dataSync(),
    );
    const inference = tf.tidy(() =>
      batchNorm(scope, tf.tensor(xv, shape), { training: false }, { relu: true }).dataSync(),
    );
    const want = Float32Array.from(xv, (v, i) =>
      Math.max(0, ((v - rm[i % 3]) / Math.sqrt(rvar[i % 3] + 1e-5)) * g[i % 3] + b[i % 3]),
    );
    expect(maxRelativeError(inference, want)).toBeLessThan(1e-5);
    tf.dispose([y!, value, x, r, ...Object.values(grads)]);
    store.dispose();
  });

  it('same seed, same initial weights; another seed, others', () => {
    const weights = (seed: number) => {
      const store = new ParamStore();
      initBackbone(new ParamScope(store, '', true), backboneSpec('resnet20', 1, 4), new Rng(seed));
      const w = Array.from(store.get('stage3.block2.conv2.w').dataSync());
      store.dispose();
      return w;
    };
    expect(weights(5)).toEqual(weights(5));
    expect(weights(5)).not.toEqual(weights(6));
  });
});
