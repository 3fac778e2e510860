/**
 * Ends of runs the history refused to record (a full disk): each is written again every
 * END_RETRY_MS until the history takes it, and meanwhile a note beside the run's checkpoints gives
 * the next open the reason (store/crash-recovery.ts reads it).
 */
import { removeEndNote, writeEndNote } from '../store';
import type { IsdError } from '../errors';
import type { RunErrorInfo, RunRecorder } from './run-recorder';

export const END_RETRY_MS = 2000;

interface PendingEnd {
  recorder: RunRecorder;
  error: RunErrorInfo;
  checkpointDir: string;
}

export class UnrecordedEnds {
  private readonly pending = new Map<string, PendingEnd>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: (level: 'info' | 'warn', message: string) => void) {}

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** The run trains again: its old end is moot. */
  forget(id: string, checkpointDir: string | null): void {
    if (this.pending.delete(id)) removeEndNote(checkpointDir);
  }

  /** Writes the failed end now, or keeps it (with a note on disk) and retries until the history takes it. */
  end(id: string, recorder: RunRecorder, err: IsdError, checkpointDir: string): void {
    const error: RunErrorInfo = { code: err.code, message: err.message, ...(err.path ? { path: err.path } : {}) };
    recorder.emitFailed(error);
    if (record(recorder, error)) return;
    const noted = writeEndNote(checkpointDir, { code: err.code, message: err.message, at: Date.now() });
    this.log(
      'warn',
      `run ${id}: the history cannot record its end yet; tried again every ${END_RETRY_MS / 1000} s${noted ? `, and ${checkpointDir} keeps the reason meanwhile` : ''}`,
    );
    this.pending.set(id, { recorder, error, checkpointDir });
    if (!this.timer) {
      this.timer = setInterval(() => this.retry(), END_RETRY_MS);
      this.timer.unref(); // a CLI still exits: the note tells the next open
    }
  }

  /** Writes the ends the history refused; each one it takes is done (its note removed). */
  retry(): void {
    for (const [id, p] of this.pending) {
      if (!record(p.recorder, p.error)) continue;
      this.pending.delete(id);
      removeEndNote(p.checkpointDir);
      this.log('info', `run ${id}: its end (failed, ${p.error.code}) is recorded now`);
    }
    if (this.pending.size === 0) this.stopTimer();
  }

  /** On close: one more try; those the history still refuses keep their notes. */
  close(): void {
    this.retry();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

function record(recorder: RunRecorder, error: RunErrorInfo): boolean {
  try {
    recorder.recordFailed(error);
    return true;
  } catch {
    return false;
  }
}
