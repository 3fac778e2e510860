import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendName } from '../backend';
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
    const trainable = store.list().filter((e) => e.trainable).reduce((n, e) => n + e.variable.size, 0);
    expect(trainable).toBe(271_824);
    expect(store.has('b.stage2.block0.shortcut.conv.w')).toBe(true);
    expect(store.has('b.stage2.block1.shortcut.conv.w')).toBe(false);
    expect(store.get('b.stage1.block0.bn1.runningVar').shape).toEqual([16]);
    const y = tf.tidy(() => backboneForward(new ParamScope(store, 'b.', true), spec, tf.zeros([2, 28, 28, 3]), { training: false }));
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
      const out = tf.tidy(() => encoderEmbedding(scope, spec, tf.randomNormal([4, 16, 16, c]), { training: true }, true));
      expect(out.shape).toEqual([4, 128]);
      out.dispose();
      store.dispose();
    }
    expect(backboneSpec('resnet18', 1).featureDim).toBe(512);
    expect(encoderSpec('resnet20', 1).projection).toEqual({ inDim: 64, hiddenDim: 128, outDim: 128 });
    expect(encoderSpec('resnet20', 1).predictor).toEqual({ inDim: 128, hiddenDim: 128, outDim: 128 });
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
