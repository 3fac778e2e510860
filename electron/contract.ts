/**
 * The IPC contract: every request channel (runtime schema of its input, type of its output) and every
 * event channel (payload type). Preload, ipc.ts, host.ts and the renderer's client are all typed from
 * this one module, so a channel cannot drift between sides. The shapes they carry live by subject in
 * contract/ (runs, study, encoder, system, the envelope, the wire framing) and are re-exported here.
 *
 * Pure: imports zod, errors, run-config, run-status and contract/ only (plus erased type-only imports),
 * so the renderer imports it at runtime too (its forms validate with the same schemas before anything is sent).
 *
 * Adding a feature (e.g. `study.*`) is a plain extension of `requests` / `events` below.
 */
import { z } from 'zod';
import { RUN_CONFIG_SORT_FIELDS, runConfigFields, runConfigSchema, withRunDefaults } from './run-config';
import type { DatasetEntry, DatasetSummary } from './data/types';
import { overDefaults } from './contract/over-defaults';
import { studySpecInputSchema } from './contract/study-spec';
import type { StudyDetail, StudyEstimateView, StudyExport, StudyProgress, StudySummary } from './contract/study';
import { RUN_STATUSES, type RunStatus } from './run-status';
import { inputError, type ContractError, type Result } from './contract/envelope';
import type {
  Comparison,
  Curves,
  EvalPoint,
  PixelBaseline,
  ProgressPoint,
  RunDetail,
  RunEstimate,
  RunExport,
  RunPhaseInfo,
  RunSummary,
} from './contract/runs';
import type {
  EncoderEmbedding,
  EncoderExport,
  EncoderMap,
  EncoderSearch,
  NeighbourGallery,
  NeighbourImage,
  TeacherSimilarity,
} from './contract/encoder';
import { KEYS_BARELY_DIFFER, SEARCH_IMAGE_MAX_BYTES } from './contract/encoder';
import type { DatasetPreview, ImbalancePreview, SystemInfo } from './contract/system';

export type { RunConfig } from './run-config';
export { RUN_CONFIG_SORT_FIELDS };
export type { DatasetEntry, DatasetSummary, DatasetFormat } from './data/types';
export type * from './contract/study';
export type * from './contract/system';
export type * from './contract/runs';
export type * from './contract/encoder';
export { RUN_PHASES } from './contract/runs';
export { KEYS_BARELY_DIFFER, SEARCH_IMAGE_MAX_BYTES };
export * from './contract/envelope';
export * from './contract/wire';
export { RUN_STATUSES, type RunStatus };

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
   * `testIndex`, or with split 'train' training image `testIndex`: any of the split's (a neighbour or a top
   * anchor clicked to become the query), while the neighbours are searched among the first `bankCount`.
   */
  'runs.neighbours': {
    input: z.strictObject({
      id: runId,
      testIndex: int(0, 100_000_000),
      split: z.enum(['train', 'test']).default('test'),
      k: int(1, 32).default(8),
      /** The first view of a run embeds its training images: progress on encoder.progress under jobId. */
      jobId: z.string().min(1).max(64).optional(),
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
