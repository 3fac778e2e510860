/**
 * GFLOP/s of each convolution shape of resnet20 (28×28×1 input, batch 128), forward and both
 * gradients, on the chosen backend (wasm with our kernels by default; --backend webgpu, tensorflow,
 * cpu), plus the step's total of convolution time per part.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-kernels.js [--threads N] [--batch 128] [--reps 5] [--json]
 *
 * Each figure is the best of --reps runs (the machine may be shared: best-of is the least noisy).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../electron/engine/backend';
import { exitCodeFor } from '../electron/errors';

/** [input side, in channels, out channels, filter, stride, how many in one resnet20] */
const SHAPES: [number, number, number, number, number, number][] = [
  [28, 1, 16, 3, 1, 1],
  [28, 16, 16, 3, 1, 6],
  [28, 16, 32, 3, 2, 1],
  [28, 16, 32, 1, 2, 1],
  [14, 32, 32, 3, 1, 5],
  [14, 32, 64, 3, 2, 1],
  [14, 32, 64, 1, 2, 1],
  [7, 64, 64, 3, 1, 5],
];

/**
 * Best time of f, ms. wasm and cpu run kernels synchronously: no read-back (copying a 6 MB result
 * out of the wasm heap costs ~3 ms, 15 % of a convolution); tensorflow and webgpu queue work on a
 * GPU, so there the result is read back (with data(): webgpu cannot read synchronously in Node).
 */
async function bestMs(reps: number, f: () => tf.Tensor, readBack: boolean): Promise<number> {
  let best = Infinity;
  for (let i = -1; i < reps; i++) {
    const t0 = performance.now();
    const y = f();
    if (readBack) await y.data();
    const ms = performance.now() - t0;
    y.dispose();
    if (i >= 0) best = Math.min(best, ms); // the first call builds and packs: warm-up
  }
  return best;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string' },
      backend: { type: 'string', default: 'wasm' },
      batch: { type: 'string', default: '128' },
      reps: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
    },
  });
  const report = await initBackend({
    prefer: values.backend as BackendName,
    threads: values.threads === undefined ? undefined : Number(values.threads),
  });
  const readBack = report.backend === 'tensorflow' || report.backend === 'webgpu';
  const n = Number(values.batch);
  const reps = Number(values.reps);
  const rows = [];
  const total = { forward: 0, backpropInput: 0, backpropFilter: 0 };
  for (const [h, ci, co, k, s, count] of SHAPES) {
    const p = Math.floor(k / 2);
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ]; // the engine's padding
    const x = tf.randomNormal([n, h, h, ci]) as tf.Tensor4D;
    const w = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, s, pad);
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const flop = 2 * n * y.shape[1] * y.shape[2] * co * ci * k * k;
    const fwd = await bestMs(reps, () => tf.conv2d(x, w, s, pad), readBack);
    const dx = await bestMs(reps, () => tf.conv2dTranspose(dy, w, x.shape, s, pad as unknown as 'same'), readBack);
    const dW = await bestMs(
      reps,
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: s, pad, dataFormat: 'NHWC', filterShape: w.shape },
          ) as tf.Tensor,
      readBack,
    );
    tf.dispose([x, w, y, dy]);
    total.forward += fwd * count;
    total.backpropInput += ci === 1 ? 0 : dx * count; // the stem's input gradient is never needed
    total.backpropFilter += dW * count;
    const gf = (ms: number) => Math.round((flop / ms / 1e6) * 10) / 10;
    rows.push({
      shape: `${h}×${h}×${ci}→${co} k${k} s${s}`,
      count,
      ms: { forward: fwd, backpropInput: dx, backpropFilter: dW },
      gflops: { forward: gf(fwd), backpropInput: gf(dx), backpropFilter: gf(dW) },
    });
  }
  const out = {
    backend: report.backend,
    device: report.device,
    threads: report.threads,
    batch: n,
    rows,
    perEncoderMs: total,
  };
  if (values.json) {
    console.log(JSON.stringify(out));
    return;
  }
  console.log(`${report.backend} on ${report.device}, batch ${n}, best of ${reps}`);
  console.log('shape                    count   forward   dx (input)   dW (filter)   GFLOP/s');
  for (const r of rows) {
    console.log(
      `${r.shape.padEnd(24)} ${String(r.count).padStart(5)}   ${r.gflops.forward.toFixed(1).padStart(7)}   ${r.gflops.backpropInput.toFixed(1).padStart(10)}   ${r.gflops.backpropFilter.toFixed(1).padStart(11)}`,
    );
  }
  console.log(
    `one encoder's convolutions: forward ${total.forward.toFixed(0)} ms, input gradients ${total.backpropInput.toFixed(0)} ms, filter gradients ${total.backpropFilter.toFixed(0)} ms`,
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(exitCodeFor(e));
});
