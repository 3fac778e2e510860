/** The run_baselines table: per run, raw-pixel kNN on its bank and queries and the sizes of both. */
import { checkCount, checkTime, finiteOrNull, requireRun } from './checks';
import type { StoreContext } from './context';
import type { BaselineInput, BaselineRow } from './rows';

const COLUMNS = `pixel_knn1 AS pixelKnn1, pixel_knn20 AS pixelKnn20, pixel_knn20_weighted AS pixelKnn20Weighted,
  pixel_knn200_weighted AS pixelKnn200Weighted, bank_images AS bankImages, test_images AS testImages,
  test_split_images AS testSplitImages, time`;

/** Stores (or replaces) a run's baseline. */
export function setBaseline(ctx: StoreContext, runId: string, b: BaselineInput): BaselineRow {
  const row = [
    finiteOrNull(b.pixelKnn1),
    finiteOrNull(b.pixelKnn20),
    finiteOrNull(b.pixelKnn20Weighted),
    finiteOrNull(b.pixelKnn200Weighted),
    checkCount('bankImages', b.bankImages),
    checkCount('testImages', b.testImages),
    checkCount('testSplitImages', b.testSplitImages),
    b.time === undefined ? ctx.now() : checkTime('time', b.time),
  ];
  const write = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    ctx.sc
      .get(
        `INSERT OR REPLACE INTO run_baselines (run_id, pixel_knn1, pixel_knn20, pixel_knn20_weighted, pixel_knn200_weighted,
           bank_images, test_images, test_split_images, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(runId, ...row);
  });
  write.immediate();
  return baselineOf(ctx, runId)!;
}

/** A run's baseline; null for a run that has none (unlabelled data, or stored before schema 40). */
export function baselineOf(ctx: StoreContext, runId: string): BaselineRow | null {
  return ctx.sc.get<BaselineRow>(`SELECT ${COLUMNS} FROM run_baselines WHERE run_id = ?`).get(runId) ?? null;
}
