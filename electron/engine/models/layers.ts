/**
 * Functional layers: parameters live in a ParamStore under a scope prefix, forward functions are plain
 * tf ops on them (no tf.layers), so the same code runs the student, the teacher and any backend.
 * Conventions follow PyTorch (the reference code): NHWC activations, conv weights [kh, kw, cin, cout],
 * He-normal init with fan_out, conv padding k//2 on both sides, BatchNorm eps 1e-5 and running
 * statistics updated as running = 0.9·running + 0.1·batch (unbiased variance).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';
import { batchNormTraining } from '../kernels/batch-norm';
import type { ParamStore } from './param-store';

export const BN_EPSILON = 1e-5;
/** PyTorch's BatchNorm momentum 0.1: the share of the batch statistic in the new running value. */
export const BN_STAT_MOMENTUM = 0.1;

export interface ForwardMode {
  /** true: batch statistics, and the running statistics are updated; false: running statistics (inference). */
  training: boolean;
  /** Training only: BatchNorm takes its statistics over this many equal groups of the batch (default 1). */
  bnGroups?: number;
}

/** A view of a ParamStore under a name prefix ('student.backbone.'); teacher scopes create nothing trainable. */
export class ParamScope {
  constructor(
    readonly store: ParamStore,
    readonly prefix: string,
    readonly trainable: boolean,
  ) {}

  child(name: string): ParamScope {
    return new ParamScope(this.store, `${this.prefix}${name}.`, this.trainable);
  }

  add(name: string, initial: tf.Tensor, trainable = this.trainable): tf.Variable {
    return this.store.add(this.prefix + name, initial, trainable && this.trainable);
  }

  get(name: string): tf.Variable {
    return this.store.get(this.prefix + name);
  }
}

function normalArray(n: number, std: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  return a;
}

function uniformArray(n: number, bound: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-bound, bound);
  return a;
}

/** 'w' [k, k, cin, cout], He normal with fan_out = k·k·cout (torchvision's ResNet init); no bias (BN follows). */
export function initConv(scope: ParamScope, k: number, cin: number, cout: number, rng: Rng): void {
  const std = Math.sqrt(2 / (k * k * cout));
  scope.add('w', tf.tensor4d(normalArray(k * k * cin * cout, std, rng), [k, k, cin, cout]));
}

/** gamma = 1, beta = 0 (trainable); runningMean = 0, runningVar = 1 (state). */
export function initBatchNorm(scope: ParamScope, channels: number): void {
  scope.add('gamma', tf.ones([channels]));
  scope.add('beta', tf.zeros([channels]));
  scope.add('runningMean', tf.zeros([channels]), false);
  scope.add('runningVar', tf.ones([channels]), false);
}

/** 'w' [in, out] and 'b' [out], uniform ±1/√in (PyTorch's nn.Linear default). */
export function initLinear(scope: ParamScope, inDim: number, outDim: number, rng: Rng): void {
  const bound = 1 / Math.sqrt(inDim);
  scope.add('w', tf.tensor2d(uniformArray(inDim * outDim, bound, rng), [inDim, outDim]));
  scope.add('b', tf.tensor1d(uniformArray(outDim, bound, rng)));
}

/** [B, H, W, cin] → [B, ⌊(H−1)/stride⌋+1, …, cout]; symmetric padding k//2 as PyTorch (tf's 'same' pads bottom/right only). */
export function conv2d(scope: ParamScope, x: tf.Tensor4D, stride: number): tf.Tensor4D {
  const w = scope.get('w') as tf.Tensor4D;
  const p = Math.floor(w.shape[0] / 2);
  return tf.conv2d(
    x,
    w,
    stride,
    p === 0
      ? 'valid'
      : [
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ],
  );
}

/**
 * BatchNorm over every axis but the last ([B, H, W, C] or [B, C]), then ReLU when opts.relu. Training:
 * normalise with the batch statistics (the fused op of kernels/batch-norm.ts, with its own gradient;
 * per group of the batch with mode.bnGroups) and move the running ones (assigned as a side effect: not
 * on the loss's gradient path; with groups, by the groups' mean statistics, as SplitBatchNorm).
 */
export function batchNorm<T extends tf.Tensor>(
  scope: ParamScope,
  x: T,
  mode: ForwardMode,
  opts: { relu?: boolean } = {},
): T {
  const gamma = scope.get('gamma');
  const beta = scope.get('beta');
  const runningMean = scope.get('runningMean');
  const runningVar = scope.get('runningVar');
  if (mode.training) {
    // variance is biased (divides by n) as PyTorch normalises; the running statistic takes the unbiased one.
    const {
      y,
      mean,
      variance,
      count: n,
    } = batchNormTraining(x, gamma, beta, {
      epsilon: BN_EPSILON,
      relu: opts.relu,
      groups: mode.bnGroups,
    });
    const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
    runningMean.assign(tf.add(tf.mul(runningMean, 1 - BN_STAT_MOMENTUM), tf.mul(mean, BN_STAT_MOMENTUM)));
    runningVar.assign(tf.add(tf.mul(runningVar, 1 - BN_STAT_MOMENTUM), tf.mul(unbiased, BN_STAT_MOMENTUM)));
    return y;
  }
  // y = x·scale + shift with the running statistics: two passes over the activation instead of four.
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(runningVar, BN_EPSILON))); // [C]
  const shift = tf.sub(beta, tf.mul(runningMean, scale)); // [C]
  const y = tf.add(tf.mul(x, scale), shift);
  return (opts.relu ? tf.relu(y) : y) as T;
}

/** [B, in] → [B, out]. */
export function linear(scope: ParamScope, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(x, scope.get('w') as tf.Tensor2D), scope.get('b')) as tf.Tensor2D;
}

/** Rows scaled to unit L2 norm (PyTorch F.normalize: divide by max(‖x‖, 1e-12)). [B, D] → [B, D]. */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  const norm = tf.sqrt(tf.sum(tf.square(x), 1, true)); // [B, 1]
  return tf.div(x, tf.maximum(norm, 1e-12)) as tf.Tensor2D;
}
