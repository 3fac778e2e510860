/**
 * `isd train`, `isd bench` and `isd serve`: the commands that run the engine or the web host.
 * Training goes through the same app services as the desktop app and the web host, so a run
 * started here lands in the same history, with the same validation and the same worker thread.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { CliOutput, pct } from './cli-output';
import { IsdError } from './errors';
import { resolveDbPath } from './app/paths';
import type { EngineOptions } from './engine/protocol';
import { dispatchRequest } from './app/dispatch';
import { installLastResort } from './app/last-resort';
import type { EvalPoint, PixelBaseline, RunDetail, RunStatusEvent, RunSummary, RunStatus } from './contract';
import { describeChange, describeQueries, formatAccuracy, readAccuracy, type AccuracyReading } from './readings';
import { isSettled } from './run-status';
import { isMethod, runConfigFields, switchMethod, validateRunConfig, type RunConfig } from './run-config';
import { findPreset, PRESET_IDS } from './presets';

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

/** --preset, then --config, then flags (each overrides the one before) → a validated RunConfig; the first problem names its flag. */
export function configFromFlags(flags: Record<string, unknown>): RunConfig {
  let partial: Record<string, unknown> = flags.preset === undefined ? {} : presetValues(String(flags.preset));
  const fromFile = flags.config ? readConfigFile(String(flags.config)) : {};
  // A method named over a preset brings its own views, head and temperatures (as the form's "other method").
  if (isMethod(fromFile.method) && fromFile.method !== partial.method) partial = switchMethod(partial, fromFile.method);
  partial = { ...partial, ...fromFile };
  if (isMethod(flags.method) && flags.method !== partial.method) partial = switchMethod(partial, flags.method);
  for (const f of TRAIN_FLAGS) {
    const raw = flags[camel(f.flag)];
    if (raw === undefined) continue;
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
  if (flags.linear) partial.linearEval = true;
  if (flags.fullTest) partial.evalFullTest = true;
  if (Array.isArray(flags.tag) && flags.tag.length) partial.tags = flags.tag;
  const checked = validateRunConfig(partial);
  if (!checked.ok) {
    const first = checked.issues[0];
    throw new IsdError('BAD_INPUT', first.message, { field: FLAG_OF_FIELD.get(first.field) ?? first.field });
  }
  // Fields runConfigFields knows but no flag sets still come from --config; keep the import honest.
  void runConfigFields;
  return checked.config;
}

export function registerTrainCommands(
  program: Command,
  out: () => CliOutput,
  fail: (o: CliOutput, e: unknown) => void,
  engine?: EngineOptions,
): void {
  const train = program.command('train').description('train an encoder with ISD or MoCo; the run lands in the history');
  for (const f of TRAIN_FLAGS) train.option(`--${f.flag} <value>`, f.help);
  train
    .option('--linear', 'also fit a linear probe at the end')
    .option('--full-test', 'score kNN on the whole test split (a quick run with --train-limit reads 2000 of it)')
    .option('--tag <tag...>', 'tags for the run')
    .option(
      '--preset <id>',
      `start from a preset's settings: ${PRESET_IDS.join(', ')} (--config and flags override it)`,
    )
    .option('--config <file>', 'JSON file of run settings (flags override it)')
    .option('--resume <runId>', 'continue an interrupted or stopped run from its last checkpoint')
    .action(async (flags: Record<string, unknown>) => {
      const o = out();
      try {
        await trainCommand(o, flags, program.opts<{ db?: string }>().db, engine);
      } catch (e) {
        fail(o, e);
      }
    });

  program
    .command('bench')
    .description('images/s of the full ISD training step in the fixed benchmark configuration (docs/cli.md)')
    .option('--steps <n>', 'timed steps after two warm-up steps', '10')
    .option('--method <m>', 'isd or moco', 'isd')
    .option('--replicas <n>', '1, or 2 to split each batch over two threads (default: 2 on two or more cores)')
    .action(async (flags: { steps: string; method: string; replicas?: string }) => {
      const o = out();
      try {
        const steps = Number(flags.steps);
        if (!Number.isInteger(steps) || steps < 1 || steps > 1000)
          throw new IsdError('BAD_INPUT', 'must be a whole number from 1 to 1000', { field: '--steps' });
        if (flags.method !== 'isd' && flags.method !== 'moco')
          throw new IsdError('BAD_INPUT', 'must be isd or moco', { field: '--method' });
        const replicas = flags.replicas === undefined ? undefined : Number(flags.replicas);
        if (replicas !== undefined && replicas !== 1 && replicas !== 2)
          throw new IsdError('BAD_INPUT', 'must be 1 or 2', { field: '--replicas' });
        const { runBenchmark } = await import('./engine/bench');
        o.info(`timing ${steps} ISD steps (resnet20, batch 128, 28×28×1, queue 4096) after 2 warm-up steps…`);
        const r = await runBenchmark({ steps, method: flags.method, replicas });
        o.result(r, () =>
          [
            `${r.imagesPerSec.toFixed(1)} images/s (best step ${r.bestImagesPerSec.toFixed(1)}) on ${r.backend}, ${r.device}${r.replicas > 1 ? `, ${r.replicas} replicas` : ''}`,
            r.shares
              ? `time shares: augment ${pct(r.shares.augment)}, forward ${pct(r.shares.forward)}, backward ${pct(r.shares.backward)}, update ${pct(r.shares.update)}`
              : '',
            `step times (ms): ${r.stepMs.map((t) => t.toFixed(0)).join(' ')}`,
          ]
            .filter(Boolean)
            .join('\n'),
        );
      } catch (e) {
        fail(o, e);
      }
    });

  program
    .command('eval <runId>')
    .description(
      "kNN accuracy (and a linear probe with --linear) of a run's last checkpoint on the full training and test splits",
    )
    .option('--linear', "also fit a linear probe on the frozen features (slower); stored as the run's linear accuracy")
    .action(async (runId: string, flags: { linear?: boolean }) => {
      const o = out();
      try {
        await evalCommand(o, runId, Boolean(flags.linear), program.opts<{ db?: string }>().db, engine);
      } catch (e) {
        fail(o, e);
      }
    });

  program
    .command('serve')
    .description('serve the app in a browser on 127.0.0.1 (prints the URL with its token)')
    .option('--port <n>', 'port (0: any free port)', '0')
    .action(async (flags: { port: string }) => {
      const o = out();
      try {
        const port = Number(flags.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new IsdError('BAD_INPUT', 'must be a port number from 0 to 65535', { field: '--port' });
        const { startWebHost } = await import('./host');
        installLastResort((line) => o.info(line));
        const host = await startWebHost({ dbPath: resolveDbPath(program.opts<{ db?: string }>().db), port });
        o.result({ url: host.url, port: host.port }, () => host.url);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        o.info('stopping: the training run (if any) gets a final checkpoint…');
        await host.close();
      } catch (e) {
        fail(o, e);
      }
    });
}

/** The kNN accuracies an `epoch` line reports, with their names in human output. */
const KNN_READINGS = [
  ['knn20', '20-NN'],
  ['knn1', '1-NN'],
  ['knn20Weighted', 'weighted 20-NN'],
  ['knn200Weighted', 'weighted 200-NN'],
] as const;
type KnnKey = (typeof KNN_READINGS)[number][0];

/** What a run's accuracies are read against: its step-0 evaluation, raw pixels, the queries' count. */
interface RunReference {
  init: EvalPoint | null;
  pixel: PixelBaseline | null;
}

/** Each kNN accuracy of an evaluation read against step 0 (readings.ts), and its human text. */
function knnReadings(
  e: Pick<EvalPoint, KnnKey>,
  ref: RunReference,
): { json: Partial<Record<KnnKey, AccuracyReading>>; human: string } {
  const json: Partial<Record<KnnKey, AccuracyReading>> = {};
  const parts: string[] = [];
  for (const [key, name] of KNN_READINGS) {
    const value = e[key];
    if (value === null || value === undefined) continue;
    const r = readAccuracy(value, ref.init?.[key] ?? null, ref.pixel?.testImages ?? null);
    json[key] = r;
    const change = describeChange(r);
    parts.push(`${name} ${formatAccuracy(r)}${change ? ` (${change})` : ''}`);
  }
  return { json, human: parts.join(', ') };
}

/** The `baseline` line of `isd train --json` (docs/cli.md). */
function baselineLine(runId: string, pixel: PixelBaseline, init: EvalPoint) {
  return {
    type: 'baseline',
    runId,
    ...pixel,
    initKnn1: init.knn1,
    initKnn20: init.knn20,
    initKnn20Weighted: init.knn20Weighted,
    initKnn200Weighted: init.knn200Weighted,
  };
}

function baselineHuman(pixel: PixelBaseline, init: EvalPoint): string {
  const subset = describeQueries(pixel.testImages, pixel.testSplitImages);
  return (
    `references: raw pixels 20-NN ${pct(pixel.pixelKnn20)}, 1-NN ${pct(pixel.pixelKnn1)}; ` +
    `random-init encoder (step 0) 20-NN ${pct(init.knn20)}, 1-NN ${pct(init.knn1)} ` +
    `(bank ${pixel.bankImages.toLocaleString('en')} training images, ${pixel.testImages.toLocaleString('en')} test queries${subset ? `, ${subset}` : ''})`
  );
}

async function evalCommand(
  o: CliOutput,
  idOrPrefix: string,
  linear: boolean,
  db: string | undefined,
  engine?: EngineOptions,
): Promise<void> {
  const { createAppServices } = await import('./app/services');
  const app = createAppServices({ dbPath: resolveDbPath(db), transport: 'web', engine });
  try {
    o.info(`evaluating the last checkpoint of run ${idOrPrefix} on the whole training and test splits…`);
    const r = await app.evaluateRun(idOrPrefix, linear);
    const result = {
      runId: r.runId,
      step: r.checkpointStep,
      knn1: r.knn1,
      knn20: r.knn20,
      knn20Weighted: r.knn20Weighted,
      bankImages: r.bankImages,
      testImages: r.testImages,
      ...(r.linear !== undefined ? { linear: r.linear } : {}),
    };
    o.result(
      result,
      () =>
        `1-NN ${pct(r.knn1)}, 20-NN ${pct(r.knn20)}, weighted 20-NN ${pct(r.knn20Weighted)}${r.linear !== undefined ? `, linear ${pct(r.linear)}` : ''} (bank ${r.bankImages} training images, ${r.testImages} test queries)`,
    );
  } finally {
    await app.close();
  }
}

async function trainCommand(
  o: CliOutput,
  flags: Record<string, unknown>,
  db: string | undefined,
  engine?: EngineOptions,
): Promise<void> {
  installLastResort((line) => process.stderr.write(`${line}\n`));
  const resumeId = flags.resume === undefined ? undefined : String(flags.resume);
  const config = resumeId === undefined ? configFromFlags(flags) : undefined;
  const dbPath = resolveDbPath(db);
  const { createAppServices } = await import('./app/services');
  // The CLI takes typed dataset paths, as the web host does. Service logs are notes (stderr keeps the one error line).
  const app = createAppServices({ dbPath, transport: 'web', engine, log: (_level, m) => o.info(`[isd] ${m}`) });
  let runId: string | null = null;
  let bar: SingleBar | null = null;
  const useBar = !o.json && process.stdout.isTTY === true;
  /** The error the run ended with, as its status event carried it (with field and path, which the store does not keep). */
  let endError: RunStatusEvent['error'];
  /** Step 0 and raw pixels: from the baseline event, or from the history on a resume. */
  const ref: RunReference = { init: null, pixel: null };
  const finished = new Promise<RunStatus>((resolve) => {
    app.events.on('run.progress', (p) => {
      if (p.runId !== runId) return;
      o.line({ type: 'progress', ...p });
      if (useBar) {
        bar ??= new SingleBar({
          format: 'epoch {epoch} |{bar}| {value}/{total} steps · loss {loss} · {ips} img/s · ETA {eta_formatted}',
          etaBuffer: 50,
        });
        if (!bar.isActive)
          bar.start(p.totalSteps, p.step, { epoch: p.epoch, loss: p.loss.toFixed(4), ips: p.imagesPerSec.toFixed(0) });
        bar.setTotal(p.totalSteps);
        bar.update(p.step, { epoch: p.epoch, loss: p.loss.toFixed(4), ips: p.imagesPerSec.toFixed(0) });
      }
    });
    app.events.on('run.eval', (e) => {
      if (e.runId !== runId) return;
      const knn = knnReadings(e, e.epoch === 0 ? { ...ref, init: null } : ref);
      const human = `epoch ${e.epoch}: ${knn.human}${e.linear !== null ? `, linear ${pct(e.linear)}` : ''}${e.epoch === 0 ? ' (random-init encoder, step 0)' : ''}`;
      if (useBar && bar?.isActive) bar.stop();
      o.line({ type: 'epoch', ...e, ...(e.epoch > 0 ? { readings: knn.json } : {}) }, human);
    });
    app.events.on('run.baseline', (b) => {
      if (b.runId !== runId) return;
      const { runId: id, init, ...pixel } = b;
      ref.init = init;
      ref.pixel = pixel;
      if (useBar && bar?.isActive) bar.stop();
      o.line(baselineLine(id, pixel, init), baselineHuman(pixel, init));
    });
    app.events.on('run.status', (s) => {
      if (s.runId !== runId) return;
      if (s.error) endError = s.error;
      if (!o.json) o.info(`run ${s.runId.slice(0, 8)}: ${s.status}${s.error ? ` (${s.error.message})` : ''}`);
      if (isSettled(s.status)) resolve(s.status);
    });
  });

  let interrupted = false;
  const onSigint = () => {
    if (interrupted || runId === null) return;
    interrupted = true;
    o.info(`stopping run ${runId.slice(0, 8)} at the next step (a checkpoint is written)…`);
    void dispatchRequest(app.handlers, 'runs.stop', { id: runId });
  };
  process.on('SIGINT', onSigint);
  try {
    const started =
      resumeId === undefined
        ? await dispatchRequest(app.handlers, 'runs.start', { config })
        : await dispatchRequest(app.handlers, 'runs.resume', { id: resumeId });
    if (!started.ok) {
      const e = started.error;
      const field = e.field?.startsWith('config.') ? (FLAG_OF_FIELD.get(e.field.slice(7)) ?? e.field) : e.field;
      throw new IsdError(e.code, e.message, {
        field: resumeId !== undefined && e.field === 'id' ? '--resume' : field,
        path: e.path,
      });
    }
    const run = started.value as RunSummary;
    runId = run.id;
    if (resumeId !== undefined) {
      const before = await dispatchRequest(app.handlers, 'runs.get', { id: run.id });
      if (before.ok) {
        const known = before.value as RunDetail;
        Object.assign(ref, { init: known.baseline, pixel: known.pixel });
      }
    }
    o.info(`run ${run.id} (${run.name}) ${resumeId ? 'resumed' : 'started'}; history: ${dbPath}`);
    const behind = run.status === 'queued' ? app.runs.waitingBehind() : null;
    if (behind)
      o.info(
        `run ${run.id.slice(0, 8)} waits in the history's queue behind run ${behind.id} (${behind.name}), training in process ${behind.pid}; Ctrl-C takes it out`,
      );
    const status = await finished;
    if (useBar) (bar as SingleBar | null)?.stop();
    const detail = await dispatchRequest(app.handlers, 'runs.get', { id: run.id });
    const d = detail.ok ? (detail.value as RunDetail) : null;
    const summary = d?.run ?? null;
    if (status === 'completed' || status === 'stopped') {
      const last = d?.evals.at(-1) ?? null;
      const finalRef = { init: d?.baseline ?? ref.init, pixel: d?.pixel ?? ref.pixel };
      const knn = last ? knnReadings(last, finalRef) : null;
      const done = {
        type: 'done',
        runId: run.id,
        status,
        knn1: summary?.knn1 ?? null,
        knn20: summary?.knn20 ?? null,
        knn20Weighted: last?.knn20Weighted ?? null,
        knn200Weighted: last?.knn200Weighted ?? null,
        bestKnn20: summary?.bestKnn20 ?? null,
        linear: summary?.linear ?? null,
        readings: knn?.json ?? {},
        initKnn20: finalRef.init?.knn20 ?? null,
        pixelKnn1: finalRef.pixel?.pixelKnn1 ?? null,
        pixelKnn20: finalRef.pixel?.pixelKnn20 ?? null,
        testImages: finalRef.pixel?.testImages ?? null,
        testSplitImages: finalRef.pixel?.testSplitImages ?? null,
        epochs: summary?.epoch ?? null,
        durationSec: summary?.durationSec ?? null,
      };
      const pixels =
        finalRef.pixel && last
          ? `; raw pixels 20-NN ${pct(finalRef.pixel.pixelKnn20)}${last.knn20 < finalRef.pixel.pixelKnn20 ? ' (the encoder is below the pixels)' : ''}`
          : '';
      o.line(
        done,
        `${status}: ${knn?.human ?? 'no kNN evaluation'}${done.linear !== null ? `, linear ${pct(done.linear)}` : ''}${pixels}${status === 'stopped' ? `; continue with: isd train --resume ${run.id}` : ''}`,
      );
    } else {
      const err = endError ?? summary?.error;
      throw new IsdError(err?.code ?? 'INTERNAL', err?.message ?? `run ended ${status}`, {
        field: endError?.field,
        path: endError?.path,
      });
    }
  } finally {
    process.off('SIGINT', onSigint);
    await app.close({ stopTimeoutMs: 20_000 });
  }
}
