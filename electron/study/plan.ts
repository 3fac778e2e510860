/**
 * Planning an imbalance study (pure: no I/O). A spec becomes one ordinary RunConfig per
 * method × profile × seed, tagged with the study; each profile's class counts say which classes are
 * rare (evaluated apart on the balanced test set); and the whole study's duration is estimated from a
 * measured training speed.
 */
import { imbalanceCounts, rareClassesOf } from '../data/imbalance';
import { evaluationSetSizes } from '../engine/run-data';
import { IsdError } from '../errors';
import {
  checkAgainstDataset,
  DEFAULT_RUN_CONFIG,
  METHOD_DEFAULTS,
  parseImbalance,
  type RunConfig,
} from '../run-config';
import { studySeeds, studySpecInputSchema, type StudyMethod, type StudySpec } from '../contract/study-spec';
import type { ProfileClasses, StudyEstimate } from '../contract/study';

/** One run of the study: its place in the design and its config. */
export interface PlannedRun {
  /** "<method>|<profile>|<seed>": what pairs a stored run with its place in the plan. */
  key: string;
  method: StudyMethod;
  profile: string;
  seed: number;
  config: RunConfig;
}

export function studyRunKey(method: string, profile: string, seed: number): string {
  return `${method}|${profile}|${seed}`;
}

/** Tag every run of a study carries (the store also links them by studyId). */
export function studyTag(studyId: string): string {
  return `study:${studyId.slice(0, 8)}`;
}

/** Validates a partial spec over DEFAULT_STUDY_SPEC; a bad field throws an IsdError naming it. */
export function validateStudySpec(input: unknown): StudySpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new IsdError('BAD_INPUT', 'the study spec must be an object', { field: 'spec' });
  const r = studySpecInputSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field =
    issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]].join('.') : issue.path.join('.') || 'spec';
  const message = issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
  throw new IsdError('BAD_INPUT', `${field}: ${message}`, { field });
}

/** A profile's class counts and rare classes on a training split with `available` images per class. */
export function profileClasses(available: readonly number[], profile: string, trainLimit: number): ProfileClasses {
  let counts: number[];
  try {
    counts = imbalanceCounts([...available], parseImbalance(profile));
  } catch (err) {
    throw new IsdError('BAD_INPUT', `profiles: ${profile}: ${(err as Error).message}`, { field: 'profiles' });
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const isBalanced = parseImbalance(profile).kind === 'none';
  const rare = isBalanced ? [] : rareClassesOf(counts);
  const rareSet = new Set(rare);
  return {
    profile,
    counts,
    trainImages: trainLimit > 0 ? Math.min(total, trainLimit) : total,
    frequent: counts.flatMap((_, c) => (rareSet.has(c) ? [] : [c])),
    rare,
  };
}

/** The runs of a study, in the order they are queued: seed by seed, so a stopped study has whole pairs first. */
export function planStudy(spec: StudySpec, studyId: string): PlannedRun[] {
  const runs: PlannedRun[] = [];
  for (const seed of studySeeds(spec)) {
    for (const profile of spec.profiles) {
      for (const method of spec.methods) {
        const b = spec.budget;
        const config: RunConfig = {
          ...DEFAULT_RUN_CONFIG,
          ...METHOD_DEFAULTS[method],
          dataset: spec.dataset,
          method,
          arch: b.arch,
          epochs: b.epochs,
          batchSize: b.batchSize,
          queueSize: b.queueSize,
          imageSize: b.imageSize,
          trainLimit: b.trainLimit,
          evalEvery: b.evalEvery,
          checkpointEvery: 1,
          linearEval: b.linearEval,
          imbalance: profile,
          seed,
          name: `${spec.name || 'study'} · ${method} · ${profile} · seed ${seed}`.slice(0, 200),
          tags: [studyTag(studyId), `imbalance:${profile}`.slice(0, 50), method],
        };
        runs.push({ key: studyRunKey(method, profile, seed), method, profile, seed, config });
      }
    }
  }
  return runs;
}

/** Checks the spec against the dataset's class counts: every profile drawable, one batch per run at least. */
export function checkStudyAgainstDataset(
  spec: StudySpec,
  trainClassCounts: readonly number[] | null,
): ProfileClasses[] {
  if (!trainClassCounts || trainClassCounts.length < 2) {
    throw new IsdError(
      'BAD_INPUT',
      `dataset: ${spec.dataset} needs class labels (at least 2 classes) to draw imbalance profiles and evaluate rare classes`,
      { field: 'dataset' },
    );
  }
  return spec.profiles.map((p) => {
    const pc = profileClasses(trainClassCounts, p, spec.budget.trainLimit);
    // The runs' own check (runs.start refuses the same), on the images this profile leaves.
    const sizes = { trainImages: pc.trainImages, bankImages: 0, testImages: 0 };
    const first = checkAgainstDataset({ ...spec.budget, trainLimit: 0 }, sizes).errors[0];
    if (first) {
      throw new IsdError('BAD_INPUT', `budget.${first.field}: ${first.message} under profile ${p}`, {
        field: `budget.${first.field}`,
      });
    }
    return pc;
  });
}

// ── duration ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Forward-only feature extraction for the kNN evaluation runs this many times faster per image than
 * a training step (two augmentations, student forward and backward, teacher forward): about 410
 * against 50 images per CPU-second, resnet20 on 28×28, wasm, a shared 2-core CPU (docs/study.md).
 */
export const EVAL_SPEED_RATIO = 8;
/** Worker start, backend, dataset load and checkpoints of one run, in seconds (measured, docs/study.md). */
export const RUN_OVERHEAD_SEC = 8;

export interface StudyEstimateInput {
  /** Images per class in the dataset's training and test splits. */
  trainClassCounts: readonly number[];
  testImages: number;
  /** Training images per second measured on this machine for the study's architecture. */
  imagesPerSec: number;
}

/** Images the kNN evaluations of one run embed, the step-0 baseline included (sets as run-data.ts picks them). */
export function evaluationImages(
  c: Pick<RunConfig, 'epochs' | 'evalEvery' | 'trainLimit'> & { evalFullTest?: boolean },
  trainSplitImages: number,
  testImages: number,
  engine: Parameters<typeof evaluationSetSizes>[3] = {},
): number {
  const sets = evaluationSetSizes(c, trainSplitImages, testImages, engine);
  let evals = 1; // the random-init baseline at step 0
  for (let e = 1; e <= c.epochs; e++) if (e % c.evalEvery === 0 || e === c.epochs) evals++;
  return evals * (sets.bank + sets.test);
}

export interface RunCost {
  steps: number;
  trainImages: number;
  /** Images passed through the encoder for kNN evaluations (the step-0 baseline included). */
  evalImages: number;
  seconds: number;
}

/** Optimizer steps, images and seconds of one run of the study with this profile. */
export function runCost(spec: StudySpec, profile: string, input: StudyEstimateInput): RunCost {
  const b = spec.budget;
  const pc = profileClasses(input.trainClassCounts, profile, b.trainLimit);
  const steps = Math.floor(pc.trainImages / b.batchSize) * b.epochs;
  const trainImages = steps * b.batchSize;
  const trainSplit = input.trainClassCounts.reduce((a, c) => a + c, 0);
  const evalImages = evaluationImages(b, trainSplit, input.testImages);
  if (!(input.imagesPerSec > 0))
    throw new IsdError('BAD_INPUT', 'imagesPerSec must be greater than 0', { field: 'imagesPerSec' });
  const seconds =
    trainImages / input.imagesPerSec + evalImages / (input.imagesPerSec * EVAL_SPEED_RATIO) + RUN_OVERHEAD_SEC;
  return { steps, trainImages, evalImages, seconds };
}

export function estimateStudy(spec: StudySpec, input: StudyEstimateInput): StudyEstimate {
  const runsPerProfile = spec.methods.length * spec.seeds;
  const perProfile = spec.profiles.map((profile) => {
    const cost = runCost(spec, profile, input);
    const pc = profileClasses(input.trainClassCounts, profile, spec.budget.trainLimit);
    return {
      profile,
      trainImages: pc.trainImages,
      steps: cost.steps,
      secondsPerRun: cost.seconds,
      frequent: pc.frequent,
      rare: pc.rare,
    };
  });
  return {
    runs: runsPerProfile * spec.profiles.length,
    seconds: perProfile.reduce((s, p) => s + p.secondsPerRun * runsPerProfile, 0),
    imagesPerSec: input.imagesPerSec,
    perProfile,
  };
}
