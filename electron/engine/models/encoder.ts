/**
 * An encoder as ISD+ trains it: backbone + projection MLP (d → 2d → embedDim, with BN; MoCo v2's is
 * d → d → embedDim without BN), and on the student a predictor MLP (embedDim → 2d → embedDim). Student and teacher share one EncoderSpec and differ only
 * in their scope ('student.' / 'teacher.') and in whether the predictor exists.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';
import type { ForwardMode, ParamScope } from './layers';
import { initMlpHead, mlpHeadForward, type MlpHeadSpec } from './mlp-head';
import { backboneForward, backboneSpec, initBackbone, type Arch, type BackboneSpec } from './resnet';

/** Width of the embeddings compared with the queue (the reference's 128). */
export const EMBED_DIM = 128;

export interface EncoderSpec {
  backbone: BackboneSpec;
  projection: MlpHeadSpec;
  predictor: MlpHeadSpec;
}

export function encoderSpec(
  arch: Arch,
  channels: number,
  opts: { baseWidth?: number; embedDim?: number; projectionBn?: boolean } = {},
): EncoderSpec {
  const backbone = backboneSpec(arch, channels, opts.baseWidth);
  const d = backbone.featureDim;
  const e = opts.embedDim ?? EMBED_DIM;
  const bn = opts.projectionBn ?? true;
  return {
    backbone,
    // MoCo v2's head keeps the feature width (moco/builder.py: Linear(dim_mlp, dim_mlp), ReLU, fc).
    projection: { inDim: d, hiddenDim: bn ? 2 * d : d, outDim: e, batchNorm: bn },
    predictor: { inDim: e, hiddenDim: 2 * d, outDim: e, batchNorm: true },
  };
}

/** Creates '<scope>backbone.*', '<scope>proj.*' and, with a predictor, '<scope>pred.*'. */
export function initEncoder(scope: ParamScope, spec: EncoderSpec, rng: Rng, withPredictor: boolean): void {
  initBackbone(scope.child('backbone'), spec.backbone, rng);
  initMlpHead(scope.child('proj'), spec.projection, rng);
  if (withPredictor) initMlpHead(scope.child('pred'), spec.predictor, rng);
}

/** Backbone features [B, d] (the heads dropped: what kNN and the linear probe use). */
export function encoderFeatures(scope: ParamScope, spec: EncoderSpec, x: tf.Tensor4D, mode: ForwardMode): tf.Tensor2D {
  return backboneForward(scope.child('backbone'), spec.backbone, x, mode);
}

/** Projection [B, embedDim], then through the predictor when `withPredictor`; not normalised. */
export function encoderEmbedding(
  scope: ParamScope,
  spec: EncoderSpec,
  x: tf.Tensor4D,
  mode: ForwardMode,
  withPredictor: boolean,
): tf.Tensor2D {
  const projected = mlpHeadForward(scope.child('proj'), spec.projection, encoderFeatures(scope, spec, x, mode), mode);
  return withPredictor ? mlpHeadForward(scope.child('pred'), spec.predictor, projected, mode) : projected;
}
