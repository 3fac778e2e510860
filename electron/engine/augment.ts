/**
 * Batched, seeded image augmentations (MoCo v2 recipe) and evaluation batches.
 *
 * All random parameters are drawn in JS from the caller's Rng, image by image in batch order, so a
 * checkpointed Rng state reproduces the same augmentations on any backend (per image: the crop's
 * 1–10 attempts and position, flip; strong only: jitter gate, its factors and order, grayscale gate
 * on three channels, blur gate and σ). The pixel work is a fixed
 * handful of batched ops whatever the batch size (no per-image tensor ops), each available on the
 * cpu and wasm backends, and none a broadcast over the whole batch (slow on threaded wasm):
 *   - gather: the batch's bytes through a lookup table into one tensor (normalised up front for
 *     weak and eval batches: bilinear resampling commutes with a per-channel affine map);
 *   - random resized crop + horizontal flip: one CropAndResize with a box per image (a box with
 *     x1 > x2 samples right to left, i.e. mirrors; checked on both backends by the tests);
 *   - colour jitter: each of its ops is "x ← clamp(x·M + β·mean(gray(x)), 0, 1)" with a per-image
 *     matrix M and scalar β; the pixels carry a ones channel so that the offset sits inside M, and
 *     one slot is one BatchMatMul and one clamp for the whole batch. Each image applies brightness,
 *     contrast, saturation and hue in its own random order, as torchvision;
 *   - grayscale: one more BatchMatMul (identity where not drawn), which also drops the ones channel;
 *   - Gaussian blur and the normalisation: one separable depthwise convolution over [1, H, W, B·C]
 *     with a kernel per image (a delta where not drawn), reflect padding as torchvision, the
 *     normalisation folded into its taps and bias.
 *
 * Approximations, on purpose:
 *   - hue is a rotation of the chroma plane in YIQ space by 2π·h, not torchvision's HSV round trip:
 *     close for moderate shifts (|h| ≤ 0.1 here), and it keeps hue a linear op like the others;
 *   - the crop is resampled bilinearly without antialiasing (PIL antialiases when it shrinks;
 *     crops of a source the output's size are always enlarged), corner to corner when enlarging;
 *   - one-channel data: saturation, hue and grayscale do not apply and are skipped; the colour
 *     jitter is then brightness and contrast in a random order.
 */
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../errors';
import type { Rng } from '../rng';
import { applyJitterSlot, grayscaleMatrices, jitterOpMatrix, setIdentity, type JitterOp } from './colour-jitter';

export type AugmentStrength = 'weak' | 'strong';

export interface ImageShape {
  h: number;
  w: number;
  c: number;
}

export interface AugmentOptions {
  /** Output side: images come out size × size. */
  size: number;
  strength: AugmentStrength;
  /** Multiplies the strong view's drawn blur σ (1: the recipe's pixels; 0: no blur). Default 1. */
  blurScale?: number;
  /** Per-channel mean and std of the training set, in [0, 1] units (computeChannelStats). */
  mean: number[];
  std: number[];
}

export interface EvalBatchOptions {
  size: number;
  mean: number[];
  std: number[];
}

/** Hyperparameters of the strong (MoCo v2) recipe; weak uses only the crop and the flip. */
export const AUGMENT_RECIPE = {
  cropScale: [0.2, 1] as const,
  cropRatio: [3 / 4, 4 / 3] as const,
  flipP: 0.5,
  jitterP: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  grayscaleP: 0.2,
  blurP: 0.5,
  blurSigma: [0.1, 2] as const,
} as const;

/**
 * How toEvalBatch (every embedding and kNN of the app) resizes an image to the trained side: what an
 * exported encoder's user must repeat. The augmentation.test checks it against tf.image.resizeBilinear.
 */
export const EVAL_RESIZE =
  'bilinear without antialiasing, the whole image: half-pixel centres when shrinking (tf.image.resizeBilinear(x, size, false, true); torch F.interpolate(mode="bilinear", align_corners=False)), corner to corner when enlarging (align_corners=True)';

/** The image side the recipe's pixel numbers (blur σ) were chosen for: torchvision's 224-px crops. */
export const REFERENCE_IMAGE_SIDE = 224;

/** Gaussian blur kernel side for an image side: about 10% of it, odd, at least 3 (23 for 224). */
export function blurKernelSize(size: number): number {
  return Math.max(3, 2 * Math.floor(size * 0.05) + 1);
}

/** A crop of the source image in integer pixels, as torchvision's RandomResizedCrop.get_params. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torchvision's RandomResizedCrop parameters: area fraction uniform in scale, aspect ratio
 * log-uniform in ratio, up to 10 attempts, then a centre crop clamped to the ratio range.
 */
export function sampleCrop(
  h: number,
  w: number,
  rng: Rng,
  scale: readonly [number, number] = AUGMENT_RECIPE.cropScale,
  ratio: readonly [number, number] = AUGMENT_RECIPE.cropRatio,
): CropBox {
  const area = h * w;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const cw = Math.round(Math.sqrt(targetArea * aspect));
    const ch = Math.round(Math.sqrt(targetArea / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      return { top: rng.int(h - ch + 1), left: rng.int(w - cw + 1), height: ch, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]) ch = Math.round(cw / ratio[0]);
  else if (inRatio > ratio[1]) cw = Math.round(ch * ratio[1]);
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

/**
 * CropAndResize box [y1, x1, y2, x2] (normalised by side − 1; CropAndResize samples corner to
 * corner) for a crop resized to size × size. Shrinking: samples at half-pixel centres, as a resize
 * of the cropped region would. Enlarging: corner to corner, so that no sample falls outside the
 * crop (CropAndResize would extrapolate zeros past the image border). Flip swaps x1 and x2.
 */
function cropAndResizeBox(
  crop: CropBox,
  srcH: number,
  srcW: number,
  size: number,
  flip: boolean,
): [number, number, number, number] {
  const insetY = Math.max(0, (0.5 * crop.height) / size - 0.5);
  const insetX = Math.max(0, (0.5 * crop.width) / size - 0.5);
  // Rounding in float32 can put an edge sample a hair past the last pixel, which CropAndResize
  // fills with zeros on one backend and not the other: keep the edges 1e-4 pixel inside.
  const edge = (p: number, side: number) => Math.min(Math.max(p, 1e-4), side - 1 - 1e-4) / (side - 1);
  const y1 = edge(crop.top + insetY, srcH);
  const y2 = edge(crop.top + crop.height - 1 - insetY, srcH);
  const x1 = edge(crop.left + insetX, srcW);
  const x2 = edge(crop.left + crop.width - 1 - insetX, srcW);
  return flip ? [y1, x2, y2, x1] : [y1, x1, y2, x2];
}

function checkShape(src: ImageShape, images: Uint8Array, field: string): number {
  for (const k of ['h', 'w', 'c'] as const) {
    if (!Number.isInteger(src[k]) || src[k] < 1)
      throw new IsdError('BAD_INPUT', `${field}.${k} must be a positive whole number, got ${src[k]}`, {
        field: `${field}.${k}`,
      });
  }
  if (src.c !== 1 && src.c !== 3)
    throw new IsdError('BAD_INPUT', `${field}.c must be 1 or 3 channels, got ${src.c}`, { field: `${field}.c` });
  if (src.h < 2 || src.w < 2)
    throw new IsdError('BAD_INPUT', `${field}: images of ${src.h}×${src.w} are too small to resample (at least 2×2)`, {
      field,
    });
  const per = src.h * src.w * src.c;
  if (images.length % per !== 0) {
    throw new IsdError(
      'BAD_INPUT',
      `images: ${images.length} bytes is not a whole number of ${src.h}×${src.w}×${src.c} images`,
      { field: 'images' },
    );
  }
  return images.length / per;
}

function checkNormalisation(opts: { size: number; mean: number[]; std: number[] }, c: number): void {
  if (!Number.isInteger(opts.size) || opts.size < 2)
    throw new IsdError('BAD_INPUT', `size must be a whole number of at least 2, got ${opts.size}`, { field: 'size' });
  if (opts.mean.length !== c || !opts.mean.every(Number.isFinite)) {
    throw new IsdError(
      'BAD_INPUT',
      `mean must hold ${c} finite number(s), one per channel, got [${opts.mean.join(', ')}]`,
      { field: 'mean' },
    );
  }
  if (opts.std.length !== c || !opts.std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new IsdError(
      'BAD_INPUT',
      `std must hold ${c} number(s) greater than 0, one per channel, got [${opts.std.join(', ')}]`,
      { field: 'std' },
    );
  }
}

/**
 * Copies the indexed images into one float32 tensor [B, H, W, C (+1)], mapping each byte through
 * the per-channel table lut [C, 256]; withOnes appends a channel of ones (the jitter's offsets ride
 * on it through one matmul, see applyJitterSlot).
 */
function gatherImages(
  images: Uint8Array,
  indices: ArrayLike<number>,
  src: ImageShape,
  count: number,
  lut: Float32Array,
  withOnes: boolean,
): tf.Tensor4D {
  const c = src.c;
  const pixels = src.h * src.w;
  const cOut = withOnes ? c + 1 : c;
  const out = new Float32Array(indices.length * pixels * cOut);
  for (let b = 0; b < indices.length; b++) {
    const idx = indices[b];
    if (!Number.isInteger(idx) || idx < 0 || idx >= count) {
      throw new IsdError('BAD_INPUT', `indices[${b}] = ${idx} is outside the ${count} images`, { field: 'indices' });
    }
    const from = idx * pixels * c;
    const o = b * pixels * cOut;
    if (c === 1 && !withOnes) {
      for (let i = 0; i < pixels; i++) out[o + i] = lut[images[from + i]];
      continue;
    }
    for (let p = 0; p < pixels; p++) {
      for (let ch = 0; ch < c; ch++) out[o + p * cOut + ch] = lut[ch * 256 + images[from + p * c + ch]];
      if (withOnes) out[o + p * cOut + c] = 1;
    }
  }
  return tf.tensor4d(out, [indices.length, src.h, src.w, cOut]);
}

/** Byte → value tables [C, 256]: v/255, or (v/255 − mean)/std when normalising. */
function byteTable(c: number, norm?: { mean: number[]; std: number[] }): Float32Array {
  const lut = new Float32Array(c * 256);
  for (let ch = 0; ch < c; ch++)
    for (let v = 0; v < 256; v++) lut[ch * 256 + v] = norm ? (v / 255 - norm.mean[ch]) / norm.std[ch] : v / 255;
  return lut;
}

/** Per-image parameters of the strong recipe's colour and blur steps. */
interface ColourPlan {
  /** slots × [B, C, C] row-vector matrices (x_row · M) of the jitter ops, in each image's order. */
  slotMatrices: Float32Array[];
  /** slots × [B]: weight of mean(gray(x)) added by the op in that slot (contrast: 1 − c). */
  slotMeanWeights: Float32Array[];
  /** [B]: 1 where the image turns gray (three channels only). */
  grayDrawn: Uint8Array;
  /** [B] blur σ per image, 0 for images not blurred. */
  blurSigmas: Float64Array;
}

/** torchvision's 1-D Gaussian kernel: taps at −(k−1)/2 … (k−1)/2, normalised to sum 1. */
export function gaussianKernel1d(k: number, sigma: number): Float64Array {
  const out = new Float64Array(k);
  const half = (k - 1) / 2;
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const x = (i - half) / sigma;
    out[i] = Math.exp(-0.5 * x * x);
    sum += out[i];
  }
  for (let i = 0; i < k; i++) out[i] /= sum;
  return out;
}

/** Draws the strong recipe's colour and blur parameters for image b into the plan. */
function drawColourAndBlur(plan: ColourPlan, b: number, c: number, rng: Rng): void {
  const ops: JitterOp[] = c === 3 ? ['brightness', 'contrast', 'saturation', 'hue'] : ['brightness', 'contrast'];
  const cc = c * c;
  const R = AUGMENT_RECIPE;
  if (rng.next() < R.jitterP) {
    const factors: Record<JitterOp, number> = {
      brightness: rng.uniform(Math.max(0, 1 - R.brightness), 1 + R.brightness),
      contrast: rng.uniform(Math.max(0, 1 - R.contrast), 1 + R.contrast),
      saturation: c === 3 ? rng.uniform(Math.max(0, 1 - R.saturation), 1 + R.saturation) : 1,
      hue: c === 3 ? rng.uniform(-R.hue, R.hue) : 0,
    };
    const order = rng.shuffle(ops.slice());
    order.forEach((op, slot) => {
      plan.slotMeanWeights[slot][b] = jitterOpMatrix(op, factors[op], c, plan.slotMatrices[slot], b * cc);
    });
  } else {
    for (let slot = 0; slot < ops.length; slot++) {
      setIdentity(plan.slotMatrices[slot], b * cc, c);
      plan.slotMeanWeights[slot][b] = 0;
    }
  }
  if (c === 3) plan.grayDrawn[b] = rng.next() < R.grayscaleP ? 1 : 0;
  plan.blurSigmas[b] = rng.next() < R.blurP ? rng.uniform(R.blurSigma[0], R.blurSigma[1]) : 0;
}

/**
 * Separable Gaussian blur with one σ per image (0: left as is), torchvision's kernel of side
 * blurKernelSize(S) and its reflect padding: x [B, S, S, C] → same. The batch and channels become
 * the channels of one depthwise convolution over [1, S, S, B·C]. With normalise, (x − mean)/std
 * per channel is folded in (taps scaled, a bias on the second pass): no separate pass over the batch.
 */
export function gaussianBlurBatch(
  x: tf.Tensor4D,
  sigmas: ArrayLike<number>,
  normalise?: { mean: number[]; std: number[] },
): tf.Tensor4D {
  const [B, S1, S2, C] = x.shape;
  if (sigmas.length !== B)
    throw new IsdError('BAD_INPUT', `sigmas: ${sigmas.length} values for a batch of ${B}`, { field: 'sigmas' });
  const k = Math.min(blurKernelSize(Math.min(S1, S2)), 2 * Math.min(S1, S2) - 1); // reflect padding needs pad < side
  const bc = B * C;
  const vertical = new Float32Array(k * bc); // [k, B·C]: tap-major as the depthwise filter wants
  const horizontal = new Float32Array(k * bc);
  const bias = new Float32Array(bc);
  for (let b = 0; b < B; b++) {
    const kernel = sigmas[b] > 0 ? gaussianKernel1d(k, sigmas[b]) : null;
    for (let ch = 0; ch < C; ch++) {
      const scale = normalise ? 1 / normalise.std[ch] : 1;
      bias[b * C + ch] = normalise ? -normalise.mean[ch] / normalise.std[ch] : 0;
      for (let t = 0; t < k; t++) {
        const v = kernel ? kernel[t] : t === (k - 1) / 2 ? 1 : 0;
        vertical[t * bc + b * C + ch] = v * scale;
        horizontal[t * bc + b * C + ch] = v;
      }
    }
  }
  const pad = (k - 1) / 2;
  return tf.tidy(() => {
    const planes = tf.reshape<tf.Rank.R4>(tf.transpose(x, [1, 2, 0, 3]), [1, S1, S2, bc]); // [1, S, S, B·C]
    const padded = tf.mirrorPad(
      planes,
      [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ],
      'reflect',
    );
    const down = tf.depthwiseConv2d(padded, tf.tensor4d(vertical, [k, 1, bc, 1]), 1, 'valid');
    const both = tf.fused.depthwiseConv2d({
      x: down,
      filter: tf.tensor4d(horizontal, [1, k, bc, 1]),
      strides: 1,
      pad: 'valid',
      bias: normalise ? tf.tensor1d(bias) : undefined,
    }); // [1, S, S, B·C]
    return tf.transpose(tf.reshape(both, [S1, S2, B, C]), [2, 0, 1, 3]);
  });
}

/**
 * Augments the indexed images of a [N, h, w, c] uint8 array and returns them normalised:
 * float32 [B, size, size, c]. Strong: MoCo v2 (crop, flip, colour jitter in a random order per
 * image, grayscale, blur); weak: crop and flip only. Draws every random number from rng.
 */
export function augmentBatch(
  images: Uint8Array,
  indices: ArrayLike<number>,
  src: ImageShape,
  opts: AugmentOptions,
  rng: Rng,
): tf.Tensor4D {
  const count = checkShape(src, images, 'src');
  checkNormalisation(opts, src.c);
  if (opts.strength !== 'weak' && opts.strength !== 'strong') {
    throw new IsdError('BAD_INPUT', `strength must be weak or strong, got ${String(opts.strength)}`, {
      field: 'strength',
    });
  }
  const B = indices.length;
  if (B === 0) throw new IsdError('BAD_INPUT', 'indices: an empty batch cannot be augmented', { field: 'indices' });
  const { size } = opts;
  const c = src.c;
  const strong = opts.strength === 'strong';
  const slots = c === 3 ? 4 : 2;

  // Draw every parameter first (JS only), image by image, so the stream is the same on any backend.
  const boxes = new Float32Array(B * 4);
  const plan: ColourPlan = {
    slotMatrices: Array.from({ length: slots }, () => new Float32Array(B * c * c)),
    slotMeanWeights: Array.from({ length: slots }, () => new Float32Array(B)),
    grayDrawn: new Uint8Array(B),
    blurSigmas: new Float64Array(B),
  };
  for (let b = 0; b < B; b++) {
    const crop = sampleCrop(src.h, src.w, rng);
    const flip = rng.next() < AUGMENT_RECIPE.flipP;
    boxes.set(cropAndResizeBox(crop, src.h, src.w, size, flip), b * 4);
    if (strong) drawColourAndBlur(plan, b, c, rng);
  }

  return tf.tidy(() => {
    const boxInd = tf.tensor1d(
      Int32Array.from({ length: B }, (_, i) => i),
      'int32',
    );
    if (!strong) {
      // Bilinear resampling commutes with a per-channel affine map: normalise the bytes, then crop.
      const x = gatherImages(images, indices, src, count, byteTable(c, opts), false); // [B, h, w, c], normalised
      return tf.image.cropAndResize(x, tf.tensor2d(boxes, [B, 4]), boxInd, [size, size], 'bilinear');
    }
    const x = gatherImages(images, indices, src, count, byteTable(c), true); // [B, h, w, c+1] in [0, 1], ones last
    const cropped = tf.image.cropAndResize(x, tf.tensor2d(boxes, [B, 4]), boxInd, [size, size], 'bilinear'); // [B, S, S, c+1]
    let flat = tf.reshape<tf.Rank.R3>(cropped, [B, size * size, c + 1]); // [B, P, c+1]
    for (let slot = 0; slot < slots; slot++) {
      const last = c === 1 && slot === slots - 1;
      flat = applyJitterSlot(flat, plan.slotMatrices[slot], plan.slotMeanWeights[slot], c, last ? c : c + 1);
    }
    if (c === 3) flat = tf.matMul(flat, tf.tensor3d(grayscaleMatrices(plan.grayDrawn), [B, 4, 3])); // [B, P, 3]
    // Blur (a delta kernel where not drawn) carries the normalisation for every image.
    const scale = opts.blurScale ?? 1;
    const sigmas = scale === 1 ? plan.blurSigmas : plan.blurSigmas.map((s) => s * scale);
    return gaussianBlurBatch(tf.reshape<tf.Rank.R4>(flat, [B, size, size, c]), sigmas, opts);
  });
}

/**
 * The indexed images without augmentation, normalised: float32 [B, size, size, c]. The whole image
 * is resized to size × size (bilinear, as the training crops) only when it is not that size already.
 */
export function toEvalBatch(
  images: Uint8Array,
  indices: ArrayLike<number>,
  src: ImageShape,
  opts: EvalBatchOptions,
): tf.Tensor4D {
  const count = checkShape(src, images, 'src');
  checkNormalisation(opts, src.c);
  const B = indices.length;
  if (B === 0) throw new IsdError('BAD_INPUT', 'indices: an empty batch has no images', { field: 'indices' });
  return tf.tidy(() => {
    const x = gatherImages(images, indices, src, count, byteTable(src.c, opts), false); // normalised
    if (src.h === opts.size && src.w === opts.size) return x;
    const box = cropAndResizeBox({ top: 0, left: 0, height: src.h, width: src.w }, src.h, src.w, opts.size, false);
    const boxes = new Float32Array(B * 4);
    for (let b = 0; b < B; b++) boxes.set(box, b * 4);
    const boxInd = tf.tensor1d(
      Int32Array.from({ length: B }, (_, i) => i),
      'int32',
    );
    return tf.image.cropAndResize(x, tf.tensor2d(boxes, [B, 4]), boxInd, [opts.size, opts.size], 'bilinear');
  });
}

/**
 * Per-channel mean and (population) std of a uint8 [N, H, W, c] image array, in [0, 1] units: the
 * normalisation for augmentBatch and toEvalBatch. Exact: from a 256-bin histogram per channel.
 */
export function computeChannelStats(images: Uint8Array, c: number): { mean: number[]; std: number[] } {
  if (c !== 1 && c !== 3) throw new IsdError('BAD_INPUT', `channels must be 1 or 3, got ${c}`, { field: 'channels' });
  if (images.length === 0 || images.length % c !== 0) {
    throw new IsdError(
      'BAD_INPUT',
      `images: ${images.length} bytes is not a non-empty whole number of ${c}-channel pixels`,
      { field: 'images' },
    );
  }
  const hist = new Float64Array(256 * c);
  if (c === 1) {
    for (let i = 0; i < images.length; i++) hist[images[i]]++;
  } else {
    for (let i = 0; i < images.length; i += 3) {
      hist[images[i]]++;
      hist[256 + images[i + 1]]++;
      hist[512 + images[i + 2]]++;
    }
  }
  const pixels = images.length / c;
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let v = 0; v < 256; v++) s += hist[ch * 256 + v] * (v / 255);
    const m = s / pixels;
    let ss = 0;
    for (let v = 0; v < 256; v++) ss += hist[ch * 256 + v] * (v / 255 - m) ** 2;
    mean.push(m);
    // a constant channel would divide by 0 when normalising: floor the std
    std.push(Math.max(Math.sqrt(ss / pixels), 1e-3));
  }
  return { mean, std };
}
