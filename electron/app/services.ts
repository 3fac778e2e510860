/**
 * The services behind the contract, shared by both transports (ipc.ts in Electron, host.ts on the web):
 * one object implementing every channel of `Handlers`, the event bus they emit on, and close().
 *
 *   const app = createAppServices({ dbPath, transport: 'web' });
 *   app.events.onAny((event, payload) => …);
 *   await app.handlers['runs.start']({ config });   // input already validated (dispatch.ts)
 *
 * Opening the store marks runs a crash left running as interrupted (store.openReport lists them);
 * runs.resume continues them from their last checkpoint.
 */
import fs from 'node:fs';
import path from 'node:path';
import type {
  Comparison,
  Handlers,
  NeighbourGallery,
  NeighbourImage,
  RunEstimate,
  RunExport,
  RunSummary,
  SystemInfo,
  TeacherSimilarity,
} from '../contract';
import { countClasses, imbalanceCounts, resolveDataset } from '../data';
import type { BackendReport } from '../engine/backend';
import type { EngineOptions } from '../engine/protocol';
import { startEngineRun } from '../engine/run-engine';
import { recordGroupEvals } from '../study/group-evals';
import { StudyService, type StudyChannel } from './study-service';
import { fileSlug } from '../csv';
import { IsdError, isIsdError } from '../errors';
import { fsError } from '../fs-errors';
import {
  checkAgainstDataset,
  DEFAULT_RUN_CONFIG,
  parseImbalance,
  checkedRunConfig,
  configError,
  trainedSide,
  type DatasetSizes,
  type RunConfig,
} from '../run-config';
import { configDiff, openRunStore, type RunStore, type RunSummaryRow } from '../store';
import { AnalysisClient } from './analysis-client';
import type { EvaluateResult, NeighboursResult, TeacherSimilarityResult, ImagePixels } from './analysis-worker';
import { AppEvents } from './app-events';
import { DatasetService, type PickPath } from './dataset-service';
import { EncoderService, type EncoderChannel, type SavePath } from './encoder-service';
import { checkpointRootFor } from './paths';
import { existingCheckpoints, perClassOf, readRunReport, toCurves, toRunDetail, toRunSummary } from './run-dto';
import { exportMetricsCsv, exportRunJson } from './run-export';
import { RunService, type EngineStarter } from './run-service';
import { thumbnailDataUrl } from './thumbnails';
import { estimateRun, measuredSpeed, SPEED_SIDE } from './run-estimate';
import { appVersionFallback, systemInfo } from './system-info';

export interface AppServicesOptions {
  dbPath: string;
  /** Default: <db dir>/runs (paths.ts checkpointRootFor). */
  checkpointRoot?: string;
  resourcesDir?: string;
  /** Folders searched for system datasets (default /usr/share/datasets). */
  systemRoots?: string[];
  transport: 'electron' | 'web';
  /** The native open dialog: Electron main passes it; the web host has none. */
  pickPath?: PickPath;
  /** The native save dialog (encoder.export with destination 'dialog'); the web host has none. */
  savePath?: SavePath;
  appVersion?: string;
  /** Engine knobs for every run (tests shrink the model and the kNN sets with them). */
  engine?: EngineOptions;
  /** Replaces the engine worker; default engine/run-engine.ts with the study's group-evaluation tap. */
  startEngine?: EngineStarter;
  /** Progress events per second per run sent to clients (default 4). */
  progressPerSec?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface AppServices {
  handlers: Handlers;
  events: AppEvents;
  store: RunStore;
  runs: RunService;
  datasets: DatasetService;
  /** Imbalance studies (electron/study): their handlers are part of `handlers`. */
  study: StudyService;
  /** Encoder export (and its CLI command). */
  encoders: EncoderService;
  /**
   * `isd eval`: kNN (and with `linear` a linear probe) of the run's last checkpoint on the dataset's
   * whole training and test splits, in the analysis worker; a linear accuracy is stored with the run.
   */
  evaluateRun(idOrPrefix: string, linear: boolean): Promise<EvaluateResult & { runId: string }>;
  /** Stops the training run with a checkpoint (or ends its worker after stopTimeoutMs), then closes the store. */
  close(opts?: { stopTimeoutMs?: number }): Promise<void>;
}

export function createAppServices(opts: AppServicesOptions): AppServices {
  const checkpointRoot = opts.checkpointRoot ?? checkpointRootFor(opts.dbPath);
  fs.mkdirSync(path.dirname(path.resolve(opts.dbPath)), { recursive: true });
  const store = openRunStore(opts.dbPath, { checkpointRoot });
  const events = new AppEvents();
  const analysis = new AnalysisClient();
  const datasets = new DatasetService({
    store,
    events,
    resourcesDir: opts.resourcesDir,
    systemRoots: opts.systemRoots,
    pickPath: opts.pickPath,
    allowTypedPaths: opts.transport === 'web',
  });
  const registryOptions = () => ({
    userPaths: store.listUserDatasets().map((d) => d.path),
    resourcesDir: opts.resourcesDir,
    systemRoots: opts.systemRoots,
  });
  const runs = new RunService({
    store,
    events,
    checkpointRoot,
    engine: opts.engine,
    progressPerSec: opts.progressPerSec,
    startEngine: opts.startEngine ?? recordGroupEvals(startEngineRun),
    // A run's dataset was checked when it was started; at launch it only has to still exist.
    resolveDatasetPath: async (dataset) => resolveDataset(dataset, registryOptions()),
    log: opts.log,
  });
  const appVersion = opts.appVersion ?? appVersionFallback();

  let probe: Promise<BackendReport> | null = null;
  /** The backend training uses: what the last worker reported, else a probe in the analysis worker (never tfjs here). */
  async function backendReport(): Promise<BackendReport> {
    if (runs.lastBackend) return runs.lastBackend;
    probe ??= analysis.request<BackendReport>({ type: 'probe', backend: opts.engine?.backend }).catch((err) => {
      probe = null;
      throw err;
    });
    return probe;
  }

  async function hostInfo(): Promise<SystemInfo> {
    const b = await backendReport();
    const speed = measuredSpeed(store, b.backend, DEFAULT_RUN_CONFIG.arch, SPEED_SIDE);
    return systemInfo(b, {
      appVersion,
      transport: opts.transport,
      dbPath: opts.dbPath,
      measuredImagesPerSec: speed.basis === 'measured' ? speed.imagesPerSec : null,
    });
  }

  /** The chosen dataset's sizes a config is checked against (checkAgainstDataset), and the side it trains at. */
  async function datasetSizes(config: RunConfig): Promise<DatasetSizes & { side: number }> {
    const { path: p } = await datasets.resolve(config.dataset, 'config.dataset');
    // Read in full before a run row exists, so an invalid dataset leaves none; the error names the field.
    const ds = await datasets.load(p).catch((err: unknown) => {
      const e = isIsdError(err) ? err : fsError(err, p, 'dataset');
      throw new IsdError(e.code, e.message, { field: 'config.dataset', path: e.path ?? p, cause: err });
    });
    let trainImages = ds.train.count;
    const spec = parseImbalance(config.imbalance);
    if (spec.kind !== 'none') {
      if (!ds.train.labels || !ds.classNames)
        throw configError('imbalance', `${p} has no labels to draw an imbalance from`);
      try {
        trainImages = imbalanceCounts(countClasses(ds.train.labels, ds.classNames.length), spec).reduce(
          (a, b) => a + b,
          0,
        );
      } catch (err) {
        throw configError('imbalance', (err as Error).message);
      }
    }
    const labelled = !!ds.train.labels && !!ds.test?.labels;
    return {
      trainImages,
      bankImages: labelled ? ds.train.count : 0,
      testImages: labelled ? ds.test!.count : 0,
      side: trainedSide(config.imageSize, ds),
    };
  }

  /** Refuses a config the dataset cannot train (the form shows the same check before anything is sent). */
  async function checkedForDataset(config: RunConfig): Promise<DatasetSizes & { side: number }> {
    const sizes = await datasetSizes(config);
    const first = checkAgainstDataset(config, sizes).errors[0];
    if (first) throw configError(first.field, first.message);
    return sizes;
  }

  /** Everything the analysis worker needs about a run's checkpoint at `checkpointStep` (default: the last). */
  async function analysisInput(id: string, testIndex: number, checkpointStep?: number, split?: 'train' | 'test') {
    const detail = store.getRun(id);
    const ck = existingCheckpoints(detail.checkpoints);
    if (ck.length === 0)
      throw new IsdError('CONFLICT', `run ${id} has no checkpoint on disk yet; it appears after the first epoch`, {
        field: 'id',
      });
    const last = checkpointStep === undefined ? ck[ck.length - 1] : ck.find((c) => c.step === checkpointStep);
    if (!last)
      throw new IsdError(
        'NOT_FOUND',
        `run ${id} has no checkpoint at step ${checkpointStep}; it has steps ${ck.map((c) => c.step).join(', ')}`,
        { field: 'checkpoint' },
      );
    const datasetPath = await resolveDataset(detail.config.dataset, registryOptions());
    return {
      input: {
        runId: id,
        config: detail.config,
        datasetPath,
        checkpointPath: last.path,
        engine: opts.engine,
        testIndex,
        querySplit: split,
      },
      checkpoint: { epoch: last.epoch, step: last.step, at: last.createdAt },
    };
  }

  async function imageOf(
    p: ImagePixels,
    shape: [number, number, number],
    classNames: string[] | null,
  ): Promise<NeighbourImage> {
    const [h, w, c] = shape;
    const dataUrl = await thumbnailDataUrl({ images: p.pixels, height: h, width: w, channels: c }, 0, 64);
    return {
      index: p.index,
      label: p.label,
      className: p.label !== null ? (classNames?.[p.label] ?? String(p.label)) : null,
      dataUrl,
    };
  }

  const encoders = new EncoderService({
    store,
    analysis,
    analysisInput,
    appVersion,
    savePath: opts.savePath,
    events,
    resolveDataset: async (idOrPath) => (await datasets.resolve(idOrPath, 'dataset')).path,
    thumbnail: (p, shape, classNames) => imageOf(p, shape, classNames),
  });

  const core: Omit<Handlers, StudyChannel | EncoderChannel> = {
    'system.info': () => hostInfo(),

    'datasets.list': () => datasets.list(),
    'datasets.inspect': (input) => datasets.inspect(input),
    'datasets.preview': (input) => datasets.preview(input),
    'datasets.imbalancePreview': (input) => datasets.imbalancePreview(input),
    'datasets.pick': (input) => datasets.pick(input.kind),
    'datasets.add': (input) => datasets.add(input),
    'datasets.remove': (input) => datasets.remove(input),

    'runs.start': async (input) => {
      const config = checkedRunConfig(input.config);
      const { entry } = await datasets.resolve(config.dataset, 'config.dataset');
      if (entry?.error)
        throw new IsdError('DATASET_INVALID', entry.error, { field: 'config.dataset', path: entry.path });
      await checkedForDataset(config);
      return runs.start(config, entry?.name ?? path.basename(config.dataset));
    },
    'runs.pause': (input) => runs.pause(store.resolveRunId(input.id)),
    'runs.resume': (input) => runs.resume(store.resolveRunId(input.id)),
    'runs.stop': (input) => runs.stop(store.resolveRunId(input.id)),
    'runs.list': (input) => {
      const methods = input.method;
      if (methods && methods.length === 0) return { runs: [], total: 0 };
      const query = {
        status: input.status,
        method: methods && methods.length === 1 ? methods[0] : undefined,
        dataset: input.dataset,
        tag: input.tag,
        search: input.search,
        order: input.dir,
      };
      const toSummary = (r: RunSummaryRow): RunSummary => {
        const record = store.getRunRecord(r.id);
        return toRunSummary(record, { live: runs.liveState(r.id) });
      };
      if (input.sort === 'durationSec') {
        // Not a stored column: computed per run, so sorted here.
        const all = store.listRuns({ ...query, sort: 'createdAt', limit: 10_000 }).runs.map(toSummary);
        const sign = input.dir === 'asc' ? 1 : -1;
        all.sort((a, b) =>
          a.durationSec === null ? 1 : b.durationSec === null ? -1 : sign * (a.durationSec - b.durationSec),
        );
        return { runs: all.slice(input.offset, input.offset + input.limit), total: all.length };
      }
      const page = store.listRuns({ ...query, sort: input.sort, limit: input.limit, offset: input.offset });
      return { runs: page.runs.map(toSummary), total: page.total };
    },
    'runs.get': (input) => {
      const id = store.resolveRunId(input.id);
      return toRunDetail(store, id, runs.liveState(id));
    },
    'runs.curves': (input) => {
      const id = store.resolveRunId(input.id);
      return toCurves(store, id, input.maxPoints, runs.liveState(id));
    },
    'runs.compare': (input): Comparison => {
      const ids = input.ids.map((id) => store.resolveRunId(id));
      const records = ids.map((id) => store.getRunRecord(id));
      return {
        runs: records.map((r) => toRunSummary(r, { live: runs.liveState(r.id) })),
        configs: records.map((r) => r.config),
        configDiff: configDiff(records.map((r) => r.config)) as Comparison['configDiff'],
        curves: ids.map((id) => toCurves(store, id, input.maxPoints, runs.liveState(id))),
        perClass: records.map((r) => perClassOf(store.getRun(r.id).evals, readRunReport(r.checkpointDir))),
      };
    },
    'runs.rename': (input) => {
      const id = store.resolveRunId(input.id);
      store.renameRun(id, input.name);
      return runs.summary(id);
    },
    'runs.tag': (input) => {
      const id = store.resolveRunId(input.id);
      store.setTags(id, input.tags);
      return runs.summary(id);
    },
    'runs.notes': (input) => {
      const id = store.resolveRunId(input.id);
      store.setNotes(id, input.notes);
      return runs.summary(id);
    },
    'runs.delete': (input) => {
      const id = store.resolveRunId(input.id);
      if (runs.isBusy(id))
        throw new IsdError('CONFLICT', `run ${id} is training or waiting in the queue; stop it before deleting it`, {
          field: 'id',
        });
      store.deleteRun(id, { deleteFiles: true });
      return { deleted: id };
    },
    'runs.export': (input): RunExport => {
      const id = store.resolveRunId(input.id);
      const name = fileSlug(store.getRunRecord(id).name, 'run');
      if (input.format === 'json')
        return {
          filename: `${name}-${id.slice(0, 8)}.json`,
          mimeType: 'application/json',
          content: exportRunJson(store, id),
        };
      return {
        filename: `${name}-${id.slice(0, 8)}-steps.csv`,
        mimeType: 'text/csv',
        content: exportMetricsCsv(store, id, 'steps'),
      };
    },
    'runs.neighbours': async (input): Promise<NeighbourGallery> => {
      const id = store.resolveRunId(input.id);
      const { input: base, checkpoint } = await analysisInput(id, input.testIndex, undefined, input.split);
      const r = await analysis.request<NeighboursResult>(
        { type: 'neighbours', ...base, k: input.k },
        { onProgress: input.jobId ? encoders.progressTo(input.jobId, id) : undefined },
      );
      return {
        runId: id,
        checkpoint,
        testCount: r.testCount,
        bankCount: r.bankCount,
        query: await imageOf(r.query, r.shape, r.classNames),
        neighbours: await Promise.all(
          r.neighbours.map(async (n) => ({ ...(await imageOf(n, r.shape, r.classNames)), similarity: n.similarity })),
        ),
      };
    },
    'runs.teacherSimilarity': async (input): Promise<TeacherSimilarity> => {
      const id = store.resolveRunId(input.id);
      const { input: base, checkpoint } = await analysisInput(id, input.testIndex, undefined, input.split);
      const r = await analysis.request<TeacherSimilarityResult>({
        type: 'teacherSimilarity',
        ...base,
        bins: input.bins,
        top: input.top,
      });
      return {
        runId: id,
        testIndex: input.testIndex,
        checkpoint,
        temperature: r.temperature,
        queueSize: r.queueSize,
        query: await imageOf(r.query, r.shape, r.classNames),
        probability: r.probability,
        cosine: r.cosine,
        effectiveAnchors: r.effectiveAnchors,
        anchorMeanCosine: r.anchorMeanCosine,
        // A queue slot holds a key; the queue keeps the training image it came from (not in older checkpoints).
        topAnchors: await Promise.all(
          r.topAnchors.map(async ({ image, ...a }) => ({
            ...a,
            trainIndex: image?.index ?? null,
            className: a.label !== null ? (r.classNames?.[a.label] ?? String(a.label)) : null,
            dataUrl: image ? (await imageOf(image, r.shape, r.classNames)).dataUrl : null,
          })),
        ),
      };
    },
    'runs.estimate': async (input): Promise<RunEstimate> => {
      const config = checkedRunConfig(input.config);
      const { side, ...sizes } = await checkedForDataset(config);
      const b = await backendReport();
      return estimateRun(config, sizes, measuredSpeed(store, b.backend, config.arch, side), b.backend, opts.engine);
    },
  };

  const study = new StudyService({ store, runs, events, datasets, handlers: core, log: opts.log });
  const handlers: Handlers = { ...core, ...study.handlers, ...encoders.handlers };

  let closed: Promise<void> | null = null;
  async function evaluateRun(idOrPrefix: string, linear: boolean): Promise<EvaluateResult & { runId: string }> {
    const id = store.resolveRunId(idOrPrefix);
    const { input } = await analysisInput(id, 0);
    const { testIndex: _unused, ...base } = input;
    const r = await analysis.request<EvaluateResult>({ type: 'evaluate', ...base, linear });
    if (r.linear !== undefined) store.updateRun(id, { linear: r.linear });
    return { runId: id, ...r };
  }

  return {
    handlers,
    events,
    store,
    runs,
    datasets,
    study,
    encoders,
    evaluateRun,
    close(closeOpts = {}) {
      closed ??= (async () => {
        try {
          await runs.close(closeOpts);
        } finally {
          study.dispose();
          await analysis.close().catch(() => undefined);
          events.clear();
          store.close();
        }
      })();
      return closed;
    },
  };
}
