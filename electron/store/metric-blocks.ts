/**
 * A rollup of step metrics kept beside them: per run and per block of BLOCK_STEPS consecutive steps,
 * the row count and the steps holding the lowest and highest loss. Charts of long runs read these
 * few thousand rows instead of scanning every step; the points they pick are still real rows.
 *
 * Kept in step with step_metrics by every store function that writes metrics (append merges,
 * replaced or discarded steps rebuild their blocks from the rows); deleting a run cascades.
 */
import type { StatementCache } from './statement-cache';

/** Steps per block: block = floor(step / BLOCK_STEPS). Changing it needs a migration that rebuilds the table. */
export const BLOCK_STEPS = 32;

export interface MetricBlock {
  block: number;
  n: number;
  /** Step of the lowest loss; when every loss in the block is missing, the block's first row. */
  loStep: number;
  loLoss: number | null;
  /** Step of the highest loss; when every loss in the block is missing, the block's first row. */
  hiStep: number;
  hiLoss: number | null;
}

/** Blocks of the given (step, loss) rows; rows of one block need not be adjacent or sorted. */
export function blocksOf(rows: Iterable<{ step: number; loss: number | null }>): Map<number, MetricBlock> {
  const blocks = new Map<number, MetricBlock>();
  for (const { step, loss } of rows) {
    const block = Math.floor(step / BLOCK_STEPS);
    const b = blocks.get(block);
    if (!b) {
      blocks.set(block, { block, n: 1, loStep: step, loLoss: loss, hiStep: step, hiLoss: loss });
      continue;
    }
    b.n++;
    if (loss === null) {
      if (b.loLoss === null && step < b.loStep) b.loStep = b.hiStep = step;
      continue;
    }
    if (b.loLoss === null || loss < b.loLoss || (loss === b.loLoss && step < b.loStep)) {
      b.loLoss = loss;
      b.loStep = step;
    }
    if (b.hiLoss === null || loss > b.hiLoss || (loss === b.hiLoss && step < b.hiStep)) {
      b.hiLoss = loss;
      b.hiStep = step;
    }
  }
  return blocks;
}

/** Merges the blocks of freshly inserted steps (none of which existed before) into the stored ones. */
export function mergeNewSteps(
  sc: StatementCache,
  runId: string,
  rows: Iterable<{ step: number; loss: number | null }>,
): void {
  // Every right-hand side sees the stored row as it was before this update, so the CASEs agree.
  const upsert = sc.get(
    `INSERT INTO step_metric_blocks (run_id, block, n, lo_step, lo_loss, hi_step, hi_loss) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (run_id, block) DO UPDATE SET
       n = n + excluded.n,
       lo_step = CASE WHEN excluded.lo_loss IS NOT NULL AND (lo_loss IS NULL OR excluded.lo_loss < lo_loss OR (excluded.lo_loss = lo_loss AND excluded.lo_step < lo_step)) THEN excluded.lo_step
                      WHEN lo_loss IS NULL AND excluded.lo_loss IS NULL AND excluded.lo_step < lo_step THEN excluded.lo_step
                      ELSE lo_step END,
       lo_loss = CASE WHEN excluded.lo_loss IS NOT NULL AND (lo_loss IS NULL OR excluded.lo_loss < lo_loss OR (excluded.lo_loss = lo_loss AND excluded.lo_step < lo_step)) THEN excluded.lo_loss ELSE lo_loss END,
       hi_step = CASE WHEN excluded.hi_loss IS NOT NULL AND (hi_loss IS NULL OR excluded.hi_loss > hi_loss OR (excluded.hi_loss = hi_loss AND excluded.hi_step < hi_step)) THEN excluded.hi_step
                      WHEN hi_loss IS NULL AND excluded.hi_loss IS NULL AND excluded.hi_step < hi_step THEN excluded.hi_step
                      ELSE hi_step END,
       hi_loss = CASE WHEN excluded.hi_loss IS NOT NULL AND (hi_loss IS NULL OR excluded.hi_loss > hi_loss OR (excluded.hi_loss = hi_loss AND excluded.hi_step < hi_step)) THEN excluded.hi_loss ELSE hi_loss END`,
  );
  for (const b of blocksOf(rows).values()) upsert.run(runId, b.block, b.n, b.loStep, b.loLoss, b.hiStep, b.hiLoss);
}

/** Recomputes the given blocks from the stored rows (after steps were replaced or deleted). */
export function rebuildBlocks(sc: StatementCache, runId: string, blocks: Iterable<number>): void {
  const rowsOf = sc.get<{ step: number; loss: number | null }>(
    'SELECT step, loss FROM step_metrics WHERE run_id = ? AND step >= ? AND step < ?',
  );
  const drop = sc.get('DELETE FROM step_metric_blocks WHERE run_id = ? AND block = ?');
  const put = sc.get(
    'INSERT OR REPLACE INTO step_metric_blocks (run_id, block, n, lo_step, lo_loss, hi_step, hi_loss) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  for (const block of new Set(blocks)) {
    const b = blocksOf(rowsOf.all(runId, block * BLOCK_STEPS, (block + 1) * BLOCK_STEPS)).get(block);
    if (b) put.run(runId, block, b.n, b.loStep, b.loLoss, b.hiStep, b.hiLoss);
    else drop.run(runId, block);
  }
}

/** The stored blocks of a run, in step order. */
export function readBlocks(sc: StatementCache, runId: string): MetricBlock[] {
  return sc
    .get<MetricBlock>(
      'SELECT block, n, lo_step AS loStep, lo_loss AS loLoss, hi_step AS hiStep, hi_loss AS hiLoss FROM step_metric_blocks WHERE run_id = ? ORDER BY block',
    )
    .all(runId);
}
