/**
 * What the study channels answer (types only: the contract re-exports them, so the renderer sees the
 * same shapes). Accuracies are fractions in [0, 1]; times are ms since the epoch; durations seconds.
 */
import type { RunStatus } from '../run-status';
import type { ProfileClasses, StudyEstimate } from './plan';
import type { StudyResults } from './results';
import type { StudySpec } from './study-spec';

export type { ProfileClasses } from './plan';
export type { ClassGroup, PairedDifference, ProfileVerdict, StudyMetric, StudyResults, SummaryCell } from './results';
export type { StudyBudget, StudyMethod, StudySpec, StudySpecInput } from './study-spec';

/** running: a run of it trains or waits in a queue; completed: every planned run completed; incomplete: the rest (study.resume continues it). */
export type StudyState = 'running' | 'completed' | 'incomplete';

/** The plan's estimate (plan.ts estimateStudy), with where its images per second come from. */
export interface StudyEstimateView extends StudyEstimate {
  basis: 'measured' | 'benchmark' | 'assumed';
  backend: string;
}

/** One planned run and where it stands; runId null when it was never created (study.resume creates it). */
export interface StudyRunView {
  key: string;
  method: string;
  profile: string;
  seed: number;
  runId: string | null;
  status: RunStatus | 'missing';
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  knn1: number | null;
  knn20: number | null;
  linear: number | null;
  /** What knn1 and knn20 are read against: the run's step 0 and raw pixels; the queries' count (readings.ts). */
  initKnn1: number | null;
  initKnn20: number | null;
  pixelKnn1: number | null;
  pixelKnn20: number | null;
  evalTestImages: number | null;
  /** 20-NN on the classes the profile kept large / made rare (imbalanced profiles). */
  frequentKnn20: number | null;
  rareKnn20: number | null;
  error: string | null;
}

export interface StudyActiveRun {
  runId: string;
  key: string;
  method: string;
  profile: string;
  seed: number;
  status: RunStatus;
  step: number;
  totalSteps: number;
  imagesPerSec: number | null;
}

/** Live progress of a whole study (event study.progress, and part of study.get). */
export interface StudyProgress {
  studyId: string;
  state: StudyState;
  total: number;
  completed: number;
  failed: number;
  /** Stopped or interrupted: study.resume continues them from their checkpoints. */
  stopped: number;
  /** Waiting in the queue. */
  queued: number;
  active: StudyActiveRun | null;
  /** Share of the study's work done, counting the active run's steps. */
  fraction: number;
  /** Seconds of work left (from the runs finished so far, else the estimate); null when nothing is left. */
  etaSec: number | null;
  at: number;
}

export interface StudySummary {
  id: string;
  name: string;
  createdAt: number;
  dataset: string;
  methods: string[];
  profiles: string[];
  seeds: number;
  state: StudyState;
  total: number;
  completed: number;
  failed: number;
}

export interface StudyDetail {
  summary: StudySummary;
  spec: StudySpec;
  estimate: StudyEstimateView | null;
  /** Per profile: class counts of the draw and which classes count as frequent and rare. */
  profiles: ProfileClasses[];
  runs: StudyRunView[];
  progress: StudyProgress;
  results: StudyResults;
  /** The results as a Markdown report (what study.export md gives). */
  markdown: string;
}

export interface StudyExport {
  filename: string;
  mimeType: 'text/csv' | 'text/markdown';
  content: string;
}
