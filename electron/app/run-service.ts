/**
 * Runs: one trains at a time, in an engine worker thread (engine/run-engine.ts), never on this thread;
 * later ones wait in a FIFO queue (status queued) and start in turn. A paused run keeps its worker
 * and its place: the queue waits until it ends.
 *
 * Every worker event is persisted before or as it is sent on, by the run's recorder (run-recorder.ts:
 * batched step metrics, throttled progress); this module is the queue and the runs' lifecycle.
 *
 * Resume: a paused run continues in its worker; an interrupted, stopped or failed run starts a new
 * worker from its newest checkpoint on disk (metrics after that step are discarded, as the engine
 * replays them exactly), or from scratch when it has none.
 *
 * A history that refuses a write (a full disk) ends the run: its worker is ended, the run's end is
 * recorded as failed with the reason (DISK_FULL) as soon as the history takes it (retried every
 * END_RETRY_MS, app/unrecorded-ends.ts), and meanwhile a note beside its checkpoints gives the next open that reason.
 */
import path from 'node:path';
import type { BackendReport } from '../engine/backend';
import type { RunStatus, RunSummary } from '../contract';
import type { RunConfig } from '../run-config';
import { asIsdError, IsdError, isDiskFull, isIsdError, storedError } from '../errors';
import { historyWriteError } from '../fs-errors';
import type { EngineOptions, WorkerToMain } from '../engine/protocol';
import type { EngineRunHandle, EngineRunRequest } from '../engine/run-engine';
import type { RunStore } from '../store';
import type { AppEvents } from './app-events';
import { existingCheckpoints, toRunSummary, type LiveRunState } from './run-dto';
import { emitRunStatus, RunRecorder, type RunErrorInfo } from './run-recorder';
import { END_RETRY_MS, UnrecordedEnds } from './unrecorded-ends';

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

/** How often a process whose next run waits behind another process's run tries its claim again. */
export const CLAIM_RETRY_MS = 500;
/** How often the end of a run that the history refused is written again. */

interface QueueItem {
  id: string;
  /** A stopped/interrupted/failed run waiting to continue (its stored status stays until it starts). */
  resume: boolean;
}

interface ActiveRun {
  id: string;
  handle: EngineRunHandle | null;
  recorder: RunRecorder;
  checkpointDir: string;
  /** Requests made before the worker existed, applied when it does. */
  wantPause: boolean;
  wantStop: boolean;
  ended: boolean;
  finished: Promise<void>;
  markFinished: () => void;
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
  /** Set while the head of the queue waits for another process's run (claimRun); retried every CLAIM_RETRY_MS. */
  private behind: { id: string; name: string; pid: number } | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The head of the queue while the disk under the history is too full to claim it (logged once). */
  private waitingForRoom: string | null = null;
  private closing = false;
  /** Runs whose end the history refused: written again until it takes them. */
  private readonly unrecorded = new UnrecordedEnds((level, message) => this.log(level, message));
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
      const p = a.recorder.lastProgress;
      return {
        step: p?.step,
        epoch: p ? p.epoch - 1 : undefined,
        totalSteps: a.recorder.totalSteps ?? undefined,
        imagesPerSec: p?.imagesPerSec,
        phase: a.recorder.phase ?? undefined,
      };
    }
    if (this.queue.some((q) => q.id === id)) return { status: 'queued' };
    if (this.unrecorded.has(id)) return { status: 'failed' }; // the history still says running
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

  private emitStatus(id: string, status: RunStatus, error?: RunErrorInfo): void {
    emitRunStatus(this.o.events, id, status, error);
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
    const owner = this.o.store.liveOwner(id);
    if (owner !== null && owner !== process.pid) {
      throw new IsdError('CONFLICT', `run ${id} is ${rec.status} in process ${owner}; resume or stop it there`, {
        field: 'id',
      });
    }
    if (rec.status === 'queued') {
      // Queued in a process that ended before its turn: queue it here (the claim takes it over).
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
    const owner = this.o.store.liveOwner(id);
    if (owner !== null && owner !== process.pid)
      throw new IsdError('CONFLICT', `run ${id} is ${rec.status} in process ${owner}; stop it there`, { field: 'id' });
    if (rec.status === 'queued' || rec.status === 'interrupted') {
      // Left queued or interrupted by a process that is gone: nobody else will ever end it.
      this.o.store.updateRun(id, { status: 'stopped' });
      this.emitStatus(id, 'stopped');
      return this.summary(id);
    }
    throw new IsdError('CONFLICT', `run ${id} is ${rec.status}; only a queued, training or paused run can be stopped`, {
      field: 'id',
    });
  }

  /** The run of another process that the next run here waits behind, while it does. */
  waitingBehind(): { id: string; name: string; pid: number } | null {
    return this.behind;
  }

  /** Starts the next queued run when nothing trains; resolves when it is running (or has failed to start). */
  private pump(): Promise<void> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.active || this.closing) return Promise.resolve();
    const next = this.queue.shift();
    if (!next) return Promise.resolve();
    return this.launch(next).catch((err) =>
      this.log('error', `run ${next.id} could not start: ${(err as Error).message}`),
    );
  }

  private async launch(item: QueueItem): Promise<void> {
    const store = this.o.store;
    // One history, one queue: the run is claimed in the store before anything is done to it.
    let claim;
    try {
      claim = store.claimRun(item.id);
    } catch (err) {
      if (isDiskFull(err)) {
        // No room to record the claim: the run keeps its turn and is claimed once the disk has room.
        if (this.waitingForRoom !== item.id)
          this.log('warn', `run ${item.id} waits for room: ${historyWriteError(err, store.file).message}`);
        this.waitingForRoom = item.id;
        this.queue.unshift(item);
        this.retryTimer = setTimeout(() => void this.pump(), END_RETRY_MS);
        return;
      }
      this.waitingForRoom = null;
      // Completed meanwhile, or held by another live process: it is not ours to train.
      this.log('warn', `run ${item.id} left this queue: ${(err as Error).message}`);
      this.emitStatus(item.id, store.getRunRecord(item.id).status);
      return this.pump();
    }
    this.waitingForRoom = null;
    if (!claim.claimed) {
      if (this.behind?.id !== claim.behind.id)
        this.o.events.emit('app.log', {
          level: 'info',
          message: `run ${item.id.slice(0, 8)} waits behind run ${claim.behind.id.slice(0, 8)} (${claim.behind.name}), training in process ${claim.behind.pid}`,
          at: Date.now(),
        });
      this.behind = claim.behind;
      this.queue.unshift(item);
      this.retryTimer = setTimeout(() => void this.pump(), CLAIM_RETRY_MS); // kept referenced: a waiting CLI stays alive
      return;
    }
    this.behind = null;
    const record = store.getRunRecord(item.id);
    this.unrecorded.forget(item.id, record.checkpointDir);
    const checkpointDir = record.checkpointDir ?? path.join(this.o.checkpointRoot, record.id);
    let markFinished!: () => void;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const recorder = new RunRecorder({
      store,
      events: this.o.events,
      runId: record.id,
      checkpointDir,
      flushSteps: this.o.flushSteps,
      flushMs: this.o.flushMs,
      progressPerSec: this.o.progressPerSec,
      onBackend: (b) => (this.lastBackend = b),
      onWriteFailed: (err) => this.onWriteFailed(a, err),
    });
    const a: ActiveRun = {
      id: record.id,
      handle: null,
      recorder,
      checkpointDir,
      wantPause: false,
      wantStop: false,
      ended: false,
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
          store.updateRun(a.id, { status: 'stopped' }); // claimed (running) but never started
          a.recorder.emitStatus('stopped');
        });
        return;
      }
      recorder.started(checkpointDir);
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
            a.recorder.writeFailed(err); // an event that cannot be recorded ends the run's record
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
      const e = isIsdError(err) || isDiskFull(err) ? historyWriteError(err, store.file) : asIsdError(err);
      this.endActive(a, () => a.recorder.failed(e));
    }
  }

  /** The history refused a write of the run: nothing more of it can be recorded, so its worker ends now. */
  private onWriteFailed(a: ActiveRun, err: IsdError): void {
    this.log('error', `run ${a.id}: ${err.message}; the run ends here`);
    if (a.handle) void a.handle.terminate().catch(() => undefined);
    else a.wantStop = true;
  }

  private onWorkerExit(a: ActiveRun, err: unknown): void {
    if (a.ended) return;
    // The worker exited without saying done or failed: it crashed (out of memory, a native fault).
    const reason = err instanceof Error ? err.message : err ? String(err) : 'it exited without finishing';
    this.endActive(a, () =>
      a.recorder.failed({
        code: 'INTERNAL',
        message: `the training worker stopped unexpectedly: ${reason}; resume the run from its last checkpoint`,
      }),
    );
  }

  /** Ends the recorder (what it held back is written and sent), runs `record` (the final store writes), frees the slot and starts the next run. */
  private endActive(a: ActiveRun, record: () => void): void {
    if (a.ended) return;
    a.ended = true;
    a.recorder.end();
    if (!a.recorder.writeError) {
      try {
        record();
      } catch (err) {
        a.recorder.writeFailed(err);
      }
    }
    // Whatever the engine said, a run whose record the history refused ended failed, for that reason.
    if (a.recorder.writeError) this.unrecorded.end(a.id, a.recorder, a.recorder.writeError, a.checkpointDir);
    if (this.active === a) this.active = null;
    a.markFinished();
    void this.pump();
  }

  private onEngineEvent(a: ActiveRun, e: WorkerToMain): void {
    if (a.ended) return;
    switch (e.type) {
      case 'done':
        this.endActive(a, () => a.recorder.done(e));
        return;
      case 'failed':
        this.endActive(a, () => a.recorder.failed({ code: e.code, message: e.message, field: e.field, path: e.path }));
        return;
      default:
        a.recorder.record(e);
    }
  }

  /**
   * Ends the service: waiting runs are taken out of the queue (queued ones marked stopped), the
   * training run is stopped with a checkpoint; if it does not end within stopTimeoutMs its worker is
   * terminated and the run marked interrupted (resumable from its last checkpoint).
   */
  async close(opts: { stopTimeoutMs?: number } = {}): Promise<void> {
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.behind = null;
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
    if (!a) return this.unrecorded.close();
    a.wantStop = true;
    a.handle?.stop();
    const timeout = opts.stopTimeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | null = null;
    const timedOut = await Promise.race([
      a.finished.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
    ]);
    if (timer) clearTimeout(timer);
    if (!timedOut) return this.unrecorded.close();
    this.log('warn', `run ${a.id} did not stop within ${timeout} ms; ending its worker`);
    this.endActive(a, () => {
      this.o.store.updateRun(a.id, {
        status: 'interrupted',
        error: storedError({
          code: 'INTERRUPTED',
          message: 'the app closed before the run could stop; resume it from its last checkpoint',
        }),
      });
      a.recorder.emitStatus('interrupted');
    });
    await a.handle?.terminate().catch(() => undefined);
    this.unrecorded.close();
  }
}
