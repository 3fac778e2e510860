/**
 * Curves for charts: one run's step metrics cut down to at most N real rows, and several runs'
 * series on one shared step grid. Done in SQL so a 100,000-step run never becomes 100,000 JS objects.
 */
import type { AlignedEvalCurves, AlignedStepCurves, EpochEvalRow, StepMetricRow } from './rows';
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

interface BucketMeans {
  b: number;
  loss: number | null;
  lr: number | null;
  purity: number | null;
  imagesPerSec: number | null;
}

/**
 * Step series of several runs on one grid over the union of their step ranges: at most maxPoints
 * buckets, each labelled by its last step, holding each run's mean; buckets no run reaches are dropped.
 */
export function alignedStepCurves(sc: StatementCache, runIds: string[], maxPoints: number): AlignedStepCurves {
  const out: AlignedStepCurves = { steps: [], loss: {}, lr: {}, purity: {}, imagesPerSec: {} };
  const ranges = runIds.map((id) => stepRange(sc, id)).filter((r) => r.n > 0);
  const range = ranges.length
    ? { first: Math.min(...ranges.map((r) => r.first!)), last: Math.max(...ranges.map((r) => r.last!)) }
    : null;
  for (const id of runIds) {
    out.loss[id] = [];
    out.lr[id] = [];
    out.purity[id] = [];
    out.imagesPerSec[id] = [];
  }
  if (!range) return out;
  const span = range.last - range.first + 1;
  const count = Math.min(maxPoints, span);
  const query = sc.get<BucketMeans>(
    `SELECT ((step - CAST(? AS INTEGER)) * CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b,
            AVG(loss) AS loss, AVG(lr) AS lr, AVG(purity) AS purity, AVG(images_per_sec) AS imagesPerSec
       FROM step_metrics WHERE run_id = ? GROUP BY b ORDER BY b`,
  );
  const perRun = runIds.map((id) => new Map(query.all(range.first, count, span, id).map((r) => [r.b, r])));
  const used = new Set<number>();
  for (const m of perRun) for (const b of m.keys()) used.add(b);
  const order = [...used].sort((x, y) => x - y);
  // Bucket b holds steps first + ceil(b·span/count) … first + ceil((b+1)·span/count) − 1.
  out.steps = order.map((b) => range.first + Math.ceil(((b + 1) * span) / count) - 1);
  runIds.forEach((id, i) => {
    for (const b of order) {
      const r = perRun[i].get(b);
      out.loss[id].push(r?.loss ?? null);
      out.lr[id].push(r?.lr ?? null);
      out.purity[id].push(r?.purity ?? null);
      out.imagesPerSec[id].push(r?.imagesPerSec ?? null);
    }
  });
  return out;
}

/** Epoch evaluations of several runs on the union of their evaluated epochs. */
export function alignedEvalCurves(runIds: string[], evalsByRun: Map<string, EpochEvalRow[]>): AlignedEvalCurves {
  const epochs = new Set<number>();
  for (const rows of evalsByRun.values()) for (const r of rows) epochs.add(r.epoch);
  const order = [...epochs].sort((a, b) => a - b);
  const out: AlignedEvalCurves = { epochs: order, knn1: {}, knn20: {}, linear: {} };
  for (const id of runIds) {
    const byEpoch = new Map((evalsByRun.get(id) ?? []).map((r) => [r.epoch, r]));
    out.knn1[id] = order.map((e) => byEpoch.get(e)?.knn1 ?? null);
    out.knn20[id] = order.map((e) => byEpoch.get(e)?.knn20 ?? null);
    out.linear[id] = order.map((e) => byEpoch.get(e)?.linear ?? null);
  }
  return out;
}
