/**
 * Registers our training kernels for the 'wasm' backend, replacing shipped ones where ours are
 * faster. Model code keeps using the standard ops (tf.conv2d, tf.matMul, ...); their gradients reach
 * these kernels through the kernel registry.
 */
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../../errors';
import { batchMatMulKernels } from './batch-matmul';
import { broadcastBinaryKernels } from './broadcast-binary';
import { conv2dBackpropKernels } from './conv2d-backprop';
import { reductionKernels } from './reductions';
import { captureShipped } from './wasm-calls';
import { zeroCopyKernels } from './zero-copy';

/** The shipped kernel function for `name` (captured before any override). */
function shipped(name: string): tf.KernelFunc {
  const config = captureShipped(name);
  if (config === undefined) throw new Error(`wasm backend has no ${name} kernel`);
  return config.kernelFunc;
}

let registered: string[] | null = null;

/** Kernels that replace a shipped one and may be left out (ISD_WASM_KERNELS_OFF) to measure what each gives. */
export const OPTIONAL_KERNELS = [
  'Conv2DBackpropInput',
  'Sum',
  'Mean',
  'Multiply',
  'Add',
  'Sub',
  'RealDiv',
  'BatchMatMul',
  'Identity',
  'Cast',
] as const;

/**
 * Idempotent. Call before the wasm backend starts (initBackend does), so that setup functions run.
 * ISD_WASM_KERNELS_OFF (comma-separated names from OPTIONAL_KERNELS) keeps the shipped kernels for
 * those: for benchmarks that measure each replacement's gain. Returns the kernel names now served by
 * our code.
 */
export function registerWasmTrainingKernels(): string[] {
  if (registered !== null) return registered;
  const off = new Set(
    (process.env.ISD_WASM_KERNELS_OFF ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const name of off) {
    if (!(OPTIONAL_KERNELS as readonly string[]).includes(name)) {
      throw new IsdError('BAD_INPUT', `ISD_WASM_KERNELS_OFF: '${name}' is not one of ${OPTIONAL_KERNELS.join(', ')}`, {
        field: 'ISD_WASM_KERNELS_OFF',
      });
    }
  }
  const all = [
    ...conv2dBackpropKernels(),
    ...reductionKernels(shipped),
    ...broadcastBinaryKernels(shipped),
    ...batchMatMulKernels(shipped),
    ...zeroCopyKernels(shipped),
  ];
  const configs = all.filter((c) => !off.has(c.kernelName));
  for (const config of configs) {
    // The shipped kernel's setup (cwrap of its C function) still runs at backend start, so that
    // our kernel can fall back to it.
    const own = captureShipped(config.kernelName);
    if (tf.getKernel(config.kernelName, 'wasm') !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, setupFunc: config.setupFunc ?? own?.setupFunc });
  }
  registered = configs.map((c) => c.kernelName);
  return registered;
}
