/**
 * Rows and inputs of the run-history store (camelCase, parsed JSON, times in ms since the epoch).
 * What crosses the wire is the contract's shape (contract.ts); app/run-dto.ts maps these rows to it.
 */
import { RUN_CONFIG_SORT_FIELDS, type RunConfig } from '../run-config';
import type { RunStatus } from '../run-status';
import type { CheckpointKind } from '../engine/protocol';

/** Final (or best-so-far) metrics of a run; null until measured. Accuracies are fractions in [0, 1]. */
export interface RunMetrics {
  knn1: number | null;
  knn20: number | null;
  knn20Weighted: number | null;
  /** 200-NN weighted by exp(similarity / 0.1). */
  knn200Weighted: number | null;
  linear: number | null;
  /** Highest kNN-20 accuracy of any evaluation after training began (the step-0 baseline excluded; kept up to date by addEpochEval). */
  bestKnn20: number | null;
  /** Neighbour purity of the learned embedding at the end. */
  purity: number | null;
  /** Training throughput over the run. */
  imagesPerSec: number | null;
}

/** What a run's final accuracies are read against: its step-0 evaluation and its raw-pixel baseline (null: none). */
export interface RunReferenceColumns {
  initKnn1: number | null;
  initKnn20: number | null;
  pixelKnn1: number | null;
  pixelKnn20: number | null;
  /** Queries of the run's evaluations (null: not recorded). */
  evalTestImages: number | null;
  evalTestSplitImages: number | null;
}

/** One line of the runs list: everything but the config and notes. */
export interface RunSummaryRow extends RunMetrics, RunReferenceColumns {
  id: string;
  name: string;
  method: string;
  arch: string;
  /** Dataset id from the registry or the path it was loaded from. */
  dataset: string;
  datasetName: string;
  imbalance: string;
  status: RunStatus;
  /** Why the run failed or was interrupted; null otherwise. */
  error: string | null;
  backend: string | null;
  device: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  /** Planned epochs (from the config). */
  epochs: number;
  /** The config's encoder input side; 0: the dataset's own (the run report records the side trained at). */
  imageSize: number;
  epochsDone: number;
  stepsDone: number;
  /** Sorted alphabetically. */
  tags: string[];
  checkpointDir: string | null;
  studyId: string | null;
}

/** A run with its full config, as stored when it was created. */
export interface RunRow extends RunSummaryRow {
  config: RunConfig;
  notes: string;
}

export interface CreateRunOptions {
  /** Display name; defaults to config.name, else "<method> on <dataset name>". */
  name?: string;
  /** Human name of the dataset (the registry's); defaults to config.dataset. */
  datasetName?: string;
  /** queued (default) or running; a running run records this process as its owner. */
  status?: 'queued' | 'running';
  checkpointDir?: string;
  studyId?: string;
}

/** What updateRun may change. Status changes are checked against the allowed transitions. */
export interface RunPatch extends Partial<RunMetrics> {
  status?: RunStatus;
  error?: string | null;
  backend?: string | null;
  device?: string | null;
  startedAt?: number | null;
  /** Set automatically when the run reaches completed, failed or stopped, unless given. */
  endedAt?: number | null;
  epochsDone?: number;
  stepsDone?: number;
  checkpointDir?: string | null;
  studyId?: string | null;
}

export interface StepMetricInput {
  step: number;
  epoch: number;
  loss: number | null;
  lr: number | null;
  purity?: number | null;
  imagesPerSec?: number | null;
  /** ms since the epoch; defaults to now. */
  time?: number;
}

export interface StepMetricRow {
  step: number;
  epoch: number;
  loss: number | null;
  lr: number | null;
  purity: number | null;
  imagesPerSec: number | null;
  time: number;
}

export interface EpochEvalInput {
  epoch: number;
  step: number;
  knn1: number | null;
  knn20: number | null;
  knn20Weighted?: number | null;
  knn200Weighted?: number | null;
  linear?: number | null;
  purity?: number | null;
  /** kNN-20 accuracy per class, in label order; null for a class with no queries in the test set. */
  perClass?: (number | null)[] | null;
  /** Mean accuracy over the classes the imbalance draw kept large / made rare. */
  frequentAcc?: number | null;
  rareAcc?: number | null;
  time?: number;
}

export interface EpochEvalRow {
  epoch: number;
  step: number;
  knn1: number | null;
  knn20: number | null;
  knn20Weighted: number | null;
  knn200Weighted: number | null;
  linear: number | null;
  purity: number | null;
  perClass: (number | null)[] | null;
  frequentAcc: number | null;
  rareAcc: number | null;
  time: number;
}

/** Raw-pixel cosine kNN on a run's bank and queries, and their sizes. */
export interface BaselineInput {
  pixelKnn1: number | null;
  pixelKnn20: number | null;
  pixelKnn20Weighted: number | null;
  pixelKnn200Weighted: number | null;
  bankImages: number;
  testImages: number;
  /** Images in the dataset's test split: more than testImages means the queries are a subset. */
  testSplitImages: number;
  time?: number;
}

export type BaselineRow = Required<BaselineInput>;

export interface CheckpointInput {
  epoch: number;
  step: number;
  path: string;
  kind: CheckpointKind;
  createdAt?: number;
}

export interface CheckpointRow {
  id: number;
  runId: string;
  epoch: number;
  step: number;
  path: string;
  kind: CheckpointKind;
  createdAt: number;
}

/** Columns listRuns sorts by; the API's sort fields are contract.ts RUN_SORT_FIELDS (services.ts sorts the computed durationSec). */
export const RUN_ROW_SORT_FIELDS = [
  'createdAt',
  'startedAt',
  'endedAt',
  'name',
  'status',
  'method',
  'dataset',
  'epochsDone',
  'knn1',
  'knn20',
  'linear',
  'bestKnn20',
  'purity',
  'imagesPerSec',
  'imbalance',
  ...RUN_CONFIG_SORT_FIELDS,
] as const;
export type RunRowSortField = (typeof RUN_ROW_SORT_FIELDS)[number];

export interface RunListQuery {
  status?: RunStatus | RunStatus[];
  method?: string;
  /** Matches the dataset id/path or the dataset's name exactly. */
  dataset?: string;
  /** Case-insensitive substring of the name, dataset, method, imbalance, notes or a tag, or a prefix of the id. */
  search?: string;
  tag?: string;
  studyId?: string;
  sort?: RunRowSortField;
  order?: 'asc' | 'desc';
  /** Page size, 1 or more (default 50). */
  limit?: number;
  offset?: number;
}

export interface RunRowPage {
  /** Runs matching the filter, ignoring limit and offset. */
  total: number;
  runs: RunSummaryRow[];
}

export interface StepMetricsSummary {
  points: number;
  firstStep: number | null;
  lastStep: number | null;
  lastLoss: number | null;
  minLoss: number | null;
  meanImagesPerSec: number | null;
  lastTime: number | null;
}

export interface RunRows {
  run: RunRow;
  config: RunConfig;
  metrics: StepMetricsSummary;
  evals: EpochEvalRow[];
  checkpoints: CheckpointRow[];
  baseline: BaselineRow | null;
}

export interface CurveOptions {
  /** At most this many points come back (≥ 2; default 1000). */
  maxPoints?: number;
}

export interface RunCurves {
  runId: string;
  /** Step rows stored for the run. */
  totalPoints: number;
  /** Real recorded rows, in step order: the first, the last, and per step bucket the lowest- and highest-loss rows. */
  points: StepMetricRow[];
}

export interface DeleteRunOptions {
  /** Also remove the run's checkpoint folder (only when it lies inside the store's checkpointRoot). */
  deleteFiles?: boolean;
}

export interface DeleteRunResult {
  id: string;
  /** The folder removed, when files were removed. */
  removedDir: string | null;
}

export interface UserDatasetRow {
  path: string;
  name: string;
  addedAt: number;
}

export interface StudyRow {
  id: string;
  name: string;
  spec: unknown;
  createdAt: number;
  runCount: number;
}

/** What opening the store found and did. */
export interface OpenReport {
  /** Schema version before and after the migrations ran. */
  fromVersion: number;
  toVersion: number;
  /** Runs left running or paused by a process that no longer exists, now marked interrupted. */
  interruptedRunIds: string[];
}
