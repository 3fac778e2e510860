/**
 * A worker thread for the tensor work the app asks about finished runs, so no tfjs runs on the main
 * thread: the backend probe (system.info before any run has trained), the neighbour gallery and the
 * teacher-similarity view of a run's final checkpoint. Started by analysis-client.ts, it answers one
 * request at a time and keeps the last run's model and training-bank features, so flipping through test
 * images costs one forward pass each.
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../data';
import type { LoadedDataset } from '../data/types';
import { IsdError, isIsdError } from '../errors';
import type { RunConfig } from '../run-config';
import { computeChannelStats, toEvalBatch } from '../engine/augment';
import { initBackend, type BackendName } from '../engine/backend';
import { probeTrainingBackend } from '../engine/data-parallel';
import { restoreTrainingStep } from '../engine/checkpoint';
import { prepareRunData } from '../engine/run-data';
import { extractFeatures, knnEvaluate, linearProbe, nearestNeighbours } from '../engine/evaluate';
import { readAllAndDispose, readAndDispose } from '../engine/read-back';
import type { EngineOptions } from '../engine/protocol';
import { QUEUE_KEYS_NAME } from '../engine/methods/teacher-queue';
import type { TrainingStep } from '../engine/training-step';
import { embeddingMap, searchImages, splitImage, type MapTask, type SearchTask } from './encoder-map';
import {
  embedDataset,
  embedSet,
  exportEncoder,
  setFeatures,
  type EmbedTask,
  type ExportEncoderTask,
  type TaskContext,
  type TaskProgress,
} from './encoder-tasks';

/** The neighbour gallery searches at most this many training images (the first ones; engine.evalBankLimit lowers it). */
export const NEIGHBOUR_BANK_LIMIT = 5000;

export interface RunAnalysisInput {
  runId: string;
  config: RunConfig;
  datasetPath: string;
  checkpointPath: string;
  engine?: EngineOptions;
  /** The query image: an index into the test split, or into the neighbour bank (the first training images). */
  testIndex: number;
  querySplit?: 'train' | 'test';
}

export type AnalysisRequest =
  | { id: number; type: 'probe'; backend?: BackendName }
  | ({ id: number; type: 'neighbours'; k: number } & RunAnalysisInput)
  | ({ id: number; type: 'teacherSimilarity'; bins: number; top: number } & RunAnalysisInput)
  | ({ id: number; type: 'evaluate'; linear: boolean } & Omit<RunAnalysisInput, 'testIndex'>)
  | ({ id: number; type: 'exportEncoder' } & ExportEncoderTask & Omit<RunAnalysisInput, 'testIndex'>)
  | ({ id: number; type: 'embed' } & EmbedTask & Omit<RunAnalysisInput, 'testIndex'>)
  | ({ id: number; type: 'map' } & MapTask & Omit<RunAnalysisInput, 'testIndex'>)
  | ({ id: number; type: 'search' } & SearchTask & Omit<RunAnalysisInput, 'testIndex'>)
  | ({ id: number; type: 'image'; split: 'train' | 'test'; index: number; seed: number } & Omit<
      RunAnalysisInput,
      'testIndex'
    >)
  /** Stops request `target` at its next batch (answered at once, outside the one-at-a-time chain). */
  | { id: number; type: 'stop'; target: number };

/** `isd eval`: the checkpoint's student backbone on the whole training split (bank) and test split (queries). */
export interface EvaluateResult {
  checkpointStep: number;
  bankImages: number;
  testImages: number;
  knn1: number;
  knn20: number;
  knn20Weighted: number;
  linear?: number;
}

/** Pixels of one image, uint8 [h, w, c], for the main thread to turn into a thumbnail. */
export interface ImagePixels {
  index: number;
  label: number | null;
  pixels: Uint8Array;
}

export interface NeighboursResult {
  shape: [number, number, number];
  classNames: string[] | null;
  testCount: number;
  bankCount: number;
  query: ImagePixels;
  neighbours: (ImagePixels & { similarity: number })[];
}

export interface TeacherSimilarityResult {
  shape: [number, number, number];
  classNames: string[] | null;
  query: ImagePixels;
  temperature: number;
  queueSize: number;
  probability: { edges: number[]; counts: number[] };
  cosine: { edges: number[]; counts: number[] };
  effectiveAnchors: number;
  anchorMeanCosine: number;
  /** image: the training image whose teacher key fills the slot (null: a random initial key, or a checkpoint from before the queue kept image indices). */
  topAnchors: {
    queueIndex: number;
    cosine: number;
    probability: number;
    label: number | null;
    image: ImagePixels | null;
  }[];
}

export type AnalysisResponse =
  | { id: number; progress: TaskProgress }
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: IsdError['code']; message: string; field?: string; path?: string } };

/** A run's checkpoint as the worker holds it (also what encoder-tasks.ts works on). */
export interface LoadedRun {
  key: string;
  config: RunConfig;
  ds: LoadedDataset;
  step: TrainingStep;
  /** The training step the checkpoint was written at. */
  checkpointStep: number;
  imageSize: number;
  norm: { mean: number[]; std: number[] };
  bank: { images: Uint8Array; labels: Int32Array | null; count: number };
  bankFeatures: Float32Array | null;
}

let current: LoadedRun | null = null;
const datasets = new Map<string, Promise<LoadedDataset>>();

async function datasetFor(p: string, config: RunConfig): Promise<LoadedDataset> {
  const key = `${p}\0${config.imageSize}\0${config.seed}`;
  let ds = datasets.get(key);
  if (!ds) {
    datasets.clear(); // one dataset at a time: they can be large
    // Loaded exactly as the engine worker loads it, so splits and folder resizing match the training.
    ds = loadDataset(p, { imageSize: config.imageSize > 0 ? config.imageSize : undefined, seed: config.seed });
    datasets.set(key, ds);
    ds.catch(() => datasets.delete(key));
  }
  return ds;
}

/** The run's model as of the checkpoint, its normalisation and its training bank (cached for the last run). */
async function loadRun(input: Omit<RunAnalysisInput, 'testIndex'>): Promise<LoadedRun> {
  const key = `${input.runId}\0${input.checkpointPath}`;
  if (current?.key === key) return current;
  current?.step.dispose();
  current = null;
  const ds = await datasetFor(input.datasetPath, input.config);
  const { step, manifest } = await restoreTrainingStep(input.checkpointPath);
  const imageSize = (manifest.config as { imageSize?: number }).imageSize;
  if (typeof imageSize !== 'number') {
    step.dispose();
    throw new IsdError('CONFLICT', `${input.checkpointPath}: the checkpoint does not record its image size`, {
      path: input.checkpointPath,
    });
  }
  const bankCount = Math.min(ds.train.count, input.engine?.evalBankLimit ?? NEIGHBOUR_BANK_LIMIT);
  const px = ds.height * ds.width * ds.channels;
  current = {
    key,
    config: input.config,
    ds,
    step,
    checkpointStep: manifest.step,
    imageSize,
    norm: computeChannelStats(prepareRunData(ds, input.config).train.images, ds.channels),
    bank: {
      images: ds.train.images.subarray(0, bankCount * px),
      labels: ds.train.labels ? ds.train.labels.subarray(0, bankCount) : null,
      count: bankCount,
    },
    bankFeatures: null,
  };
  return current;
}

/** The query's pixels and the uint8 images [N, H, W, C] it is row `index` of. */
function queryImage(
  run: LoadedRun,
  split: 'train' | 'test',
  index: number,
): { image: ImagePixels; images: Uint8Array } {
  if (split === 'test') return { image: testImage(run, index), images: run.ds.test!.images };
  // Any training image may be the query (a top anchor's may lie beyond the bank searched).
  const train = run.ds.train;
  if (index >= train.count)
    throw new IsdError('BAD_INPUT', `testIndex: must be below ${train.count} (the training images)`, {
      field: 'testIndex',
    });
  return { image: pixelsOf(train.images, train.labels, run.ds, index), images: train.images };
}

function testImage(run: LoadedRun, testIndex: number): ImagePixels {
  const test = run.ds.test;
  if (!test)
    throw new IsdError('BAD_INPUT', `${run.ds.path}: the dataset has no test split to pick an image from`, {
      field: 'testIndex',
      path: run.ds.path,
    });
  if (testIndex >= test.count)
    throw new IsdError('BAD_INPUT', `testIndex: must be below ${test.count} (the test images)`, { field: 'testIndex' });
  return pixelsOf(test.images, test.labels, run.ds, testIndex);
}

function pixelsOf(images: Uint8Array, labels: Int32Array | null, ds: LoadedDataset, index: number): ImagePixels {
  const px = ds.height * ds.width * ds.channels;
  return { index, label: labels ? labels[index] : null, pixels: images.slice(index * px, (index + 1) * px) };
}

function shapeOf(ds: LoadedDataset): [number, number, number] {
  return [ds.height, ds.width, ds.channels];
}

/** One L2-normalised feature row of a single image: [D]. */
async function featureOf(
  run: LoadedRun,
  embed: (x: tf.Tensor4D) => tf.Tensor2D,
  images: Uint8Array,
  index: number,
): Promise<Float32Array> {
  const src = { h: run.ds.height, w: run.ds.width, c: run.ds.channels };
  return readAndDispose(
    tf.tidy(() => {
      const f = embed(toEvalBatch(images, [index], src, { size: run.imageSize, ...run.norm })); // [1, D]
      return tf.div(f, tf.maximum(tf.norm(f, 'euclidean', 1, true), 1e-12));
    }),
  );
}

async function neighbours(
  req: Extract<AnalysisRequest, { type: 'neighbours' }>,
  ctx: TaskContext,
): Promise<NeighboursResult> {
  await initBackend({ prefer: req.engine?.backend, threads: req.engine?.threads });
  const run = await loadRun(req);
  const query = queryImage(run, req.querySplit ?? 'test', req.testIndex);
  const embed = (x: tf.Tensor4D) => run.step.studentEmbed(x);
  // The bank is the first images of the training split, from the feature cache embed and the map share.
  run.bankFeatures ??= (
    await setFeatures(
      run,
      await embedSet(run, run.ds.path, 'train', req.config.seed),
      'trained',
      run.bank.count,
      ctx, // the first view of a run embeds its bank: progress for Run detail
      req.engine?.evalBatchSize ?? 256,
    )
  ).features;
  const q = await featureOf(run, embed, query.images, req.testIndex);
  // A training image queried is in the bank (bank index = training index): it is not its own neighbour.
  const self = req.querySplit === 'train' ? req.testIndex : -1;
  const best = nearestNeighbours({ features: run.bankFeatures, dim: q.length }, q, req.k, self);
  return {
    shape: shapeOf(run.ds),
    classNames: run.ds.classNames,
    testCount: run.ds.test!.count,
    bankCount: run.bank.count,
    query: query.image,
    neighbours: best.map((b) => ({
      ...pixelsOf(run.bank.images, run.bank.labels, run.ds, b.index),
      similarity: b.similarity,
    })),
  };
}

/** Counts of values in `bins` equal bins over [lo, hi] (the top edge inclusive). */
export function histogram(
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  bins: number,
): { edges: number[]; counts: number[] } {
  const width = (hi - lo) / bins || 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((values[i] - lo) / width)));
    counts[b]++;
  }
  return { edges, counts };
}

async function teacherSimilarity(
  req: Extract<AnalysisRequest, { type: 'teacherSimilarity' }>,
): Promise<TeacherSimilarityResult> {
  await initBackend({ prefer: req.engine?.backend, threads: req.engine?.threads });
  const run = await loadRun(req);
  const query = queryImage(run, req.querySplit ?? 'test', req.testIndex);
  const temperature = req.config.method === 'isd' ? req.config.tempTeacher : req.config.temperature;
  const src = { h: run.ds.height, w: run.ds.width, c: run.ds.channels };
  const queue = run.step.params.get(QUEUE_KEYS_NAME); // [K, D]
  const [cosine, probability, keySum] = (await readAllAndDispose(
    tf.tidy(() => {
      const k = run.step.teacherKeys(
        toEvalBatch(query.images, [req.testIndex], src, { size: run.imageSize, ...run.norm }),
      ); // [1, D], L2-normalised
      const cos = tf.matMul(k, queue as tf.Tensor2D, false, true).reshape([-1]); // [K]
      const p = tf.softmax(tf.div(cos, temperature)); // [K], the teacher's soft targets
      return [cos, p, tf.sum(queue, 0)]; // the last: Σ_i q_i [D]
    }),
  )) as [Float32Array, Float32Array, Float32Array];
  let entropy = 0;
  let pmax = 0;
  for (let i = 0; i < probability.length; i++) {
    const p = probability[i];
    if (p > 0) entropy -= p * Math.log(p);
    if (p > pmax) pmax = p;
  }
  // Unit keys: Σ_{i≠j} q_i·q_j = |Σ q_i|² − K, over the K(K−1) ordered pairs.
  const K = probability.length;
  let sumSquared = 0;
  for (let d = 0; d < keySum.length; d++) sumSquared += keySum[d] * keySum[d];
  const anchorMeanCosine = K > 1 ? (sumSquared - K) / (K * (K - 1)) : 1;
  const order = Array.from({ length: probability.length }, (_, i) => i).sort((a, b) => probability[b] - probability[a]);
  const { labels, sources } = run.step.queue;
  const train = run.ds.train;
  return {
    shape: shapeOf(run.ds),
    classNames: run.ds.classNames,
    query: query.image,
    temperature,
    queueSize: probability.length,
    probability: histogram(probability, 0, pmax, req.bins),
    cosine: histogram(cosine, -1, 1, req.bins),
    effectiveAnchors: Math.exp(entropy),
    anchorMeanCosine,
    topAnchors: order.slice(0, req.top).map((i) => ({
      queueIndex: i,
      cosine: cosine[i],
      probability: probability[i],
      label: labels[i] >= 0 ? labels[i] : null,
      image:
        sources[i] >= 0 && sources[i] < train.count ? pixelsOf(train.images, train.labels, run.ds, sources[i]) : null,
    })),
  };
}

async function evaluateCheckpoint(req: Extract<AnalysisRequest, { type: 'evaluate' }>): Promise<EvaluateResult> {
  await initBackend({ prefer: req.engine?.backend, threads: req.engine?.threads });
  const run = await loadRun(req);
  const { ds, step } = run;
  if (!ds.train.labels || !ds.test?.labels || !ds.classNames) {
    throw new IsdError('BAD_INPUT', `${ds.path}: kNN evaluation needs a labelled training and test split`, {
      path: ds.path,
    });
  }
  const src = { h: ds.height, w: ds.width, c: ds.channels };
  const opts = { size: run.imageSize, ...run.norm, batchSize: req.engine?.evalBatchSize ?? 256 };
  const embed = (x: tf.Tensor4D) => step.studentEmbed(x);
  const dim = step.featureDim;
  const bank = {
    features: await extractFeatures(embed, ds.train.images, ds.train.count, src, opts),
    labels: ds.train.labels,
    dim,
  }; // [N, D]
  const query = {
    features: await extractFeatures(embed, ds.test.images, ds.test.count, src, opts),
    labels: ds.test.labels,
    dim,
  }; // [M, D]
  const knn = await knnEvaluate(bank, query, { numClasses: ds.classNames.length });
  const result: EvaluateResult = {
    checkpointStep: run.checkpointStep,
    bankImages: ds.train.count,
    testImages: ds.test.count,
    knn1: knn.knn1,
    knn20: knn.knn20,
    knn20Weighted: knn.knn20Weighted,
  };
  if (req.linear)
    result.linear = (await linearProbe(bank, query, { numClasses: ds.classNames.length, seed: req.config.seed })).top1;
  return result;
}

async function handle(req: AnalysisRequest, ctx: TaskContext): Promise<unknown> {
  if (req.type === 'probe') return probeTrainingBackend(req.backend);
  if (req.type === 'neighbours') return neighbours(req, ctx);
  if (req.type === 'evaluate') return evaluateCheckpoint(req);
  if (req.type === 'exportEncoder') {
    await initBackend({ prefer: req.engine?.backend, threads: req.engine?.threads });
    return exportEncoder(await loadRun(req), req);
  }
  if (req.type === 'stop') return null; // answered in the message handler
  if (req.type === 'embed' || req.type === 'map' || req.type === 'search' || req.type === 'image') {
    await initBackend({ prefer: req.engine?.backend, threads: req.engine?.threads });
    const run = await loadRun(req);
    if (req.type === 'embed') return embedDataset(run, req, ctx);
    if (req.type === 'map') return embeddingMap(run, req, ctx);
    if (req.type === 'search') return searchImages(run, req, ctx);
    return splitImage(run, req.split, req.index, req.seed);
  }
  return teacherSimilarity(req);
}

function errorOf(err: unknown): Extract<AnalysisResponse, { ok: false }>['error'] {
  if (isIsdError(err))
    return {
      code: err.code,
      message: err.message,
      ...(err.field ? { field: err.field } : {}),
      ...(err.path ? { path: err.path } : {}),
    };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  let chain = Promise.resolve();
  const stopped = new Set<number>();
  port.on('message', (req: AnalysisRequest) => {
    if (req.type === 'stop') {
      stopped.add(req.target);
      port.postMessage({ id: req.id, ok: true, value: null } satisfies AnalysisResponse);
      return;
    }
    const ctx: TaskContext = {
      progress: (progress) => port.postMessage({ id: req.id, progress } satisfies AnalysisResponse),
      checkStopped: () => {
        if (stopped.delete(req.id)) throw new IsdError('CONFLICT', 'stopped: nothing was written');
      },
    };
    chain = chain.then(async () => {
      try {
        const value = await handle(req, ctx);
        port.postMessage({ id: req.id, ok: true, value } satisfies AnalysisResponse);
      } catch (err) {
        port.postMessage({ id: req.id, ok: false, error: errorOf(err) } satisfies AnalysisResponse);
      } finally {
        stopped.delete(req.id);
      }
    });
  });
}
