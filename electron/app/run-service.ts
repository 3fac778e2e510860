/**
 * Runs: one trains at a time, in an engine worker thread (engine/run-engine.ts), never on this thread;
 * later ones wait in a FIFO queue (status queued) and start in turn. A paused run keeps its worker
 * and its place: the queue waits until it ends.
 *
 * Every worker event is persisted before or as it is sent on: step metrics in one transaction every
 * FLUSH_STEPS steps or every FLUSH_MS (and always before a progress event goes out), evaluations,
 * checkpoints and status changes at once. Progress to clients is throttled to PROGRESS_PER_SEC per
 * run, the last one always delivered.
 *
 * Resume: a paused run continues in its worker; an interrupted, stopped or failed run starts a new
 * worker from its newest checkpoint on disk (metrics after that step are discarded, as the engine
 * replays them exactly), or from scratch when it has none.
 */
import path from 'node:path';
import type { BackendReport } from '../engine/backend';
import type { RunConfig } from '../run-config';
import type { RunPhaseInfo, RunProgressEvent, RunStatus, RunSummary } from '../contract';
import { IsdError, isIsdError } from '../errors';
import type { EngineOptions, WorkerToMain } from '../engine/protocol';
import type { EngineRunHandle, EngineRunRequest } from '../engine/run-engine';
import type { CheckpointKind as StoreCheckpointKind, RunStore, StepMetricInput } from '../store';
import type { AppEvents } from './app-events';
import {
  existingCheckpoints,
  readRunReport,
  storedError,
  toRunSummary,
  writeRunReport,
  type LiveRunState,
} from './run-dto';

export type { EngineRunHandle, EngineRunRequest };
export type EngineStarter = (request: EngineRunRequest, onEvent: (event: WorkerToMain) => void) => EngineRunHandle;

export interface RunServiceOptions {
  store: RunStore;
  events: AppEvents;
  checkpointRoot: string;
  startEngine: EngineStarter;
  /** Resolves a run's dataset (id or path as in its config) to the path the worker loads. */
  resolveDatasetPath: (dataset: string) => Promise<string>;
  engine?: EngineOptions;
  /** Step metrics are written every this many steps… */
  flushSteps?: number;
  /** …or after this many ms, whichever comes first. */
  flushMs?: number;
  /** Progress events per second per run. */
  progressPerSec?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export const FLUSH_STEPS = 50;
export const FLUSH_MS = 1000;
export const PROGRESS_PER_SEC = 4;

interface QueueItem {
  id: string;
  /** A stopped/interrupted/failed run waiting to continue (its stored status stays until it starts). */
  resume: boolean;
}

interface ActiveRun {
  id: string;
  handle: EngineRunHandle | null;
  config: RunConfig;
  checkpointDir: string;
  /** Requests made before the worker existed, applied when it does. */
  wantPause: boolean;
  wantStop: boolean;
  paused: boolean;
  ended: boolean;
  totalSteps: number | null;
  lastProgress: RunProgressEvent | null;
  metrics: StepMetricInput[];
  flushTimer: NodeJS.Timeout | null;
  lastProgressSentAt: number;
  pendingProgress: RunProgressEvent | null;
  progressTimer: NodeJS.Timeout | null;
  /** What the run is doing now (contract RunPhase). */
  phase: RunPhaseInfo | null;
  finished: Promise<void>;
  markFinished: () => void;
}

/** Store checkpoint kinds use 'periodic' for the engine's per-epoch checkpoints. */
function storeKind(kind: 'epoch' | 'stop' | 'final'): StoreCheckpointKind {
  return kind === 'epoch' ? 'periodic' : kind;
}

/** Step of a checkpoint folder named step-NNNNNNNNN. */
export function checkpointStep(checkpointPath: string): number | null {
  const m = /^step-(\d{9})$/.exec(path.basename(checkpointPath));
  return m ? Number(m[1]) : null;
}

export class RunService {
  private readonly o: RunServiceOptions;
  private readonly queue: QueueItem[] = [];
  private active: ActiveRun | null = null;
  private closing = false;
  /** The backend the last worker reported (system.info prefers it to a probe). */
  lastBackend: BackendReport | null = null;

  constructor(opts: RunServiceOptions) {
    this.o = opts;
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    (
      this.o.log ??
      ((l, m) => (l === 'error' ? console.error : l === 'warn' ? console.warn : console.log)(`[isd] ${m}`))
    )(level, message);
  }

  /** What the service knows about a run beyond the store. */
  liveState(id: string): LiveRunState | undefined {
    const a = this.active;
    if (a && a.id === id) {
      const p = a.lastProgress;
      return {
        step: p?.step,
        epoch: p ? p.epoch - 1 : undefined,
        totalSteps: a.totalSteps ?? undefined,
        imagesPerSec: p?.imagesPerSec,
        phase: a.phase ?? undefined,
      };
    }
    if (this.queue.some((q) => q.id === id)) return { status: 'queued' };
    return undefined;
  }

  summary(id: string): RunSummary {
    return toRunSummary(this.o.store.getRunRecord(id), { live: this.liveState(id) });
  }

  isBusy(id: string): boolean {
    return this.active?.id === id || this.queue.some((q) => q.id === id);
  }

  activeRunId(): string | null {
    return this.active?.id ?? null;
  }

  private emitStatus(
    id: string,
    status: RunStatus,
    error?: { code: IsdError['code']; message: string; field?: string; path?: string },
  ): void {
    this.o.events.emit('run.status', error ? { runId: id, status, error } : { runId: id, status });
  }

  /** Creates the run (queued) and starts it when nothing else trains. The config is already validated. */
  /** Resolves once the run is queued, or running when nothing else was training. */
  async start(config: RunConfig, datasetName: string): Promise<RunSummary> {
    if (this.closing) throw new IsdError('CONFLICT', 'the app is closing; start the run after it restarts');
    const record = this.o.store.createRun(config, { datasetName, status: 'queued' });
    this.o.store.updateRun(record.id, { checkpointDir: path.join(this.o.checkpointRoot, record.id) });
    this.queue.push({ id: record.id, resume: false });
    this.emitStatus(record.id, 'queued');
    await this.pump();
    return this.summary(record.id);
  }

  pause(id: string): RunSummary {
    const rec = this.o.store.getRunRecord(id);
    const a = this.active;
    if (!a || a.id !== id) {
      if (this.queue.some((q) => q.id === id))
        throw new IsdError('CONFLICT', `run ${id} is waiting in the queue; stop it to take it out of the queue`, {
          field: 'id',
        });
      throw new IsdError('CONFLICT', `run ${id} is ${rec.status}, not training; only a training run can be paused`, {
        field: 'id',
      });
    }
    a.wantPause = true;
    a.handle?.pause();
    return this.summary(id);
  }

  /** Continues a paused run, or queues an interrupted/stopped/failed one to continue from its newest checkpoint. */
  async resume(id: string): Promise<RunSummary> {
    const rec = this.o.store.getRunRecord(id);
    const a = this.active;
    if (a && a.id === id) {
      a.wantPause = false;
      a.handle?.resume();
      return this.summary(id);
    }
    if (this.queue.some((q) => q.id === id)) return this.summary(id);
    if (this.closing) throw new IsdError('CONFLICT', 'the app is closing; resume the run after it restarts');
    if (rec.status === 'completed')
      throw new IsdError('CONFLICT', `run ${id} is completed; there is nothing to resume`, { field: 'id' });
    if (rec.status === 'running' || rec.status === 'paused') {
      throw new IsdError('CONFLICT', `run ${id} is ${rec.status} in another process (pid alive); resume it there`, {
        field: 'id',
      });
    }
    if (rec.status === 'queued') {
      // Queued in a process that ended before its turn: queue it here.
      this.queue.push({ id, resume: false });
    } else {
      this.queue.push({ id, resume: true });
      this.emitStatus(id, 'queued');
    }
    await this.pump();
    return this.summary(id);
  }

  /** Stops the training run at its next step boundary (with a checkpoint), or takes a waiting run out of the queue. */
  stop(id: string): RunSummary {
    const rec = this.o.store.getRunRecord(id);
    const a = this.active;
    if (a && a.id === id) {
      a.wantStop = true;
      a.handle?.stop();
      return this.summary(id);
    }
    const at = this.queue.findIndex((q) => q.id === id);
    if (at >= 0) {
      const [item] = this.queue.splice(at, 1);
      if (!item.resume) {
        this.o.store.updateRun(id, { status: 'stopped', error: null });
        this.emitStatus(id, 'stopped');
      } else {
        this.emitStatus(id, rec.status);
      }
      return this.summary(id);
    }
    throw new IsdError('CONFLICT', `run ${id} is ${rec.status}; only a queued, training or paused run can be stopped`, {
      field: 'id',
    });
  }

  /** Starts the next queued run when nothing trains; resolves when it is running (or has failed to start). */
  private pump(): Promise<void> {
    if (this.active || this.closing) return Promise.resolve();
    const next = this.queue.shift();
    if (!next) return Promise.resolve();
    return this.launch(next).catch((err) =>
      this.log('error', `run ${next.id} could not start: ${(err as Error).message}`),
    );
  }

  private async launch(item: QueueItem): Promise<void> {
    const store = this.o.store;
    const record = store.getRunRecord(item.id);
    const checkpointDir = record.checkpointDir ?? path.join(this.o.checkpointRoot, record.id);
    let markFinished!: () => void;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const a: ActiveRun = {
      id: record.id,
      handle: null,
      config: record.config,
      checkpointDir,
      wantPause: false,
      wantStop: false,
      paused: false,
      ended: false,
      totalSteps: readRunReport(checkpointDir)?.totalSteps ?? null,
      lastProgress: null,
      metrics: [],
      flushTimer: null,
      lastProgressSentAt: 0,
      pendingProgress: null,
      progressTimer: null,
      phase: null,
      finished,
      markFinished,
    };
    this.active = a; // taken at once: a second pump() must not start another run meanwhile
    try {
      const datasetPath = await this.o.resolveDatasetPath(record.config.dataset);
      let resumeFrom: string | null = null;
      if (item.resume) {
        const ck = existingCheckpoints(store.getRun(record.id).checkpoints);
        resumeFrom = ck.length ? ck[ck.length - 1].path : null;
        store.discardAfterStep(record.id, resumeFrom ? (checkpointStep(resumeFrom) ?? ck[ck.length - 1].step) : 0);
      }
      if (a.wantStop) {
        // Stopped while it was being prepared: never started.
        this.endActive(a, () => {
          if (store.getRunRecord(a.id).status === 'queued') store.updateRun(a.id, { status: 'stopped' });
        });
        return;
      }
      store.updateRun(record.id, { status: 'running', checkpointDir });
      this.emitStatus(record.id, 'running');
      const handle = this.o.startEngine(
        {
          runId: record.id,
          config: record.config,
          datasetPath,
          checkpointRoot: path.dirname(checkpointDir),
          resume: resumeFrom ? { checkpointPath: resumeFrom } : undefined,
          engine: this.o.engine,
        },
        (event) => {
          try {
            this.onEngineEvent(a, event);
          } catch (err) {
            this.log(
              'error',
              `run ${a.id}: could not record ${event.type}: ${err instanceof Error ? err.message : String(err)}`,
            );
          }
        },
      );
      a.handle = handle;
      if (a.wantStop) handle.stop();
      else if (a.wantPause) handle.pause();
      handle.done.then(
        () => this.onWorkerExit(a, null),
        (err: unknown) => this.onWorkerExit(a, err),
      );
    } catch (err) {
      const e = isIsdError(err) ? err : new IsdError('INTERNAL', err instanceof Error ? err.message : String(err));
      this.endActive(a, () => this.markFailed(a.id, e));
    }
  }

  private markFailed(id: string, e: { code: IsdError['code']; message: string; field?: string; path?: string }): void {
    const cur = this.o.store.getRunRecord(id).status;
    if (cur === 'completed' || cur === 'failed') return;
    this.o.store.updateRun(id, { status: 'failed', error: storedError(e) });
    this.emitStatus(id, 'failed', {
      code: e.code,
      message: e.message,
      ...(e.field ? { field: e.field } : {}),
      ...(e.path ? { path: e.path } : {}),
    });
  }

  private onWorkerExit(a: ActiveRun, err: unknown): void {
    if (a.ended) return;
    // The worker exited without saying done or failed: it crashed (out of memory, a native fault).
    const reason = err instanceof Error ? err.message : err ? String(err) : 'it exited without finishing';
    this.endActive(a, () =>
      this.markFailed(a.id, {
        code: 'INTERNAL',
        message: `the training worker stopped unexpectedly: ${reason}; resume the run from its last checkpoint`,
      }),
    );
  }

  /** Flushes, runs `record` (the final store writes), frees the slot and starts the next run. */
  private endActive(a: ActiveRun, record: () => void): void {
    if (a.ended) return;
    a.ended = true;
    if (a.progressTimer) clearTimeout(a.progressTimer);
    this.sendPendingProgress(a);
    this.flushMetrics(a);
    try {
      record();
    } catch (err) {
      this.log('error', `run ${a.id}: could not record its end: ${(err as Error).message}`);
    }
    if (this.active === a) this.active = null;
    a.markFinished();
    void this.pump();
  }

  private flushMetrics(a: ActiveRun): void {
    if (a.flushTimer) {
      clearTimeout(a.flushTimer);
      a.flushTimer = null;
    }
    if (a.metrics.length === 0) return;
    const rows = a.metrics;
    a.metrics = [];
    this.o.store.appendStepMetrics(a.id, rows);
  }

  private sendPendingProgress(a: ActiveRun): void {
    if (a.progressTimer) {
      clearTimeout(a.progressTimer);
      a.progressTimer = null;
    }
    const p = a.pendingProgress;
    if (!p) return;
    a.pendingProgress = null;
    this.flushMetrics(a); // persisted before it is sent
    a.lastProgressSentAt = Date.now();
    this.o.events.emit('run.progress', p);
  }

  private onProgress(a: ActiveRun, e: Extract<WorkerToMain, { type: 'progress' }>): void {
    const now = Date.now();
    a.totalSteps = e.totalSteps;
    a.metrics.push({
      step: e.step,
      epoch: e.epoch,
      loss: e.loss,
      lr: e.lr,
      purity: e.purity ?? null,
      imagesPerSec: e.imagesPerSec,
      time: now,
    });
    const ev: RunProgressEvent = {
      runId: a.id,
      step: e.step,
      epoch: e.epoch,
      loss: e.loss,
      lr: e.lr,
      purity: e.purity ?? null,
      imagesPerSec: e.imagesPerSec,
      totalSteps: e.totalSteps,
      etaSec: Number.isFinite(e.etaSec) ? e.etaSec : null,
      at: now,
    };
    a.lastProgress = ev;
    a.pendingProgress = ev;
    if (a.metrics.length >= (this.o.flushSteps ?? FLUSH_STEPS)) this.flushMetrics(a);
    else if (!a.flushTimer) {
      a.flushTimer = setTimeout(() => this.flushMetrics(a), this.o.flushMs ?? FLUSH_MS);
      a.flushTimer.unref();
    }
    const interval = 1000 / (this.o.progressPerSec ?? PROGRESS_PER_SEC);
    const wait = a.lastProgressSentAt + interval - now;
    if (wait <= 0 || e.step === e.totalSteps) this.sendPendingProgress(a);
    else if (!a.progressTimer) {
      a.progressTimer = setTimeout(() => {
        a.progressTimer = null;
        if (!a.ended) this.sendPendingProgress(a);
      }, wait);
      a.progressTimer.unref();
    }
  }

  private onEngineEvent(a: ActiveRun, e: WorkerToMain): void {
    if (a.ended) return;
    const store = this.o.store;
    switch (e.type) {
      case 'ready': {
        a.totalSteps = e.totalSteps;
        this.lastBackend = e.backend;
        store.updateRun(a.id, { backend: e.backend.backend, device: e.backend.device });
        writeRunReport(a.checkpointDir, {
          classNames: e.dataset.classNames,
          trainClassCounts: e.dataset.trainClassCounts,
          trainImages: e.dataset.trainImages,
          stepsPerEpoch: e.stepsPerEpoch,
          totalSteps: e.totalSteps,
          imageSize: e.imageSize,
          parameters: e.parameters,
          backend: e.backend.backend,
          device: e.backend.device,
        });
        for (const f of e.backend.fallbacks)
          this.o.events.emit('app.log', {
            level: 'info',
            message: `backend ${f.backend} not used: ${f.reason}`,
            at: Date.now(),
          });
        return;
      }
      case 'status': {
        if (e.status === 'paused' && !a.paused) {
          a.paused = true;
          this.flushMetrics(a);
          store.updateRun(a.id, { status: 'paused' });
          this.emitStatus(a.id, 'paused');
        } else if (e.status === 'running' && a.paused) {
          a.paused = false;
          store.updateRun(a.id, { status: 'running' });
          this.emitStatus(a.id, 'running');
        }
        return;
      }
      case 'phase': {
        const since = a.phase?.phase === e.phase ? a.phase.since : Date.now();
        a.phase = { phase: e.phase, done: e.done, total: e.total, since };
        this.o.events.emit('run.phase', { runId: a.id, ...a.phase });
        return;
      }
      case 'progress':
        this.onProgress(a, e);
        return;
      case 'epochEval': {
        this.flushMetrics(a); // a progress still held back by the throttle goes out on its timer
        const report = readRunReport(a.checkpointDir);
        if (report) writeRunReport(a.checkpointDir, { ...report, evalSec: (report.evalSec ?? 0) + e.evalSec });
        store.addEpochEval(a.id, {
          epoch: e.epoch,
          step: e.step,
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          linear: e.linear ?? null,
          purity: e.meanPurity,
          perClass: e.perClass.knn20,
          frequentAcc: e.frequent?.knn20 ?? null,
          rareAcc: e.rare?.knn20 ?? null,
        });
        store.updateRun(a.id, {
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          ...(e.linear !== undefined ? { linear: e.linear } : {}),
          ...(e.meanPurity !== null ? { purity: e.meanPurity } : {}),
          ...(e.epoch > 0 ? { epochsDone: e.epoch } : {}),
        });
        this.o.events.emit('run.eval', {
          runId: a.id,
          epoch: e.epoch,
          step: e.step,
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          linear: e.linear ?? null,
          at: Date.now(),
        });
        return;
      }
      case 'checkpoint':
        this.flushMetrics(a);
        store.addCheckpoint(a.id, { epoch: e.epoch, step: e.step, path: e.path, kind: storeKind(e.kind) });
        store.updateRun(a.id, { epochsDone: e.epoch });
        return;
      case 'done':
        this.endActive(a, () => {
          const mean = store.getRun(a.id).metrics.meanImagesPerSec;
          store.updateRun(a.id, {
            status: e.reason,
            epochsDone: e.epoch,
            stepsDone: e.step,
            error: null,
            ...(mean !== null ? { imagesPerSec: mean } : {}),
            ...(e.metrics
              ? { knn1: e.metrics.knn1, knn20: e.metrics.knn20, knn20Weighted: e.metrics.knn20Weighted }
              : {}),
            ...(e.metrics?.linear !== undefined ? { linear: e.metrics.linear } : {}),
          });
          this.emitStatus(a.id, e.reason);
        });
        return;
      case 'failed':
        this.endActive(a, () =>
          this.markFailed(a.id, { code: e.code, message: e.message, field: e.field, path: e.path }),
        );
        return;
      case 'log':
        this.o.events.emit('app.log', {
          level: e.level,
          message: `run ${a.id.slice(0, 8)}: ${e.message}`,
          at: Date.now(),
        });
        return;
    }
  }

  /**
   * Ends the service: waiting runs are taken out of the queue (queued ones marked stopped), the
   * training run is stopped with a checkpoint; if it does not end within stopTimeoutMs its worker is
   * terminated and the run marked interrupted (resumable from its last checkpoint).
   */
  async close(opts: { stopTimeoutMs?: number } = {}): Promise<void> {
    this.closing = true;
    for (const item of this.queue.splice(0)) {
      if (!item.resume && this.o.store.getRunRecord(item.id).status === 'queued') {
        this.o.store.updateRun(item.id, {
          status: 'stopped',
          error: storedError({
            code: 'CONFLICT',
            message: 'the app closed before this run started; resume it to start it',
          }),
        });
        this.emitStatus(item.id, 'stopped');
      }
    }
    const a = this.active;
    if (!a) return;
    a.wantStop = true;
    a.handle?.stop();
    const timeout = opts.stopTimeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | null = null;
    const timedOut = await Promise.race([
      a.finished.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
    ]);
    if (timer) clearTimeout(timer);
    if (!timedOut) return;
    this.log('warn', `run ${a.id} did not stop within ${timeout} ms; ending its worker`);
    this.endActive(a, () => {
      this.o.store.updateRun(a.id, {
        status: 'interrupted',
        error: storedError({
          code: 'CONFLICT',
          message: 'the app closed before the run could stop; resume it from its last checkpoint',
        }),
      });
      this.emitStatus(a.id, 'interrupted');
    });
    await a.handle?.terminate().catch(() => undefined);
  }
}
