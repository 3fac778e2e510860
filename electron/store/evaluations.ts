/** The epoch_evals table: one evaluation per run and epoch (epoch 0 is the untrained baseline). */
import { IsdError } from '../errors';
import { checkCount, checkTime, finiteOrNull, requireRun } from './checks';
import type { StoreContext } from './context';
import type { EpochEvalInput, EpochEvalRow } from './rows';

/** A run's best 20-NN for `UPDATE runs SET best_knn20 = …` (binds the run id): trained evaluations only, not the step-0 baseline. */
export const BEST_KNN20 = '(SELECT MAX(knn20) FROM epoch_evals WHERE run_id = ? AND step > 0)';

const EVAL_COLUMNS = `epoch, step, knn1, knn20, knn20_weighted AS knn20Weighted, knn200_weighted AS knn200Weighted, linear, purity, per_class AS perClass,
  frequent_acc AS frequentAcc, rare_acc AS rareAcc, time`;

type RawEvalRow = Omit<EpochEvalRow, 'perClass'> & { perClass: string | null };

function parseEval(row: RawEvalRow): EpochEvalRow {
  return { ...row, perClass: row.perClass === null ? null : (JSON.parse(row.perClass) as (number | null)[]) };
}

/** Stores (or replaces) one epoch's evaluation and keeps the run's best kNN-20 accuracy current. */
export function addEpochEval(ctx: StoreContext, runId: string, e: EpochEvalInput): EpochEvalRow {
  const perClass = e.perClass ?? null;
  if (
    perClass !== null &&
    (!Array.isArray(perClass) || perClass.some((v) => v !== null && (typeof v !== 'number' || !Number.isFinite(v))))
  ) {
    throw new IsdError('BAD_INPUT', 'perClass must be an array of finite numbers (null for a class without queries)', {
      field: 'perClass',
    });
  }
  const row = [
    checkCount('epoch', e.epoch),
    checkCount('step', e.step),
    finiteOrNull(e.knn1),
    finiteOrNull(e.knn20),
    finiteOrNull(e.knn20Weighted),
    finiteOrNull(e.knn200Weighted),
    finiteOrNull(e.linear),
    finiteOrNull(e.purity),
    perClass === null ? null : JSON.stringify(perClass),
    finiteOrNull(e.frequentAcc),
    finiteOrNull(e.rareAcc),
    e.time === undefined ? ctx.now() : checkTime('time', e.time),
  ];
  const add = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    ctx.sc
      .get(
        `INSERT OR REPLACE INTO epoch_evals (run_id, epoch, step, knn1, knn20, knn20_weighted, knn200_weighted, linear, purity,
           per_class, frequent_acc, rare_acc, time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(runId, ...row);
    ctx.sc.get(`UPDATE runs SET best_knn20 = ${BEST_KNN20} WHERE id = ?`).run(runId, runId);
  });
  add.immediate();
  return parseEval(
    ctx.sc
      .get<RawEvalRow>(`SELECT ${EVAL_COLUMNS} FROM epoch_evals WHERE run_id = ? AND epoch = ?`)
      .get(runId, e.epoch)!,
  );
}

/** A run's evaluations in epoch order. */
export function evalsOf(ctx: StoreContext, runId: string): EpochEvalRow[] {
  return ctx.sc
    .get<RawEvalRow>(`SELECT ${EVAL_COLUMNS} FROM epoch_evals WHERE run_id = ? ORDER BY epoch`)
    .all(runId)
    .map(parseEval);
}
