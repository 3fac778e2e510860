/** Deleting a run: its rows go by cascade; its checkpoint folder only when it lies inside the checkpoint root. */
import fs from 'node:fs';
import path from 'node:path';
import { IsdError } from '../errors';
import type { StoreContext } from './context';
import type { DeleteRunOptions, DeleteRunResult } from './rows';
import { getRunRow } from './runs';

/**
 * Deletes the run and (cascade) its metrics, evaluations, checkpoint rows and tags. With
 * deleteFiles, also removes its checkpoint folder, which must lie inside the store's checkpointRoot.
 */
export function deleteRun(ctx: StoreContext, id: string, opts: DeleteRunOptions = {}): DeleteRunResult {
  const run = getRunRow(ctx, id);
  if (run.status === 'running' || run.status === 'paused') {
    throw new IsdError('CONFLICT', `run ${id} is ${run.status}; stop it before deleting it`, { field: 'id' });
  }
  // Checked before any row goes, so a refused folder leaves the run intact.
  const folder = opts.deleteFiles && run.checkpointDir ? removableCheckpointFolder(ctx, run.checkpointDir) : null;
  ctx.sc.get('DELETE FROM runs WHERE id = ?').run(id);
  if (folder) {
    try {
      fs.rmSync(folder, { recursive: true, force: true });
    } catch (err) {
      throw new IsdError(
        'PERMISSION',
        `run ${id} was deleted but its folder ${folder} could not be removed: ${(err as Error).message}`,
        { path: folder, cause: err },
      );
    }
  }
  return { id, removedDir: folder };
}

/** The real path of a run's checkpoint folder if it may be removed, null if it is already gone; refuses anything outside the root. */
function removableCheckpointFolder(ctx: StoreContext, dir: string): string | null {
  if (!ctx.checkpointRoot) {
    throw new IsdError(
      'BAD_INPUT',
      `refusing to delete ${dir}: the store was opened without a checkpoint folder to delete within`,
      { path: dir, field: 'deleteFiles' },
    );
  }
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new IsdError('PERMISSION', `${dir}: cannot be inspected for deletion: ${(err as Error).message}`, {
      path: dir,
      cause: err,
    });
  }
  let root: string;
  try {
    root = fs.realpathSync(ctx.checkpointRoot);
  } catch {
    root = ctx.checkpointRoot;
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new IsdError(
      'BAD_INPUT',
      `refusing to delete ${dir}: it is not inside the checkpoint folder ${ctx.checkpointRoot}`,
      { path: dir, field: 'deleteFiles' },
    );
  }
  if (!fs.statSync(real).isDirectory()) {
    throw new IsdError('BAD_INPUT', `refusing to delete ${dir}: it is not a folder`, {
      path: dir,
      field: 'deleteFiles',
    });
  }
  return real;
}
