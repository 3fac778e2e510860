/**
 * `isd train`, `isd bench` and `isd serve`: the commands that run the engine or the web host.
 * Training goes through the same app services as the desktop app and the web host, so a run
 * started here lands in the same history, with the same validation and the same worker thread.
 */
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
import { addRunConfigFlags, configFromFlags, flagOfField, runConfigFlagsGiven } from './cli-train-flags';

export function registerTrainCommands(
  program: Command,
  out: () => CliOutput,
  fail: (o: CliOutput, e: unknown) => void,
  /** Sets the exit code of a command that ends without an error (a stopped run). */
  setCode: (code: number) => void,
  engine?: EngineOptions,
): void {
  const train = program.command('train').description('train an encoder with ISD or MoCo; the run lands in the history');
  addRunConfigFlags(train)
    .option('--resume <runId>', 'continue an interrupted or stopped run from its last checkpoint')
    .action(async (flags: Record<string, unknown>) => {
      const o = out();
      try {
        setCode(await trainCommand(o, flags, program.opts<{ db?: string }>().db, engine));
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

/** The exit code after Ctrl-C stopped the run (128 + SIGINT, as a shell reports a process it interrupted). */
export const EXIT_CTRL_C = 130;

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
): Promise<number> {
  installLastResort((line) => process.stderr.write(`${line}\n`));
  const resumeId = flags.resume === undefined ? undefined : String(flags.resume);
  // A resumed run trains on as it started (its schedule and checkpoints depend on it): a setting given with it would be ignored.
  const ignored = resumeId === undefined ? [] : runConfigFlagsGiven(flags);
  if (ignored.length > 0)
    throw new IsdError(
      'BAD_INPUT',
      `a resumed run keeps the settings it started with (isd runs show ${resumeId}); leave out ${ignored.join(', ')}, or leave out --resume to start a new run with ${ignored.length === 1 ? 'it' : 'them'}`,
      { field: ignored[0] },
    );
  const config =
    resumeId === undefined ? configFromFlags(flags, (m) => process.stderr.write(`isd: note: ${m}\n`)) : undefined;
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
  // The run's own warnings (an unreadable image skipped, a fallback taken): this process trains only this run.
  app.events.on('app.log', (l) => {
    if (l.level !== 'info') o.info(`isd: ${l.level}: ${l.message}`);
  });
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
      const field = e.field?.startsWith('config.') ? (flagOfField(e.field.slice(7)) ?? e.field) : e.field;
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
    // The stream's first line: which run this is, and whether it waits, before any step or evaluation.
    o.line({
      type: 'start',
      runId: run.id,
      name: run.name,
      status: run.status,
      resumed: resumeId !== undefined,
      history: dbPath,
      waitingBehind: behind ? { runId: behind.id, name: behind.name, pid: behind.pid } : null,
    });
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
      // A stopped run is not done: `isd train … && isd export-encoder …` must not go on with it.
      return status === 'completed' ? 0 : interrupted ? EXIT_CTRL_C : 1;
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
