/**
 * The ISD+ MLP heads: Linear, BatchNorm1d, ReLU, Linear. Projection d → 2d → 128 on both encoders;
 * predictor 128 → 2d → 128 on the student only. Parameter names: 'fc1.w', 'fc1.b', 'bn1.gamma', …, 'fc2.b'.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';
import { batchNorm, type ForwardMode, initBatchNorm, initLinear, linear, type ParamScope } from './layers';

export interface MlpHeadSpec {
  inDim: number;
  hiddenDim: number;
  outDim: number;
}

export function initMlpHead(scope: ParamScope, spec: MlpHeadSpec, rng: Rng): void {
  initLinear(scope.child('fc1'), spec.inDim, spec.hiddenDim, rng);
  initBatchNorm(scope.child('bn1'), spec.hiddenDim);
  initLinear(scope.child('fc2'), spec.hiddenDim, spec.outDim, rng);
}

/** x [B, inDim] → [B, outDim]. Call inside tf.tidy. */
export function mlpHeadForward(scope: ParamScope, x: tf.Tensor2D, mode: ForwardMode): tf.Tensor2D {
  const hidden = batchNorm(scope.child('bn1'), linear(scope.child('fc1'), x), mode, { relu: true }); // [B, hiddenDim]
  return linear(scope.child('fc2'), hidden);
}
