/**
 * The two gradients of Conv2D on the wasm backend, built on its fast forward convolution (XNNPACK):
 *
 * - Conv2DBackpropInput (shipped as a naive loop): stride 1, the output gradient padded and
 *   convolved with the filter flipped in space and transposed in channels; stride s, all s×s output
 *   phases as one convolution of dy interleaved by a transpose (backpropInputStrided), else dy
 *   dilated by the stride (a reshape and a pad, no slices) and convolved as for stride 1.
 * - Conv2DBackpropFilter (not shipped at all): a convolution of the input transposed to
 *   [Ci, H, W, N] with the output gradient transposed to [Ho, Wo, N, Co] as its filter, dilated by
 *   the stride; the batch becomes the contraction axis and the result is [Ci, kh, kw, Co]. Large
 *   layers split the batch into groups whose dy fits the L2 cache and sum the groups' results.
 *
 * The input gradient falls back to the shipped kernel for what it does not cover (NCHW, paddings
 * larger than the filter); the filter gradient supports NHWC only (wasm's Conv2D does too).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { call, captureShipped, heapF32, release, transpose, view } from './wasm-calls';

type ConvInfo = tf.backend_util.Conv2DInfo;

function convInfoOf(inShape: number[], filterShape: number[], attrs: tf.NamedAttrMap): ConvInfo {
  const fmt = tf.backend_util.convertConv2DDataFormat((attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC');
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'valid' | 'same' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    fmt,
  );
}

function explicitPad(top: number, bottom: number, left: number, right: number): tf.backend_util.ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** dx [N, H, W, Ci] from dy [N, Ho, Wo, Co] and filter [kh, kw, Ci, Co]. */
function conv2DBackpropInput({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const dy = inputs.dy as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  const a = attrs ?? {};
  const info = convInfoOf(a.inputShape as number[], filter.shape, a);
  const { batchSize: n, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
  const { inHeight, inWidth, outHeight: ho, outWidth: wo, outChannels: co } = info;
  // The stride-dilated gradient: [N, Ho, 1, Wo, 1, Co] padded to [N, Ho, sh, Wo, sw, Co], i.e. each
  // value followed by sh-1 zero rows and sw-1 zero columns, so (sh-1) extra rows trail the last one.
  const srcH = ho * sh;
  const srcW = wo * sw;
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  const bottom = inHeight + kh - 1 - top - srcH;
  const right = inWidth + kw - 1 - left - srcW;
  if (info.dataFormat !== 'channelsLast') return shippedBackpropInput({ inputs, backend, attrs: a });
  if (sh > 1 || sw > 1) {
    const viaDepth = backpropInputStrided(wasm, dy, filter, info);
    if (viaDepth !== null) return viaDepth;
  }
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return shippedBackpropInput({ inputs, backend, attrs: a });
  // W'[a, b, co, ci] = W[kh-1-a, kw-1-b, ci, co]: [kh, kw, Co, Ci]
  const flipped = call(wasm, 'Reverse', { x: filter }, { dims: [0, 1] });
  const wT = transpose(wasm, flipped, [0, 1, 3, 2]);
  release(wasm, flipped);
  let src = dy;
  let dilated: tf.TensorInfo | null = null;
  if (sh > 1 || sw > 1) {
    dilated = call(
      wasm,
      'PadV2',
      { x: view(dy, [n, ho, 1, wo, 1, co]) },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    src = view(dilated, [n, srcH, srcW, co]);
  }
  const dx = call(
    wasm,
    'Conv2D',
    { x: src, filter: wT },
    { strides: [1, 1], pad: explicitPad(top, bottom, left, right), dataFormat: 'NHWC', dilations: [1, 1] },
  );
  release(wasm, wT);
  if (dilated !== null) release(wasm, dilated);
  return dx;
}

/** Phases of one axis: for output row u = s·p + r, tap a of the filter meets dy row p − t. */
interface AxisPhases {
  /** taps[r] lists [a, t] pairs. */
  taps: [number, number][][];
  tMin: number;
  tMax: number;
}

function axisPhases(k: number, s: number, pad: number): AxisPhases {
  const taps: [number, number][][] = [];
  let tMin = Infinity;
  let tMax = -Infinity;
  for (let r = 0; r < s; r++) {
    const list: [number, number][] = [];
    for (let a = 0; a < k; a++) {
      const d = a - pad - r;
      if (d % s === 0) {
        const t = d / s;
        list.push([a, t]);
        tMin = Math.min(tMin, t);
        tMax = Math.max(tMax, t);
      }
    }
    taps.push(list);
  }
  return { taps, tMin, tMax };
}

/**
 * The input gradient of a strided convolution without the zeros of a dilated dy: each of the
 * s×s output phases (row mod s, column mod s) is a small convolution of dy with the filter taps of
 * that phase. All phases share one convolution whose s²·Ci output channels a transpose then
 * interleaves (a DepthToSpace): [N, Ho', Wo', s²·Ci] → [N, s·Ho', s·Wo', Ci]. For 3×3 stride 2 that is 16 multiplies
 * per dy value and channel pair where the dilated form does 36 (and the direct sum 9).
 * Null when the input size is not a multiple of the stride (the result would need a crop).
 */
function backpropInputStrided(
  wasm: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: ConvInfo,
): tf.TensorInfo | null {
  const { strideHeight: s, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: h, inWidth: w } = info;
  const { outHeight: ho, outWidth: wo, inChannels: ci, outChannels: co } = info;
  if (s !== sw || h % s !== 0 || w % s !== 0) return null;
  const rows = axisPhases(kh, s, info.padInfo.top);
  const cols = axisPhases(kw, s, info.padInfo.left);
  if (!Number.isFinite(rows.tMin) || !Number.isFinite(cols.tMin)) return null;
  const th = rows.tMax - rows.tMin + 1;
  const tw = cols.tMax - cols.tMin + 1;
  const top = rows.tMax;
  const left = cols.tMax;
  const bottom = h / s + th - 1 - ho - top;
  const right = w / s + tw - 1 - wo - left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return null;
  // G[m, m', co, (r, r', ci)] = W[a, b, ci, co] for the taps of phase (r, r') with t = tMax − m.
  const wv = wasm.typedArrayFromHeap(filter) as Float32Array;
  const depth = s * s * ci;
  const g = new Float32Array(th * tw * co * depth);
  for (let r = 0; r < s; r++) {
    for (const [a, t] of rows.taps[r]) {
      const m = rows.tMax - t;
      for (let r2 = 0; r2 < s; r2++) {
        for (const [b, t2] of cols.taps[r2]) {
          const m2 = cols.tMax - t2;
          const phase = (r * s + r2) * ci;
          for (let c = 0; c < ci; c++) {
            const src = ((a * kw + b) * ci + c) * co;
            for (let o = 0; o < co; o++) g[((m * tw + m2) * co + o) * depth + phase + c] = wv[src + o];
          }
        }
      }
    }
  }
  const gInfo = wasm.makeOutput([th, tw, co, depth], 'float32', undefined, g);
  const z = call(
    wasm,
    'Conv2D',
    { x: dy, filter: gInfo },
    { strides: [1, 1], pad: explicitPad(top, bottom, left, right), dataFormat: 'NHWC', dilations: [1, 1] },
  );
  release(wasm, gInfo);
  // DepthToSpace as a transpose (the shipped DepthToSpace is ~10× slower): z [N·P, Q, s, s·Ci] with
  // axes (row phase r, column phase r'·ci) → [N·P, s, Q, s·Ci], which is dx [N, s·P, s·Q, Ci].
  const [n, p, q] = z.shape;
  const dx = transpose(wasm, view(z, [n * p, q, s, s * ci]), [0, 2, 1, 3]);
  release(wasm, z);
  return view(dx, [n, s * p, s * q, ci]);
}

/** dW [kh, kw, Ci, Co] from x [N, H, W, Ci] and dy [N, Ho, Wo, Co]. */
function conv2DBackpropFilter({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const wasm = backend as BackendWasm;
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const a = attrs ?? {};
  const filterShape = a.filterShape as number[];
  const info = convInfoOf(x.shape, filterShape, a);
  if (info.dataFormat !== 'channelsLast') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = info;
  let { outHeight: ho, outWidth: wo } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  // The convolution's output height is h + top + bottom - (ho-1)*sh, which must be kh. Rows of x
  // past the last one the forward pass read make `bottom` negative: zero rows appended to dy (they
  // add nothing to the sums) shift it back by sh each.
  let bottom = kh + (ho - 1) * sh - h - top;
  let right = kw + (wo - 1) * sw - w - left;
  const extraRows = bottom < 0 ? Math.ceil(-bottom / sh) : 0;
  const extraCols = right < 0 ? Math.ceil(-right / sw) : 0;
  let grad = dy;
  let padded: tf.TensorInfo | null = null;
  if (extraRows > 0 || extraCols > 0) {
    padded = call(
      wasm,
      'PadV2',
      { x: dy },
      {
        paddings: [
          [0, 0],
          [0, extraRows],
          [0, extraCols],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    grad = padded;
    ho += extraRows;
    wo += extraCols;
    bottom += extraRows * sh;
    right += extraCols * sw;
  }
  if (top < 0 || left < 0) throw new Error('Conv2DBackpropFilter on wasm: negative padding');
  const n = x.shape[0];
  const ci = x.shape[3];
  const co = grad.shape[3];
  const groups = batchGroups(n, ho * wo * co);
  const pad = explicitPad(top, bottom, left, right);
  let out: tf.TensorInfo; // [Ci, kh, kw, Co]
  if (groups === 1) {
    const xT = transpose(wasm, x, [3, 1, 2, 0]); // [Ci, H, W, N]
    const dyT = transpose(wasm, grad, [1, 2, 0, 3]); // [Ho, Wo, N, Co]
    if (padded !== null) release(wasm, padded);
    out = call(
      wasm,
      'Conv2D',
      { x: xT, filter: dyT },
      { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [sh, sw] },
    );
    release(wasm, xT, dyT);
  } else {
    // The same, summed over groups of images: [G, n, ·, ·] transposed so that each group's
    // [Ci, H, W, n] and [Ho, Wo, n, Co] blocks are contiguous, then copied out one group at a time.
    const g = n / groups;
    const xT = transpose(wasm, view(x, [groups, g, h * w, ci]), [0, 3, 2, 1]); // [G, Ci, H·W, n]
    const dyT = transpose(wasm, view(grad, [groups, g, ho * wo, co]), [0, 2, 1, 3]); // [G, Ho·Wo, n, Co]
    if (padded !== null) release(wasm, padded);
    const sum = new Float32Array(ci * kh * kw * co);
    for (let k = 0; k < groups; k++) {
      const xg = copyBlock(wasm, xT, k, [ci, h, w, g]);
      const dyg = copyBlock(wasm, dyT, k, [ho, wo, g, co]);
      const part = call(
        wasm,
        'Conv2D',
        { x: xg, filter: dyg },
        { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [sh, sw] },
      );
      release(wasm, xg, dyg);
      const pv = heapF32(wasm, part);
      for (let i = 0; i < sum.length; i++) sum[i] += pv[i];
      release(wasm, part);
    }
    release(wasm, xT, dyT);
    out = wasm.makeOutput([ci, kh, kw, co], 'float32', undefined, sum);
  }
  const dW = transpose(wasm, out, [1, 2, 0, 3]);
  release(wasm, out);
  return dW;
}

/**
 * Bytes of dy per group when the filter-gradient convolution is split by images (ISD_WASM_DW_GROUP_BYTES
 * overrides it, for tests and tuning; ISD_WASM_DW_GROUPS=1 never splits). Only a dy over 4× this is
 * split: in an interleaved A/B on resnet20's layers (batch 128, 1 thread) the split took the 28×28×16
 * layers from 50 to 35 ms (best of 11) and gave nothing, or lost, on the smaller ones.
 */
function groupBytes(): number {
  const v = Number(process.env.ISD_WASM_DW_GROUP_BYTES);
  return Number.isFinite(v) && v > 0 ? v : 1 << 20;
}

/**
 * Groups of images for the filter gradient. As one convolution its packed filter (dy, Ho·Wo·N·Co
 * values) is re-read from memory for every row tile of the small [9·Ci, Co] output; split into
 * groups whose share stays within the L2 cache (~1 MB) it is re-read from there. Groups keep at
 * least 16 images (the contraction per filter tap) and divide the batch.
 */
function batchGroups(n: number, perImage: number): number {
  if (process.env.ISD_WASM_DW_GROUPS === '1') return 1;
  const limit = groupBytes();
  let best = 1;
  for (let groups = 2; n / groups >= 16; groups++) {
    if (n % groups !== 0) continue;
    best = groups;
    if ((n / groups) * perImage * 4 <= limit) break;
  }
  return best > 1 && n * perImage * 4 > 4 * limit ? best : 1;
}

/** A fresh tensor holding block k of x's outermost axis (a memcpy on the heap). */
function copyBlock(wasm: BackendWasm, x: tf.TensorInfo, k: number, shape: number[]): tf.TensorInfo {
  const size = shape.reduce((p, d) => p * d, 1);
  const out = wasm.makeOutput(shape, 'float32');
  const src = heapF32(wasm, x);
  heapF32(wasm, out).set(src.subarray(k * size, (k + 1) * size));
  return out;
}

let shippedInput: tf.KernelFunc | undefined;
function shippedBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
  if (shippedInput === undefined) throw new Error('wasm backend has no Conv2DBackpropInput kernel');
  return shippedInput(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

export function conv2dBackpropKernels(): tf.KernelConfig[] {
  shippedInput = captureShipped('Conv2DBackpropInput')?.kernelFunc;
  return [
    { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInput as tf.KernelFunc },
    { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as tf.KernelFunc },
  ];
}
