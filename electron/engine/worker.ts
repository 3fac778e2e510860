/**
 * The engine's worker_threads entry (compiled to dist/electron/engine/worker.js; started by
 * run-engine.ts). Receives `start`, then loads the dataset, applies the imbalance draw and the train
 * limit, starts the backend, builds the Trainer and posts its events; `pause`, `resume` and `stop`
 * reach the trainer at its next step boundary. Every error, caught or not, becomes a `failed` event.
 */
import * as path from 'node:path';
import { isMainThread, parentPort } from 'node:worker_threads';
import { loadDataset } from '../data';
import { drawImbalance } from '../data/imbalance';
import { countClasses, selectImages } from '../data/split';
import type { LoadedDataset } from '../data/types';
import { IsdError, isIsdError } from '../errors';
import { parseImbalance, validateRunConfig, type RunConfig } from '../run-config';
import { initBackend } from './backend';
import type { ControlMessage, DatasetReport, EngineOptions, StartMessage, WorkerToMain } from './protocol';
import { isMainToWorker } from './protocol';
import { Trainer, type EvaluationSets, type ImageSet } from './trainer';

/** kNN defaults for quick runs (trainLimit > 0): a bank of max(trainLimit, 5000) and 2000 queries. */
const QUICK_BANK_MIN = 5000;
const QUICK_TEST = 2000;

export interface PreparedData {
  train: ImageSet;
  evaluation: EvaluationSets | null;
  report: DatasetReport;
}

function firstImages(split: LoadedDataset['train'], ds: LoadedDataset, n: number): ImageSet {
  const count = Math.min(n, split.count);
  const px = ds.height * ds.width * ds.channels;
  return {
    images: split.images.subarray(0, count * px),
    labels: split.labels ? split.labels.subarray(0, count) : null,
    count,
    h: ds.height,
    w: ds.width,
    c: ds.channels,
  };
}

/**
 * The images a run trains on (imbalance draw, then the first trainLimit) and its kNN sets: the
 * dataset's own (balanced) training split as the bank and its test split as the queries, both capped
 * by the engine options. Rare classes of an imbalanced draw: those left with less than half the
 * largest class's images.
 */
export function prepareRunData(ds: LoadedDataset, config: RunConfig, engine: EngineOptions = {}): PreparedData {
  const px = ds.height * ds.width * ds.channels;
  const numClasses = ds.classNames?.length ?? (ds.train.labels ? ds.train.labels.reduce((m, y) => Math.max(m, y), -1) + 1 : 0);
  const spec = parseImbalance(config.imbalance);
  let indices: Int32Array | null = null;
  let trainClassCounts: number[] | null = null;
  let rareClasses: number[] | null = null;
  if (spec.kind !== 'none') {
    if (!ds.train.labels) throw new IsdError('BAD_INPUT', `imbalance ${config.imbalance} needs class labels; ${ds.path} has none`, { field: 'imbalance' });
    const draw = drawImbalance(ds.train.labels, numClasses, spec, config.seed);
    indices = draw.indices;
    const largest = Math.max(...draw.classCounts);
    rareClasses = draw.classCounts.flatMap((n, c) => (n < largest / 2 ? [c] : []));
  }
  if (config.trainLimit > 0) {
    const all = indices ?? Int32Array.from({ length: ds.train.count }, (_, i) => i);
    indices = all.subarray(0, Math.min(config.trainLimit, all.length));
  }
  const trainSplit = indices ? selectImages(ds.train, indices, px) : ds.train;
  if (trainSplit.labels && numClasses > 0) trainClassCounts = countClasses(trainSplit.labels, numClasses);
  const train: ImageSet = { images: trainSplit.images, labels: trainSplit.labels, count: trainSplit.count, h: ds.height, w: ds.width, c: ds.channels };

  let evaluation: EvaluationSets | null = null;
  if (ds.train.labels && ds.test?.labels && numClasses > 0) {
    const quick = config.trainLimit > 0;
    const bankLimit = engine.evalBankLimit ?? (quick ? Math.max(config.trainLimit, QUICK_BANK_MIN) : ds.train.count);
    const testLimit = engine.evalTestLimit ?? (quick ? QUICK_TEST : ds.test.count);
    const bank = firstImages(ds.train, ds, bankLimit);
    const test = firstImages(ds.test, ds, testLimit);
    evaluation = {
      bank: { ...bank, labels: bank.labels as Int32Array },
      test: { ...test, labels: test.labels as Int32Array },
      numClasses,
      ...(rareClasses ? { rareClasses } : {}),
    };
  }
  return {
    train,
    evaluation,
    report: {
      name: ds.name,
      format: ds.format,
      shape: [ds.height, ds.width, ds.channels],
      classNames: ds.classNames,
      trainImages: train.count,
      trainClassCounts,
      evalBankImages: evaluation?.bank.count ?? 0,
      evalTestImages: evaluation?.test.count ?? 0,
      rareClasses,
    },
  };
}

function failedEvent(err: unknown): WorkerToMain {
  const e = isIsdError(err) ? err : new IsdError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
  return { type: 'failed', code: e.code, message: e.message, field: e.field, path: e.path };
}

/** Runs one start request to its end, posting every event through `post`. */
export async function runStartMessage(
  msg: StartMessage,
  post: (m: WorkerToMain) => void,
  onTrainer: (t: Trainer) => void = () => undefined,
): Promise<void> {
  post({ type: 'status', status: 'loading' });
  const checked = validateRunConfig(msg.config);
  if (!checked.ok) {
    const first = checked.issues[0];
    throw new IsdError('BAD_INPUT', `${first.field}: ${first.message}`, { field: first.field });
  }
  const config = checked.config;
  const engine = msg.engine ?? {};
  const backend = await initBackend({ prefer: engine.backend, threads: engine.threads });
  if (backend.backend === 'cpu') post({ type: 'log', level: 'warn', message: 'training on the pure-JS cpu backend: expect it to be very slow' });
  const ds = await loadDataset(msg.datasetPath, { imageSize: config.imageSize > 0 ? config.imageSize : undefined, seed: config.seed });
  const data = prepareRunData(ds, config, engine);
  const trainer = new Trainer({
    runId: msg.runId,
    config,
    train: data.train,
    evaluation: data.evaluation,
    checkpointDir: path.join(msg.checkpointRoot, msg.runId),
    resumeFrom: msg.resume?.checkpointPath ?? null,
    engine,
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
  const control = (t: Trainer, m: ControlMessage) => (m.type === 'pause' ? t.pause() : m.type === 'resume' ? t.resume() : t.stop());
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  port.on('message', (m: unknown) => {
    if (!isMainToWorker(m)) {
      post({ type: 'log', level: 'warn', message: `engine worker ignored an unknown message: ${JSON.stringify(m)?.slice(0, 200)}` });
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
