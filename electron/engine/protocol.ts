/**
 * The typed message protocol between the engine worker (worker.ts) and the thread that started it
 * (run-engine.ts). Plain structured-clone data only: numbers, strings, arrays, never tensors.
 * main → worker: start, pause, resume, stop. worker → main: ready, status, progress, baseline,
 * epochEval, checkpoint, done, failed, log. The trainer emits the same events through a callback.
 */
import type { RunPhase } from '../contract';
import type { IsdErrorCode } from '../errors';
import type { RunConfig } from '../run-config';
import type { BackendName, BackendReport } from './backend';

/** Why a checkpoint was written: every checkpointEvery epochs, the run's end, or a stop. The store records the same names. */
export const CHECKPOINT_KINDS = ['periodic', 'final', 'stop'] as const;
export type CheckpointKind = (typeof CHECKPOINT_KINDS)[number];

/** Engine knobs that are not hyperparameters of the run (not in RunConfig). */
export interface EngineOptions {
  /** Force a backend (else initBackend's choice, or ISD_BACKEND). */
  backend?: BackendName;
  /** wasm thread-pool size. */
  threads?: number;
  /** Training replicas: 2 splits each batch over two threads (data-parallel.ts); default from plannedReplicas. */
  replicas?: number;
  /** Encoder base width override (resnet20: 16, resnet18: 64): only for fast tests of the machinery. */
  baseWidth?: number;
  /** Checkpoint folders kept per run, the newest ones. Default 2. */
  keepCheckpoints?: number;
  /** kNN bank: the first n images of the dataset's training split (default: all, or max(trainLimit, 5000) with trainLimit). */
  evalBankLimit?: number;
  /** kNN queries: the first n test images (default: all, or 2000 with trainLimit). */
  evalTestLimit?: number;
  /** Images per forward pass when extracting features for evaluation. Default 256. */
  evalBatchSize?: number;
  /** Emit a progress event every this many steps (the first and last step always). Default 1. */
  progressEvery?: number;
}

export interface StartMessage {
  type: 'start';
  runId: string;
  config: RunConfig;
  /** The dataset's file or folder (already resolved from its id by the caller). */
  datasetPath: string;
  /** Checkpoints go to <checkpointRoot>/<runId>/step-NNNNNNNNN/. */
  checkpointRoot: string;
  resume?: { checkpointPath: string };
  engine?: EngineOptions;
}

export type ControlMessage = { type: 'pause' } | { type: 'resume' } | { type: 'stop' };
export type MainToWorker = StartMessage | ControlMessage;

/** Engine-side status: what the trainer is doing now. */
export type EngineStatus =
  'loading' | 'running' | 'evaluating' | 'paused' | 'stopping' | 'completed' | 'stopped' | 'failed';

export interface DatasetReport {
  name: string;
  format: string;
  shape: [number, number, number];
  classNames: string[] | null;
  /** Images trained on (after the imbalance draw and trainLimit). */
  trainImages: number;
  /** Per class count of those images (null when unlabeled). */
  trainClassCounts: number[] | null;
  /** Images in the kNN bank and queries (0 when the dataset has no labels or no test split). */
  evalBankImages: number;
  evalTestImages: number;
  /** Classes counted as rare in the evaluation (imbalanced runs). */
  rareClasses: number[] | null;
}

export interface ReadyEvent {
  type: 'ready';
  backend: BackendReport;
  dataset: DatasetReport;
  /** Side of the square images the encoder is trained on. */
  imageSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
  /** Trainable parameters of the student (backbone and heads). */
  parameters: number;
  resumedFrom: string | null;
}

export interface StatusEvent {
  type: 'status';
  status: EngineStatus;
}

/** The trainer entered a phase or moved within one (contract.ts RUN_PHASES). */
export interface PhaseEvent {
  type: 'phase';
  phase: RunPhase;
  /** Steps while training, images embedded while evaluating; 0/0 when unknown. */
  done: number;
  total: number;
}

export interface ProgressEvent {
  type: 'progress';
  /** Optimizer steps done over the whole run (this one included). */
  step: number;
  totalSteps: number;
  /** The epoch this step belongs to, 1-based. */
  epoch: number;
  /** Share of that epoch done, in (0, 1]. */
  epochFraction: number;
  loss: number;
  lr: number;
  /** Teacher top-5 queue-neighbour label agreement of this step's batch (labelled data only). */
  purity?: number;
  /** Smoothed over recent steps, augmentation included. */
  imagesPerSec: number;
  /** Training and the evaluations still to come, at the rates this run measured. */
  etaSec: number;
}

export interface KnnMetrics {
  knn1: number;
  knn20: number;
  knn20Weighted: number;
  /** 200-NN weighted by exp(similarity / 0.1) (InstDisc / MoCo's monitor), k capped at the bank size. */
  knn200Weighted: number;
}

/**
 * What a run's accuracies are read against, once per run before its first step: kNN on raw pixels
 * and on the random-init encoder (the step-0 evaluation), both on the run's own bank and queries.
 */
export interface BaselineEvent {
  type: 'baseline';
  pixel: KnnMetrics;
  /** The step-0 evaluation's kNN (also sent as its epochEval). */
  init: KnnMetrics;
  bankImages: number;
  /** Queries scored; fewer than testSplitImages means every accuracy of the run is read from a subset. */
  testImages: number;
  testSplitImages: number;
  /** Seconds the raw-pixel kNN took. */
  pixelSec: number;
}

export interface EpochEvalEvent extends KnnMetrics {
  type: 'epochEval';
  /** Epochs completed when evaluated (0: the random-init baseline). */
  epoch: number;
  step: number;
  perClass: Record<keyof KnnMetrics, number[]>;
  frequent?: KnnMetrics;
  rare?: KnnMetrics;
  /** Mean training loss over the epoch (null at step 0). */
  meanLoss: number | null;
  /** Mean purity over the epoch (null at step 0 or without labels). */
  meanPurity: number | null;
  /** Linear-probe top-1, at the end with linearEval. */
  linear?: number;
  evalSec: number;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  epoch: number;
  step: number;
  path: string;
  kind: CheckpointKind;
  /** Older checkpoint folders removed to keep keepCheckpoints. */
  pruned: string[];
}

export interface DoneEvent {
  type: 'done';
  /** completed: all epochs ran; stopped: a stop request ended the run early (resumable). */
  reason: 'completed' | 'stopped';
  epoch: number;
  step: number;
  totalSteps: number;
  /** Last step's loss (null when no step ran in this session). */
  loss: number | null;
  /** The latest evaluation (null when none was made). */
  metrics: (KnnMetrics & { linear?: number; rare?: KnnMetrics; frequent?: KnnMetrics }) | null;
  checkpointPath: string | null;
  /** Training time of this session (pauses excluded). */
  durationSec: number;
}

export interface FailedEvent {
  type: 'failed';
  code: IsdErrorCode;
  message: string;
  field?: string;
  path?: string;
  /** Steps done when it failed. */
  step?: number;
  /** Newest checkpoint on disk: a resume starts from it. */
  lastCheckpoint?: string | null;
}

export interface LogEvent {
  type: 'log';
  level: 'info' | 'warn' | 'error';
  message: string;
}

/** What the trainer emits. */
export type TrainerEvent =
  | StatusEvent
  | PhaseEvent
  | ProgressEvent
  | BaselineEvent
  | EpochEvalEvent
  | CheckpointEvent
  | DoneEvent
  | FailedEvent
  | LogEvent;
/** What the worker posts. */
export type WorkerToMain = ReadyEvent | TrainerEvent;
export type EngineEvent = WorkerToMain;

export function isMainToWorker(m: unknown): m is MainToWorker {
  const t = (m as { type?: unknown } | null)?.type;
  return t === 'start' || t === 'pause' || t === 'resume' || t === 'stop';
}
