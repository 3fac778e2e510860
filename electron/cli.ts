/**
 * The `isd` command line (docs/cli.md). Every command takes --json (stdout: JSON only) and --db.
 * Exit codes: 0 done, 2 bad input (flag, value, dataset), 1 anything else.
 */
import { Command, CommanderError } from 'commander';
import { CliOutput, pct, table } from './cli-output';
import { IsdError } from './errors';
import { resolveDbPath, checkpointRootFor } from './app/paths';
import { inspectDataset, listDatasets } from './data';
import { openRunStore, type RunStore } from './store';
import type { DatasetEntry } from './data/types';
import { registerTrainCommands } from './cli-train';
import { registerStudyCommand } from './cli-study';
import { registerEncoderCommands } from './cli-encoder';
import type { EngineOptions } from './engine/protocol';
import { dispatchRequest } from './app/dispatch';
import { RUN_SORT_FIELDS, type Channel, type RequestOutput } from './contract';

interface GlobalOptions {
  json?: boolean;
  db?: string;
}

/** Opens the run history named by --db / ISD_DB / the app's default. */
function openStore(opts: GlobalOptions): RunStore {
  const file = resolveDbPath(opts.db);
  return openRunStore(file, { checkpointRoot: checkpointRootFor(file) });
}

function withStore<T>(opts: GlobalOptions, fn: (store: RunStore) => T): T {
  const store = openStore(opts);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** Flags of `isd runs …` by the contract field they fill, so a refusal names the flag. */
const RUNS_FLAGS: Record<string, string> = {
  status: '--status',
  method: '--method',
  search: '--search',
  sort: '--sort',
  dir: '--dir',
  limit: '--limit',
};

/**
 * One request through the app's handlers, as the web host and the desktop app answer it: the contract
 * validates the input and the value has the API's shape. A refusal throws, naming the flag at fault.
 */
async function request<C extends Channel>(
  opts: GlobalOptions,
  engine: EngineOptions | undefined,
  channel: C,
  /** Flag values as typed: the contract's schema checks them. */
  input: Record<string, unknown>,
): Promise<RequestOutput<C>> {
  const { createAppServices } = await import('./app/services');
  const app = createAppServices({ dbPath: resolveDbPath(opts.db), transport: 'web', engine });
  try {
    const r = await dispatchRequest(app.handlers, channel, input);
    if (!r.ok) {
      const { code, message, field, path } = r.error;
      throw new IsdError(code, message, { field: (field !== undefined && RUNS_FLAGS[field]) || field, path });
    }
    return r.value as RequestOutput<C>;
  } finally {
    await app.close();
  }
}

function fmtTime(ms: number | null): string {
  return ms === null ? '–' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16);
}

/** Engine knobs tests pass to shrink models and kNN sets (engine/protocol.ts EngineOptions). */
export interface ProgramOptions {
  engine?: EngineOptions;
}

/** Builds the command tree; each action reports through `out` and records its exit code. */
export function buildProgram(state: { code: number }, opts: ProgramOptions = {}): Command {
  const program = new Command('isd')
    .description('ISD Studio: train self-supervised image encoders with ISD (and MoCo), from the command line')
    .option('--json', 'print JSON only on stdout (human text goes to stderr)')
    .option('--db <file>', "run history database (default: ISD_DB, else the desktop app's own)")
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const out = () => new CliOutput(Boolean(program.opts<GlobalOptions>().json));
  const globals = () => program.opts<GlobalOptions>();
  const run = (fn: (o: CliOutput) => Promise<void> | void) => async () => {
    const o = out();
    try {
      await fn(o);
    } catch (e) {
      state.code = o.error(e);
    }
  };

  program
    .command('info')
    .description('the tfjs backend this machine trains with, its device, and why better ones are not used')
    .action(
      run(async (o) => {
        const { initTrainingBackend } = await import('./engine/data-parallel');
        // the backend as a run with an even batch starts it: two one-thread replicas, or one threaded replica
        const { backend, replicas } = await initTrainingBackend({}, 2);
        const r = { ...backend, replicas };
        o.result(r, () =>
          [
            `backend  ${r.backend}${r.forcedBy ? ` (forced by ${r.forcedBy})` : ''}`,
            `device   ${r.device}`,
            ...(r.adapter
              ? [
                  `adapter  ${r.adapter.vendor} ${r.adapter.architecture}, ${r.adapter.description}${r.adapter.software ? ' (software)' : ''}`,
                ]
              : []),
            `threads  ${r.threads}${r.simd ? ', SIMD' : ''}`,
            `training ${replicas > 1 ? `${replicas} replicas (data parallel), one thread each; ISD_REPLICAS=1 for one` : 'one replica'}`,
            ...r.fallbacks.map((f) => `not ${f.backend}: ${f.reason}`),
            `versions ${Object.entries(r.versions)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}`,
          ].join('\n'),
        );
      }),
    );

  const datasets = program
    .command('datasets')
    .description('datasets: bundled, found on this machine, and added by you');
  datasets
    .command('list')
    .description('bundled and detected datasets (and those added in the app)')
    .action(
      run(async (o) => {
        const userPaths = withStore(globals(), (s) => s.listUserDatasets().map((d) => d.path));
        const list: DatasetEntry[] = await listDatasets({ userPaths });
        o.result(list, () =>
          table(
            ['id', 'name', 'format', 'images', 'classes', 'shape', 'path'],
            list.map((d) => [
              d.id,
              d.name,
              d.format,
              d.error ? `error: ${d.error}` : d.images,
              d.classes,
              d.shape.join('×'),
              d.path,
            ]),
          ),
        );
      }),
    );
  datasets
    .command('inspect <path>')
    .description('format, image shape, classes and split sizes of a dataset file or folder')
    .action((p: string) =>
      run(async (o) => {
        const s = await inspectDataset(p);
        o.result(s, () =>
          [
            `${s.name} (${s.format}) at ${s.path}`,
            `shape ${s.shape.join('×')}, ${s.classes} classes${s.classNames ? `: ${s.classNames.join(', ')}` : ''}`,
            `train ${s.splits.train.images} images${s.splits.train.classCounts ? ` (per class ${s.splits.train.classCounts.join(' ')})` : ''}`,
            s.splits.test ? `test  ${s.splits.test.images} images` : 'test  none',
            ...s.skippedFiles.map((f) => `skipped ${f.path}: ${f.reason}`),
            s.skipped > s.skippedFiles.length ? `skipped ${s.skipped - s.skippedFiles.length} more image(s)` : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
      })(),
    );

  const runs = program
    .command('runs')
    .description("the run history (--json: the API's runs.list, runs.get, runs.compare)");
  runs
    .command('list')
    .description('every run, newest first')
    .option('--status <status>', 'only runs with this status')
    .option('--method <method>', 'only isd or moco runs')
    .option('--search <text>', 'name, dataset, tags or notes contain this')
    .option('--sort <field>', `sort by ${RUN_SORT_FIELDS.join(', ')}`, 'createdAt')
    .option('--dir <dir>', 'asc or desc', 'desc')
    .option('--limit <n>', 'at most n runs', '200')
    .action((flags: { status?: string; method?: string; search?: string; sort: string; dir: string; limit: string }) =>
      run(async (o) => {
        const page = await request(globals(), opts.engine, 'runs.list', {
          ...(flags.status !== undefined ? { status: [flags.status] } : {}),
          ...(flags.method !== undefined ? { method: [flags.method] } : {}),
          search: flags.search,
          sort: flags.sort,
          dir: flags.dir,
          limit: Number(flags.limit),
        });
        o.result(page, () =>
          page.runs.length === 0
            ? 'no runs yet: start one with `isd train` or in the app'
            : table(
                ['id', 'name', 'method', 'dataset', 'status', 'created', 'epochs', '1-NN', '20-NN', 'linear'],
                page.runs.map((r) => [
                  r.id.slice(0, 8),
                  r.name,
                  r.method,
                  r.datasetName,
                  r.status,
                  fmtTime(r.createdAt),
                  `${r.epoch}/${r.epochs}`,
                  pct(r.knn1),
                  pct(r.knn20),
                  pct(r.linear),
                ]),
              ) + (page.total > page.runs.length ? `\n(${page.runs.length} of ${page.total})` : ''),
        );
      })(),
    );
  runs
    .command('show <id>')
    .description('one run: summary, config, baseline, evaluations, checkpoints, per-class accuracy')
    .action((id: string) =>
      run(async (o) => {
        const d = await request(globals(), opts.engine, 'runs.get', { id });
        o.result(d, () => JSON.stringify(d, null, 2));
      })(),
    );
  runs
    .command('compare <ids...>')
    .description('two or more runs side by side: config differences and final accuracy')
    .action((ids: string[]) =>
      run(async (o) => {
        const c = await request(globals(), opts.engine, 'runs.compare', { ids, maxPoints: 200 });
        o.result(c, () =>
          [
            table(
              ['id', 'name', 'status', '1-NN', '20-NN', 'best 20-NN', 'linear'],
              c.runs.map((r) => [
                r.id.slice(0, 8),
                r.name,
                r.status,
                pct(r.knn1),
                pct(r.knn20),
                pct(r.bestKnn20),
                pct(r.linear),
              ]),
            ),
            ...Object.entries(c.configDiff).map(
              ([k, v]) => `${k}: ${(v ?? []).map((x) => JSON.stringify(x)).join(' | ')}`,
            ),
          ].join('\n'),
        );
      })(),
    );

  registerTrainCommands(
    program,
    out,
    (o, e) => {
      state.code = o.error(e);
    },
    (code) => {
      state.code = code;
    },
    opts.engine,
  );
  registerStudyCommand(program, state, { engine: opts.engine });
  registerEncoderCommands(
    program,
    out,
    (o, e) => {
      state.code = o.error(e);
    },
    opts.engine,
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const state = { code: 0 };
  const program = buildProgram(state);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
        return 0;
      return 2; // commander already printed one line naming the flag or argument
    }
    return new CliOutput(argv.includes('--json')).error(e);
  }
  return state.code;
}
