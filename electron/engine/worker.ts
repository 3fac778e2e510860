/**
 * The engine's worker_threads entry (compiled to dist/electron/engine/worker.js; started by
 * run-engine.ts). Receives `start`, then loads the dataset, applies the imbalance draw and the train
 * limit, starts the backend, builds the Trainer and posts its events; `pause`, `resume` and `stop`
 * reach the trainer at its next step boundary. Every error, caught or not, becomes a `failed` event.
 */
import * as path from 'node:path';
import { isMainThread, parentPort } from 'node:worker_threads';
import { SKIPPED_LISTED, loadDataset } from '../data';
import { asIsdError } from '../errors';
import { checkedRunConfig } from '../run-config';
import { initTrainingBackend } from './data-parallel';
import type { ControlMessage, StartMessage, WorkerToMain } from './protocol';
import { isMainToWorker } from './protocol';
import { Trainer } from './trainer';
import { prepareRunData } from './run-data';

function failedEvent(err: unknown): WorkerToMain {
  const e = asIsdError(err);
  return { type: 'failed', code: e.code, message: e.message, field: e.field, path: e.path };
}

/** Runs one start request to its end, posting every event through `post`. */
export async function runStartMessage(
  msg: StartMessage,
  post: (m: WorkerToMain) => void,
  onTrainer: (t: Trainer) => void = () => undefined,
): Promise<void> {
  post({ type: 'status', status: 'loading' });
  post({ type: 'phase', phase: 'preparing', done: 0, total: 0 });
  const config = checkedRunConfig(msg.config);
  const engine = msg.engine ?? {};
  const { backend, replicas } = await initTrainingBackend(
    { prefer: engine.backend, threads: engine.threads, replicas: engine.replicas },
    config.batchSize,
    config.bnGroups,
  );
  if (backend.backend === 'cpu')
    post({ type: 'log', level: 'warn', message: 'training on the pure-JS cpu backend: expect it to be very slow' });
  const ds = await loadDataset(msg.datasetPath, {
    imageSize: config.imageSize > 0 ? config.imageSize : undefined,
    seed: config.seed,
  });
  for (const skipped of ds.skipped.slice(0, SKIPPED_LISTED))
    post({ type: 'log', level: 'warn', message: `skipped ${skipped.path}: ${skipped.reason}` });
  if (ds.skipped.length > SKIPPED_LISTED)
    post({ type: 'log', level: 'warn', message: `skipped ${ds.skipped.length - SKIPPED_LISTED} more image(s)` });
  const data = prepareRunData(ds, config, engine);
  const trainer = new Trainer({
    runId: msg.runId,
    config,
    train: data.train,
    evaluation: data.evaluation,
    checkpointDir: path.join(msg.checkpointRoot, msg.runId),
    resumeFrom: msg.resume?.checkpointPath ?? null,
    engine: { ...engine, replicas },
    onEvent: post,
  });
  onTrainer(trainer);
  post({
    type: 'ready',
    backend,
    dataset: data.report,
    imageSize: trainer.imageSize,
    stepsPerEpoch: trainer.stepsPerEpoch,
    totalSteps: trainer.totalSteps,
    parameters: trainer.parameterCount,
    resumedFrom: msg.resume?.checkpointPath ?? null,
  });
  await trainer.run();
}

function attachToParent(port: NonNullable<typeof parentPort>): void {
  let started = false;
  let finished = false;
  let trainer: Trainer | null = null;
  const early: ControlMessage[] = []; // control that arrived while loading
  const post = (m: WorkerToMain) => {
    if (m.type === 'done' || m.type === 'failed') finished = true;
    port.postMessage(m);
  };
  const fail = (err: unknown) => {
    if (!finished) post(failedEvent(err));
    port.close(); // lets the thread end once the message is out
  };
  const control = (t: Trainer, m: ControlMessage) =>
    m.type === 'pause' ? t.pause() : m.type === 'resume' ? t.resume() : t.stop();
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  port.on('message', (m: unknown) => {
    if (!isMainToWorker(m)) {
      post({
        type: 'log',
        level: 'warn',
        message: `engine worker ignored an unknown message: ${JSON.stringify(m)?.slice(0, 200)}`,
      });
      return;
    }
    if (m.type !== 'start') {
      if (trainer) control(trainer, m);
      else early.push(m);
      return;
    }
    if (started) {
      post({ type: 'log', level: 'warn', message: 'engine worker ignored a second start: one worker trains one run' });
      return;
    }
    started = true;
    runStartMessage(m, post, (t) => {
      trainer = t;
      for (const c of early) control(t, c);
    })
      .then(() => port.close())
      .catch(fail);
  });
}

if (!isMainThread && parentPort) attachToParent(parentPort);
