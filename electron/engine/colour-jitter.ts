/**
 * Colour jitter as per-image 3×3 (or 1×1) matrices on row-vector pixels: brightness, contrast,
 * saturation and hue (a YIQ chroma rotation), and grayscale; the strong recipe in augment.ts draws
 * their factors and applies them a slot at a time.
 */
import * as tf from '@tensorflow/tfjs';

/** ITU-R 601 luma weights, as torchvision's rgb_to_grayscale. */
export const GRAY = [0.2989, 0.587, 0.114];

/** RGB → YIQ (NTSC); rows give Y, I, Q. Its inverse is computed once below. */
const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.596, -0.274, -0.322],
  [0.211, -0.523, 0.312],
];
const YIQ_TO_RGB = invert3(RGB_TO_YIQ);

export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';

/**
 * One colour-jitter op as "x ← clamp(x·M + β·mean(gray(x)), 0, 1)" on row-vector pixels: writes the
 * c × c matrix M at m[offset…] and returns β. Brightness: M = f·I. Contrast: M = f·I, β = 1 − f.
 * Saturation: blend with the pixel's gray. Hue: YIQ chroma rotation by 2π·f (see the file comment).
 */
export function jitterOpMatrix(op: JitterOp, f: number, c: number, m: Float32Array, offset = 0): number {
  const set = (i: number, j: number, v: number) => {
    m[offset + i * c + j] = v;
  };
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) set(i, j, 0);
  if (op === 'brightness' || op === 'contrast') {
    for (let i = 0; i < c; i++) set(i, i, f);
    return op === 'contrast' ? 1 - f : 0;
  }
  if (op === 'saturation') {
    // x' = f·x + (1 − f)·gray(x) on every channel: M[i][j] = f·δij + (1 − f)·gray_i
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) set(i, j, (i === j ? f : 0) + (1 - f) * GRAY[i]);
    return 0;
  }
  // hue: rotate (I, Q) by −2πf; HSV hue grows R → Y → G while the YIQ angle falls along that path
  const a = -2 * Math.PI * f;
  const rot = [
    [1, 0, 0],
    [0, Math.cos(a), -Math.sin(a)],
    [0, Math.sin(a), Math.cos(a)],
  ];
  const col = matMul3(YIQ_TO_RGB, matMul3(rot, RGB_TO_YIQ)); // column form: x' = col · x
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) set(i, j, col[j][i]);
  return 0;
}

export function setIdentity(m: Float32Array, offset: number, c: number): void {
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) m[offset + i * c + j] = i === j ? 1 : 0;
}

/**
 * One jitter slot for the batch on pixels carrying a ones channel: x [B, P, C+1] → [B, P, cOut],
 * clamp(x·M', 0, 1) with M' = [[M, 0], [β·mean(gray(x)), 1]] built per image from the current
 * x, so the per-image offset needs no broadcast add over the whole batch (slow on threaded wasm).
 * cOut = C drops the ones channel (the last slot of a one-channel image).
 */
export function applyJitterSlot(
  x: tf.Tensor3D,
  matrices: Float32Array,
  meanWeights: Float32Array,
  c: number,
  cOut: number,
): tf.Tensor3D {
  const B = x.shape[0];
  const c1 = c + 1;
  const base = new Float32Array(B * c1 * cOut); // [B, C+1, cOut]: M, and the ones channel carried
  const offset = new Float32Array(B * c1 * cOut); // [B, C+1, cOut]: β on the ones row, scaled by mean gray below
  for (let b = 0; b < B; b++) {
    const o = b * c1 * cOut;
    for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) base[o + i * cOut + j] = matrices[b * c * c + i * c + j];
    if (cOut > c) base[o + c * cOut + c] = 1;
    for (let j = 0; j < c; j++) offset[o + c * cOut + j] = meanWeights[b];
  }
  const grayWeights = tf.tensor1d(c === 3 ? [...GRAY, 0] : [1, 0]);
  const grayMean = tf.sum(tf.mul(tf.mean(x, 1, true), grayWeights), 2, true); // [B, 1, 1]
  const m = tf.add(tf.tensor3d(base, [B, c1, cOut]), tf.mul(grayMean, tf.tensor3d(offset, [B, c1, cOut]))); // [B, C+1, cOut]
  return tf.clipByValue(tf.matMul(x, m), 0, 1) as tf.Tensor3D;
}

/** Grayscale (for images drawn) and the ones channel dropped: [B, 4, 3] row-vector matrices. */
export function grayscaleMatrices(grayDrawn: Uint8Array): Float32Array {
  const B = grayDrawn.length;
  const m = new Float32Array(B * 12);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) m[b * 12 + i * 3 + j] = grayDrawn[b] ? GRAY[i] : i === j ? 1 : 0;
  return m;
}

function matMul3(a: number[][], b: number[][]): number[][] {
  return a.map((row) => [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j]));
}

function invert3(m: number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}
