/**
 * Errors a user can cause or act on. Every layer throws IsdError for such cases so that the CLI can
 * print one line and exit 2, and IPC can answer `{ ok: false, error: { code, field, message } }`.
 */
import fs from 'node:fs';
import nodePath from 'node:path';

export type IsdErrorCode =
  | 'BAD_INPUT' // a flag, field or value is wrong (field names it)
  | 'NOT_FOUND' // a path, dataset or run that does not exist
  | 'PERMISSION' // a path that cannot be read or written
  | 'DATASET_INVALID' // a dataset file that is truncated, has a wrong magic number, mismatched counts…
  | 'DB_TOO_NEW' // a run-history database written by a newer version of the app
  | 'DIVERGED' // training produced a NaN or infinite loss
  | 'CONFLICT' // the request does not fit the current state (e.g. resume a completed run)
  | 'NATIVE_MODULE' // a native binding missing, damaged or built for another runtime; the message says what to run
  | 'DISK_FULL' // the disk holding the history or the checkpoints has no space left (ENOSPC, SQLITE_FULL)
  | 'INTERRUPTED' // the process training the run ended (a crash, a kill, a close) before the run did
  | 'INTERNAL'; // anything else (a bug): exit code 1

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

/** The mount point of the file system holding `p` (Linux: /proc/self/mountinfo), else its folder. */
export function diskOf(p: string): string {
  const abs = nodePath.resolve(p);
  let best = '';
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      // Field 5 is the mount point, with spaces and backslashes escaped as octal.
      const mount = line.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      if (!mount) continue;
      const inside = mount === '/' || abs === mount || abs.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (inside && mount.length > best.length) best = mount;
    }
  } catch {
    // Not Linux: the folder is the best name we have.
  }
  return best || nodePath.dirname(abs);
}

/** A disk-full error on `path`, naming the disk that has no space left. */
export function diskFullError(err: unknown, path: string, doing = 'writing'): IsdError {
  const disk = diskOf(path);
  return new IsdError(
    'DISK_FULL',
    `the disk at ${disk} is full (no space left while ${doing} ${path}); free some space there and try again (a run resumes from its last checkpoint)`,
    { path, cause: err },
  );
}

/** A write to the run history `dbFile` that failed: DISK_FULL naming its disk, an IsdError as it is, else INTERNAL naming the file. */
export function historyWriteError(err: unknown, dbFile: string): IsdError {
  if (isIsdError(err)) return err;
  if (isDiskFull(err)) return diskFullError(err, dbFile, 'writing the run history');
  const msg = err instanceof Error ? err.message : String(err);
  return new IsdError('INTERNAL', `could not write the run history ${dbFile}: ${msg}`, { path: dbFile, cause: err });
}

/** Maps a Node fs error on `path` to an IsdError with a message a user can act on. */
export function fsError(err: unknown, path: string, what = 'file'): IsdError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (isDiskFull(err)) return diskFullError(err, path, `writing the ${what}`);
  if (code === 'EROFS') return new IsdError('PERMISSION', `${path}: read-only file system`, { path, cause: err });
  if (code === 'ENOENT') return new IsdError('NOT_FOUND', `${path}: no such ${what}`, { path, cause: err });
  if (code === 'EACCES' || code === 'EPERM')
    return new IsdError('PERMISSION', `${path}: permission denied`, { path, cause: err });
  if (code === 'EISDIR')
    return new IsdError('DATASET_INVALID', `${path}: is a folder, expected a ${what}`, { path, cause: err });
  if (code === 'ENOTDIR') return new IsdError('DATASET_INVALID', `${path}: is not a folder`, { path, cause: err });
  const msg = err instanceof Error ? err.message : String(err);
  return new IsdError('DATASET_INVALID', `${path}: ${msg}`, { path, cause: err });
}
