/**
 * Errors a user can cause or act on. Every layer throws IsdError for such cases so that the CLI can
 * print one line and exit 2, and IPC can answer `{ ok: false, error: { code, field, message } }`.
 * Pure (no Node imports): the contract and the renderer import it; fs-errors.ts holds the Node-side mapping.
 */

/** Every error code, with when it is used; the contract's envelope carries one of these. */
export const ERROR_CODES = [
  'BAD_INPUT', // a flag, field or value is wrong (field names it)
  'NOT_FOUND', // a path, dataset or run that does not exist
  'PERMISSION', // a path that cannot be read or written
  'DATASET_INVALID', // a dataset file that is truncated, has a wrong magic number, mismatched counts…
  'DB_TOO_NEW', // a run-history database written by a newer version of the app
  'DIVERGED', // training produced a NaN or infinite loss
  'CONFLICT', // the request does not fit the current state (e.g. resume a completed run)
  'NATIVE_MODULE', // a native binding missing, damaged or built for another runtime; the message says what to run
  'DISK_FULL', // the disk holding the history or the checkpoints has no space left (ENOSPC, SQLITE_FULL)
  'INTERRUPTED', // the process training the run ended (a crash, a kill, a close) before the run did
  'INTERNAL', // anything else (a bug): exit code 1
] as const;
export type IsdErrorCode = (typeof ERROR_CODES)[number];

export class IsdError extends Error {
  readonly code: IsdErrorCode;
  /** The config field, CLI flag or IPC input field at fault, when there is one. */
  readonly field?: string;
  /** The file or folder at fault, when there is one. */
  readonly path?: string;

  constructor(code: IsdErrorCode, message: string, opts: { field?: string; path?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'IsdError';
    this.code = code;
    this.field = opts.field;
    this.path = opts.path;
  }

  /** Plain object for IPC / JSON output: never a stack trace. */
  toJSON(): { code: IsdErrorCode; field?: string; path?: string; message: string } {
    return { code: this.code, field: this.field, path: this.path, message: this.message };
  }
}

/** A run's error as its text column holds it, "CODE: message", so the code survives (run-dto parseStoredError reads it). */
export function storedError(e: { code: IsdErrorCode; message: string }): string {
  return `${e.code}: ${e.message}`;
}

export function isIsdError(e: unknown): e is IsdError {
  return e instanceof IsdError;
}

/** An IsdError as it is; anything else (a bug) as INTERNAL with its message. */
export function asIsdError(err: unknown): IsdError {
  return isIsdError(err)
    ? err
    : new IsdError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}

/** Exit code of the CLI for an error: 2 for bad input of any kind, 1 for everything else. */
export function exitCodeFor(e: unknown): 1 | 2 {
  if (!isIsdError(e)) return 1;
  return e.code === 'INTERNAL' || e.code === 'DIVERGED' || e.code === 'DISK_FULL' || e.code === 'INTERRUPTED' ? 1 : 2;
}

/** Whether an fs or SQLite error says the disk is full: ENOSPC, EDQUOT (a quota) or SQLITE_FULL. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === 'DISK_FULL';
}
