/**
 * RunConfig: every hyperparameter of a training run, defined once with its default and its meaning.
 * Pure (zod only, no Node imports) so that the CLI, the IPC contract, the engine and the renderer's
 * form all validate with the same schema.
 */
import { z } from 'zod';
import { IsdError } from './errors';

export type ImbalanceSpec =
  | { kind: 'none' }
  | { kind: 'longtail'; rho: number } // counts fall exponentially from the largest class to largest/rho
  | { kind: 'dominant'; large: number; perSmall: number }; // first `large` classes keep all, others keep perSmall

export function parseImbalance(text: string): ImbalanceSpec {
  const t = text.trim();
  if (t === 'none' || t === '') return { kind: 'none' };
  const parts = t.split(':');
  if (parts[0] === 'longtail' && parts.length === 2) {
    const rho = Number(parts[1]);
    if (Number.isFinite(rho) && rho >= 1) return { kind: 'longtail', rho };
  }
  if (parts[0] === 'dominant' && parts.length === 3) {
    const large = Number(parts[1]);
    const perSmall = Number(parts[2]);
    if (Number.isInteger(large) && large >= 1 && Number.isInteger(perSmall) && perSmall >= 1) {
      return { kind: 'dominant', large, perSmall };
    }
  }
  throw new Error(`imbalance must be none, longtail:<rho ≥ 1> or dominant:<large>:<perSmall>, got "${text}"`);
}

export function formatImbalance(spec: ImbalanceSpec): string {
  if (spec.kind === 'longtail') return `longtail:${spec.rho}`;
  if (spec.kind === 'dominant') return `dominant:${spec.large}:${spec.perSmall}`;
  return 'none';
}

const imbalanceField = z.string().refine((s) => {
  try {
    parseImbalance(s);
    return true;
  } catch {
    return false;
  }
}, 'use none, longtail:<rho ≥ 1> (e.g. longtail:10) or dominant:<large>:<perSmall> (e.g. dominant:3:100)');

const positiveInt = (max: number) =>
  z.number().int('must be a whole number').min(1, 'must be at least 1').max(max, `must be at most ${max}`);
const positive = (max: number) => z.number().gt(0, 'must be greater than 0').max(max, `must be at most ${max}`);

export const runConfigFields = {
  /** Dataset id from the registry (`isd datasets list`) or a path to a dataset file or folder. */
  dataset: z.string().min(1, 'choose a dataset'),
  /** isd: soft similarity distillation; moco: MoCo v2 InfoNCE with hard labels (the baseline). */
  method: z.enum(['isd', 'moco']),
  /** resnet20 (CPU default, 0.27M parameters) or resnet18 in its CIFAR form (GPU default). */
  arch: z.enum(['resnet20', 'resnet18']),
  epochs: positiveInt(10_000),
  batchSize: positiveInt(4096),
  /** Peak SGD learning rate (after warm-up). */
  lr: positive(10),
  /** cosine: to 0 over the run; step: ×0.2 at 60% and 80% of the epochs. */
  schedule: z.enum(['cosine', 'step']),
  /** Linear warm-up of the learning rate over this many epochs (0: none). */
  warmupEpochs: z.number().min(0, 'must be 0 or more').max(1000),
  /** SGD momentum. */
  momentum: z.number().min(0, 'must be 0 or more').lt(1, 'must be less than 1'),
  weightDecay: z.number().min(0, 'must be 0 or more').max(1, 'must be at most 1'),
  /** Teacher momentum m: teacher ← m·teacher + (1−m)·student. */
  ema: z.number().min(0, 'must be 0 or more').lt(1, 'must be less than 1'),
  /** K, the number of anchors (teacher keys) in the FIFO queue; a multiple of the batch size. */
  queueSize: positiveInt(1_000_000),
  /** ISD teacher temperature T_t (lower than the student's: sharper targets). */
  tempTeacher: positive(10),
  /** ISD student temperature T_s. */
  tempStudent: positive(10),
  /** MoCo InfoNCE temperature T. */
  temperature: positive(10),
  augTeacher: z.enum(['weak', 'strong']),
  augStudent: z.enum(['weak', 'strong']),
  /**
   * The strong view's Gaussian blur: pixels, σ 0.1–2 px at any image side (the reference's numbers,
   * made for 224 px); relative, the same share of the side as at 224 px (σ × side / 224); off, none.
   */
  blur: z.enum(['pixels', 'relative', 'off']),
  /** BatchNorm in the projection head (ISD+'s head); MoCo v2's head has none. */
  projectionBn: z.boolean(),
  /** Shuffle BN: the teacher's batch mixed across the BatchNorm groups, so no key shares its query's statistics. */
  shuffleBn: z.boolean(),
  /** BatchNorm groups of a batch (the reference's GPUs): statistics over batchSize / bnGroups images each. */
  bnGroups: positiveInt(64),
  /** Side of the square images fed to the encoder; 0 keeps the dataset's own size. */
  imageSize: z
    .number()
    .int('must be a whole number')
    .refine((v) => v === 0 || (v >= 16 && v <= 512), 'must be 0 (dataset size) or between 16 and 512'),
  /** Imbalance draw applied to the unlabeled training set. */
  imbalance: imbalanceField,
  /** Use only the first n training images after the imbalance draw (0: all), for quick runs. */
  trainLimit: z.number().int('must be a whole number').min(0, 'must be 0 or more'),
  /** Evaluate (kNN) every this many epochs, and always at the end. */
  evalEvery: positiveInt(10_000),
  /** Write a checkpoint every this many epochs, and always at stop and at the end. */
  checkpointEvery: positiveInt(10_000),
  /** Also fit a linear probe at the end (slower). */
  linearEval: z.boolean(),
  /** Score kNN on the whole test split, even on a quick run (trainLimit > 0) that reads a subset of it. */
  evalFullTest: z.boolean(),
  seed: z
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 or more')
    .max(2 ** 31 - 1, 'must be at most 2147483647'),
  name: z.string().max(200, 'at most 200 characters'),
  tags: z.array(z.string().min(1).max(50)).max(20),
} as const;

const runConfigObject = z.object(runConfigFields).strict();

type FieldName = keyof typeof runConfigFields;

/**
 * A check across fields: the fields it reads, and the field its error is marked on. It runs even
 * when other fields are invalid (zod skips refinements after any issue unless `when` says otherwise),
 * so the form shows every problem at once.
 */
interface CrossFieldRule {
  reads: FieldName[];
  markedOn: FieldName;
  ok: (c: RunConfig) => boolean;
  message: (c: RunConfig) => string;
}

const CROSS_FIELD_RULES: CrossFieldRule[] = [
  {
    reads: ['queueSize', 'batchSize'],
    markedOn: 'queueSize',
    ok: (c) => c.queueSize % c.batchSize === 0,
    message: (c) => `queue size ${c.queueSize} must be a multiple of the batch size ${c.batchSize}`,
  },
  {
    reads: ['method', 'tempTeacher', 'tempStudent'],
    markedOn: 'tempTeacher',
    ok: (c) => c.method !== 'isd' || c.tempTeacher <= c.tempStudent,
    message: (c) => `teacher temperature ${c.tempTeacher} should not exceed the student's ${c.tempStudent}`,
  },
  {
    reads: ['warmupEpochs', 'epochs'],
    markedOn: 'warmupEpochs',
    ok: (c) => c.warmupEpochs === 0 || c.warmupEpochs < c.epochs,
    message: (c) => `warm-up (${c.warmupEpochs} epochs) must be shorter than the run (${c.epochs})`,
  },
  {
    reads: ['batchSize', 'bnGroups'],
    markedOn: 'batchSize',
    ok: (c) => c.batchSize % c.bnGroups === 0 && c.batchSize / c.bnGroups >= 2,
    message: (c) =>
      `batch size ${c.batchSize} must be a multiple of the BatchNorm groups (${c.bnGroups}), with at least 2 images per group`,
  },
  {
    reads: ['shuffleBn', 'bnGroups'],
    markedOn: 'bnGroups',
    ok: (c) => !c.shuffleBn || c.bnGroups >= 2,
    message: (c) =>
      `Shuffle BN needs at least 2 BatchNorm groups to move the teacher's images between, got ${c.bnGroups}`,
  },
];

/**
 * For each field, the other fields whose cross-field error it can make or clear (bnGroups →
 * batchSize): a form that checks a field as it changes must check these with it.
 */
export const CROSS_FIELD_DEPENDENTS: Partial<Record<FieldName, FieldName[]>> = (() => {
  const out: Partial<Record<FieldName, FieldName[]>> = {};
  for (const rule of CROSS_FIELD_RULES)
    for (const f of rule.reads)
      if (f !== rule.markedOn && !out[f]?.includes(rule.markedOn)) (out[f] ??= []).push(rule.markedOn);
  return out;
})();

function withRule(schema: typeof runConfigObject, rule: CrossFieldRule) {
  return schema.refine((c) => rule.ok(c), {
    path: [rule.markedOn],
    when(payload) {
      const v = payload.value as Partial<Record<FieldName, unknown>> | null;
      if (typeof v !== 'object' || v === null) return false;
      // Only when the fields it reads are themselves valid.
      return rule.reads.every((f) => v[f] !== undefined && !payload.issues.some((i) => i.path?.[0] === f));
    },
    // zod 4 takes a static message or an error map; the map sees the input as issue.input.
    error: (issue) => rule.message((issue as { input: unknown }).input as RunConfig),
  });
}

export const runConfigSchema = CROSS_FIELD_RULES.reduce(withRule, runConfigObject);
export type RunConfig = z.infer<typeof runConfigObject>;
export type Method = RunConfig['method'];

/**
 * The settings that belong to a method: its views, temperatures and head. Shuffle BN and the
 * BatchNorm groups are not among them: both methods share them (DEFAULT_RUN_CONFIG), so runs that
 * differ there differ in more than the method.
 */
export type MethodSettings = Pick<
  RunConfig,
  'augTeacher' | 'augStudent' | 'tempTeacher' | 'tempStudent' | 'temperature' | 'projectionBn'
>;

/**
 * Each method's own settings, the one definition the form, the CLI and the study start from (a
 * config that names a method and leaves these out gets them). MoCo's are MoCo v2's as published
 * (facebookresearch/moco main_moco.py with --mlp --aug-plus --cos: strong views on both branches, an
 * MLP head without BatchNorm, T 0.2); ISD's are ISD+'s (train_isd_plus.py).
 */
export const METHOD_DEFAULTS: Record<Method, MethodSettings> = {
  isd: {
    augTeacher: 'weak',
    augStudent: 'strong',
    tempTeacher: 0.01,
    tempStudent: 0.1,
    temperature: 0.2,
    projectionBn: true,
  },
  moco: {
    augTeacher: 'strong',
    augStudent: 'strong',
    tempTeacher: 0.01,
    tempStudent: 0.1,
    temperature: 0.2,
    projectionBn: false,
  },
};

/** The fields of MethodSettings, in form order. */
export const METHOD_FIELDS = Object.keys(METHOD_DEFAULTS.isd) as (keyof MethodSettings)[];

/**
 * Named recipes of a method's views and head. "MoCo with ISD+ views" is the MoCo this app trained
 * before MoCo v2 was its default (ISD+'s weak teacher view and BN head): an ablation, kept by name.
 */
export const METHOD_VARIANTS: { label: string; method: Method; settings: Partial<MethodSettings> }[] = [
  { label: 'ISD+', method: 'isd', settings: { augTeacher: 'weak', augStudent: 'strong', projectionBn: true } },
  { label: 'MoCo v2', method: 'moco', settings: { augTeacher: 'strong', augStudent: 'strong', projectionBn: false } },
  {
    label: 'MoCo with ISD+ views',
    method: 'moco',
    settings: { augTeacher: 'weak', augStudent: 'strong', projectionBn: true },
  },
];

/** What a config trains, in words: "MoCo v2", "MoCo with ISD+ views, no Shuffle BN", "ISD (custom views/head)". */
export function methodLabel(c: Pick<RunConfig, 'method' | 'shuffleBn' | keyof MethodSettings>): string {
  const variant = METHOD_VARIANTS.find(
    (v) =>
      v.method === c.method &&
      (Object.entries(v.settings) as [keyof MethodSettings, unknown][]).every(([k, want]) => c[k] === want),
  );
  const name = variant?.label ?? `${c.method === 'isd' ? 'ISD' : 'MoCo'} (custom views/head)`;
  return c.shuffleBn ? name : `${name}, no Shuffle BN`;
}

/**
 * "Same settings, other method": the method and its own settings (METHOD_DEFAULTS) switched, the
 * budget (model, batch, epochs, images, image size, seed, schedule, evaluation) kept.
 */
export function switchMethod<V extends object>(values: V, method: Method): V {
  return { ...values, method, ...METHOD_DEFAULTS[method] } as V;
}

export const isMethod = (v: unknown): v is Method => v === 'isd' || v === 'moco';

/** A partial config over the defaults: DEFAULT_RUN_CONFIG, then the named method's own settings, then `partial`. */
export function withRunDefaults(partial: Record<string, unknown>): Record<string, unknown> {
  const method = isMethod(partial.method) ? partial.method : DEFAULT_RUN_CONFIG.method;
  return { ...DEFAULT_RUN_CONFIG, ...METHOD_DEFAULTS[method], ...partial };
}

/** ISD+ defaults scaled to small data on a CPU (docs/method.md): resnet20, batch 128, queue 4096. */
export const DEFAULT_RUN_CONFIG: RunConfig = {
  dataset: 'sample',
  method: 'isd',
  arch: 'resnet20',
  epochs: 20,
  batchSize: 128,
  lr: 0.05,
  schedule: 'cosine',
  warmupEpochs: 0,
  momentum: 0.9,
  weightDecay: 1e-4,
  ema: 0.99,
  queueSize: 4096,
  tempTeacher: 0.01,
  tempStudent: 0.1,
  temperature: 0.2,
  augTeacher: 'weak',
  augStudent: 'strong',
  blur: 'pixels',
  projectionBn: true,
  // Shuffle BN over two groups, as both references on two GPUs (docs/method.md)
  shuffleBn: true,
  bnGroups: 2,
  imageSize: 0,
  imbalance: 'none',
  trainLimit: 0,
  evalEvery: 1,
  checkpointEvery: 1,
  linearEval: false,
  evalFullTest: false,
  seed: 0,
  name: '',
  tags: [],
};

export interface ConfigIssue {
  field: string;
  message: string;
}

/**
 * The one shape of a config error: field `config.<name>` (or `config` for the whole), and a message
 * that does not repeat the field (the CLI and the renderer show the field beside it).
 */
export function configError(field: string, message: string): IsdError {
  return new IsdError('BAD_INPUT', message, { field: field === 'config' ? 'config' : `config.${field}` });
}

/** validateRunConfig that throws the first issue as a configError. */
export function checkedRunConfig(input: unknown): RunConfig {
  const checked = validateRunConfig(input);
  if (!checked.ok) throw configError(checked.issues[0].field, checked.issues[0].message);
  return checked.config;
}

/** Validates a partial config over the defaults (withRunDefaults); returns the full config or every issue found. */
export function validateRunConfig(
  input: unknown,
): { ok: true; config: RunConfig } | { ok: false; issues: ConfigIssue[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, issues: [{ field: 'config', message: 'must be an object' }] };
  }
  const merged = withRunDefaults(input as Record<string, unknown>);
  const r = runConfigSchema.safeParse(merged);
  if (r.success) return { ok: true, config: r.data };
  return {
    ok: false,
    issues: r.error.issues.map((i) => ({
      field: i.path.length ? i.path.join('.') : 'config',
      message:
        i.code === 'unrecognized_keys' ? `unknown field(s): ${(i as { keys: string[] }).keys.join(', ')}` : i.message,
    })),
  };
}

// ── checks against the chosen dataset ──────────────────────────────────────────────────────────

/** The k of the k-NN accuracy the app reports (20-NN, engine/evaluate.ts). */
export const KNN_K = 20;
/** Below this many labelled test images a kNN accuracy moves in steps too coarse to compare runs by. */
export const MIN_MEANINGFUL_TEST_IMAGES = 100;

/** The sizes of the chosen dataset a config is checked against (main and the form both compute them). */
export interface DatasetSizes {
  /** Training images after the imbalance draw, before trainLimit. */
  trainImages: number;
  /** Labelled images of the training split: the kNN bank (0 when unlabeled). */
  bankImages: number;
  /** Labelled test images the kNN evaluation scores (0: none, so no kNN accuracy). */
  testImages: number;
}

export interface DatasetCheck {
  /** The run cannot train as configured: main refuses it, the form marks the field. */
  errors: ConfigIssue[];
  /** The run trains, but its accuracy will say little. */
  warnings: ConfigIssue[];
  /** Values that clear the batch and queue size errors, when those exist. */
  fix: Partial<Pick<RunConfig, 'batchSize' | 'queueSize'>> | null;
}

/** The side of the square images the encoder trains at: imageSize, else the dataset's smaller side. */
export function trainedSide(imageSize: number, dataset: { height: number; width: number }): number {
  return imageSize > 0 ? imageSize : Math.min(dataset.height, dataset.width);
}

/** Images one epoch trains on: the draw, then the first trainLimit. */
export function imagesTrainedOn(config: Pick<RunConfig, 'trainLimit'>, sizes: DatasetSizes): number {
  return config.trainLimit > 0 ? Math.min(sizes.trainImages, config.trainLimit) : sizes.trainImages;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Batch and queue size against the images the run trains on, and the kNN sets against k and a
 * meaningful accuracy. Fields that are not yet whole numbers are skipped (the schema marks them).
 */
export function checkAgainstDataset(
  config: Partial<Pick<RunConfig, 'batchSize' | 'queueSize' | 'trainLimit' | 'evalFullTest'>>,
  sizes: DatasetSizes,
): DatasetCheck {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const trainLimit = isCount(config.trainLimit) ? config.trainLimit : 0;
  const n = imagesTrainedOn({ trainLimit }, sizes);
  const what = `${n.toLocaleString('en')} training image${n === 1 ? '' : 's'}`;
  const batch = isCount(config.batchSize) ? config.batchSize : null;
  const queue = isCount(config.queueSize) ? config.queueSize : null;
  if (n === 0) {
    errors.push({ field: 'dataset', message: 'This dataset leaves no training images (after the draw and limit)' });
    return { errors, warnings, fix: null };
  }
  if (batch !== null && batch > n)
    errors.push({ field: 'batchSize', message: `Batch size must be at most ${n} for this dataset (${what})` });
  // The queue holds keys of earlier batches: more slots than images would hold the same images twice.
  if (queue !== null && queue > n)
    errors.push({ field: 'queueSize', message: `Queue size must be at most ${n} for this dataset (${what})` });
  if (sizes.testImages === 0 && config.evalFullTest === true)
    errors.push({ field: 'evalFullTest', message: 'This dataset has no labelled test split to evaluate in full' });
  else if (sizes.testImages === 0)
    warnings.push({ field: 'dataset', message: 'No labelled test split: the run trains but reports no kNN accuracy.' });
  else {
    if (sizes.bankImages < KNN_K)
      warnings.push({
        field: 'dataset',
        message: `Only ${sizes.bankImages} labelled training images: ${KNN_K}-NN votes over fewer than ${KNN_K} neighbours.`,
      });
    if (sizes.testImages < MIN_MEANINGFUL_TEST_IMAGES)
      warnings.push({
        field: 'dataset',
        message: `Only ${sizes.testImages} test image${sizes.testImages === 1 ? '' : 's'}: each moves kNN accuracy by ${(100 / sizes.testImages).toFixed(1)} points, too coarse to compare runs (${MIN_MEANINGFUL_TEST_IMAGES}+ is meaningful).`,
      });
  }
  if (!errors.some((e) => e.field === 'batchSize' || e.field === 'queueSize')) return { errors, warnings, fix: null };
  // The largest power of two that fits, and the largest queue that fits and is a multiple of it.
  const fixedBatch = batch !== null && batch <= n ? batch : 2 ** Math.floor(Math.log2(n));
  const wantQueue = queue ?? fixedBatch;
  const fixedQueue = Math.max(fixedBatch, Math.floor(Math.min(wantQueue, n) / fixedBatch) * fixedBatch);
  return { errors, warnings, fix: { batchSize: fixedBatch, queueSize: fixedQueue } };
}

/** Settings History can show as columns, and the API (contract.ts) and the store sort runs by. */
export const RUN_CONFIG_SORT_FIELDS = [
  'arch',
  'epochs',
  'batchSize',
  'lr',
  'queueSize',
  'trainLimit',
  'imageSize',
  'seed',
] as const satisfies readonly (keyof RunConfig)[];
