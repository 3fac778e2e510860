/**
 * `isd study …`: the imbalance study from the command line (docs/study.md).
 *   isd study imbalance [--dataset …] [--profiles none,dominant:3:100,longtail:10] [--seeds N] [--epochs …] [--train-limit …] [--linear] [--json]
 *   isd study list | show <id> [--markdown|--csv] | resume <id>
 * `imbalance` and `resume` train in this process through the same app services (app.study) the
 * desktop app and the web host use (one run at a time, runs in the same history); with --json, stdout carries one JSON
 * object per line: {type:"study"}, {type:"run"}, {type:"progress"}, finally {type:"done"} (or {type:"error"}).
 * Ctrl-C stops the study with a checkpoint; `isd study resume <id>` continues it.
 * Exit codes: 0 every run completed, 2 bad input, 1 anything else (a run failed, the study was stopped).
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { createAppServices } from './app/services';
import { installLastResort } from './app/last-resort';
import { checkpointRootFor, resolveDbPath } from './app/paths';
import { CliOutput, pct, table } from './cli-output';
import type { EngineOptions } from './engine/protocol';
import { IsdError, isIsdError } from './errors';
import { openRunStore, type RunStore } from './store';
import { validateStudySpec } from './study/plan';
import { studyResultsCsv } from './study/results';
import { isSettled } from './run-status';
import type { StudyService } from './app/study-service';
import { DEFAULT_STUDY_SPEC, type StudySpecInput } from './contract/study-spec';
import type { StudyDetail, StudyProgress } from './contract/study';
import { listStudySummaries, studyDetail, resolveStudyId } from './app/study-view';

interface GlobalOptions {
  json?: boolean;
  db?: string;
}

export interface StudyCommandOptions {
  /** Engine knobs for every run (tests shrink the encoder and the kNN sets). */
  engine?: EngineOptions;
  resourcesDir?: string;
}

interface ImbalanceFlags {
  name?: string;
  dataset?: string;
  methods?: string;
  profiles?: string;
  seeds?: string;
  firstSeed?: string;
  epochs?: string;
  trainLimit?: string;
  batchSize?: string;
  queueSize?: string;
  arch?: string;
  imageSize?: string;
  evalEvery?: string;
  linear?: boolean;
  estimate?: boolean;
}

/** Spec fields → the flag that sets them, so an error names what the user typed. */
const FLAG_OF: Record<string, string> = {
  name: '--name',
  dataset: '--dataset',
  methods: '--methods',
  profiles: '--profiles',
  seeds: '--seeds',
  firstSeed: '--first-seed',
  'budget.epochs': '--epochs',
  'budget.trainLimit': '--train-limit',
  'budget.batchSize': '--batch-size',
  'budget.queueSize': '--queue-size',
  'budget.arch': '--arch',
  'budget.imageSize': '--image-size',
  'budget.evalEvery': '--eval-every',
  'budget.linearEval': '--linear',
};

function flagFor(field: string | undefined): string | undefined {
  if (!field) return field;
  const base = field.replace(/\.\d+$/, '');
  return FLAG_OF[field] ?? FLAG_OF[base] ?? field;
}

function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n))
    throw new IsdError('BAD_INPUT', `must be a whole number, got "${value}"`, { field: flag });
  return n;
}

const list = (value: string | undefined) =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);

/** The study spec the flags describe (unset flags keep the default study's values). */
export function specFromFlags(f: ImbalanceFlags): StudySpecInput {
  const budget: Record<string, unknown> = {};
  const put = (key: string, v: unknown) => {
    if (v !== undefined) budget[key] = v;
  };
  put('epochs', intFlag(f.epochs, '--epochs'));
  put('trainLimit', intFlag(f.trainLimit, '--train-limit'));
  put('batchSize', intFlag(f.batchSize, '--batch-size'));
  put('queueSize', intFlag(f.queueSize, '--queue-size'));
  put('imageSize', intFlag(f.imageSize, '--image-size'));
  put('evalEvery', intFlag(f.evalEvery, '--eval-every'));
  put('arch', f.arch);
  if (f.linear) budget.linearEval = true;
  const spec: Record<string, unknown> = { budget };
  if (f.name !== undefined) spec.name = f.name;
  if (f.dataset !== undefined) spec.dataset = f.dataset;
  if (f.methods !== undefined) spec.methods = list(f.methods);
  if (f.profiles !== undefined) spec.profiles = list(f.profiles);
  if (f.seeds !== undefined) spec.seeds = intFlag(f.seeds, '--seeds');
  if (f.firstSeed !== undefined) spec.firstSeed = intFlag(f.firstSeed, '--first-seed');
  return spec as StudySpecInput;
}

/** Re-labels a spec error with the flag the user typed. */
function asFlagError(e: unknown): unknown {
  if (!isIsdError(e) || !e.field || !(e.field in FLAG_OF || e.field.replace(/\.\d+$/, '') in FLAG_OF)) return e;
  const flag = flagFor(e.field) as string;
  const message = e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
  return new IsdError(e.code, message, { field: flag, path: e.path, cause: e });
}

function fmtDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '–';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function describeProgress(p: StudyProgress): string {
  const current = p.active
    ? `${p.active.method} ${p.active.profile} seed ${p.active.seed} ${p.active.totalSteps ? `${Math.round((100 * p.active.step) / p.active.totalSteps)}%` : 'starting'}`
    : 'idle';
  return `runs ${p.completed}/${p.total}${p.failed ? `, ${p.failed} failed` : ''} · ${current} · ${(p.fraction * 100).toFixed(0)}% · ETA ${fmtDuration(p.etaSec)}`;
}

/** The human report at the end: what ran, the table, the paired differences and verdicts (all in the Markdown), and what is left. */
function humanReport(d: StudyDetail): string {
  const lines = [d.markdown.trimEnd()];
  const failed = d.runs.filter((r) => r.status === 'failed');
  if (failed.length)
    lines.push(
      '',
      `${failed.length} run(s) failed: ${failed.map((r) => `${r.key} (${r.runId?.slice(0, 8)}: ${r.error ?? 'no reason recorded'})`).join('; ')}`,
    );
  if (d.progress.state !== 'completed')
    lines.push('', `Not finished: continue with \`isd study resume ${d.summary.id.slice(0, 8)}\``);
  return lines.join('\n');
}

function openStore(g: GlobalOptions): RunStore {
  const file = resolveDbPath(g.db);
  return openRunStore(file, { checkpointRoot: checkpointRootFor(file) });
}

/**
 * Runs a study in this process until none of its runs trains or waits: streams progress, stops with a
 * checkpoint on Ctrl-C, prints the results. `begin` creates or resumes the study and returns its id.
 */
async function trainStudy(
  o: CliOutput,
  g: GlobalOptions,
  opts: StudyCommandOptions,
  begin: (study: StudyService) => Promise<string>,
): Promise<number> {
  installLastResort((line) => process.stderr.write(`${line}\n`));
  const dbPath = resolveDbPath(g.db);
  const app = createAppServices({
    dbPath,
    checkpointRoot: checkpointRootFor(dbPath),
    resourcesDir: opts.resourcesDir,
    transport: 'web', // typed paths are how a command line names datasets
    engine: opts.engine,
    log: (level, message) => {
      if (level !== 'info' || process.env.ISD_DEBUG) process.stderr.write(`isd: ${message}\n`);
    },
  });
  const study = app.study;
  const tty = !o.json && process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: 'study [{bar}] {percentage}% | {status}', hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let studyId: string | null = null;
  let stopping = false;
  let settle: (() => void) | null = null;
  const ended = new Promise<void>((resolve) => (settle = resolve));
  const onProgress = (p: StudyProgress) => {
    if (p.studyId !== studyId) return;
    o.line({ type: 'progress', ...p });
    bar?.update(Math.round(p.fraction * 1000), { status: describeProgress(p) });
    if (p.state !== 'running') settle?.();
  };
  const offProgress = app.events.on('study.progress', onProgress);
  const offStatus = app.events.on('run.status', (s) => {
    if (!studyId || !isSettled(s.status)) return;
    const run = app.store.getRunRecord(s.runId);
    if (run.studyId !== studyId) return;
    const key = `${run.config.method} ${run.config.imbalance} seed ${run.config.seed}`;
    o.line({
      type: 'run',
      runId: s.runId,
      method: run.config.method,
      profile: run.config.imbalance,
      seed: run.config.seed,
      status: s.status,
      knn1: run.knn1,
      knn20: run.knn20,
      error: s.error ?? null,
    });
    if (!tty)
      o.progress(
        `${s.status.padEnd(9)} ${key}: 1-NN ${pct(run.knn1)}, 20-NN ${pct(run.knn20)}${s.error ? ` (${s.error.message})` : ''}`,
      );
  });
  const onSigint = () => {
    if (!studyId || stopping) return;
    stopping = true;
    bar?.stop();
    process.stderr.write(
      `isd: stopping study ${studyId.slice(0, 8)}: the training run writes a checkpoint first (Ctrl-C again to quit at once)\n`,
    );
    process.removeListener('SIGINT', onSigint);
    try {
      study.stop(studyId);
    } catch (err) {
      process.stderr.write(`isd: ${(err as Error).message}\n`);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    studyId = await begin(study);
    bar?.start(1000, 0, { status: 'starting' });
    onProgress(study.progress(studyId));
    await ended;
    bar?.stop();
    const detail = study.get(studyId);
    o.result(
      {
        type: 'done',
        studyId,
        state: detail.progress.state,
        completed: detail.progress.completed,
        total: detail.progress.total,
        results: detail.results,
        markdown: detail.markdown,
      },
      () => humanReport(detail),
    );
    o.progress(`Export: isd study show ${studyId.slice(0, 8)} --csv  (or --markdown)`);
    return detail.progress.state === 'completed' ? 0 : 1;
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
    offProgress();
    offStatus();
    await app.close({ stopTimeoutMs: 30_000 });
  }
}

/**
 * Adds `study` and its subcommands to the `isd` program. `state.code` receives the exit code, as the
 * other commands of electron/cli.ts do.
 */
export function registerStudyCommand(
  program: Command,
  state: { code: number },
  opts: StudyCommandOptions = {},
): Command {
  const globals = () => program.opts<GlobalOptions>();
  const run = (fn: (o: CliOutput) => Promise<number | void> | number | void) => async () => {
    const o = new CliOutput(Boolean(globals().json));
    try {
      const code = await fn(o);
      if (typeof code === 'number') state.code = code;
    } catch (e) {
      state.code = o.error(asFlagError(e));
    }
  };
  const d = DEFAULT_STUDY_SPEC;
  const study = program
    .command('study')
    .description('imbalance studies: does ISD cope better than MoCo with unbalanced unlabeled data?');

  study
    .command('imbalance')
    .description(
      'train ISD and MoCo on balanced and imbalanced draws of a dataset, several seeds, one budget; print mean ± spread and ISD − MoCo with 95% CIs',
    )
    .option('--name <text>', 'study name')
    .option('--dataset <id|path>', `dataset id (isd datasets list) or path (default ${d.dataset})`)
    .option('--methods <list>', `comma-separated (default ${d.methods.join(',')})`)
    .option(
      '--profiles <list>',
      `imbalance profiles, comma-separated: none, dominant:<large>:<perSmall>, longtail:<rho> (default ${d.profiles.join(',')})`,
    )
    .option('--seeds <n>', `seeds per method and profile, at least 2 (default ${d.seeds})`)
    .option('--first-seed <n>', `first seed (default ${d.firstSeed})`)
    .option('--epochs <n>', `epochs per run (default ${d.budget.epochs})`)
    .option('--train-limit <n>', `images per run after the imbalance draw, 0 for all (default ${d.budget.trainLimit})`)
    .option('--batch-size <n>', `default ${d.budget.batchSize}`)
    .option('--queue-size <n>', `anchors in the queue, a multiple of the batch size (default ${d.budget.queueSize})`)
    .option('--arch <name>', `resnet20 or resnet18 (default ${d.budget.arch})`)
    .option('--image-size <n>', `0 keeps the dataset's size (default ${d.budget.imageSize})`)
    .option('--eval-every <n>', `kNN evaluation every n epochs, always at the end (default ${d.budget.evalEvery})`)
    .option('--linear', 'also fit a linear probe at the end of every run')
    .option('--estimate', 'print the plan and its estimated duration, train nothing')
    .action((flags: ImbalanceFlags) =>
      run(async (o) => {
        const spec = validateStudySpec(specFromFlags(flags));
        if (flags.estimate) {
          const dbPath = resolveDbPath(globals().db);
          const app = createAppServices({
            dbPath,
            checkpointRoot: checkpointRootFor(dbPath),
            resourcesDir: opts.resourcesDir,
            transport: 'web',
            engine: opts.engine,
            log: () => undefined,
          });
          try {
            const e = await app.study.estimate(spec);
            o.result({ type: 'estimate', spec, estimate: e }, () =>
              [
                `${e.runs} runs (${spec.methods.join(', ')} × ${spec.profiles.join(', ')} × ${spec.seeds} seeds), about ${fmtDuration(e.seconds)} at ${e.imagesPerSec.toFixed(0)} images/s (${e.basis}, ${e.backend})`,
                table(
                  ['profile', 'images/run', 'steps/run', 'min/run', 'frequent classes', 'rare classes'],
                  e.perProfile.map((p) => [
                    p.profile,
                    p.trainImages,
                    p.steps,
                    (p.secondsPerRun / 60).toFixed(1),
                    p.frequent.join(' '),
                    p.rare.join(' ') || '–',
                  ]),
                ),
              ].join('\n'),
            );
          } finally {
            await app.close();
          }
          return 0;
        }
        return trainStudy(o, globals(), opts, async (service) => {
          const detail = await service.start(spec);
          const e = detail.estimate;
          o.line({
            type: 'study',
            studyId: detail.summary.id,
            name: detail.summary.name,
            spec: detail.spec,
            estimate: e,
            runs: detail.runs.map((r) => ({ key: r.key, runId: r.runId })),
          });
          o.progress(
            `study ${detail.summary.id.slice(0, 8)} "${detail.summary.name}": ${detail.runs.length} runs queued` +
              (e ? `, about ${fmtDuration(e.seconds)} at ${e.imagesPerSec.toFixed(0)} images/s (${e.basis})` : ''),
          );
          return detail.summary.id;
        });
      })(),
    );

  study
    .command('resume <id>')
    .description(
      'continue a study: runs not completed are queued again (from their checkpoints), completed runs are never redone',
    )
    .action((id: string) =>
      run((o) =>
        trainStudy(o, globals(), opts, async (service) => {
          const { detail, report } = await service.resume(id);
          o.line({ type: 'study', studyId: detail.summary.id, name: detail.summary.name, resumed: report });
          o.progress(
            `study ${detail.summary.id.slice(0, 8)}: ${report.requeued.length} run(s) queued again, ${report.created.length} created, ${report.skipped.filter((s) => s.reason === 'completed').length} completed left alone`,
          );
          return detail.summary.id;
        }),
      )(),
    );

  study
    .command('list')
    .description('every study, newest first')
    .action(() =>
      run((o) => {
        const store = openStore(globals());
        try {
          const studies = listStudySummaries(store);
          o.result(studies, () =>
            studies.length === 0
              ? 'no studies yet: start one with `isd study imbalance`'
              : table(
                  ['id', 'name', 'dataset', 'profiles', 'seeds', 'runs', 'state'],
                  studies.map((s) => [
                    s.id.slice(0, 8),
                    s.name,
                    s.dataset,
                    s.profiles.join(' '),
                    s.seeds,
                    `${s.completed}/${s.total}${s.failed ? ` (${s.failed} failed)` : ''}`,
                    s.state,
                  ]),
                ),
          );
        } finally {
          store.close();
        }
      })(),
    );

  study
    .command('show <id>')
    .description('a study: its runs, the results table, ISD − MoCo with 95% CIs and verdicts (--json: everything)')
    .option('--markdown', 'print the results as a Markdown report')
    .option('--csv', 'print the results as CSV')
    .action((id: string, flags: { markdown?: boolean; csv?: boolean }) =>
      run((o) => {
        if (flags.markdown && flags.csv)
          throw new IsdError('BAD_INPUT', 'choose --markdown or --csv, not both', { field: '--csv' });
        const store = openStore(globals());
        try {
          const detail = studyDetail(store, resolveStudyId(store, id));
          if (flags.csv || flags.markdown) {
            const content = flags.csv ? studyResultsCsv(detail.summary.id, detail.results) : detail.markdown;
            if (o.json) o.result({ format: flags.csv ? 'csv' : 'md', content }, () => content);
            else process.stdout.write(content);
            return;
          }
          o.result(detail, () =>
            [
              table(
                ['run', 'method', 'profile', 'seed', 'status', 'epoch', '1-NN', '20-NN', '20-NN freq', '20-NN rare'],
                detail.runs.map((r) => [
                  r.runId?.slice(0, 8) ?? '–',
                  r.method,
                  r.profile,
                  r.seed,
                  r.status,
                  `${r.epoch}/${r.epochs}`,
                  pct(r.knn1),
                  pct(r.knn20),
                  pct(r.frequentKnn20),
                  pct(r.rareKnn20),
                ]),
              ),
              '',
              humanReport(detail),
            ].join('\n'),
          );
        } finally {
          store.close();
        }
      })(),
    );
  return study;
}
