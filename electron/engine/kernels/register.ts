/**
 * Registers our training kernels for the 'wasm' backend, replacing shipped ones where ours are
 * faster. Model code keeps using the standard ops (tf.conv2d, tf.matMul, ...); their gradients reach
 * these kernels through the kernel registry.
 */
import * as tf from '@tensorflow/tfjs';
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

/**
 * Idempotent. Call before the wasm backend starts (initBackend does), so that setup functions run.
 * Returns the kernel names now served by our code.
 */
export function registerWasmTrainingKernels(): string[] {
  if (registered !== null) return registered;
  const configs = [...conv2dBackpropKernels(), ...reductionKernels(shipped), ...broadcastBinaryKernels(shipped), ...batchMatMulKernels(shipped), ...zeroCopyKernels(shipped)];
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
