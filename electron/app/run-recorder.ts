/**
 * The recorder of one run: turns the engine's events into store writes and app events. Step metrics
 * are written in one transaction every flushSteps steps or flushMs ms, and always before a progress
 * event goes out; evaluations, checkpoints and status changes at once. Progress to clients is
 * throttled to progressPerSec, the last one always delivered.
 *
 * A write the history refuses (a full disk, SQLITE_FULL) ends the recording: nothing more is written,
 * what was committed stays, `writeError` holds the reason and onWriteFailed is told once, so the run
 * service can end the worker and record the run failed with that reason.
 */
import type { RunPhaseInfo, RunProgressEvent, RunStatus } from '../contract';
import type { BackendReport } from '../engine/backend';
import type { DoneEvent, WorkerToMain } from '../engine/protocol';
import { storedError, type IsdError } from '../errors';
import { historyWriteError } from '../fs-errors';
import type { RunStore, StepMetricInput } from '../store';
import type { AppEvents } from './app-events';
import { readRunReport, toEvalPoint, writeRunReport } from './run-dto';
import { Throttle } from './throttle';

export const FLUSH_STEPS = 50;
export const FLUSH_MS = 1000;
export const PROGRESS_PER_SEC = 4;

export type RunErrorInfo = { code: IsdError['code']; message: string; field?: string; path?: string };

export interface RunRecorderOptions {
  store: RunStore;
  events: AppEvents;
  runId: string;
  checkpointDir: string;
  /** Step metrics are written every this many steps… */
  flushSteps?: number;
  /** …or after this many ms, whichever comes first. */
  flushMs?: number;
  /** Progress events per second. */
  progressPerSec?: number;
  /** Told the backend the engine chose (on its ready event). */
  onBackend?: (backend: BackendReport) => void;
  /** Told once when a write to the history fails (the recording has ended). */
  onWriteFailed?: (error: IsdError) => void;
}

export function emitRunStatus(events: AppEvents, runId: string, status: RunStatus, error?: RunErrorInfo): void {
  events.emit('run.status', error ? { runId, status, error } : { runId, status });
}

export class RunRecorder {
  readonly runId: string;
  /** Planned steps: from the run report until the engine says. */
  totalSteps: number | null;
  lastProgress: RunProgressEvent | null = null;
  /** Why the history refused a write of this run, once it has. */
  writeError: IsdError | null = null;
  /** What the run is doing now (contract RunPhase). */
  phase: RunPhaseInfo | null = null;
  private paused = false;
  private ended = false;
  private metrics: StepMetricInput[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly progress: Throttle<RunProgressEvent>;

  constructor(private readonly o: RunRecorderOptions) {
    this.runId = o.runId;
    this.totalSteps = readRunReport(o.checkpointDir)?.totalSteps ?? null;
    this.progress = new Throttle(
      (p) =>
        this.guard(() => {
          this.flushMetrics(); // persisted before it is sent
          this.o.events.emit('run.progress', p);
        }),
      1000 / (o.progressPerSec ?? PROGRESS_PER_SEC),
    );
  }

  emitStatus(status: RunStatus, error?: RunErrorInfo): void {
    emitRunStatus(this.o.events, this.runId, status, error);
  }

  /** The run was claimed (store claimRun made it running) and its worker starts. */
  started(checkpointDir: string): void {
    this.o.store.updateRun(this.runId, { checkpointDir });
    this.emitStatus('running');
  }

  /** Records an engine event; `done` and `failed` end the run: see end(), done() and failed(). Nothing is recorded after end(). */
  record(e: Exclude<WorkerToMain, DoneEvent | { type: 'failed' }>): void {
    if (this.ended) return;
    this.guard(() => this.recordEvent(e));
  }

  /** Runs `write`, unless a write has failed already; a failure becomes writeError (see the header). */
  private guard(write: () => void): void {
    if (this.writeError) return;
    try {
      write();
    } catch (err) {
      this.writeFailed(err);
    }
  }

  /** A write of this run failed: recording ends (the metrics held back are dropped: they were never committed). */
  writeFailed(err: unknown): void {
    if (this.writeError) return;
    this.writeError = historyWriteError(err, this.o.store.file);
    this.metrics = [];
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.o.onWriteFailed?.(this.writeError);
  }

  private recordEvent(e: Exclude<WorkerToMain, DoneEvent | { type: 'failed' }>): void {
    const store = this.o.store;
    const id = this.runId;
    switch (e.type) {
      case 'ready': {
        this.totalSteps = e.totalSteps;
        this.o.onBackend?.(e.backend);
        store.updateRun(id, { backend: e.backend.backend, device: e.backend.device });
        writeRunReport(this.o.checkpointDir, {
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
        if (e.status === 'paused' && !this.paused) {
          this.paused = true;
          this.flushMetrics();
          store.updateRun(id, { status: 'paused' });
          this.emitStatus('paused');
        } else if (e.status === 'running' && this.paused) {
          this.paused = false;
          store.updateRun(id, { status: 'running' });
          this.emitStatus('running');
        }
        return;
      }
      case 'phase': {
        const since = this.phase?.phase === e.phase ? this.phase.since : Date.now();
        this.phase = { phase: e.phase, done: e.done, total: e.total, since };
        this.o.events.emit('run.phase', { runId: id, ...this.phase });
        return;
      }
      case 'progress':
        this.onProgress(e);
        return;
      case 'epochEval': {
        this.flushMetrics(); // a progress still held back by the throttle goes out on its timer
        const report = readRunReport(this.o.checkpointDir);
        if (report) writeRunReport(this.o.checkpointDir, { ...report, evalSec: (report.evalSec ?? 0) + e.evalSec });
        store.addEpochEval(id, {
          epoch: e.epoch,
          step: e.step,
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          knn200Weighted: e.knn200Weighted,
          linear: e.linear ?? null,
          purity: e.meanPurity,
          // A class with no test queries has no accuracy (NaN from the engine); JSON and the store keep it as null.
          perClass: e.perClass.knn20.map(finiteOrNull),
          frequentAcc: finiteOrNull(e.frequent?.knn20),
          rareAcc: finiteOrNull(e.rare?.knn20),
        });
        store.updateRun(id, {
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          knn200Weighted: e.knn200Weighted,
          ...(e.linear !== undefined ? { linear: e.linear } : {}),
          ...(e.meanPurity !== null ? { purity: e.meanPurity } : {}),
          ...(e.epoch > 0 ? { epochsDone: e.epoch } : {}),
        });
        this.o.events.emit('run.eval', {
          runId: id,
          epoch: e.epoch,
          step: e.step,
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          knn200Weighted: e.knn200Weighted,
          linear: e.linear ?? null,
          at: Date.now(),
        });
        return;
      }
      case 'baseline': {
        const pixel = {
          pixelKnn1: e.pixel.knn1,
          pixelKnn20: e.pixel.knn20,
          pixelKnn20Weighted: e.pixel.knn20Weighted,
          pixelKnn200Weighted: e.pixel.knn200Weighted,
          bankImages: e.bankImages,
          testImages: e.testImages,
          testSplitImages: e.testSplitImages,
        };
        store.setBaseline(id, pixel);
        const init = store.getRun(id).evals.find((x) => x.epoch === 0);
        if (init) this.o.events.emit('run.baseline', { runId: id, ...pixel, init: toEvalPoint(init) });
        return;
      }
      case 'checkpoint':
        this.flushMetrics();
        store.addCheckpoint(id, { epoch: e.epoch, step: e.step, path: e.path, kind: e.kind });
        store.updateRun(id, { epochsDone: e.epoch });
        return;
      case 'log':
        this.o.events.emit('app.log', {
          level: e.level,
          message: `run ${id.slice(0, 8)}: ${e.message}`,
          at: Date.now(),
        });
        return;
    }
  }

  /** Sends the progress held back and writes the metrics held back; record() ignores what comes after. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.guard(() => {
      this.progress.flush();
      this.flushMetrics();
    });
  }

  /** The engine finished (completed or stopped): final status, counts and metrics. */
  done(e: DoneEvent): void {
    const store = this.o.store;
    const mean = store.getRun(this.runId).metrics.meanImagesPerSec;
    store.updateRun(this.runId, {
      status: e.reason,
      epochsDone: e.epoch,
      stepsDone: e.step,
      error: null,
      ...(mean !== null ? { imagesPerSec: mean } : {}),
      ...(e.metrics
        ? {
            knn1: e.metrics.knn1,
            knn20: e.metrics.knn20,
            knn20Weighted: e.metrics.knn20Weighted,
            knn200Weighted: e.metrics.knn200Weighted,
          }
        : {}),
      ...(e.metrics?.linear !== undefined ? { linear: e.metrics.linear } : {}),
    });
    this.emitStatus(e.reason);
  }

  /** Marks the run failed with its error, unless it already ended completed or failed. */
  failed(e: RunErrorInfo): void {
    if (this.recordFailed(e)) this.emitFailed(e);
  }

  /** Writes the failed end; false when the run had already ended completed or failed. Throws what the history throws. */
  recordFailed(e: RunErrorInfo): boolean {
    const cur = this.o.store.getRunRecord(this.runId).status;
    if (cur === 'completed' || cur === 'failed') return false;
    this.o.store.updateRun(this.runId, { status: 'failed', error: storedError(e) });
    return true;
  }

  emitFailed(e: RunErrorInfo): void {
    this.emitStatus('failed', {
      code: e.code,
      message: e.message,
      ...(e.field ? { field: e.field } : {}),
      ...(e.path ? { path: e.path } : {}),
    });
  }

  private flushMetrics(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.metrics.length === 0) return;
    const rows = this.metrics;
    this.metrics = [];
    this.o.store.appendStepMetrics(this.runId, rows);
  }

  private onProgress(e: Extract<WorkerToMain, { type: 'progress' }>): void {
    const now = Date.now();
    this.totalSteps = e.totalSteps;
    this.metrics.push({
      step: e.step,
      epoch: e.epoch,
      loss: e.loss,
      lr: e.lr,
      purity: e.purity ?? null,
      imagesPerSec: e.imagesPerSec,
      time: now,
    });
    const ev: RunProgressEvent = {
      runId: this.runId,
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
    this.lastProgress = ev;
    if (this.metrics.length >= (this.o.flushSteps ?? FLUSH_STEPS)) this.flushMetrics();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.guard(() => this.flushMetrics()), this.o.flushMs ?? FLUSH_MS);
      this.flushTimer.unref();
    }
    this.progress.push(ev, { immediately: e.step === e.totalSteps });
  }
}

function finiteOrNull(v: number | undefined): number | null {
  return v !== undefined && Number.isFinite(v) ? v : null;
}
