/**
 * Node-side errors: a Node fs or SQLite failure on a path as an IsdError a user can act on, naming the
 * disk when it is full. Apart from errors.ts, which the renderer bundles, because it reads /proc.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { IsdError, isDiskFull, isIsdError } from './errors';

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
