/**
 * The step_metrics table (and its block rollup, metric-blocks.ts): one row per optimizer step,
 * appended in batches, cut back on a resume, read whole for exports or downsampled for charts.
 */
import { checkCount, checkMaxPoints, checkTime, finiteOrNull, requireRun } from './checks';
import type { StoreContext } from './context';
import { BEST_KNN20 } from './evaluations';
import { BLOCK_STEPS, mergeNewSteps, rebuildBlocks } from './metric-blocks';
import type { CurveOptions, RunCurves, StepMetricInput, StepMetricRow, StepMetricsSummary } from './rows';
import { downsampledStepRows, STEP_METRIC_COLUMNS } from './run-curves';

/**
 * Appends (or, for a step already stored, replaces) a batch of step metrics in one transaction and
 * raises the run's steps_done to the batch's last step. Non-finite values (a diverged loss) are stored as null.
 */
export function appendStepMetrics(ctx: StoreContext, runId: string, rows: readonly StepMetricInput[]): number {
  if (rows.length === 0) return 0;
  const now = ctx.now();
  const values = rows.map((r, i) => [
    checkCount(`rows[${i}].step`, r.step),
    checkCount(`rows[${i}].epoch`, r.epoch),
    finiteOrNull(r.loss),
    finiteOrNull(r.lr),
    finiteOrNull(r.purity),
    finiteOrNull(r.imagesPerSec),
    r.time === undefined ? now : checkTime(`rows[${i}].time`, r.time),
  ]);
  const insert = ctx.sc.get(
    `INSERT INTO step_metrics (run_id, step, epoch, loss, lr, purity, images_per_sec, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (run_id, step) DO UPDATE SET epoch = excluded.epoch, loss = excluded.loss, lr = excluded.lr,
       purity = excluded.purity, images_per_sec = excluded.images_per_sec, time = excluded.time`,
  );
  const stepsIn = values.map((v) => v[0] as number);
  let first = stepsIn[0];
  let last = stepsIn[0];
  for (const s of stepsIn) {
    if (s < first) first = s;
    if (s > last) last = s;
  }
  const repeatsWithin = new Set(stepsIn).size !== stepsIn.length;
  const append = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    // Steps seen before (a resume, a repeated batch) are replaced; their rollup blocks are rebuilt, not merged.
    const replaces =
      repeatsWithin ||
      ctx.sc
        .get('SELECT 1 FROM step_metrics WHERE run_id = ? AND step >= ? AND step <= ? LIMIT 1')
        .get(runId, first, last) !== undefined;
    for (const v of values) insert.run(runId, ...v);
    if (replaces)
      rebuildBlocks(
        ctx.sc,
        runId,
        stepsIn.map((s) => Math.floor(s / BLOCK_STEPS)),
      );
    else
      mergeNewSteps(
        ctx.sc,
        runId,
        values.map((v) => ({ step: v[0] as number, loss: v[2] as number | null })),
      );
    ctx.sc.get('UPDATE runs SET steps_done = MAX(steps_done, ?) WHERE id = ?').run(last, runId);
  });
  append.immediate();
  return rows.length;
}

/** For a resume from a checkpoint at `step`: drops the metrics and evaluations of the abandoned steps after it. */
export function discardAfterStep(ctx: StoreContext, runId: string, step: number): void {
  checkCount('step', step);
  const discard = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    ctx.sc.get('DELETE FROM step_metrics WHERE run_id = ? AND step > ?').run(runId, step);
    ctx.sc.get('DELETE FROM epoch_evals WHERE run_id = ? AND step > ?').run(runId, step);
    const block = Math.floor(step / BLOCK_STEPS);
    ctx.sc.get('DELETE FROM step_metric_blocks WHERE run_id = ? AND block > ?').run(runId, block);
    rebuildBlocks(ctx.sc, runId, [block]);
    ctx.sc
      .get(`UPDATE runs SET steps_done = MIN(steps_done, ?), best_knn20 = ${BEST_KNN20} WHERE id = ?`)
      .run(step, runId, runId);
  });
  discard.immediate();
}

/** Count, step range, last and lowest loss and mean speed of a run's step metrics. */
export function stepMetricsSummary(ctx: StoreContext, runId: string): StepMetricsSummary {
  const agg = ctx.sc
    .get<Omit<StepMetricsSummary, 'lastLoss' | 'lastTime'>>(
      `SELECT COUNT(*) AS points, MIN(step) AS firstStep, MAX(step) AS lastStep, MIN(loss) AS minLoss, AVG(images_per_sec) AS meanImagesPerSec
         FROM step_metrics WHERE run_id = ?`,
    )
    .get(runId)!;
  const last = ctx.sc
    .get<{ loss: number | null; time: number }>(
      'SELECT loss, time FROM step_metrics WHERE run_id = ? ORDER BY step DESC LIMIT 1',
    )
    .get(runId);
  return { ...agg, lastLoss: last?.loss ?? null, lastTime: last?.time ?? null };
}

/** The run's step metrics for charts: at most maxPoints real rows (default 1000), first and last always kept. */
export function getCurves(ctx: StoreContext, runId: string, opts: CurveOptions = {}): RunCurves {
  const maxPoints = checkMaxPoints(opts.maxPoints ?? 1000);
  const read = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    return { runId, ...downsampledStepRows(ctx.sc, runId, maxPoints) };
  });
  return read();
}

/** Every step metric row of a run, in step order, one at a time (exports; charts want getCurves). */
export function iterateStepMetrics(ctx: StoreContext, runId: string): IterableIterator<StepMetricRow> {
  requireRun(ctx, runId);
  return ctx.sc
    .get<StepMetricRow>(`SELECT ${STEP_METRIC_COLUMNS} FROM step_metrics WHERE run_id = ? ORDER BY step`)
    .iterate(runId);
}
