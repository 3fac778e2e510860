/**
 * The calling thread's side of an engine run: starts dist/electron/engine/worker.js in a worker
 * thread, sends it the start request and control messages, and hands every event to a callback.
 * A worker that dies without `done` or `failed` (a crash, an out-of-memory kill) produces a `failed`
 * event naming its exit code, so a run never ends silently. The calling thread computes no tensors.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { IsdError } from '../errors';
import type { DoneEvent, EngineEvent, FailedEvent, MainToWorker, StartMessage } from './protocol';

/** What the worker's start message carries, and where the compiled worker is. */
export interface EngineRunRequest extends Omit<StartMessage, 'type'> {
  /** The compiled worker script; default: workerScriptPath(). */
  workerPath?: string;
}

export interface EngineRunOutcome {
  /** terminated: terminate() ended the worker before it finished. */
  status: 'completed' | 'stopped' | 'failed' | 'terminated';
  done: DoneEvent | null;
  failed: FailedEvent | null;
  exitCode: number | null;
}

export interface EngineRunHandle {
  readonly runId: string;
  /** Obeyed at the next step boundary. */
  pause(): void;
  resume(): void;
  /** Obeyed at the next step boundary: a checkpoint, then `done` with reason 'stopped'. */
  stop(): void;
  /** Ends the worker now, without a checkpoint (app quit, stuck worker). */
  terminate(): Promise<void>;
  /** Settles (never rejects) when the worker has ended. */
  readonly done: Promise<EngineRunOutcome>;
}

/** Where the compiled worker is: beside this file in dist/, or dist/ of the project when running from sources (tests). */
export function workerScriptPath(): string {
  const candidates = [
    path.join(__dirname, 'worker.js'),
    path.resolve(__dirname, '..', '..', 'dist', 'electron', 'engine', 'worker.js'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new IsdError(
      'INTERNAL',
      `engine worker not found (looked for ${candidates.join(', ')}): build it with npx tsc -p tsconfig.node.json`,
    );
  return found;
}

/** After done/failed, how long the worker gets to end by itself before it is terminated. */
const EXIT_GRACE_MS = 2000;

export function startEngineRun(req: EngineRunRequest, onEvent: (event: EngineEvent) => void): EngineRunHandle {
  const worker = new Worker(req.workerPath ?? workerScriptPath());
  let done: DoneEvent | null = null;
  let failed: FailedEvent | null = null;
  let workerError: Error | null = null;
  let terminated = false;
  let graceTimer: NodeJS.Timeout | null = null;
  const send = (m: MainToWorker) => {
    try {
      worker.postMessage(m);
    } catch {
      // the worker has already ended: control messages are moot
    }
  };
  const emit = (e: EngineEvent) => {
    try {
      onEvent(e);
    } catch (err) {
      console.error('engine event handler threw:', err);
    }
  };

  worker.on('message', (m: EngineEvent) => {
    if (m.type === 'done') done = m;
    if (m.type === 'failed') failed = m;
    emit(m);
    if ((m.type === 'done' || m.type === 'failed') && graceTimer === null) {
      graceTimer = setTimeout(() => void worker.terminate(), EXIT_GRACE_MS);
      graceTimer.unref();
    }
  });
  worker.on('error', (err) => {
    workerError = err;
  });
  const finished = new Promise<EngineRunOutcome>((resolve) => {
    worker.on('exit', (code) => {
      if (graceTimer) clearTimeout(graceTimer);
      if (!done && !failed && !terminated) {
        const reason = workerError ? `: ${workerError.message}` : '';
        failed = {
          type: 'failed',
          code: 'INTERNAL',
          message: `the engine worker exited with code ${code} before the run finished${reason}`,
        };
        emit(failed);
      }
      const status = done ? (done as DoneEvent).reason : failed ? 'failed' : 'terminated';
      resolve({ status, done, failed, exitCode: code });
    });
  });

  const start: StartMessage = {
    type: 'start',
    runId: req.runId,
    config: req.config,
    datasetPath: req.datasetPath,
    checkpointRoot: req.checkpointRoot,
    ...(req.resume ? { resume: req.resume } : {}),
    ...(req.engine ? { engine: req.engine } : {}),
  };
  send(start);

  return {
    runId: req.runId,
    pause: () => send({ type: 'pause' }),
    resume: () => send({ type: 'resume' }),
    stop: () => send({ type: 'stop' }),
    terminate: async () => {
      terminated = true;
      await worker.terminate();
      await finished;
    },
    done: finished,
  };
}
