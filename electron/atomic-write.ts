/**
 * Writing results so that nothing half-written is ever left under the name a user asked for (a full
 * disk, a crash): each file goes to a temporary sibling first and is renamed into place; a folder is
 * filled as a temporary sibling and renamed. On failure the temporaries are removed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { IsdError } from './errors';
import { fsError } from './fs-errors';

export interface FileToWrite {
  path: string;
  data: Uint8Array | string;
  /**
   * For a file written beside the one the user named: an existing file at `path` is replaced only
   * when this says its start (the first REPLACE_CHECK_BYTES, as UTF-8) is an earlier result's.
   */
  replaceIf?: (head: string) => boolean;
}

/** How much of an existing file `replaceIf` reads: enough for a header line or a small JSON. */
const REPLACE_CHECK_BYTES = 64 * 1024;

/**
 * Refuses to replace a file beside the named one that is not an earlier result (writeFilesAtomically
 * checks again before it writes; a long task checks first, so that it fails before the work).
 */
export async function refuseForeignFiles(files: Pick<FileToWrite, 'path' | 'replaceIf'>[]): Promise<void> {
  for (const f of files) {
    if (!f.replaceIf) continue;
    let head: string;
    try {
      const handle = await fsp.open(f.path, 'r');
      try {
        const buf = Buffer.alloc(REPLACE_CHECK_BYTES);
        const { bytesRead } = await handle.read(buf, 0, REPLACE_CHECK_BYTES, 0);
        head = buf.subarray(0, bytesRead).toString('utf8');
      } finally {
        await handle.close();
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'EISDIR')
        throw new IsdError('CONFLICT', `${f.path}: is a folder, where the export writes a file; choose another name`, {
          path: f.path,
        });
      throw fsError(err, f.path, 'file');
    }
    if (!f.replaceIf(head))
      throw new IsdError(
        'CONFLICT',
        `${f.path}: exists and is not from an earlier export, and this export writes a file of that name beside the one you named; move it, or choose another name`,
        { path: f.path },
      );
  }
}

function tempSibling(target: string): string {
  return path.join(
    path.dirname(target),
    `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

async function ensureParent(target: string): Promise<void> {
  try {
    await fsp.mkdir(path.dirname(target), { recursive: true });
  } catch (err) {
    throw fsError(err, path.dirname(target), 'folder');
  }
}

/** Writes every file to a temporary sibling, then renames them all into place (the last one named last). */
export async function writeFilesAtomically(files: FileToWrite[]): Promise<void> {
  await refuseForeignFiles(files);
  const temps: string[] = [];
  let current = '';
  try {
    for (const f of files) {
      current = f.path;
      await ensureParent(f.path);
      const tmp = tempSibling(f.path);
      temps.push(tmp);
      await fsp.writeFile(tmp, f.data);
    }
    for (let i = 0; i < files.length; i++) {
      current = files[i].path;
      await fsp.rename(temps[i], files[i].path);
    }
  } catch (err) {
    await Promise.all(temps.map((t) => fsp.rm(t, { force: true }).catch(() => undefined)));
    if (err instanceof IsdError) throw err;
    throw fsError(err, current, 'file');
  }
}

/**
 * Writes `files` (names relative to the folder) into a temporary sibling of `dir`, then replaces `dir`
 * with it. An existing `dir` is replaced only when `replaceable` says it holds an earlier result.
 */
export async function writeFolderAtomically(
  dir: string,
  files: FileToWrite[],
  replaceable: (existingNames: string[]) => boolean,
): Promise<void> {
  let existing: string[] | null = null;
  try {
    existing = await fsp.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR')
      throw new IsdError('CONFLICT', `${dir}: is a file; give a folder name for the export`, { path: dir });
    if (code !== 'ENOENT') throw fsError(err, dir, 'folder');
  }
  if (existing && existing.length > 0 && !replaceable(existing))
    throw new IsdError('CONFLICT', `${dir}: the folder is not empty and holds no earlier export; choose another`, {
      path: dir,
    });
  await ensureParent(dir);
  const tmp = tempSibling(dir);
  try {
    await fsp.mkdir(tmp);
    for (const f of files) await fsp.writeFile(path.join(tmp, f.path), f.data);
    if (existing) await fsp.rm(dir, { recursive: true, force: true });
    await fsp.rename(tmp, dir);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof IsdError) throw err;
    throw fsError(err, dir, 'folder');
  }
}
