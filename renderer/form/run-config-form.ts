/**
 * The hyperparameter form's description: label, one-line explanation and widget per RunConfig field,
 * and the zod schema the form validates with (the contract's own run-config schema, with
 * tags typed as comma-separated text).
 */
import { z } from 'zod';
import { DEFAULT_RUN_CONFIG, METHOD_FIELDS, runConfigSchema, type RunConfig } from '../../electron/run-config';
import { PRESETS, type Preset } from '../../electron/presets';

export type FieldKey = keyof RunConfig;

export type Widget =
  | { kind: 'number'; step: number | 'any'; min?: number; max?: number }
  | { kind: 'select'; options: { value: string; label: string }[] }
  | { kind: 'text' }
  | { kind: 'checkbox' };

export interface FieldDoc {
  label: string;
  help: string;
  widget: Widget;
  /** Only meaningful for this method. */
  method?: RunConfig['method'];
}

export const FIELD_DOCS: Record<Exclude<FieldKey, 'dataset' | 'imbalance'>, FieldDoc> = {
  method: {
    label: 'Method',
    help: 'ISD learns soft similarities from a slow teacher; MoCo contrasts with hard labels (the baseline).',
    widget: {
      kind: 'select',
      options: [
        { value: 'isd', label: 'ISD (similarity distillation)' },
        { value: 'moco', label: 'MoCo v2 (contrastive baseline)' },
      ],
    },
  },
  arch: {
    label: 'Architecture',
    help: 'ResNet-20 (0.27M parameters) suits a CPU; ResNet-18 (CIFAR form) wants a GPU.',
    widget: {
      kind: 'select',
      options: [
        { value: 'resnet20', label: 'ResNet-20' },
        { value: 'resnet18', label: 'ResNet-18' },
      ],
    },
  },
  epochs: { label: 'Epochs', help: 'Passes over the training set.', widget: { kind: 'number', step: 1, min: 1 } },
  batchSize: {
    label: 'Batch size',
    help: 'Images per step; the queue size must be a multiple of it.',
    widget: { kind: 'number', step: 1, min: 1 },
  },
  lr: {
    label: 'Learning rate',
    help: 'Peak SGD learning rate, reached after the warm-up.',
    widget: { kind: 'number', step: 'any', min: 0 },
  },
  schedule: {
    label: 'Schedule',
    help: 'Cosine decays to 0 over the run; step multiplies by 0.2 at 60% and 80% of the epochs.',
    widget: {
      kind: 'select',
      options: [
        { value: 'cosine', label: 'Cosine' },
        { value: 'step', label: 'Step' },
      ],
    },
  },
  warmupEpochs: {
    label: 'Warm-up epochs',
    help: 'Linear ramp of the learning rate at the start (0: none).',
    widget: { kind: 'number', step: 'any', min: 0 },
  },
  momentum: {
    label: 'SGD momentum',
    help: 'Momentum of the optimizer (0.9 in the papers).',
    widget: { kind: 'number', step: 'any', min: 0, max: 1 },
  },
  weightDecay: {
    label: 'Weight decay',
    help: 'L2 penalty on the weights (1e-4 in the papers).',
    widget: { kind: 'number', step: 'any', min: 0 },
  },
  ema: {
    label: 'Teacher momentum',
    help: 'm in teacher ← m·teacher + (1−m)·student; closer to 1 moves the teacher slower.',
    widget: { kind: 'number', step: 'any', min: 0, max: 1 },
  },
  queueSize: {
    label: 'Queue size',
    help: 'Number of anchors (earlier teacher embeddings); at most the images the run trains on, a multiple of the batch size.',
    widget: { kind: 'number', step: 1, min: 1 },
  },
  tempTeacher: {
    label: 'Teacher temperature',
    help: 'T_t: lower gives the teacher sharper targets (ISD+: 0.01).',
    widget: { kind: 'number', step: 'any', min: 0 },
    method: 'isd',
  },
  tempStudent: {
    label: 'Student temperature',
    help: 'T_s: the student’s softmax temperature (ISD+: 0.1).',
    widget: { kind: 'number', step: 'any', min: 0 },
    method: 'isd',
  },
  temperature: {
    label: 'Temperature',
    help: 'T of MoCo’s InfoNCE loss (MoCo v2: 0.2).',
    widget: { kind: 'number', step: 'any', min: 0 },
    method: 'moco',
  },
  augTeacher: {
    label: 'Teacher augmentation',
    help: 'Weak: crop and flip. Strong: adds colour jitter, grayscale and blur.',
    widget: {
      kind: 'select',
      options: [
        { value: 'weak', label: 'Weak' },
        { value: 'strong', label: 'Strong' },
      ],
    },
  },
  augStudent: {
    label: 'Student augmentation',
    help: 'The student sees this view; ISD+ uses strong here and weak for the teacher, MoCo v2 strong for both.',
    widget: {
      kind: 'select',
      options: [
        { value: 'weak', label: 'Weak' },
        { value: 'strong', label: 'Strong' },
      ],
    },
  },
  blur: {
    label: 'Blur',
    help: 'The strong view’s blur. Pixels: σ 0.1–2 px (the reference’s, for 224 px). Relative: σ × side / 224. Off: none.',
    widget: {
      kind: 'select',
      options: [
        { value: 'pixels', label: 'Pixels (σ 0.1–2 px)' },
        { value: 'relative', label: 'Relative to the image side' },
        { value: 'off', label: 'Off' },
      ],
    },
  },
  projectionBn: {
    label: 'BatchNorm in the projection head',
    help: 'ISD+’s head has it; MoCo v2’s head (d → d → 128) has none.',
    widget: { kind: 'checkbox' },
  },
  shuffleBn: {
    label: 'Shuffle BN',
    help: 'The teacher’s batch is mixed across BatchNorm groups, so no key shares its query’s statistics.',
    widget: { kind: 'checkbox' },
  },
  bnGroups: {
    label: 'BatchNorm groups',
    help: 'Statistics over batch size / groups images each (the reference’s GPUs); the batch must split evenly.',
    widget: { kind: 'number', step: 1, min: 1 },
  },
  imageSize: {
    label: 'Image size',
    help: 'Side of the square input in pixels; 0 keeps the dataset’s size.',
    widget: { kind: 'number', step: 1, min: 0 },
  },
  trainLimit: {
    label: 'Training images',
    help: 'Use only the first n images after the imbalance draw (0: all).',
    widget: { kind: 'number', step: 1, min: 0 },
  },
  evalEvery: {
    label: 'Evaluate every',
    help: 'Run the kNN evaluation every this many epochs, and at the end.',
    widget: { kind: 'number', step: 1, min: 1 },
  },
  checkpointEvery: {
    label: 'Checkpoint every',
    help: 'Save a resumable checkpoint every this many epochs.',
    widget: { kind: 'number', step: 1, min: 1 },
  },
  linearEval: {
    label: 'Linear probe at the end',
    help: 'Also fit a linear classifier on frozen features when the run ends (slower).',
    widget: { kind: 'checkbox' },
  },
  evalFullTest: {
    label: 'kNN on the whole test split',
    help: 'Score all test images, not the 2,000 a quick run reads: a smaller standard error, a slower evaluation.',
    widget: { kind: 'checkbox' },
  },
  seed: {
    label: 'Seed',
    help: 'Same seed, same data order and initialisation: runs repeat exactly.',
    widget: { kind: 'number', step: 1, min: 0 },
  },
  name: { label: 'Run name', help: 'Shown in History; leave empty for an automatic name.', widget: { kind: 'text' } },
  tags: { label: 'Tags', help: 'Comma-separated labels to filter History by.', widget: { kind: 'text' } },
};

export const FIELD_GROUPS: { title: string; fields: (keyof typeof FIELD_DOCS)[] }[] = [
  { title: 'Method and model', fields: ['method', 'arch', 'imageSize'] },
  {
    title: 'Optimisation',
    fields: ['epochs', 'batchSize', 'lr', 'schedule', 'warmupEpochs', 'momentum', 'weightDecay'],
  },
  { title: 'Teacher and queue', fields: ['ema', 'queueSize', 'tempTeacher', 'tempStudent', 'temperature'] },
  { title: 'Augmentation', fields: ['augTeacher', 'augStudent', 'blur'] },
  { title: 'Head and BatchNorm', fields: ['projectionBn', 'shuffleBn', 'bnGroups'] },
  {
    title: 'Evaluation and data',
    fields: ['evalEvery', 'checkpointEvery', 'linearEval', 'evalFullTest', 'trainLimit', 'seed'],
  },
  { title: 'Name and tags', fields: ['name', 'tags'] },
];

/** Field order for config tables (Compare, Run detail). */
export const FIELD_ORDER: FieldKey[] = ['dataset', 'imbalance', ...FIELD_GROUPS.flatMap((g) => g.fields)];

/** The settings that belong to a method (run-config.ts's METHOD_DEFAULTS); every other field is the budget. */
export { METHOD_FIELDS };

/** The fields only one method reads (the temperatures), for the config tables. */
export const METHOD_ONLY: Partial<Record<keyof RunConfig, RunConfig['method']>> = Object.fromEntries(
  Object.entries(FIELD_DOCS).flatMap(([field, doc]) => (doc.method ? [[field, doc.method]] : [])),
);

/** Form values: the config with tags as the text the user types. */
export type RunFormValues = Omit<RunConfig, 'tags'> & { tags: string };

export function splitTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

/**
 * The form's schema: tags text → array, then the contract's RunConfig schema, which checks every field
 * and the cross-field rules in one pass (a first stage that checked fields would stop the pipe at the
 * first bad field, hiding e.g. the queue/batch rule until it was fixed).
 */
// Typed as the form's values for the resolver; at run time only tags is looked at here.
const formValuesInput = z.looseObject({ tags: z.string() }) as unknown as z.ZodType<RunFormValues, RunFormValues>;
export const runFormSchema = formValuesInput
  .transform((v): RunConfig => ({ ...v, tags: splitTags(v.tags) }))
  .pipe(runConfigSchema);

export function toFormValues(config: RunConfig): RunFormValues {
  return { ...config, tags: config.tags.join(', ') };
}

export const DEFAULT_FORM_VALUES: RunFormValues = toFormValues({ ...DEFAULT_RUN_CONFIG, ...PRESETS[0]!.values });

/** A message people read: zod's type errors for an emptied number field become "enter a number". */
export function friendlyMessage(message: string | undefined): string | undefined {
  if (!message) return message;
  if (/expected number, received (NaN|undefined|null)/.test(message)) return 'enter a number';
  return message;
}

export interface PresetChange {
  field: keyof typeof FIELD_DOCS;
  /** The form's value now. */
  value: unknown;
  /** The preset's value. */
  preset: unknown;
}

/** The fields where the form no longer holds a preset's values, in the form's order (empty: the preset is active). */
export function presetChanges(values: RunFormValues, preset: Preset): PresetChange[] {
  const set = preset.values as Partial<Record<FieldKey, unknown>>;
  return FIELD_GROUPS.flatMap((g) => g.fields)
    .filter((f) => f in set && values[f] !== set[f])
    .map((f) => ({ field: f, value: values[f], preset: set[f] }));
}
