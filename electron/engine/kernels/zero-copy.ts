/**
 * Identity and same-type Cast without a copy. The engine clones every tensor a gradient saves for
 * the backward pass (Identity) and the relu gradient casts float32 to float32; on wasm both copied
 * the data, doubling the activations kept alive during a training step. Tensors are immutable and
 * no wasm kernel writes into its inputs, so the copy can share the data by reference count, as the
 * cpu backend and wasm's own Reshape do.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function shared(wasm: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  wasm.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function zeroCopyKernels(shipped: (name: string) => tf.KernelFunc): tf.KernelConfig[] {
  const identity = shipped('Identity');
  const cast = shipped('Cast');
  return [
    {
      kernelName: 'Identity',
      backendName: 'wasm',
      kernelFunc: ((args: KernelArgs) => {
        const x = args.inputs.x as tf.TensorInfo;
        return x.dtype === 'string'
          ? identity(args as Parameters<tf.KernelFunc>[0])
          : shared(args.backend as BackendWasm, x);
      }) as tf.KernelFunc,
    },
    {
      kernelName: 'Cast',
      backendName: 'wasm',
      kernelFunc: ((args: KernelArgs) => {
        const x = args.inputs.x as tf.TensorInfo;
        return x.dtype === args.attrs?.dtype && x.dtype !== 'string'
          ? shared(args.backend as BackendWasm, x)
          : cast(args as Parameters<tf.KernelFunc>[0]);
      }) as tf.KernelFunc,
    },
  ];
}
