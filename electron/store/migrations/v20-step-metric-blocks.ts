/**
 * Schema 20: the per-32-step rollup of step metrics (metric-blocks.ts keeps it current), built here
 * for the rows already stored. Frozen: plain SQL, so later changes to metric-blocks.ts cannot change
 * what this migration wrote. Per block: the row count and the rows of lowest and highest loss (ties:
 * the earlier step; a block with no loss at all: its first row), as metric-blocks.ts's blocksOf.
 */
import type { Migration } from '../migrations';

const SQL = `
CREATE TABLE step_metric_blocks (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  block INTEGER NOT NULL,
  n INTEGER NOT NULL,
  lo_step INTEGER NOT NULL,
  lo_loss REAL,
  hi_step INTEGER NOT NULL,
  hi_loss REAL,
  PRIMARY KEY (run_id, block)
) WITHOUT ROWID;

INSERT INTO step_metric_blocks (run_id, block, n, lo_step, lo_loss, hi_step, hi_loss)
WITH ranked AS (
  SELECT run_id, step / 32 AS block, step, loss,
         COUNT(*) OVER (PARTITION BY run_id, step / 32) AS n,
         ROW_NUMBER() OVER (PARTITION BY run_id, step / 32 ORDER BY loss IS NULL, loss ASC, step) AS lo_rank,
         ROW_NUMBER() OVER (PARTITION BY run_id, step / 32 ORDER BY loss IS NULL, loss DESC, step) AS hi_rank
    FROM step_metrics
)
SELECT lo.run_id, lo.block, lo.n, lo.step, lo.loss, hi.step, hi.loss
  FROM ranked lo JOIN ranked hi ON hi.run_id = lo.run_id AND hi.block = lo.block AND hi.hi_rank = 1
 WHERE lo.lo_rank = 1;
`;

export const v20StepMetricBlocks: Migration = {
  version: 20,
  up(db) {
    db.exec(SQL);
  },
};
