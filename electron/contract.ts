/**
 * The IPC contract: every request channel (runtime schema of its input, type of its output) and every
 * event channel (payload type). Preload, ipc.ts, host.ts and the renderer's client are all typed from
 * this one module, so a channel cannot drift between sides.
 *
 * Pure: imports zod, errors, run-config, run-status and contract/ only (plus erased type-only imports), so the
 * renderer imports it at runtime too (its forms validate with the same schemas before anything is sent).
 *
 * Adding a feature (e.g. `study.*`) is a plain extension of `requests` / `events` below.
 */
import { z } from 'zod';
import {
  RUN_CONFIG_SORT_FIELDS,
  runConfigFields,
  runConfigSchema,
  withRunDefaults,
  type RunConfig,
} from './run-config';
import type { DatasetEntry, DatasetSummary } from './data/types';
import { overDefaults } from './contract/over-defaults';
import { studySpecInputSchema } from './contract/study-spec';
import type { StudyDetail, StudyEstimateView, StudyExport, StudyProgress, StudySummary } from './contract/study';
import { RUN_STATUSES, type RunStatus } from './run-status';
import { ERROR_CODES, type IsdErrorCode } from './errors';

export type { RunConfig } from './run-config';
export { RUN_CONFIG_SORT_FIELDS };
export type { DatasetEntry, DatasetSummary, DatasetFormat } from './data/types';
export type * from './contract/study';

// ---------------------------------------------------------------------------------------------
// Errors and the result envelope
// ---------------------------------------------------------------------------------------------

/** The codes of electron/errors.ts, where each is described. */
export { ERROR_CODES };
export type ErrorCode = IsdErrorCode;

/** What a failed request carries: never a stack trace. `field` names the input field at fault ("config.lr"). */
export interface ContractError {
  code: ErrorCode;
  field?: string;
  /** The file or folder at fault, when there is one. */
  path?: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ContractError };

// ---------------------------------------------------------------------------------------------
// DTOs: what crosses the wire. Independent of the store's row types (the app layer maps rows to these).
// Times are milliseconds since the epoch; accuracies are fractions in [0, 1].
// ---------------------------------------------------------------------------------------------

export { RUN_STATUSES, type RunStatus };
export type Method = RunConfig['method'];

/** The WebGPU adapter the webgpu backend runs on (or saw, in its fallback entry). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation of the GPU API (SwiftShader, lavapipe, llvmpipe, WARP): never chosen unless forced. */
  software: boolean;
}

export interface BackendFallback {
  backend: string;
  reason: string;
  /** webgpu: the adapter it saw (a software one, or one short of a limit). */
  adapter?: GpuAdapter;
}

/** `isd info` (docs/cli.md) plus what the UI needs to know about its host. */
export interface SystemInfo {
  backend: string;
  device: string;
  /** webgpu: the adapter it runs on; null on every other backend. */
  adapter: GpuAdapter | null;
  fallbacks: BackendFallback[];
  versions: Record<string, string>;
  appVersion: string;
  platform: string;
  /** electron: native dialogs exist (datasets.pick); web: the UI asks for a typed path instead. */
  transport: 'electron' | 'web';
  dbPath: string;
  /** Images per second measured on this backend for the default architecture, when known. */
  measuredImagesPerSec: number | null;
}

/** A thumbnail: a PNG as a data: URL (the CSP allows img-src data:). */
export interface Thumbnail {
  /** Index of the image in its split. */
  index: number;
  label: number | null;
  dataUrl: string;
}

export interface DatasetPreview {
  datasetId: string;
  classNames: string[] | null;
  /** Training-split count per class (null when unlabeled). */
  classCounts: number[] | null;
  testClassCounts: number[] | null;
  /** Thumbnail side in pixels. */
  size: number;
  /** One group per class in label order (a single group with label null when unlabeled). */
  groups: { label: number | null; className: string; samples: Thumbnail[] }[];
}

export interface ImbalancePreview {
  datasetId: string;
  imbalance: string;
  classNames: string[] | null;
  /** Training-split counts per class before and after the draw. */
  before: number[];
  after: number[];
  total: number;
}

export interface RunSummary {
  id: string;
  name: string;
  method: Method;
  arch: RunConfig['arch'];
  /** Dataset id or path, as in the config. */
  dataset: string;
  datasetName: string;
  imbalance: string;
  status: RunStatus;
  tags: string[];
  notes: string;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Training time so far (paused time excluded). */
  durationSec: number | null;
  epoch: number;
  epochs: number;
  step: number;
  totalSteps: number;
  knn1: number | null;
  knn20: number | null;
  bestKnn20: number | null;
  linear: number | null;
  /** What knn1 and knn20 are read against (readings.ts): the step-0 evaluation and raw pixels; null: none stored. */
  initKnn1: number | null;
  initKnn20: number | null;
  pixelKnn1: number | null;
  pixelKnn20: number | null;
  /** Queries each evaluation scored, and the test split's size (fewer: a subset); null: not recorded. */
  evalTestImages: number | null;
  evalTestSplitImages: number | null;
  backend: string | null;
  device: string | null;
  error: ContractError | null;
  /** The run's hyperparameters (History's optional columns). */
  config: RunConfig;
}

export interface EvalPoint {
  epoch: number;
  step: number;
  knn1: number;
  knn20: number;
  /** 20-NN with a similarity-weighted vote (temperature 0.07). */
  knn20Weighted: number;
  /** 200-NN weighted, temperature 0.1 (InstDisc / MoCo's monitor), k capped at the bank size; null on runs stored before it existed. */
  knn200Weighted: number | null;
  linear: number | null;
  at: number;
}

/**
 * Raw-pixel cosine kNN on a run's own bank and queries: what any encoder should beat. The sizes give
 * every accuracy of the run its standard error (readings.ts).
 */
export interface PixelBaseline {
  pixelKnn1: number;
  pixelKnn20: number;
  pixelKnn20Weighted: number | null;
  pixelKnn200Weighted: number | null;
  bankImages: number;
  /** Queries scored; fewer than testSplitImages: the accuracies are read from a subset of the test split. */
  testImages: number;
  testSplitImages: number;
}

export interface ProgressPoint {
  step: number;
  /** The epoch this step belongs to, 1-based, as EvalPoint.epoch counts epochs done: epoch 2's steps, then its evaluation. */
  epoch: number;
  loss: number;
  lr: number;
  purity: number | null;
  imagesPerSec: number;
}

/** Per-class 20-NN accuracy of the final evaluation, with the training counts after the imbalance draw. */
export interface PerClassAccuracy {
  classNames: string[];
  trainCounts: number[];
  /** null for a class with no queries in the test set. */
  knn20: (number | null)[];
}

/**
 * What a run is doing, in the order it goes through them: preparing (worker, backend, data, model),
 * baseline (kNN of the random-init encoder, step 0), training, evaluating (a kNN between epochs),
 * final (the last kNN), linear (the linear probe).
 */
export const RUN_PHASES = ['preparing', 'baseline', 'training', 'evaluating', 'final', 'linear'] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

export interface RunPhaseInfo {
  phase: RunPhase;
  /** Work done and in all in this phase: steps while training, images embedded while evaluating; 0/0 when unknown. */
  done: number;
  total: number;
  /** When the phase began (ms since the epoch). */
  since: number;
}

export interface CheckpointInfo {
  epoch: number;
  step: number;
  at: number;
}

export interface RunDetail {
  run: RunSummary;
  config: RunConfig;
  /** The step-0 evaluation (random encoder), when one was made. */
  baseline: EvalPoint | null;
  /** Raw-pixel kNN on the same bank and queries; null for a run without one. */
  pixel: PixelBaseline | null;
  evals: EvalPoint[];
  checkpoints: CheckpointInfo[];
  perClass: PerClassAccuracy | null;
  /** Paused; or interrupted, stopped or failed with a checkpoint on disk, or never started: runs.resume continues (or starts) it. */
  canResume: boolean;
  /** The phase of a run training now; null otherwise. */
  phase: RunPhaseInfo | null;
}

export interface Curves {
  runId: string;
  /** Progress points, evenly thinned to at most maxPoints (last point always kept). */
  points: ProgressPoint[];
  evals: EvalPoint[];
  baseline: EvalPoint | null;
  pixel: PixelBaseline | null;
  totalSteps: number;
  /** How many points were recorded before thinning. */
  recorded: number;
}

export interface Comparison {
  runs: RunSummary[];
  /** In the order of `runs`. */
  configs: RunConfig[];
  /** Fields whose values differ, each with one value per run (docs/cli.md `isd runs compare`). */
  configDiff: Partial<Record<keyof RunConfig, unknown[]>>;
  curves: Curves[];
  perClass: (PerClassAccuracy | null)[];
}

export interface RunExport {
  filename: string;
  mimeType: 'application/json' | 'text/csv';
  content: string;
}

export interface NeighbourImage {
  index: number;
  label: number | null;
  className: string | null;
  dataUrl: string;
}

export interface NeighbourGallery {
  runId: string;
  /** The checkpoint the features came from (the final one). */
  checkpoint: CheckpointInfo;
  testCount: number;
  /** Training images searched (the first ones): a training-image query is below this. */
  bankCount: number;
  query: NeighbourImage;
  /** Nearest training images, most similar first; similarity is cosine in [-1, 1]. */
  neighbours: (NeighbourImage & { similarity: number })[];
}

export interface TeacherSimilarity {
  runId: string;
  testIndex: number;
  checkpoint: CheckpointInfo;
  /** T_t for ISD, T for MoCo. */
  temperature: number;
  queueSize: number;
  query: NeighbourImage;
  /** Histogram of the soft targets softmax(k·Qᵀ / T) over the queue: counts[i] anchors in [edges[i], edges[i+1]). */
  probability: { edges: number[]; counts: number[] };
  /** Histogram of the raw cosine similarities k·Qᵀ. */
  cosine: { edges: number[]; counts: number[] };
  /** exp(entropy) of the soft targets: how many anchors carry the mass. */
  effectiveAnchors: number;
  topAnchors: {
    queueIndex: number;
    cosine: number;
    probability: number;
    label: number | null;
    className: string | null;
    dataUrl: string | null;
  }[];
}

/** encoder.export: the run's backbone as a model file (not runs.export, which exports a run's metrics). */
export interface EncoderExport {
  runId: string;
  format: 'onnx' | 'tfjs';
  encoder: 'student' | 'teacher';
  checkpoint: CheckpointInfo;
  /** Time the export took in the analysis worker (checkpoint and dataset statistics loaded, model built, written). */
  seconds: number;
  bytes: number;
  /** destination 'dialog': the file (ONNX) or folder (TF.js) written; null when the dialog was cancelled. */
  path: string | null;
  /** destination 'download': the files for the browser to save, base64. */
  downloads: { filename: string; mimeType: string; base64: string }[];
}

/** encoder.embed: features of every image of a dataset's split, written as .npy (+ .csv) or .csv, with a .json. */
export interface EncoderEmbedding {
  runId: string;
  checkpoint: CheckpointInfo;
  dataset: string;
  split: 'train' | 'test' | 'all';
  images: number;
  dim: number;
  seconds: number;
  imagesPerSec: number;
  /** How the images were fitted to the run's input (resized, grey/colour converted); also in the .json. */
  adapted: { from: [number, number, number]; resizedTo: number | null; channels: string | null };
  /** Images that could not be read, by file and reason (skipped, not embedded). */
  skipped: { path: string; reason: string }[];
  /** destination 'dialog': the file written (null: cancelled); 'download': the files, base64. */
  path: string | null;
  downloads: { filename: string; mimeType: string; base64: string }[];
}

/** encoder.map: a 2-D projection of a split's features, each axis scaled to [0, 1]. */
export interface EncoderMap {
  runId: string;
  /** The checkpoint the trained features came from; for model 'init' the random initialisation (step 0) of the same run. */
  checkpoint: CheckpointInfo;
  model: 'trained' | 'init';
  method: 'pca' | 'umap';
  split: 'train' | 'test';
  /** Point i is image i of the split (its first `count`). */
  count: number;
  /** [count × 2] flat: x0, y0, x1, y1, … */
  xy: number[];
  labels: number[] | null;
  classNames: string[] | null;
  /** Classes the run's imbalance draw left rare; null for a balanced run. */
  rareClasses: number[] | null;
  seconds: number;
}

/** encoder.search: the nearest images to a query among a split of the run's dataset (cosine of the trained features). */
export interface EncoderSearch {
  runId: string;
  checkpoint: CheckpointInfo;
  among: 'train' | 'test';
  searched: number;
  query: NeighbourImage;
  neighbours: (NeighbourImage & { similarity: number })[];
}

/** The largest image file encoder.search takes (its base64 is 4/3 of this). */
export const SEARCH_IMAGE_MAX_BYTES = 20 * 1024 * 1024;

export interface RunEstimate {
  /** The whole run: training, the kNN evaluations (step 0 included) and the worker's start. */
  seconds: number;
  trainSeconds: number;
  evalSeconds: number;
  steps: number;
  imagesPerSec: number;
  /** measured: from runs on this backend; benchmark: from a timed step; assumed: no measurement yet. */
  basis: 'measured' | 'benchmark' | 'assumed';
  backend: string;
}

// ---------------------------------------------------------------------------------------------
// Input schemas
// ---------------------------------------------------------------------------------------------

/** Phantom output type: never parsed (main is trusted); carries the TypeScript type only. */
const out = <T>() => z.custom<T>(() => true);

const runId = z.string().min(1, 'required').max(64, 'at most 64 characters');
const studyId = z.string().min(4, 'give at least 4 characters of the study id').max(64, 'at most 64 characters');
const datasetId = z.string().min(1, 'required').max(4096, 'too long');
const path = z.string().min(1, 'required').max(4096, 'too long');
const int = (min: number, max: number) =>
  z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

/** A RunConfig partial over the defaults (withRunDefaults: the method's own settings included); parses to the full config, cross-field checks included. */
const partialRunConfig = overDefaults(z.strictObject(runConfigFields).partial(), runConfigSchema, withRunDefaults);

export const RUN_SORT_FIELDS = [
  'createdAt',
  'name',
  'method',
  'dataset',
  'imbalance',
  'status',
  'durationSec',
  'knn1',
  'knn20',
  'bestKnn20',
  'linear',
  ...RUN_CONFIG_SORT_FIELDS,
] as const;
export type RunSortField = (typeof RUN_SORT_FIELDS)[number];

const runsListInput = z.strictObject({
  status: z.array(z.enum(RUN_STATUSES)).max(RUN_STATUSES.length).optional(),
  method: z
    .array(z.enum(['isd', 'moco']))
    .max(2)
    .optional(),
  dataset: z.string().max(4096).optional(),
  tag: z.string().max(50).optional(),
  /** Case-insensitive match on name, dataset, method, imbalance, tags and notes, or a prefix of the id. */
  search: z.string().max(200, 'at most 200 characters').optional(),
  sort: z.enum(RUN_SORT_FIELDS).default('createdAt'),
  dir: z.enum(['asc', 'desc']).default('desc'),
  limit: int(1, 1000).default(200),
  offset: int(0, 1_000_000_000).default(0),
});

const maxPoints = int(10, 20_000).default(1000);

export const requests = {
  'system.info': { input: z.strictObject({}), output: out<SystemInfo>() },

  'datasets.list': { input: z.strictObject({}), output: out<DatasetEntry[]>() },
  /** Either a registry id or a path (main checks the path is one the user picked, bundled or detected). */
  'datasets.inspect': {
    input: z
      .strictObject({ id: datasetId.optional(), path: path.optional() })
      .refine((v) => (v.id === undefined) !== (v.path === undefined), {
        message: 'give either id or path',
        path: ['id'],
      }),
    output: out<DatasetSummary>(),
  },
  'datasets.preview': {
    input: z.strictObject({ id: datasetId, perClass: int(1, 32).default(8), size: int(16, 128).default(48) }),
    output: out<DatasetPreview>(),
  },
  'datasets.imbalancePreview': {
    input: z.strictObject({
      id: datasetId,
      imbalance: runConfigFields.imbalance,
      seed: runConfigFields.seed.default(0),
    }),
    output: out<ImbalancePreview>(),
  },
  /** Native dialog in Electron; the web host answers CONFLICT (use the path field instead). path null: cancelled. */
  'datasets.pick': {
    input: z.strictObject({ kind: z.enum(['folder', 'file']) }),
    output: out<{ path: string | null }>(),
  },
  'datasets.add': { input: z.strictObject({ path }), output: out<DatasetEntry>() },
  'datasets.remove': { input: z.strictObject({ id: datasetId }), output: out<{ removed: string }>() },

  /** Starts now, or queues (status queued) behind the run that is training. */
  'runs.start': { input: z.strictObject({ config: partialRunConfig }), output: out<RunSummary>() },
  'runs.pause': { input: z.strictObject({ id: runId }), output: out<RunSummary>() },
  /** Resumes a paused run, or an interrupted/stopped one from its last checkpoint. */
  'runs.resume': { input: z.strictObject({ id: runId }), output: out<RunSummary>() },
  'runs.stop': { input: z.strictObject({ id: runId }), output: out<RunSummary>() },
  'runs.list': { input: runsListInput, output: out<{ runs: RunSummary[]; total: number }>() },
  'runs.get': { input: z.strictObject({ id: runId }), output: out<RunDetail>() },
  'runs.curves': { input: z.strictObject({ id: runId, maxPoints }), output: out<Curves>() },
  'runs.compare': {
    input: z.strictObject({
      ids: z
        .array(runId)
        .min(2, 'choose at least 2 runs')
        .max(8, 'at most 8 runs')
        .refine((ids) => new Set(ids).size === ids.length, 'each run once'),
      maxPoints,
    }),
    output: out<Comparison>(),
  },
  'runs.rename': {
    input: z.strictObject({ id: runId, name: runConfigFields.name.min(1, 'required') }),
    output: out<RunSummary>(),
  },
  'runs.tag': { input: z.strictObject({ id: runId, tags: runConfigFields.tags }), output: out<RunSummary>() },
  'runs.notes': {
    input: z.strictObject({ id: runId, notes: z.string().max(10_000, 'at most 10000 characters') }),
    output: out<RunSummary>(),
  },
  'runs.delete': { input: z.strictObject({ id: runId }), output: out<{ deleted: string }>() },
  'runs.export': { input: z.strictObject({ id: runId, format: z.enum(['json', 'csv']) }), output: out<RunExport>() },
  /**
   * From the final checkpoint: the query image and its k nearest training images. The query is test image
   * `testIndex`, or with split 'train' training image `testIndex` (a neighbour clicked to become the query).
   */
  'runs.neighbours': {
    input: z.strictObject({
      id: runId,
      testIndex: int(0, 100_000_000),
      split: z.enum(['train', 'test']).default('test'),
      k: int(1, 32).default(8),
    }),
    output: out<NeighbourGallery>(),
  },
  'runs.teacherSimilarity': {
    input: z.strictObject({
      id: runId,
      testIndex: int(0, 100_000_000),
      split: z.enum(['train', 'test']).default('test'),
      bins: int(5, 200).default(40),
      top: int(1, 32).default(8),
    }),
    output: out<TeacherSimilarity>(),
  },
  /**
   * The run's backbone (student, or teacher with teacher: true) at a checkpoint (default: the last) as
   * ONNX or TF.js, the run's normalisation inside. dialog: Electron's save dialog picks where (the web host
   * answers CONFLICT); download: the files come back for the browser to save.
   */
  'encoder.export': {
    input: z.strictObject({
      id: runId,
      format: z.enum(['onnx', 'tfjs']),
      checkpointStep: int(0, Number.MAX_SAFE_INTEGER).optional(),
      teacher: z.boolean().default(false),
      destination: z.enum(['dialog', 'download']),
    }),
    output: out<EncoderExport>(),
  },
  /**
   * The trained student's features of every image of a dataset's split (any dataset the app reads; resized
   * and grey/colour converted to the run's input). Progress on encoder.progress under jobId; encoder.stop
   * ends it with nothing written.
   */
  'encoder.embed': {
    input: z.strictObject({
      id: runId,
      jobId: z.string().min(1).max(64),
      dataset: datasetId,
      split: z.enum(['train', 'test', 'all']).default('test'),
      format: z.enum(['npy', 'csv']),
      checkpointStep: int(0, Number.MAX_SAFE_INTEGER).optional(),
      destination: z.enum(['dialog', 'download']),
    }),
    output: out<EncoderEmbedding>(),
  },
  /** PCA (any size) or UMAP (up to 10,000 points) of a split's features; progress on encoder.progress under jobId. */
  'encoder.map': {
    input: z.strictObject({
      id: runId,
      jobId: z.string().min(1).max(64).optional(),
      split: z.enum(['train', 'test']).default('test'),
      method: z.enum(['pca', 'umap']).default('pca'),
      model: z.enum(['trained', 'init']).default('trained'),
      maxPoints: int(10, 100_000).default(2000),
    }),
    output: out<EncoderMap>(),
  },
  /** One image of a split of the run's dataset, as a thumbnail (the map's hover). */
  'encoder.image': {
    input: z.strictObject({ id: runId, split: z.enum(['train', 'test']), index: int(0, 100_000_000) }),
    output: out<NeighbourImage>(),
  },
  /** The k nearest images to a dataset image or an image file (PNG, JPEG, WebP; at most 20 MB, base64). */
  'encoder.search': {
    input: z.strictObject({
      id: runId,
      query: z.discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('dataset'), split: z.enum(['train', 'test']), index: int(0, 100_000_000) }),
        z.strictObject({
          kind: z.literal('file'),
          name: z.string().max(260),
          base64: z
            .string()
            .min(1, 'empty file')
            .max(Math.ceil(SEARCH_IMAGE_MAX_BYTES / 3) * 4, 'the image is larger than 20 MB')
            .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'not base64'),
        }),
      ]),
      among: z.enum(['train', 'test']).default('train'),
      limit: int(1, 100_000).default(10_000),
      k: int(1, 64).default(12),
    }),
    output: out<EncoderSearch>(),
  },
  /** Stops a running encoder job (embed, map) at its next batch. */
  'encoder.stop': { input: z.strictObject({ jobId: z.string().min(1).max(64) }), output: out<{ stopped: boolean }>() },
  /** Duration of a run with this config, from the speed measured on this backend. */
  'runs.estimate': { input: z.strictObject({ config: partialRunConfig }), output: out<RunEstimate>() },

  // Imbalance studies (electron/study): methods × imbalance profiles × seeds under one budget, each run an ordinary run.
  /** Duration of the whole study on its dataset, from the speed measured on this backend; the profiles' rare classes. */
  'study.estimate': { input: z.strictObject({ spec: studySpecInputSchema }), output: out<StudyEstimateView>() },
  /** Creates the study and queues its runs (seed by seed) behind whatever trains. */
  'study.start': { input: z.strictObject({ spec: studySpecInputSchema }), output: out<StudyDetail>() },
  'study.list': { input: z.strictObject({}), output: out<StudySummary[]>() },
  /** Spec, runs with their statuses, progress, results table, paired differences and verdicts. */
  'study.get': { input: z.strictObject({ id: studyId }), output: out<StudyDetail>() },
  /** Takes the study's waiting runs out of the queue and stops its training run with a checkpoint. */
  'study.stop': { input: z.strictObject({ id: studyId }), output: out<StudyDetail>() },
  /** Re-queues the runs that are not completed (from their checkpoints); completed runs are never redone. */
  'study.resume': { input: z.strictObject({ id: studyId }), output: out<StudyDetail>() },
  'study.export': { input: z.strictObject({ id: studyId, format: z.enum(['csv', 'md']) }), output: out<StudyExport>() },
} as const;

// ---------------------------------------------------------------------------------------------
// Events (main → renderer). Payloads come from main, which is trusted: types only.
// ---------------------------------------------------------------------------------------------

export interface RunProgressEvent extends ProgressPoint {
  runId: string;
  totalSteps: number;
  etaSec: number | null;
  at: number;
}

export interface RunStatusEvent {
  runId: string;
  status: RunStatus;
  error?: ContractError;
}

export interface RunPhaseEvent extends RunPhaseInfo {
  runId: string;
}

export interface RunEvalEvent extends EvalPoint {
  runId: string;
}

/** Once per run, before its first step: its raw-pixel kNN and its step-0 evaluation. */
export interface RunBaselineEvent extends PixelBaseline {
  runId: string;
  init: EvalPoint;
}

/** A long encoder job's progress (embed, map): images through the encoder, or UMAP epochs. */
export interface EncoderProgressEvent {
  jobId: string;
  runId: string;
  phase: 'load' | 'features' | 'umap' | 'write';
  done: number;
  total: number;
  imagesPerSec: number | null;
}

export interface AppLogEvent {
  level: 'info' | 'warn' | 'error';
  message: string;
  at: number;
}

export const events = {
  'run.progress': out<RunProgressEvent>(),
  'run.status': out<RunStatusEvent>(),
  'run.eval': out<RunEvalEvent>(),
  'run.baseline': out<RunBaselineEvent>(),
  /** A training run entered a phase, or moved within one (at most a few times a second). */
  'run.phase': out<RunPhaseEvent>(),
  /** Datasets were added or removed (by any client): lists should refresh. */
  'datasets.changed': out<{ ids: string[] }>(),
  'app.log': out<AppLogEvent>(),
  'encoder.progress': out<EncoderProgressEvent>(),
  /** A study's runs moved (progress at most once a second while one trains; at once on status changes and evaluations). */
  'study.progress': out<StudyProgress>(),
} as const;

// ---------------------------------------------------------------------------------------------
// Types derived from the tables
// ---------------------------------------------------------------------------------------------

export type Channel = keyof typeof requests;
export type EventName = keyof typeof events;
/** What a caller sends (defaults may be left out). */
export type RequestInput<C extends Channel> = z.input<(typeof requests)[C]['input']>;
/** What a handler receives after validation (defaults filled in, runs.start's config complete). */
export type ParsedInput<C extends Channel> = z.output<(typeof requests)[C]['input']>;
export type RequestOutput<C extends Channel> = z.output<(typeof requests)[C]['output']>;
export type EventPayload<E extends EventName> = z.output<(typeof events)[E]>;

export const CHANNELS = Object.keys(requests) as Channel[];
export const EVENT_NAMES = Object.keys(events) as EventName[];

export function isChannel(name: unknown): name is Channel {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(requests, name);
}

/** The main-side implementation of every channel: ipc.ts and host.ts both bind one of these. */
export type Handlers = { [C in Channel]: (input: ParsedInput<C>) => Promise<RequestOutput<C>> | RequestOutput<C> };

/** The renderer-facing API: preload exposes it as window.isd; the web client implements it over WebSocket. */
export interface IsdApi {
  invoke<C extends Channel>(channel: C, input: RequestInput<C>): Promise<Result<RequestOutput<C>>>;
  /** Returns the function that unsubscribes. */
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

function describeIssue(issue: z.core.$ZodIssue): { field: string; message: string } {
  const base = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...base, issue.keys[0]].join('.');
    return { field, message: `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}` };
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message))
    return { field: base.join('.'), message: 'required' };
  return { field: base.join('.'), message: issue.message };
}

/** The error envelope for a zod failure: the first issue, its field named as a dotted path. */
export function inputError(error: z.ZodError): { ok: false; error: ContractError } {
  const issue = error.issues[0];
  if (!issue) return { ok: false, error: { code: 'BAD_INPUT', message: 'invalid input' } };
  const { field, message } = describeIssue(issue);
  return {
    ok: false,
    error: { code: 'BAD_INPUT', field: field || 'input', message },
  };
}

/** Validates a request's input against its channel's schema; unknown channels are refused. */
export function validateRequest<C extends Channel>(channel: C, input: unknown): Result<ParsedInput<C>>;
export function validateRequest(channel: string, input: unknown): Result<unknown>;
export function validateRequest(channel: string, input: unknown): Result<unknown> {
  if (!isChannel(channel)) {
    return {
      ok: false,
      error: {
        code: 'BAD_INPUT',
        field: 'channel',
        message: `unknown channel "${String(channel).slice(0, 100)}"`,
      },
    };
  }
  const parsed = (requests[channel].input as z.ZodType).safeParse(input);
  return parsed.success ? { ok: true, value: parsed.data } : inputError(parsed.error);
}

/** Every issue of a config (for the renderer's form, which marks each field). Keys are field names. */
export function runConfigIssues(config: unknown): Record<string, string> {
  const parsed = partialRunConfig.safeParse(config);
  const issues: Record<string, string> = {};
  if (parsed.success) return issues;
  for (const issue of parsed.error.issues) {
    const { field, message } = describeIssue(issue);
    issues[field || 'config'] ??= message;
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------------------

/** Electron: preload calls ipcRenderer.invoke(IPC_REQUEST, channel, input); main sends IPC_EVENT (event, payload). */
export const IPC_REQUEST = 'isd:request';
export const IPC_EVENT = 'isd:event';

/** WebSocket client → host. */
export interface WireRequest {
  id: number;
  channel: string;
  input: unknown;
}
/** WebSocket host → client: the answer to request `id`, or a pushed event. */
export type WireMessage = { id: number; result: Result<unknown> } | { event: EventName; payload: unknown };

export const wireRequestSchema = z.strictObject({
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  channel: z.string().max(200),
  input: z.unknown(),
});

/** Parses one text frame from a client; a malformed frame answers with id -1 when no id can be read. */
export function parseWireRequest(
  text: string,
): { ok: true; request: WireRequest } | { ok: false; id: number; error: ContractError } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, id: -1, error: { code: 'BAD_INPUT', field: 'message', message: 'message: not valid JSON' } };
  }
  const parsed = wireRequestSchema.safeParse(data);
  if (parsed.success) return { ok: true, request: parsed.data as WireRequest };
  const id = typeof (data as { id?: unknown } | null)?.id === 'number' ? (data as { id: number }).id : -1;
  return { ok: false, id, error: inputError(parsed.error).error };
}
