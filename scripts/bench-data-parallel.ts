/**
 * Upper bound of data parallelism on the CPU: W worker threads, each with its own wasm instance on
 * one thread and its own training step on batch/W images, stepping at the same time. Aggregate
 * images/s is what a data-parallel trainer would reach before its all-reduce (the averaged
 * gradients of resnet20 + heads are ~0.3 M floats, ~1 ms to exchange through shared memory) and
 * with BatchNorm statistics per worker (as MoCo's shuffle-BN). Nothing of this is in the engine: it
 * measures whether building it would pay.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-data-parallel.js [--workers 2] [--batch 128] [--steps 8] [--json]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

interface Job {
  batch: number;
  steps: number;
  warmup: number;
}

interface WorkerResult {
  stepMs: number[];
  startedAt: number;
  endedAt: number;
}

async function workerMain(job: Job): Promise<WorkerResult> {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../electron/engine/backend');
  const { createTrainingStep } = await import('../electron/engine/training-step');
  await initBackend({ prefer: 'wasm', threads: 1 });
  const step = createTrainingStep({
    method: 'isd',
    arch: 'resnet20',
    inputShape: [28, 28, 1],
    batchSize: job.batch,
    queueSize: 4096,
    tempTeacher: 0.01,
    tempStudent: 0.1,
    temperature: 0.2,
    ema: 0.99,
    momentum: 0.9,
    weightDecay: 1e-4,
    seed: 0,
  });
  const xs = tf.randomNormal([job.batch, 28, 28, 1]) as import('@tensorflow/tfjs').Tensor4D;
  const xt = tf.randomNormal([job.batch, 28, 28, 1]) as import('@tensorflow/tfjs').Tensor4D;
  for (let i = 0; i < job.warmup; i++) step.step(xs, xt, 0.05);
  // Start together: every worker has warmed up when the main thread says go.
  parentPort!.postMessage({ ready: true });
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  const startedAt = Date.now();
  const stepMs: number[] = [];
  for (let i = 0; i < job.steps; i++) {
    const t0 = performance.now();
    step.step(xs, xt, 0.05);
    stepMs.push(performance.now() - t0);
  }
  const endedAt = Date.now();
  tf.dispose([xs, xt]);
  step.dispose();
  return { stepMs, startedAt, endedAt };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '2' },
      batch: { type: 'string', default: '128' },
      steps: { type: 'string', default: '8' },
      json: { type: 'boolean', default: false },
    },
  });
  const workers = Number(values.workers);
  const batch = Number(values.batch);
  if (!Number.isInteger(workers) || workers < 1 || batch % workers !== 0) throw new Error(`--batch ${batch} must split evenly over --workers ${workers}`);
  const job: Job = { batch: batch / workers, steps: Number(values.steps), warmup: 2 };
  const threads = Array.from({ length: workers }, () => new Worker(__filename, { workerData: job }));
  let ready = 0;
  const results = await Promise.all(
    threads.map(
      (w) =>
        new Promise<WorkerResult>((resolve, reject) => {
          w.on('message', (m: { ready?: boolean; result?: WorkerResult }) => {
            if (m.ready && ++ready === workers) for (const t of threads) t.postMessage('go');
            if (m.result) resolve(m.result);
          });
          w.on('error', reject);
        }),
    ),
  );
  for (const t of threads) await t.terminate();
  const start = Math.min(...results.map((r) => r.startedAt));
  const end = Math.max(...results.map((r) => r.endedAt));
  const imagesPerSec = (batch * job.steps) / ((end - start) / 1000);
  const out = { workers, batch, perWorkerBatch: job.batch, steps: job.steps, imagesPerSec, stepMs: results.map((r) => r.stepMs.map((t) => Math.round(t))), cores: os.cpus().length };
  console.log(values.json ? JSON.stringify(out) : `${workers} workers × batch ${job.batch} on one thread each: ${imagesPerSec.toFixed(1)} images/s together`);
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
} else {
  workerMain(workerData as Job).then(
    (result) => parentPort!.postMessage({ result }),
    (e: unknown) => {
      throw e;
    },
  );
}
