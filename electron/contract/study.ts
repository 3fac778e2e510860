/**
 * What the study channels answer: the plan's class split and estimate, the results table and its
 * verdicts, a study's progress and detail. study/ computes them and the contract re-exports them, so
 * the renderer sees the same shapes. Accuracies are fractions in [0, 1]; times are ms since the epoch;
 * durations seconds.
 */
import type { RunStatus } from '../run-status';
import type { RunReferences } from './runs';
import type { StudySpec } from './study-spec';

export type { StudyBudget, StudyMethod, StudySpec, StudySpecInput } from './study-spec';

export const STUDY_METRICS = ['knn1', 'knn20', 'linear'] as const;
export type StudyMetric = (typeof STUDY_METRICS)[number];
export const CLASS_GROUPS = ['all', 'frequent', 'rare'] as const;
export type ClassGroup = (typeof CLASS_GROUPS)[number];

/** Which classes a profile leaves large and which rare, with the images each keeps (before trainLimit). */
export interface ProfileClasses {
  profile: string;
  counts: number[];
  /** Images one run trains on: the draw's total, capped by trainLimit. */
  trainImages: number;
  frequent: number[];
  /** Empty for a balanced profile. */
  rare: number[];
}

export interface StudyEstimate {
  runs: number;
  /** The whole study, from scratch. */
  seconds: number;
  /** Training images per second the estimate assumes. */
  imagesPerSec: number;
  perProfile: {
    profile: string;
    trainImages: number;
    steps: number;
    secondsPerRun: number;
    frequent: number[];
    rare: number[];
  }[];
}

/** Mean and spread of one metric over a method × profile's seeds. */
export interface SummaryCell {
  method: string;
  profile: string;
  metric: StudyMetric;
  group: ClassGroup;
  /** Runs with a value. */
  n: number;
  mean: number | null;
  /** Sample standard deviation (n − 1); null with fewer than 2 runs. */
  std: number | null;
  min: number | null;
  max: number | null;
  /** The values, by seed ascending. */
  values: number[];
  seeds: number[];
}

/** ISD − MoCo on one metric and class group of one profile, paired by seed. */
export interface PairedDifference {
  profile: string;
  metric: StudyMetric;
  group: ClassGroup;
  /** Seeds where both methods have a value. */
  pairs: number;
  seeds: number[];
  differences: number[];
  mean: number | null;
  /** Sample standard deviation of the differences. */
  std: number | null;
  /** 95% confidence interval of the mean difference (Student t, pairs − 1 degrees of freedom); null with fewer than 2 pairs. */
  ciLow: number | null;
  ciHigh: number | null;
  /** The larger of the two methods' run-to-run spreads (sample std) on this metric. */
  spread: number | null;
  finding: Finding;
  /** The finding in a few words, for table cells (the interval is in its own column). */
  short: string;
  verdict: string;
}

export interface ProfileVerdict {
  profile: string;
  /** One plain sentence over the headline comparisons (1-NN and 20-NN, all and rare classes). */
  verdict: string;
}

export interface StudyResults {
  /** Completed runs counted in the table. */
  runs: number;
  cells: SummaryCell[];
  paired: PairedDifference[];
  verdicts: ProfileVerdict[];
}

/**
 * What a paired difference shows: nothing yet; one seed (no interval); no clear difference (the CI
 * includes 0); weak (the CI excludes 0 but the difference is below the run-to-run spread); or a clear
 * lead for ISD or MoCo.
 */
export type Finding = 'unmeasured' | 'single' | 'none' | 'weak' | 'isd' | 'moco';

/** running: a run of it trains or waits in a queue; completed: every planned run completed; incomplete: the rest (study.resume continues it). */
export type StudyState = 'running' | 'completed' | 'incomplete';

/** The plan's estimate (plan.ts estimateStudy), with where its images per second come from. */
export interface StudyEstimateView extends StudyEstimate {
  basis: 'measured' | 'benchmark' | 'assumed';
  backend: string;
}

/** One planned run and where it stands; runId null when it was never created (study.resume creates it). */
export interface StudyRunView extends Omit<RunReferences, 'evalTestSplitImages'> {
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
