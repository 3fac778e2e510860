/**
 * Milliseconds to augment one step's views (a strong and a weak batch) on wasm and cpu, for
 * 28×28×1 (Fashion-MNIST) and 32×32×3 (CIFAR, wasm only). Replaces a timed unit test: speed is
 * read from a benchmark, not asserted. Target: the 28×28×1 pair under 50 ms on wasm (fastest call).
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-augment.js [--batch 128] [--reps 10] [--json]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../electron/engine/backend';
import { augmentBatch, type ImageShape } from '../electron/engine/augment';
import { Rng } from '../electron/rng';

function randomImages(n: number, shape: ImageShape, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n * shape.h * shape.w * shape.c);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  return out;
}

/** Median and fastest of `reps` calls after 3 warm-ups: the fastest is the cost on an idle machine. */
function timed(step: () => void, reps: number): { median: number; min: number } {
  for (let i = 0; i < 3; i++) step();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    step();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(reps / 2)], min: ms[0] };
}

/** One step's views: a strong and a weak batch of `batch` images of `shape`, read back. */
function viewsOf(shape: ImageShape, batch: number, reps: number) {
  const images = randomImages(1000, shape, 3);
  const idx = Array.from({ length: batch }, (_, i) => (i * 7) % 1000);
  const norm = { mean: new Array<number>(shape.c).fill(0.3), std: new Array<number>(shape.c).fill(0.35) };
  const rng = new Rng(1);
  return timed(() => {
    const a = augmentBatch(images, idx, shape, { size: shape.h, strength: 'strong', ...norm }, rng);
    const b = augmentBatch(images, idx, shape, { size: shape.h, strength: 'weak', ...norm }, rng);
    a.dataSync();
    b.dataSync();
    tf.dispose([a, b]);
  }, reps);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '128' },
      reps: { type: 'string', default: '10' },
      json: { type: 'boolean' },
    },
  });
  const batch = Number(values.batch);
  const reps = Number(values.reps);
  const rows: { backend: string; shape: string; median: number; min: number }[] = [];
  for (const [backend, shape] of [
    ['wasm', { h: 28, w: 28, c: 1 }],
    ['cpu', { h: 28, w: 28, c: 1 }],
    ['wasm', { h: 32, w: 32, c: 3 }],
  ] as const) {
    await initBackend({ prefer: backend, threads: 1 });
    rows.push({ backend, shape: `${shape.h}×${shape.w}×${shape.c}`, ...viewsOf(shape, batch, reps) });
  }
  if (values.json) console.log(JSON.stringify({ batch, reps, rows }));
  else
    for (const r of rows)
      console.log(
        `augment strong+weak, batch ${batch}, ${r.shape} on ${r.backend}: median ${r.median.toFixed(1)} ms, fastest ${r.min.toFixed(1)} ms`,
      );
}

void main();
