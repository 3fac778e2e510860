/**
 * MLP heads: Linear, BatchNorm1d, ReLU, Linear (ISD+'s: projection d → 2d → 128 on both encoders,
 * predictor 128 → 2d → 128 on the student only), or without the BatchNorm (MoCo v2's projection,
 * d → d → 128). Parameter names: 'fc1.w', 'fc1.b', 'bn1.gamma' (with BN), …, 'fc2.b'.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';
import { batchNorm, type ForwardMode, initBatchNorm, initLinear, linear, type ParamScope } from './layers';

export interface MlpHeadSpec {
  inDim: number;
  hiddenDim: number;
  outDim: number;
  /** BatchNorm1d between fc1 and the ReLU. */
  batchNorm: boolean;
}

export function initMlpHead(scope: ParamScope, spec: MlpHeadSpec, rng: Rng): void {
  initLinear(scope.child('fc1'), spec.inDim, spec.hiddenDim, rng);
  if (spec.batchNorm) initBatchNorm(scope.child('bn1'), spec.hiddenDim);
  initLinear(scope.child('fc2'), spec.hiddenDim, spec.outDim, rng);
}

/** x [B, inDim] → [B, outDim]. Call inside tf.tidy. */
export function mlpHeadForward(scope: ParamScope, spec: MlpHeadSpec, x: tf.Tensor2D, mode: ForwardMode): tf.Tensor2D {
  const pre = linear(scope.child('fc1'), x); // [B, hiddenDim]
  const hidden = spec.batchNorm ? batchNorm(scope.child('bn1'), pre, mode, { relu: true }) : tf.relu(pre);
  return linear(scope.child('fc2'), hidden);
}
