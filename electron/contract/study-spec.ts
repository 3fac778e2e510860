/**
 * The imbalance study's spec: which methods, data profiles and seeds share one training budget.
 * Pure (zod and run-config only, no Node imports) so the IPC contract and the renderer's form validate
 * with the same schema. Every run of a study is an ordinary RunConfig (plan.ts builds them).
 */
import { z } from 'zod';
import { overDefaults } from './over-defaults';
import { DEFAULT_RUN_CONFIG, formatImbalance, parseImbalance, runConfigFields } from '../run-config';

export const STUDY_METHODS = ['isd', 'moco'] as const;
export type StudyMethod = (typeof STUDY_METHODS)[number];

/** At most this many runs per study (methods × profiles × seeds): a study is a queue, not a sweep. */
export const MAX_STUDY_RUNS = 200;

/** The budget every run of the study shares; the other hyperparameters are RunConfig's defaults. */
export const studyBudgetFields = {
  arch: runConfigFields.arch,
  epochs: runConfigFields.epochs,
  /** Images each run trains on (the first n after its imbalance draw); 0: the whole draw (budgets then differ per profile). */
  trainLimit: runConfigFields.trainLimit,
  batchSize: runConfigFields.batchSize,
  queueSize: runConfigFields.queueSize,
  imageSize: runConfigFields.imageSize,
  /** kNN evaluation every this many epochs (always at the end). */
  evalEvery: runConfigFields.evalEvery,
  /** Also fit a linear probe at the end of every run. */
  linearEval: runConfigFields.linearEval,
} as const;

const budgetObject = z.strictObject(studyBudgetFields);
export type StudyBudget = z.infer<typeof budgetObject>;

/** Canonical text of an imbalance profile ("longtail:10.0" → "longtail:10"), or null when malformed. */
export function canonicalProfile(text: string): string | null {
  try {
    return formatImbalance(parseImbalance(text));
  } catch {
    return null;
  }
}

const profileField = z
  .string()
  .max(60, 'at most 60 characters')
  .refine(
    (s) => canonicalProfile(s) !== null,
    'use none, longtail:<rho ≥ 1> (e.g. longtail:10) or dominant:<large>:<perSmall> (e.g. dominant:3:100)',
  )
  .transform((s) => canonicalProfile(s) as string);

const unique = <T>(items: readonly T[]) => new Set(items).size === items.length;

export const studySpecFields = {
  /** Display name; empty: one is made from the dataset and profiles. */
  name: z.string().trim().max(200, 'at most 200 characters'),
  /** Dataset id from the registry or a path; its training split must have class labels. */
  dataset: runConfigFields.dataset,
  methods: z
    .array(z.enum(STUDY_METHODS))
    .min(1, 'choose at least one method')
    .max(2)
    .refine(unique, 'each method once'),
  /** Imbalance profiles of the unlabeled training set, e.g. none, dominant:3:100, longtail:10. */
  profiles: z
    .array(profileField)
    .min(1, 'choose at least one profile')
    .max(8, 'at most 8 profiles')
    .refine(unique, 'each profile once'),
  /** Runs per method and profile; seeds firstSeed … firstSeed + seeds − 1 (the same for every method: paired). */
  seeds: z
    .number()
    .int('must be a whole number')
    .min(2, 'at least 2 seeds: a spread needs two runs')
    .max(20, 'at most 20'),
  firstSeed: runConfigFields.seed,
  budget: budgetObject,
} as const;

const studySpecObject = z.strictObject(studySpecFields);
export type StudySpec = z.infer<typeof studySpecObject>;

function checkStudy(s: StudySpec, ctx: z.RefinementCtx): void {
  const b = s.budget;
  if (b.queueSize % b.batchSize !== 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['budget', 'queueSize'],
      message: `queue size ${b.queueSize} must be a multiple of the batch size ${b.batchSize}`,
    });
  }
  if (b.trainLimit > 0 && b.trainLimit < b.batchSize) {
    ctx.addIssue({
      code: 'custom',
      path: ['budget', 'trainLimit'],
      message: `train limit ${b.trainLimit} is smaller than one batch (${b.batchSize})`,
    });
  }
  const runs = s.methods.length * s.profiles.length * s.seeds;
  if (runs > MAX_STUDY_RUNS) {
    ctx.addIssue({
      code: 'custom',
      path: ['seeds'],
      message: `${s.methods.length} methods × ${s.profiles.length} profiles × ${s.seeds} seeds = ${runs} runs; at most ${MAX_STUDY_RUNS}`,
    });
  }
  if (s.firstSeed + s.seeds - 1 > 2 ** 31 - 1)
    ctx.addIssue({ code: 'custom', path: ['firstSeed'], message: 'the last seed must stay below 2^31' });
}

export const studySpecSchema = studySpecObject.superRefine(checkStudy);

/**
 * The default study (docs/study.md): the bundled sample, balanced vs one dominant-class and one
 * long-tail profile, 2 seeds, a budget measured to finish in under an hour on a 2-core CPU.
 */
export const DEFAULT_STUDY_SPEC: StudySpec = {
  name: '',
  dataset: 'sample',
  methods: ['isd', 'moco'],
  profiles: ['none', 'dominant:3:100', 'longtail:10'],
  seeds: 2,
  firstSeed: 0,
  budget: {
    arch: DEFAULT_RUN_CONFIG.arch,
    epochs: 3,
    trainLimit: 2048,
    batchSize: 128,
    queueSize: 1024,
    imageSize: 0,
    evalEvery: 3,
    linearEval: false,
  },
};

/** What a caller may send: any field left out takes DEFAULT_STUDY_SPEC's value (budget field by field). */
export const studySpecInputSchema = overDefaults(
  z.strictObject({ ...studySpecFields, budget: budgetObject.partial() }).partial(),
  studySpecSchema,
  (partial) => ({
    ...DEFAULT_STUDY_SPEC,
    ...partial,
    budget: { ...DEFAULT_STUDY_SPEC.budget, ...(partial.budget ?? {}) },
  }),
);
export type StudySpecInput = z.input<typeof studySpecInputSchema>;

/** The seeds of a study, in order. */
export function studySeeds(spec: Pick<StudySpec, 'seeds' | 'firstSeed'>): number[] {
  return Array.from({ length: spec.seeds }, (_, i) => spec.firstSeed + i);
}
