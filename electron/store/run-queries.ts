/** Reads that span a run's tables: a filtered, sorted page of runs; one run with its rows. */
import { IsdError } from '../errors';
import { RUN_STATUSES } from '../run-status';
import { baselineOf } from './baselines';
import { checkpointsOf } from './checkpoints';
import type { StoreContext } from './context';
import { evalsOf } from './evaluations';
import { RUN_ROW_SORT_FIELDS, type RunListQuery, type RunRows, type RunRowPage, type RunRowSortField } from './rows';
import { getRunRow, parseSummary, SUMMARY_COLUMNS, type RawSummaryRow } from './runs';
import { stepMetricsSummary } from './step-metrics';

/** Sort fields → SQL column, and whether the column can be NULL (those sort last either way). */
const SORT_COLUMNS: Record<RunRowSortField, { column: string; nullable: boolean }> = {
  createdAt: { column: 'created_at', nullable: false },
  startedAt: { column: 'started_at', nullable: true },
  endedAt: { column: 'finished_at', nullable: true },
  name: { column: 'name COLLATE NOCASE', nullable: false },
  status: { column: 'status', nullable: false },
  method: { column: 'method', nullable: false },
  dataset: { column: 'dataset_name COLLATE NOCASE', nullable: false },
  epochsDone: { column: 'epochs_done', nullable: false },
  knn1: { column: 'knn1', nullable: true },
  knn20: { column: 'knn20', nullable: true },
  linear: { column: 'linear', nullable: true },
  bestKnn20: { column: 'best_knn20', nullable: true },
  purity: { column: 'purity', nullable: true },
  imagesPerSec: { column: 'images_per_sec', nullable: true },
  imbalance: { column: 'imbalance', nullable: false },
  arch: { column: 'arch', nullable: false },
  epochs: { column: 'epochs', nullable: false },
  // settings without a column of their own: read from the stored config
  batchSize: { column: "json_extract(config, '$.batchSize')", nullable: true },
  lr: { column: "json_extract(config, '$.lr')", nullable: true },
  queueSize: { column: "json_extract(config, '$.queueSize')", nullable: true },
  trainLimit: { column: "json_extract(config, '$.trainLimit')", nullable: true },
  imageSize: { column: "json_extract(config, '$.imageSize')", nullable: true },
  seed: { column: "json_extract(config, '$.seed')", nullable: true },
};

/** One page of runs matching the filter, with the number of all matches. */
export function listRuns(ctx: StoreContext, q: RunListQuery = {}): RunRowPage {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.status !== undefined) {
    const statuses = Array.isArray(q.status) ? q.status : [q.status];
    for (const s of statuses)
      if (!RUN_STATUSES.includes(s))
        throw new IsdError('BAD_INPUT', `status must be one of ${RUN_STATUSES.join(', ')}, got ${String(s)}`, {
          field: 'status',
        });
    if (statuses.length === 0) return { total: 0, runs: [] };
    where.push(`status IN (${statuses.map(() => '?').join(', ')})`);
    params.push(...statuses);
  }
  if (q.method) {
    where.push('method = ?');
    params.push(q.method);
  }
  if (q.dataset) {
    where.push('(dataset = ? OR dataset_name = ?)');
    params.push(q.dataset, q.dataset);
  }
  if (q.studyId) {
    where.push('study_id = ?');
    params.push(q.studyId);
  }
  if (q.tag) {
    where.push('id IN (SELECT run_id FROM run_tags WHERE tag = ?)');
    params.push(q.tag);
  }
  const search = q.search?.trim();
  if (search) {
    const like = `%${search.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    const fields = ['name', 'dataset_name', 'dataset', 'method', 'imbalance', 'notes'];
    where.push(
      `(${fields.map((f) => `${f} LIKE ? ESCAPE '\\'`).join(' OR ')} OR id LIKE ? ESCAPE '\\' OR id IN (SELECT run_id FROM run_tags WHERE tag LIKE ? ESCAPE '\\'))`,
    );
    params.push(...fields.map(() => like), `${like.slice(1)}`, like);
  }
  const sort = q.sort ?? 'createdAt';
  if (!RUN_ROW_SORT_FIELDS.includes(sort))
    throw new IsdError('BAD_INPUT', `sort must be one of ${RUN_ROW_SORT_FIELDS.join(', ')}, got ${String(sort)}`, {
      field: 'sort',
    });
  const order = q.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw new IsdError('BAD_INPUT', `order must be asc or desc, got ${String(order)}`, { field: 'order' });
  const limit = q.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1)
    throw new IsdError('BAD_INPUT', 'limit must be a whole number, 1 or more', { field: 'limit' });
  const offset = q.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new IsdError('BAD_INPUT', 'offset must be a whole number, 0 or more', { field: 'offset' });

  const { column, nullable } = SORT_COLUMNS[sort];
  const dir = order === 'asc' ? 'ASC' : 'DESC';
  const orderBy = `${column} ${dir}${nullable ? ' NULLS LAST' : ''}${sort === 'createdAt' ? '' : ', created_at DESC'}, id`;
  const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const total = ctx.sc.get<{ n: number }>(`SELECT COUNT(*) AS n FROM runs ${whereSql}`).get(...params)!.n;
  const rows = ctx.sc
    .get<RawSummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM runs ${whereSql} ORDER BY ${orderBy} LIMIT ? OFFSET ?`)
    .all(...params, limit, offset);
  return { total, runs: rows.map(parseSummary) };
}

/** A run with its config, evaluations, checkpoints and a summary of its step metrics, read at one moment. */
export function getRunRows(ctx: StoreContext, id: string): RunRows {
  const read = ctx.db.transaction(() => {
    const run = getRunRow(ctx, id);
    return {
      run,
      config: run.config,
      metrics: stepMetricsSummary(ctx, id),
      evals: evalsOf(ctx, id),
      checkpoints: checkpointsOf(ctx, id),
      baseline: baselineOf(ctx, id),
    };
  });
  return read();
}
