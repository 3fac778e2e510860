/**
 * Sum and Mean over every axis but the last ([N, H, W, C] → [C]: BatchNorm's statistics, bias and
 * BatchNorm gradients), and over the spatial axes ([N, H, W, C] → [N, C]: global average pooling). The shipped kernels transpose the input so the reduced axes come last and
 * then reduce on one thread; XNNPACK's average pooling reads it once, on every thread:
 * x viewed as [A, B, 1, C] is pooled over B to [A, C], and the small rest is reduced as shipped.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { call, heapF32, release, view } from './wasm-calls';

/** Below this many elements the shipped kernels are as fast. */
const MIN_SIZE = 8192;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** [A, B] with A·B = the product of all but the last axis, pooling B; null when the pattern does not apply. */
function leadingAxesSplit(x: tf.TensorInfo, axis: number | number[]): [number, number] | null {
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank < 2 || x.shape.reduce((p, d) => p * d, 1) < MIN_SIZE) return null;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  if (axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return null;
  const lead = x.shape.slice(0, -1);
  const p = lead.reduce((s, d) => s * d, 1);
  // Pool over everything after the first axis; a rank-2 input pools over row blocks instead.
  let a = rank > 2 ? lead[0] : 1;
  if (rank === 2) {
    for (let d = Math.min(128, p); d > 1; d--) {
      if (p % d === 0) {
        a = d;
        break;
      }
    }
  }
  const b = p / a;
  return b > 1 ? [a, b] : null;
}

/** Whether the reduction is over the two spatial axes of [N, H, W, C] (a global average pool). */
function isSpatial(x: tf.TensorInfo, axis: number | number[]): boolean {
  if (x.dtype !== 'float32' || x.shape.length !== 4 || x.shape.reduce((p, d) => p * d, 1) < MIN_SIZE) return false;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  return axes.length === 2 && axes[0] === 1 && axes[1] === 2;
}

/** [N, H, W, C] → [N, C] (or [N, 1, 1, C]) by one average pool; a sum scales it by H·W. */
function reduceSpatial(name: 'Sum' | 'Mean', wasm: BackendWasm, x: tf.TensorInfo, keepDims: boolean): tf.TensorInfo {
  const [n, h, w, c] = x.shape;
  const pooled = call(wasm, 'AvgPool', { x }, { filterSize: [h, w], strides: [1, 1], pad: 'valid' }); // [N, 1, 1, C]
  if (name === 'Sum') {
    const v = heapF32(wasm, pooled);
    for (let i = 0; i < v.length; i++) v[i] *= h * w; // our own fresh output: safe to scale in place
  }
  return view(pooled, keepDims ? [n, 1, 1, c] : [n, c]);
}

function reduceLeading(name: 'Sum' | 'Mean', args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const wasm = args.backend as BackendWasm;
  const x = args.inputs.x as tf.TensorInfo;
  const attrs = args.attrs ?? {};
  if (isSpatial(x, attrs.axis as number | number[])) return reduceSpatial(name, wasm, x, attrs.keepDims === true);
  const split = leadingAxesSplit(x, attrs.axis as number | number[]);
  if (split === null) return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const [a, b] = split;
  const c = x.shape[x.shape.length - 1];
  const pooled = call(
    wasm,
    'AvgPool',
    { x: view(x, [a, b, 1, c]) },
    { filterSize: [b, 1], strides: [1, 1], pad: 'valid' },
  ); // [A, 1, 1, C]
  let out: tf.TensorInfo;
  if (a === 1) {
    out = pooled;
  } else {
    out = fallback({
      inputs: { x: view(pooled, [a, c]) },
      backend: wasm,
      attrs: { axis: [0], keepDims: false },
    }) as tf.TensorInfo; // [C]
    release(wasm, pooled);
  }
  if (name === 'Sum') {
    // The pooled values are means over B: the sum is b times the result.
    const scaled = wasm.makeOutput([c], 'float32');
    const dst = wasm.typedArrayFromHeap(scaled) as Float32Array;
    const src = wasm.typedArrayFromHeap(view(out, [c])) as Float32Array;
    for (let i = 0; i < c; i++) dst[i] = src[i] * b;
    release(wasm, out);
    out = scaled;
  }
  const shape = attrs.keepDims ? x.shape.map((d, i) => (i === x.shape.length - 1 ? d : 1)) : [c];
  return view(out, shape);
}

export function reductionKernels(shipped: (name: string) => tf.KernelFunc): tf.KernelConfig[] {
  const sum = shipped('Sum');
  const mean = shipped('Mean');
  return [
    {
      kernelName: 'Sum',
      backendName: 'wasm',
      kernelFunc: ((args: KernelArgs) => reduceLeading('Sum', args, sum)) as tf.KernelFunc,
    },
    {
      kernelName: 'Mean',
      backendName: 'wasm',
      kernelFunc: ((args: KernelArgs) => reduceLeading('Mean', args, mean)) as tf.KernelFunc,
    },
  ];
}
