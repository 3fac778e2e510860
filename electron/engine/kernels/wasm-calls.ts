/**
 * Calling the wasm backend's own kernels from inside our kernels, below the engine: no tape, no
 * tensor bookkeeping, so intermediates cost nothing but their heap memory and must be released
 * with `release` (a kernel that leaks one shows up as a growing `backend.numDataIds()`).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type NamedInfos = Record<string, tf.TensorInfo>;
type Attrs = Record<string, unknown>;

/** The wasm backend's kernels as shipped, captured before we replace any of them. */
const shipped = new Map<string, tf.KernelConfig>();

/**
 * Remembers the shipped kernel for `name` so that an override can still fall back to it (its
 * setupFunc must then stay registered: the override carries it, see register.ts).
 */
export function captureShipped(name: string): tf.KernelConfig | undefined {
  if (!shipped.has(name)) {
    const config = tf.getKernel(name, 'wasm');
    if (config === undefined) return undefined;
    shipped.set(name, config);
  }
  return shipped.get(name);
}

/** The shipped kernel, or whatever is registered now when it was never replaced. */
function kernelFor(name: string): tf.KernelFunc {
  const own = shipped.get(name)?.kernelFunc ?? tf.getKernel(name, 'wasm')?.kernelFunc;
  if (own === undefined) throw new Error(`wasm backend has no ${name} kernel`);
  return own;
}

/** Runs one wasm kernel on TensorInfos; the caller owns (and must release) the output. */
export function call(backend: BackendWasm, name: string, inputs: NamedInfos, attrs: Attrs = {}): tf.TensorInfo {
  const out = kernelFor(name)({ inputs, backend, attrs: attrs as tf.NamedAttrMap });
  if (Array.isArray(out)) throw new Error(`${name} returned several outputs`);
  return out;
}

/** A new shape over the same data (no copy). It shares the input's reference: release only one of the two. */
export function view(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

/** What subView needs of the backend beyond its public type. */
interface WasmInternals {
  dataIdMap: { delete(dataId: object): void };
  wasm: { tfjs: { disposeData(id: number): void } };
}

/**
 * `shape` over x's data from element `start` on, without a copy (as a kernel input only). Release it
 * with releaseSubView, never release(): its memory belongs to x.
 */
export function subView(backend: BackendWasm, x: tf.TensorInfo, start: number, shape: number[]): tf.TensorInfo {
  return backend.makeOutput(shape, x.dtype, backend.getMemoryOffset(x.dataId) + start * 4);
}

/** Forgets a subView (the backend's bookkeeping only: the memory stays x's). */
export function releaseSubView(backend: BackendWasm, v: tf.TensorInfo): void {
  const internals = backend as unknown as WasmInternals;
  internals.wasm.tfjs.disposeData((v.dataId as { id: number }).id);
  internals.dataIdMap.delete(v.dataId);
}

/** Frees intermediates made by `call` (not views of them, not kernel inputs). */
export function release(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

export function transpose(backend: BackendWasm, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return call(backend, 'Transpose', { x }, { perm });
}

/** Float32 view of a tensor's memory on the wasm heap (valid until the heap grows: use at once). */
export function heapF32(backend: BackendWasm, x: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(x) as Float32Array;
}
