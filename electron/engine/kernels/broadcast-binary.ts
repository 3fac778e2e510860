/**
 * Elementwise Multiply, Add, Sub and RealDiv of an activation [..., C] with a per-channel vector
 * [C] (or [1, …, 1, C], or a scalar): BatchNorm's scale and shift, biases, their gradients. The
 * shipped kernels take a slow broadcasting path for these (5–15× slower than same-shape ones); a
 * 1×1 depthwise convolution with the vector as its filter and/or bias is the same arithmetic
 * (x·f + b per channel) on XNNPACK's fast, threaded path.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { call, heapF32, release, releaseSubView, subView, view } from './wasm-calls';

/** Below this many elements the shipped kernels are as fast. */
const MIN_SIZE = 8192;

type Op = 'Multiply' | 'Add' | 'Sub' | 'RealDiv';
type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Whether v broadcasts against big only along the last axis (or is a single value). */
function isChannelVector(v: tf.TensorInfo, big: tf.TensorInfo): boolean {
  const size = v.shape.reduce((p, d) => p * d, 1);
  if (size === 1) return v.shape.length <= big.shape.length;
  const c = big.shape[big.shape.length - 1];
  if (v.shape.length > big.shape.length || v.shape[v.shape.length - 1] !== c) return false;
  return v.shape.slice(0, -1).every((d) => d === 1);
}

/** big [..., C] viewed as the [A, B, 1, C] image the depthwise convolution runs on. */
function asImage(big: tf.TensorInfo): tf.TensorInfo {
  const c = big.shape[big.shape.length - 1];
  const a = big.shape.length > 1 ? big.shape[0] : 1;
  const p = big.shape.reduce((s, d) => s * d, 1) / c;
  return view(big, [a, p / a, 1, c]);
}

/** x·scale + bias per channel, with scale and bias given as JS arrays of length C. */
function channelAffine(
  wasm: BackendWasm,
  big: tf.TensorInfo,
  scale: Float32Array,
  bias: Float32Array | null,
): tf.TensorInfo {
  const c = scale.length;
  const filter = wasm.makeOutput([1, 1, c, 1], 'float32', undefined, scale);
  const inputs: Record<string, tf.TensorInfo> = { x: asImage(big), filter };
  let biasInfo: tf.TensorInfo | null = null;
  if (bias !== null) {
    biasInfo = wasm.makeOutput([c], 'float32', undefined, bias);
    inputs.bias = biasInfo;
  }
  const out = call(wasm, bias !== null ? 'FusedDepthwiseConv2D' : 'DepthwiseConv2dNative', inputs, {
    strides: [1, 1],
    pad: 'valid',
    dilations: [1, 1],
    dataFormat: 'NHWC',
    activation: 'linear',
  });
  release(wasm, filter);
  if (biasInfo !== null) release(wasm, biasInfo);
  return view(out, big.shape);
}

/** The vector's values spread to C channels. */
function channelValues(wasm: BackendWasm, v: tf.TensorInfo, c: number): Float32Array {
  const src = heapF32(wasm, v);
  return src.length === 1 ? new Float32Array(c).fill(src[0]) : new Float32Array(src);
}

/** x·scale + bias per channel that `op` is, for the vector values v (bigIsA: big is the left operand). */
function affineOf(op: Op, bigIsA: boolean, v: Float32Array): [Float32Array, Float32Array | null] {
  const ones = () => new Float32Array(v.length).fill(1);
  switch (op) {
    case 'Multiply':
      return [v, null];
    case 'RealDiv':
      return [v.map((d) => 1 / d), null];
    case 'Add':
      return [ones(), v];
    case 'Sub':
      // a − v = a·1 + (−v);  v − b = b·(−1) + v
      return bigIsA ? [ones(), v.map((d) => -d)] : [new Float32Array(v.length).fill(-1), v];
  }
}

/**
 * Whether v is one channel vector per leading index of big: v [G, 1, …, 1, C] against big [G, …, C]
 * (grouped BatchNorm's statistics, batch-norm.ts).
 */
function isGroupedChannelVector(v: tf.TensorInfo, big: tf.TensorInfo): boolean {
  const r = big.shape.length;
  if (v.shape.length !== r || r < 3 || v.shape[0] < 2 || v.shape[0] !== big.shape[0]) return false;
  return v.shape[r - 1] === big.shape[r - 1] && v.shape.slice(1, -1).every((d) => d === 1);
}

/** channelAffine on each leading slice of big with its own vector: one fast pass per group and a copy. */
function groupedAffine(wasm: BackendWasm, big: tf.TensorInfo, op: Op, bigIsA: boolean, vec: tf.TensorInfo) {
  const groups = big.shape[0];
  const c = big.shape[big.shape.length - 1];
  const per = big.shape.reduce((p, d) => p * d, 1) / groups;
  const values = new Float32Array(heapF32(wasm, vec)); // [G·C], copied: the heap may grow below
  const out = wasm.makeOutput(big.shape, 'float32');
  const sliceShape = [1, ...big.shape.slice(1)];
  for (let g = 0; g < groups; g++) {
    const part = subView(wasm, big, g * per, sliceShape);
    const [scale, bias] = affineOf(op, bigIsA, values.subarray(g * c, (g + 1) * c));
    const y = channelAffine(wasm, part, scale, bias);
    heapF32(wasm, out).set(heapF32(wasm, y), g * per);
    release(wasm, y);
    releaseSubView(wasm, part);
  }
  return out;
}

function binary(op: Op, args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const wasm = args.backend as BackendWasm;
  const a = args.inputs.a as tf.TensorInfo;
  const b = args.inputs.b as tf.TensorInfo;
  const slow = () => fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return slow();
  const aSize = a.shape.reduce((p, d) => p * d, 1);
  const bSize = b.shape.reduce((p, d) => p * d, 1);
  const bigIsA = aSize >= bSize;
  const big = bigIsA ? a : b;
  const vec = bigIsA ? b : a;
  if (Math.max(aSize, bSize) < MIN_SIZE || aSize === bSize) return slow();
  if (op === 'RealDiv' && !bigIsA) return slow();
  if (isGroupedChannelVector(vec, big)) return groupedAffine(wasm, big, op, bigIsA, vec);
  if (!isChannelVector(vec, big)) return slow();
  const c = big.shape[big.shape.length - 1];
  const [scale, bias] = affineOf(op, bigIsA, channelValues(wasm, vec, c));
  return channelAffine(wasm, big, scale, bias);
}

export function broadcastBinaryKernels(shipped: (name: string) => tf.KernelFunc): tf.KernelConfig[] {
  return (['Multiply', 'Add', 'Sub', 'RealDiv'] as const).map((op) => {
    const fallback = shipped(op);
    return {
      kernelName: op,
      backendName: 'wasm',
      kernelFunc: ((args: KernelArgs) => binary(op, args, fallback)) as tf.KernelFunc,
    };
  });
}
