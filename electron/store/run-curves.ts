/**
 * Curves for charts: one run's step metrics cut down to at most N real rows (Compare lays several
 * runs' curves side by side in the renderer). Done in SQL so a 100,000-step run never becomes 100,000 JS objects.
 */
import type { StepMetricRow } from './rows';
import { BLOCK_STEPS, readBlocks } from './metric-blocks';
import type { StatementCache } from './statement-cache';

export const STEP_METRIC_COLUMNS = 'step, epoch, loss, lr, purity, images_per_sec AS imagesPerSec, time';

interface StepRange {
  n: number;
  first: number | null;
  last: number | null;
}

export function stepRange(sc: StatementCache, runId: string): StepRange {
  // Separate subqueries: MIN and MAX together make SQLite scan every row; alone each is one index probe.
  // The count comes from the block rollup (a few thousand rows) rather than a scan of every step.
  return sc
    .get<StepRange>(
      `SELECT (SELECT COALESCE(SUM(n), 0) FROM step_metric_blocks WHERE run_id = @runId) AS n,
              (SELECT MIN(step) FROM step_metrics WHERE run_id = @runId) AS first,
              (SELECT MAX(step) FROM step_metrics WHERE run_id = @runId) AS last`,
    )
    .get({ runId }) as StepRange;
}

/**
 * Half-open step intervals [b[i], b[i+1]) splitting first..last into `count` near-equal parts.
 * Returns count + 1 boundaries; b[0] = first and b[count] = last + 1.
 */
export function stepBucketBounds(first: number, last: number, count: number): number[] {
  const span = last - first + 1;
  const bounds: number[] = [];
  for (let i = 0; i <= count; i++) bounds.push(first + Math.floor((i * span) / count));
  return bounds;
}

/**
 * At most maxPoints rows of a run's step metrics, all of them real recorded rows: the first and the
 * last, and in each step bucket the rows with the lowest and highest loss, so spikes survive.
 */
export function downsampledStepRows(
  sc: StatementCache,
  runId: string,
  maxPoints: number,
): { totalPoints: number; points: StepMetricRow[] } {
  const range = stepRange(sc, runId);
  if (range.n <= maxPoints || range.first === null || range.last === null) {
    const all = sc
      .get<StepMetricRow>(`SELECT ${STEP_METRIC_COLUMNS} FROM step_metrics WHERE run_id = ? ORDER BY step`)
      .all(runId);
    return { totalPoints: range.n, points: all };
  }
  const interior = maxPoints - 2; // the first and last rows are always kept
  const keepMax = interior >= 2;
  const buckets = keepMax ? Math.floor(interior / 2) : interior;
  const chosen = new Set<number>([range.first, range.last]);
  if (buckets > 0) {
    const span = range.last - range.first + 1;
    // With several blocks per bucket, the rollup answers exactly for buckets snapped to block edges.
    const picked =
      span / buckets >= 4 * BLOCK_STEPS
        ? extremesFromBlocks(sc, runId, range.first, span, buckets)
        : extremesFromRows(sc, runId, range.first, range.last, buckets);
    for (const { lowest, highest } of picked) {
      if (lowest !== null) chosen.add(lowest);
      if (keepMax && highest !== null) chosen.add(highest);
    }
  }
  const points = sc
    .get<StepMetricRow>(
      `SELECT ${STEP_METRIC_COLUMNS} FROM step_metrics WHERE run_id = ? AND step IN (SELECT value FROM json_each(?)) ORDER BY step`,
    )
    .all(runId, JSON.stringify([...chosen]));
  return { totalPoints: range.n, points };
}

interface BucketExtremes {
  lowest: number | null;
  highest: number | null;
}

/** Per bucket, the steps of the lowest and highest loss, scanning the rows (one statement for all buckets). */
function extremesFromRows(
  sc: StatementCache,
  runId: string,
  first: number,
  last: number,
  buckets: number,
): BucketExtremes[] {
  // A lone MIN()/MAX() makes SQLite take the bare `step` from the row holding that extreme.
  return sc
    .get<BucketExtremes>(
      `SELECT (SELECT step FROM (SELECT step, MIN(loss) FROM step_metrics WHERE run_id = @runId AND step >= lo AND step < hi)) AS lowest,
              (SELECT step FROM (SELECT step, MAX(loss) FROM step_metrics WHERE run_id = @runId AND step >= lo AND step < hi)) AS highest
         FROM (SELECT CAST(value AS INTEGER) AS lo, CAST(lead(value) OVER (ORDER BY key) AS INTEGER) AS hi FROM json_each(@bounds))
        WHERE hi IS NOT NULL`,
    )
    .all({ runId, bounds: JSON.stringify(stepBucketBounds(first, last, buckets)) });
}

/** The same from the block rollup: each block joins the bucket holding its first step. */
function extremesFromBlocks(
  sc: StatementCache,
  runId: string,
  first: number,
  span: number,
  buckets: number,
): BucketExtremes[] {
  const out: { lowest: number | null; lowLoss: number | null; highest: number | null; highLoss: number | null }[] = [];
  for (const b of readBlocks(sc, runId)) {
    const start = Math.max(b.block * BLOCK_STEPS, first);
    const k = Math.min(buckets - 1, Math.floor(((start - first) * buckets) / span));
    const e = (out[k] ??= { lowest: b.loStep, lowLoss: b.loLoss, highest: b.hiStep, highLoss: b.hiLoss });
    if (b.loLoss !== null && (e.lowLoss === null || b.loLoss < e.lowLoss)) {
      e.lowest = b.loStep;
      e.lowLoss = b.loLoss;
    }
    if (b.hiLoss !== null && (e.highLoss === null || b.hiLoss > e.highLoss)) {
      e.highest = b.hiStep;
      e.highLoss = b.hiLoss;
    }
  }
  return out.filter((e) => e !== undefined);
}
