/** The checkpoints table: where each saved checkpoint of a run lies (the files belong to the engine). */
import { IsdError } from '../errors';
import { checkCount, checkTime, requireRun } from './checks';
import type { StoreContext } from './context';
import { CHECKPOINT_KINDS } from '../engine/protocol';
import type { CheckpointInput, CheckpointRow } from './rows';

export function addCheckpoint(ctx: StoreContext, runId: string, c: CheckpointInput): CheckpointRow {
  if (!CHECKPOINT_KINDS.includes(c.kind))
    throw new IsdError('BAD_INPUT', `checkpoint kind must be ${CHECKPOINT_KINDS.join(', ')}`, { field: 'kind' });
  if (typeof c.path !== 'string' || c.path.length === 0)
    throw new IsdError('BAD_INPUT', 'checkpoint path must be a non-empty string', { field: 'path' });
  const epoch = checkCount('epoch', c.epoch);
  const step = checkCount('step', c.step);
  const createdAt = c.createdAt === undefined ? ctx.now() : checkTime('createdAt', c.createdAt);
  const add = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    return ctx.sc
      .get('INSERT INTO checkpoints (run_id, epoch, step, path, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(runId, epoch, step, c.path, c.kind, createdAt);
  });
  const result = add.immediate();
  return { id: Number(result.lastInsertRowid), runId, epoch, step, path: c.path, kind: c.kind, createdAt };
}

/** A run's checkpoints, oldest step first. */
export function checkpointsOf(ctx: StoreContext, runId: string): CheckpointRow[] {
  return ctx.sc
    .get<CheckpointRow>(
      'SELECT id, run_id AS runId, epoch, step, path, kind, created_at AS createdAt FROM checkpoints WHERE run_id = ? ORDER BY step, id',
    )
    .all(runId);
}
