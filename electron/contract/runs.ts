/**
 * A run as the wire carries it: its summary, detail, curves, comparison, export, estimate and phase.
 * Independent of the store's row types (app/run-dto.ts maps rows to these). Times are milliseconds
 * since the epoch; accuracies are fractions in [0, 1].
 */
import type { RunConfig } from '../run-config';
import type { RunStatus } from '../run-status';
import type { ContractError } from './envelope';

export type Method = RunConfig['method'];

/** What a run's knn1 and knn20 are read against (readings.ts): the step-0 evaluation and raw pixels; null: none stored. */
export interface RunReferences {
  initKnn1: number | null;
  initKnn20: number | null;
  pixelKnn1: number | null;
  pixelKnn20: number | null;
  /** Queries each evaluation scored, and the test split's size (fewer: a subset); null: not recorded. */
  evalTestImages: number | null;
  evalTestSplitImages: number | null;
}

export interface RunSummary extends RunReferences {
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
