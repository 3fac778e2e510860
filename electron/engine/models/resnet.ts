/**
 * CIFAR-style ResNets as functional networks (docs/cli.md's benchmark step):
 * - resnet20: 3×3 stem conv to 16, BN, ReLU; 3 stages × 3 basic blocks, widths 16/32/64, stride 2 at
 *   the start of stages 2 and 3; global average pool → 64 features.
 * - resnet18 (CIFAR form): 3×3 stem conv to 64, no max-pool; 4 stages × 2 basic blocks, widths
 *   64/128/256/512, stride 2 at the start of stages 2–4; global average pool → 512 features.
 * A basic block is conv3×3–BN–ReLU–conv3×3–BN plus a shortcut (identity, or 1×1 conv + BN when the
 * shape changes), then ReLU. Parameter names: 'stem.conv.w', 'stage1.block0.bn1.gamma', …
 */
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../../errors';
import type { Rng } from '../../rng';
import { batchNorm, conv2d, type ForwardMode, initBatchNorm, initConv, type ParamScope } from './layers';

export type Arch = 'resnet20' | 'resnet18';
export const ARCHS: readonly Arch[] = ['resnet20', 'resnet18'];

/** Smallest input side the encoders take (two or three stride-2 stages still leave ≥ 2×2). */
export const MIN_INPUT_SIZE = 16;

export interface StageSpec {
  width: number;
  blocks: number;
  /** Stride of the first block's first conv (and its shortcut). */
  stride: number;
}

export interface BackboneSpec {
  arch: Arch;
  channels: number;
  stemWidth: number;
  stages: StageSpec[];
  /** Width of the pooled feature vector (the last stage's width). */
  featureDim: number;
}

/**
 * The architecture's layout for `channels` input channels. `baseWidth` scales every width (default:
 * 16 for resnet20, 64 for resnet18); smaller widths are only for fast tests of the machinery.
 */
export function backboneSpec(arch: Arch, channels: number, baseWidth?: number): BackboneSpec {
  if (channels !== 1 && channels !== 3) {
    throw new IsdError('BAD_INPUT', `images must have 1 or 3 channels, got ${channels}`, { field: 'channels' });
  }
  let stages: StageSpec[];
  if (arch === 'resnet20') {
    const w = baseWidth ?? 16;
    stages = [
      { width: w, blocks: 3, stride: 1 },
      { width: 2 * w, blocks: 3, stride: 2 },
      { width: 4 * w, blocks: 3, stride: 2 },
    ];
  } else if (arch === 'resnet18') {
    const w = baseWidth ?? 64;
    stages = [
      { width: w, blocks: 2, stride: 1 },
      { width: 2 * w, blocks: 2, stride: 2 },
      { width: 4 * w, blocks: 2, stride: 2 },
      { width: 8 * w, blocks: 2, stride: 2 },
    ];
  } else {
    throw new IsdError('BAD_INPUT', `unknown architecture "${String(arch)}": use resnet20 or resnet18`, {
      field: 'arch',
    });
  }
  if (!Number.isInteger(stages[0].width) || stages[0].width < 1) {
    throw new IsdError('BAD_INPUT', `base width must be a whole number ≥ 1, got ${baseWidth}`, { field: 'width' });
  }
  return { arch, channels, stemWidth: stages[0].width, stages, featureDim: stages[stages.length - 1].width };
}

/** Throws a BAD_INPUT IsdError naming imageSize when the encoders cannot take [h, w]. */
export function checkInputSize(h: number, w: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < MIN_INPUT_SIZE || w < MIN_INPUT_SIZE) {
    throw new IsdError(
      'BAD_INPUT',
      `image size ${h}×${w} is too small: the encoders need at least ${MIN_INPUT_SIZE}×${MIN_INPUT_SIZE}`,
      {
        field: 'imageSize',
      },
    );
  }
}

function blockNeedsProjection(inWidth: number, outWidth: number, stride: number): boolean {
  return stride !== 1 || inWidth !== outWidth;
}

export function initBackbone(scope: ParamScope, spec: BackboneSpec, rng: Rng): void {
  initConv(scope.child('stem.conv'), 3, spec.channels, spec.stemWidth, rng);
  initBatchNorm(scope.child('stem.bn'), spec.stemWidth);
  let inWidth = spec.stemWidth;
  spec.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.blocks; b++) {
      const block = scope.child(`stage${s + 1}.block${b}`);
      const stride = b === 0 ? stage.stride : 1;
      initConv(block.child('conv1'), 3, inWidth, stage.width, rng);
      initBatchNorm(block.child('bn1'), stage.width);
      initConv(block.child('conv2'), 3, stage.width, stage.width, rng);
      initBatchNorm(block.child('bn2'), stage.width);
      if (blockNeedsProjection(inWidth, stage.width, stride)) {
        initConv(block.child('shortcut.conv'), 1, inWidth, stage.width, rng);
        initBatchNorm(block.child('shortcut.bn'), stage.width);
      }
      inWidth = stage.width;
    }
  });
}

/**
 * The layer graph of a backbone, one op at a time, for whoever builds it: the tf ops of training and
 * evaluation (backboneForward) and the exporters (engine/encoder-export), so the architecture is
 * written once. `name` is the parameter scope below the backbone ('stage2.block0.conv1').
 */
export interface BackboneBuilder<T> {
  /** Bias-free k×k conv with PyTorch's symmetric padding k//2. */
  conv(x: T, name: string, stride: number): T;
  /** BatchNorm over the channels, then ReLU when `relu`. */
  batchNorm(x: T, name: string, relu: boolean): T;
  /** ReLU(a + b): the end of a basic block. */
  addRelu(a: T, b: T, name: string): T;
  /** Global average pool: [B, h, w, d] → [B, d]. */
  pool(x: T): T;
}

/** Walks the backbone of `spec` from x (NHWC) to its pooled features through `b`. */
export function walkBackbone<T>(spec: BackboneSpec, b: BackboneBuilder<T>, x: T): T {
  let h = b.batchNorm(b.conv(x, 'stem.conv', 1), 'stem.bn', true);
  let inWidth = spec.stemWidth;
  spec.stages.forEach((stage, s) => {
    for (let i = 0; i < stage.blocks; i++) {
      const block = `stage${s + 1}.block${i}`;
      const stride = i === 0 ? stage.stride : 1;
      let out = b.batchNorm(b.conv(h, `${block}.conv1`, stride), `${block}.bn1`, true);
      out = b.batchNorm(b.conv(out, `${block}.conv2`, 1), `${block}.bn2`, false);
      const shortcut = blockNeedsProjection(inWidth, stage.width, stride)
        ? b.batchNorm(b.conv(h, `${block}.shortcut.conv`, stride), `${block}.shortcut.bn`, false)
        : h;
      h = b.addRelu(out, shortcut, block);
      inWidth = stage.width;
    }
  });
  return b.pool(h);
}

/** x [B, H, W, C] → pooled features [B, featureDim]. Call inside tf.tidy. */
export function backboneForward(scope: ParamScope, spec: BackboneSpec, x: tf.Tensor4D, mode: ForwardMode): tf.Tensor2D {
  const ops: BackboneBuilder<tf.Tensor> = {
    conv: (h, name, stride) => conv2d(scope.child(name), h as tf.Tensor4D, stride),
    batchNorm: (h, name, relu) => batchNorm(scope.child(name), h, mode, { relu }),
    addRelu: (a, b) => tf.relu(tf.add(a, b)),
    pool: (h) => tf.mean(h, [1, 2]), // global average pool [B, featureDim]
  };
  return walkBackbone(spec, ops, x) as tf.Tensor2D;
}
