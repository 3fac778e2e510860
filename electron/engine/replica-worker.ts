/**
 * The peer replica of data-parallel training (data-parallel.ts), compiled to
 * dist/electron/engine/replica-worker.js: starts its own backend (wasm: one thread), builds the same
 * training step from the same seed, then serves rank 0's commands in order until told to stop.
 * Blocking reads are fine here: this thread does nothing else.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { type PeerCommand, type PeerWorkerData, replicaLink, SyncEndpoint } from './data-parallel';
import { createTrainingStep, type TrainingStep } from './training-step';

/** How long the peer waits for rank 0's next command: a paused run sends none. */
const IDLE_TIMEOUT_MS = 7 * 24 * 3600_000;

async function serve(step: TrainingStep, endpoint: SyncEndpoint): Promise<void> {
  for (;;) {
    const cmd = endpoint.receive(IDLE_TIMEOUT_MS, 'command') as PeerCommand;
    if (cmd.type === 'dispose') return;
    if (cmd.type === 'read') {
      const variables = step.params
        .list()
        .map((e) => ({ name: e.name, shape: [...e.variable.shape], values: e.variable.dataSync() as Float32Array }));
      endpoint.send({ type: 'state', variables });
      continue;
    }
    if (cmd.type === 'load') {
      step.loadState(cmd.state);
      endpoint.send({ type: 'loaded' });
      continue;
    }
    const xs = tf.tensor4d(cmd.xs, cmd.shape);
    const xt = tf.tensor4d(cmd.xt, cmd.shape);
    try {
      await step.step(xs, xt, cmd.lr, cmd.labels, cmd.sources);
    } finally {
      tf.dispose([xs, xt]);
    }
  }
}

async function main(data: PeerWorkerData): Promise<void> {
  const endpoint = new SyncEndpoint(data.port, data.counters, 1);
  let step: TrainingStep | null = null;
  try {
    await initBackend({ prefer: data.backend, threads: 1 });
    step = createTrainingStep(data.options, replicaLink(endpoint, 1));
    endpoint.send({ type: 'ready' });
    await serve(step, endpoint);
  } catch (e) {
    endpoint.send({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  } finally {
    step?.dispose();
    endpoint.close();
  }
}

if (!isMainThread && workerData) void main(workerData as PeerWorkerData);
