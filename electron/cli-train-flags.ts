/**
 * `isd train`'s run settings: each flag and the RunConfig field it sets, and how --preset, --config
 * and the flags layer into one validated config whose first problem names its flag.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { IsdError } from './errors';
import { findPreset, PRESET_IDS } from './presets';
import {
  isMethod,
  METHOD_DEFAULTS,
  METHOD_FIELDS,
  switchMethod,
  validateRunConfig,
  type RunConfig,
} from './run-config';

/** `isd train` flags: flag → RunConfig field and how its text becomes a value. */
const TRAIN_FLAGS: {
  flag: string;
  field: keyof RunConfig;
  kind: 'string' | 'number' | 'int' | 'bool';
  help: string;
}[] = [
  { flag: 'dataset', field: 'dataset', kind: 'string', help: 'dataset id (isd datasets list) or path' },
  { flag: 'method', field: 'method', kind: 'string', help: 'isd or moco' },
  { flag: 'arch', field: 'arch', kind: 'string', help: 'resnet20 or resnet18' },
  { flag: 'epochs', field: 'epochs', kind: 'int', help: 'training epochs' },
  { flag: 'batch-size', field: 'batchSize', kind: 'int', help: 'images per step' },
  { flag: 'lr', field: 'lr', kind: 'number', help: 'peak SGD learning rate' },
  { flag: 'schedule', field: 'schedule', kind: 'string', help: 'cosine or step' },
  { flag: 'warmup-epochs', field: 'warmupEpochs', kind: 'number', help: 'linear learning-rate warm-up' },
  { flag: 'momentum', field: 'momentum', kind: 'number', help: 'SGD momentum' },
  { flag: 'weight-decay', field: 'weightDecay', kind: 'number', help: 'SGD weight decay' },
  { flag: 'ema', field: 'ema', kind: 'number', help: 'teacher momentum m' },
  { flag: 'queue-size', field: 'queueSize', kind: 'int', help: 'anchors in the queue (a multiple of the batch size)' },
  { flag: 'temp-teacher', field: 'tempTeacher', kind: 'number', help: 'ISD teacher temperature T_t' },
  { flag: 'temp-student', field: 'tempStudent', kind: 'number', help: 'ISD student temperature T_s' },
  { flag: 'temperature', field: 'temperature', kind: 'number', help: 'MoCo temperature T' },
  { flag: 'aug-teacher', field: 'augTeacher', kind: 'string', help: 'weak or strong' },
  { flag: 'aug-student', field: 'augStudent', kind: 'string', help: 'weak or strong' },
  {
    flag: 'blur',
    field: 'blur',
    kind: 'string',
    help: 'strong-view blur: pixels (σ 0.1–2 px), relative (σ × side/224), or off',
  },
  {
    flag: 'projection-bn',
    field: 'projectionBn',
    kind: 'bool',
    help: "true: ISD+'s head (BatchNorm); false: MoCo v2's (default: the method's)",
  },
  {
    flag: 'shuffle-bn',
    field: 'shuffleBn',
    kind: 'bool',
    help: "true or false: mix the teacher's batch across BatchNorm groups (default true)",
  },
  { flag: 'bn-groups', field: 'bnGroups', kind: 'int', help: 'BatchNorm groups of a batch (default 2)' },
  { flag: 'image-size', field: 'imageSize', kind: 'int', help: "encoder input side (0: the dataset's own)" },
  {
    flag: 'imbalance',
    field: 'imbalance',
    kind: 'string',
    help: 'none | longtail:<rho> | dominant:<large>:<perSmall>',
  },
  {
    flag: 'train-limit',
    field: 'trainLimit',
    kind: 'int',
    help: 'use the first n images after the imbalance draw (0: all)',
  },
  { flag: 'eval-every', field: 'evalEvery', kind: 'int', help: 'kNN evaluation every n epochs' },
  { flag: 'checkpoint-every', field: 'checkpointEvery', kind: 'int', help: 'checkpoint every n epochs' },
  { flag: 'seed', field: 'seed', kind: 'int', help: 'random seed' },
  { flag: 'name', field: 'name', kind: 'string', help: 'run name' },
];

const FLAG_OF_FIELD = new Map<string, string>(TRAIN_FLAGS.map((f) => [f.field, `--${f.flag}`]));
FLAG_OF_FIELD.set('linearEval', '--linear');
FLAG_OF_FIELD.set('evalFullTest', '--full-test');
FLAG_OF_FIELD.set('tags', '--tag');

/** The flag that sets a RunConfig field, when one does. */
export function flagOfField(field: string): string | undefined {
  return FLAG_OF_FIELD.get(field);
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Reads --config <file.json> (any RunConfig fields) as the base the flags override. */
function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new IsdError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'PERMISSION',
      `${file}: ${code === 'ENOENT' ? 'no such file' : 'cannot be read'}`,
      { field: '--config', path: file },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new IsdError('BAD_INPUT', `${file}: not valid JSON (${(err as Error).message})`, {
      field: '--config',
      path: file,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new IsdError('BAD_INPUT', `${file}: must hold a JSON object of run settings`, {
      field: '--config',
      path: file,
    });
  }
  return parsed as Record<string, unknown>;
}

/** --preset <id> → its training settings; an unknown id names the flag and the ids there are. */
function presetValues(id: string): Record<string, unknown> {
  const preset = findPreset(id);
  if (!preset) {
    throw new IsdError('BAD_INPUT', `no preset "${id}"; the presets are ${PRESET_IDS.join(', ')}`, {
      field: '--preset',
    });
  }
  return { ...preset.values };
}

/**
 * --preset, then --config, then flags (each overrides the one before) → a validated RunConfig; the
 * first problem names its flag. `warn` hears, in one line, the file's method settings that --method
 * replaced with its own method's.
 */
export function configFromFlags(
  flags: Record<string, unknown>,
  warn: (message: string) => void = () => undefined,
): RunConfig {
  let partial: Record<string, unknown> = flags.preset === undefined ? {} : presetValues(String(flags.preset));
  const fromFile = flags.config ? readConfigFile(String(flags.config)) : {};
  // A method named over a preset brings its own views, head and temperatures (as the form's "other method").
  if (isMethod(fromFile.method) && fromFile.method !== partial.method) partial = switchMethod(partial, fromFile.method);
  partial = { ...partial, ...fromFile };
  // --method brings its own settings too, except what a config file that names no method set itself.
  if (isMethod(flags.method) && flags.method !== partial.method) {
    const own = METHOD_DEFAULTS[flags.method];
    const givenAsFlag = (field: string) =>
      TRAIN_FLAGS.some((t) => t.field === field && flags[camel(t.flag)] !== undefined);
    const replaced =
      fromFile.method === undefined
        ? []
        : METHOD_FIELDS.filter((f) => Object.hasOwn(fromFile, f) && fromFile[f] !== own[f] && !givenAsFlag(f));
    if (replaced.length)
      warn(
        `--method ${flags.method}: ${String(flags.config)} set ${replaced.map((f) => `${f} ${String(fromFile[f])}`).join(', ')} for ${String(fromFile.method)}; ${flags.method} trains with ${replaced.map((f) => `${f} ${String(own[f])}`).join(', ')} (give them as flags to keep the file's)`,
      );
    partial = { ...switchMethod(partial, flags.method), ...(fromFile.method === undefined ? fromFile : {}) };
  }
  const fromFlags = new Set<string>();
  for (const f of TRAIN_FLAGS) {
    const raw = flags[camel(f.flag)];
    if (raw === undefined) continue;
    fromFlags.add(f.field);
    if (f.kind === 'string') {
      partial[f.field] = String(raw);
      continue;
    }
    if (f.kind === 'bool') {
      if (raw !== 'true' && raw !== 'false')
        throw new IsdError('BAD_INPUT', `expected true or false, got "${String(raw)}"`, { field: `--${f.flag}` });
      partial[f.field] = raw === 'true';
      continue;
    }
    const v = Number(raw);
    if (String(raw).trim() === '' || !Number.isFinite(v) || (f.kind === 'int' && !Number.isInteger(v))) {
      throw new IsdError(
        'BAD_INPUT',
        `expected ${f.kind === 'int' ? 'a whole number' : 'a number'}, got "${String(raw)}"`,
        { field: `--${f.flag}` },
      );
    }
    partial[f.field] = v;
  }
  const setByFlag = (field: string, value: unknown) => {
    partial[field] = value;
    fromFlags.add(field);
  };
  if (flags.linear) setByFlag('linearEval', true);
  if (flags.fullTest) setByFlag('evalFullTest', true);
  if (Array.isArray(flags.tag) && flags.tag.length) setByFlag('tags', flags.tag);
  const checked = validateRunConfig(partial);
  if (!checked.ok) {
    const first = checked.issues[0];
    const flag = FLAG_OF_FIELD.get(first.field);
    // A value the file set (or a field it named that does not exist) is the file's to fix, not a flag's.
    const fromConfigFile =
      flags.config !== undefined &&
      (first.field === 'config' || (Object.hasOwn(fromFile, first.field) && !fromFlags.has(first.field)));
    if (fromConfigFile) {
      const file = String(flags.config);
      const where = first.field === 'config' ? '' : ` field "${first.field}":`;
      throw new IsdError('BAD_INPUT', `${file}:${where} ${first.message}`, { field: '--config', path: file });
    }
    throw new IsdError('BAD_INPUT', first.message, { field: flag ?? first.field });
  }
  return checked.config;
}

/** The flags that set a run's config (configFromFlags reads them), on `isd train`. */
/** The run-setting flags given (--preset, --config and every flag addRunConfigFlags adds), in that order. */
export function runConfigFlagsGiven(flags: Record<string, unknown>): string[] {
  const named = [
    ['preset', '--preset'],
    ['config', '--config'],
    ...TRAIN_FLAGS.map((f) => [camel(f.flag), `--${f.flag}`]),
    ['linear', '--linear'],
    ['fullTest', '--full-test'],
    ['tag', '--tag'],
  ];
  return named.filter(([key]) => flags[key!] !== undefined).map(([, flag]) => flag!);
}

export function addRunConfigFlags(cmd: Command): Command {
  for (const f of TRAIN_FLAGS) cmd.option(`--${f.flag} <value>`, f.help);
  return cmd
    .option('--linear', 'also fit a linear probe at the end')
    .option('--full-test', 'score kNN on the whole test split (a quick run with --train-limit reads 2000 of it)')
    .option('--tag <tag...>', 'tags for the run')
    .option(
      '--preset <id>',
      `start from a preset's settings: ${PRESET_IDS.join(', ')} (--config and flags override it)`,
    )
    .option('--config <file>', 'JSON file of run settings (flags override it)');
}
