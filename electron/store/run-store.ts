/**
 * RunStore: every read and write of the run history goes through here. Values are always bound as
 * parameters; the only SQL built at run time joins fragments from the whitelists in this file.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { IsdError } from '../errors';
import { runConfigSchema, type RunConfig } from '../run-config';
import { configDiff } from './config-diff';
import { openDatabase, openError, type OpenDatabaseOptions } from './database';
import { BLOCK_STEPS, mergeNewSteps, rebuildBlocks } from './metric-blocks';
import { csvText, type CsvValue } from './metrics-csv';
import { alignedEvalCurves, alignedStepCurves, downsampledStepRows, STEP_METRIC_COLUMNS } from './run-curves';
import { StatementCache } from './statement-cache';
import {
  CHECKPOINT_KINDS,
  FINAL_METRIC_NAMES,
  RUN_SORT_FIELDS,
  RUN_STATUSES,
  type CheckpointInput,
  type CheckpointRow,
  type CreateRunOptions,
  type CurveOptions,
  type DeleteRunOptions,
  type DeleteRunResult,
  type EpochEvalInput,
  type EpochEvalRow,
  type FinalMetricName,
  type OpenReport,
  type RunComparison,
  type RunCurves,
  type RunDetail,
  type RunListPage,
  type RunListQuery,
  type RunPatch,
  type RunRecord,
  type RunSortField,
  type RunStatus,
  type RunSummary,
  type StepMetricInput,
  type StepMetricRow,
  type StepMetricsSummary,
  type StudyRow,
  type UserDatasetRow,
} from './types';

export interface RunStoreOptions extends OpenDatabaseOptions {
  /** The folder under which run checkpoint folders live; deleteRun removes files only inside it. */
  checkpointRoot?: string;
  /** Mark runs of dead processes interrupted on open (default true). */
  recoverInterrupted?: boolean;
  /** Clock in ms since the epoch (tests pin it). */
  now?: () => number;
}

/** Opens (creating and migrating as needed) the run history at `file`. */
export function openRunStore(file: string, opts: RunStoreOptions = {}): RunStore {
  const { db, fromVersion, toVersion } = openDatabase(file, opts);
  try {
    return new RunStore(db, file, opts, { fromVersion, toVersion });
  } catch (err) {
    db.close();
    throw openError(err, file); // e.g. another program holding the write lock past the busy timeout
  }
}

/** Which status may follow which. Resuming (→ running) is allowed from every state but completed. */
const TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  queued: ['running', 'failed', 'stopped'],
  running: ['paused', 'completed', 'failed', 'stopped', 'interrupted'],
  paused: ['running', 'failed', 'stopped', 'interrupted'],
  interrupted: ['running', 'failed', 'stopped'],
  stopped: ['running'],
  failed: ['running'],
  completed: [],
};

const ENDED: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'stopped']);

/** A run's best 20-NN for `UPDATE runs SET best_knn20 = …` (binds the run id): trained evaluations only, not the step-0 baseline. */
const BEST_KNN20 = '(SELECT MAX(knn20) FROM epoch_evals WHERE run_id = ? AND step > 0)';

const SUMMARY_COLUMNS = `id, name, method, arch, dataset, dataset_name AS datasetName, imbalance, status, error, backend, device,
  created_at AS createdAt, started_at AS startedAt, finished_at AS finishedAt,
  epochs, epochs_done AS epochsDone, steps_done AS stepsDone,
  knn1, knn20, knn20_weighted AS knn20Weighted, linear, best_knn20 AS bestKnn20, purity, images_per_sec AS imagesPerSec,
  checkpoint_dir AS checkpointDir, study_id AS studyId,
  (SELECT json_group_array(tag) FROM run_tags t WHERE t.run_id = runs.id) AS tags`;

const EVAL_COLUMNS = `epoch, step, knn1, knn20, knn20_weighted AS knn20Weighted, linear, purity, per_class AS perClass,
  frequent_acc AS frequentAcc, rare_acc AS rareAcc, time`;

/** Sort fields → SQL column, and whether the column can be NULL (those sort last either way). */
const SORT_COLUMNS: Record<RunSortField, { column: string; nullable: boolean }> = {
  createdAt: { column: 'created_at', nullable: false },
  startedAt: { column: 'started_at', nullable: true },
  finishedAt: { column: 'finished_at', nullable: true },
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
};

type PatchKind = 'status' | 'text' | 'time' | 'count' | 'metric' | 'study';
/** Patch fields → column and how the value is checked. Order fixes the SQL text (and so its cached statement). */
const PATCH_COLUMNS: Record<keyof RunPatch, { column: string; kind: PatchKind }> = {
  status: { column: 'status', kind: 'status' },
  error: { column: 'error', kind: 'text' },
  backend: { column: 'backend', kind: 'text' },
  device: { column: 'device', kind: 'text' },
  startedAt: { column: 'started_at', kind: 'time' },
  finishedAt: { column: 'finished_at', kind: 'time' },
  epochsDone: { column: 'epochs_done', kind: 'count' },
  stepsDone: { column: 'steps_done', kind: 'count' },
  knn1: { column: 'knn1', kind: 'metric' },
  knn20: { column: 'knn20', kind: 'metric' },
  knn20Weighted: { column: 'knn20_weighted', kind: 'metric' },
  linear: { column: 'linear', kind: 'metric' },
  bestKnn20: { column: 'best_knn20', kind: 'metric' },
  purity: { column: 'purity', kind: 'metric' },
  imagesPerSec: { column: 'images_per_sec', kind: 'metric' },
  checkpointDir: { column: 'checkpoint_dir', kind: 'text' },
  studyId: { column: 'study_id', kind: 'study' },
};

const MAX_NAME = 200;
const MAX_NOTES = 20_000;
const MAX_TAG = 50;
const MAX_TAGS = 20;
const MAX_COMPARE = 20;

type SummaryRow = Omit<RunSummary, 'tags'> & { tags: string };
type RecordRow = SummaryRow & { config: string; notes: string };
type EvalDbRow = Omit<EpochEvalRow, 'perClass'> & { perClass: string | null };
type StudyDbRow = Omit<StudyRow, 'spec'> & { spec: string };

export class RunStore {
  readonly db: Database.Database;
  readonly file: string;
  /** Schema versions and the runs found orphaned at open. */
  readonly openReport: OpenReport;
  readonly checkpointRoot: string | null;
  private readonly sc: StatementCache;
  private readonly now: () => number;

  constructor(
    db: Database.Database,
    file: string,
    opts: RunStoreOptions,
    versions: { fromVersion: number; toVersion: number },
  ) {
    this.db = db;
    this.file = file;
    this.sc = new StatementCache(db);
    this.now = opts.now ?? Date.now;
    this.checkpointRoot = opts.checkpointRoot ? path.resolve(opts.checkpointRoot) : null;
    const interruptedRunIds = opts.recoverInterrupted === false ? [] : this.recoverInterruptedRuns();
    this.openReport = { ...versions, interruptedRunIds };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Marks interrupted the runs left running or paused by a process that is gone (a crash, a kill,
   * a power cut). Runs of a live process (another app window, a CLI training) are left alone.
   */
  recoverInterruptedRuns(): string[] {
    const recover = this.db.transaction(() => {
      const open = this.sc
        .get<{ id: string; status: RunStatus; ownerPid: number | null }>(
          "SELECT id, status, owner_pid AS ownerPid FROM runs WHERE status IN ('running', 'paused')",
        )
        .all();
      const orphans = open.filter((r) => r.ownerPid === null || !processAlive(r.ownerPid));
      const mark = this.sc.get(
        "UPDATE runs SET status = 'interrupted', finished_at = NULL, owner_pid = NULL, error = ? WHERE id = ?",
      );
      const when = new Date(this.now()).toISOString();
      for (const r of orphans) {
        const who = r.ownerPid === null ? 'its process' : `process ${r.ownerPid}`;
        mark.run(
          `${who} ended while the run was ${r.status} (found at ${when}); resume it from its last checkpoint`,
          r.id,
        );
      }
      return orphans.map((r) => r.id);
    });
    return recover.immediate();
  }

  // ── runs ──────────────────────────────────────────────────────────────────────────────────────

  /** The full id for an id or a unique id prefix of at least 4 characters (what the CLI accepts). */
  resolveRunId(idOrPrefix: string): string {
    const exact = this.sc.get<{ id: string }>('SELECT id FROM runs WHERE id = ?').get(idOrPrefix);
    if (exact) return exact.id;
    if (/^[0-9a-f-]{4,}$/i.test(idOrPrefix)) {
      const matches = this.sc
        .get<{ id: string }>('SELECT id FROM runs WHERE id LIKE ? LIMIT 2')
        .all(`${idOrPrefix.toLowerCase()}%`);
      if (matches.length === 1) return matches[0].id;
      if (matches.length > 1)
        throw new IsdError('BAD_INPUT', `run id prefix ${idOrPrefix} matches several runs; give more characters`, {
          field: 'id',
        });
    }
    throw notFound(idOrPrefix);
  }

  createRun(config: RunConfig, opts: CreateRunOptions = {}): RunRecord {
    const parsed = runConfigSchema.safeParse(config);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue.path.length ? issue.path.join('.') : 'config';
      throw new IsdError('BAD_INPUT', `config.${field}: ${issue.message}`, { field });
    }
    const c = parsed.data;
    const status = opts.status ?? 'queued';
    if (status !== 'queued' && status !== 'running')
      throw new IsdError('BAD_INPUT', `a new run starts queued or running, not ${String(status)}`, { field: 'status' });
    const datasetName = (opts.datasetName ?? '').trim() || c.dataset;
    const name = checkName((opts.name ?? '').trim() || c.name.trim() || `${c.method} on ${datasetName}`);
    const tags = normalizeTags(c.tags);
    const id = randomUUID();
    const now = this.now();
    const insert = this.db.transaction(() => {
      if (opts.studyId !== undefined) this.requireStudy(opts.studyId);
      this.sc
        .get(
          `INSERT INTO runs (id, name, method, arch, dataset, dataset_name, imbalance, config, status, owner_pid,
                             created_at, started_at, epochs, checkpoint_dir, study_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          name,
          c.method,
          c.arch,
          c.dataset,
          datasetName,
          c.imbalance,
          JSON.stringify(c),
          status,
          status === 'running' ? process.pid : null,
          now,
          status === 'running' ? now : null,
          c.epochs,
          opts.checkpointDir ?? null,
          opts.studyId ?? null,
        );
      this.writeTags(id, tags);
    });
    insert.immediate();
    return this.getRunRecord(id);
  }

  /** Changes status, timings, backend, progress or final metrics; a status change must be allowed by TRANSITIONS. */
  updateRun(id: string, patch: RunPatch): RunRecord {
    const sets = new Map<string, unknown>();
    for (const [key, value] of Object.entries(patch) as [keyof RunPatch, unknown][]) {
      const spec = Object.hasOwn(PATCH_COLUMNS, key) ? PATCH_COLUMNS[key] : undefined;
      if (!spec) throw new IsdError('BAD_INPUT', `updateRun: unknown field ${String(key)}`, { field: String(key) });
      if (value === undefined) continue;
      sets.set(spec.column, checkPatchValue(String(key), spec.kind, value));
    }
    const update = this.db.transaction(() => {
      const cur = this.sc
        .get<{ status: RunStatus; startedAt: number | null }>(
          'SELECT status, started_at AS startedAt FROM runs WHERE id = ?',
        )
        .get(id);
      if (!cur) throw notFound(id);
      const next = patch.status;
      if (next !== undefined && next !== cur.status) {
        if (!TRANSITIONS[cur.status].includes(next)) {
          throw new IsdError('CONFLICT', `run ${id} is ${cur.status}; it cannot become ${next}`, { field: 'status' });
        }
        const now = this.now();
        const derive = (column: string, value: unknown) => {
          if (!sets.has(column)) sets.set(column, value);
        };
        if (next === 'running') {
          derive('started_at', cur.startedAt ?? now);
          derive('finished_at', null);
          derive('error', null);
        }
        if (ENDED.has(next)) derive('finished_at', now);
        if (next === 'interrupted') derive('finished_at', null);
        sets.set('owner_pid', next === 'running' || next === 'paused' ? process.pid : null);
      }
      if (patch.studyId) this.requireStudy(patch.studyId);
      if (sets.size === 0) return;
      const columns = [...sets.keys()].sort();
      this.sc
        .get(`UPDATE runs SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`)
        .run(...columns.map((c) => sets.get(c)), id);
    });
    update.immediate();
    return this.getRunRecord(id);
  }

  /**
   * Appends (or, for a step already stored, replaces) a batch of step metrics in one transaction and
   * raises the run's steps_done to the batch's last step. Non-finite values (a diverged loss) are stored as null.
   */
  appendStepMetrics(runId: string, rows: readonly StepMetricInput[]): number {
    if (rows.length === 0) return 0;
    const now = this.now();
    const values = rows.map((r, i) => [
      checkCount(`rows[${i}].step`, r.step),
      checkCount(`rows[${i}].epoch`, r.epoch),
      finiteOrNull(r.loss),
      finiteOrNull(r.lr),
      finiteOrNull(r.purity),
      finiteOrNull(r.imagesPerSec),
      r.time === undefined ? now : checkTime(`rows[${i}].time`, r.time),
    ]);
    const insert = this.sc.get(
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
    const append = this.db.transaction(() => {
      this.requireRun(runId);
      // Steps seen before (a resume, a repeated batch) are replaced; their rollup blocks are rebuilt, not merged.
      const replaces =
        repeatsWithin ||
        this.sc
          .get('SELECT 1 FROM step_metrics WHERE run_id = ? AND step >= ? AND step <= ? LIMIT 1')
          .get(runId, first, last) !== undefined;
      for (const v of values) insert.run(runId, ...v);
      if (replaces)
        rebuildBlocks(
          this.sc,
          runId,
          stepsIn.map((s) => Math.floor(s / BLOCK_STEPS)),
        );
      else
        mergeNewSteps(
          this.sc,
          runId,
          values.map((v) => ({ step: v[0] as number, loss: v[2] as number | null })),
        );
      this.sc.get('UPDATE runs SET steps_done = MAX(steps_done, ?) WHERE id = ?').run(last, runId);
    });
    append.immediate();
    return rows.length;
  }

  /** For a resume from a checkpoint at `step`: drops the metrics and evaluations of the abandoned steps after it. */
  discardAfterStep(runId: string, step: number): void {
    checkCount('step', step);
    const discard = this.db.transaction(() => {
      this.requireRun(runId);
      this.sc.get('DELETE FROM step_metrics WHERE run_id = ? AND step > ?').run(runId, step);
      this.sc.get('DELETE FROM epoch_evals WHERE run_id = ? AND step > ?').run(runId, step);
      const block = Math.floor(step / BLOCK_STEPS);
      this.sc.get('DELETE FROM step_metric_blocks WHERE run_id = ? AND block > ?').run(runId, block);
      rebuildBlocks(this.sc, runId, [block]);
      this.sc
        .get(`UPDATE runs SET steps_done = MIN(steps_done, ?), best_knn20 = ${BEST_KNN20} WHERE id = ?`)
        .run(step, runId, runId);
    });
    discard.immediate();
  }

  /** Stores (or replaces) one epoch's evaluation and keeps the run's best kNN-20 accuracy current. */
  addEpochEval(runId: string, e: EpochEvalInput): EpochEvalRow {
    const perClass = e.perClass ?? null;
    if (
      perClass !== null &&
      (!Array.isArray(perClass) || perClass.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
    ) {
      throw new IsdError('BAD_INPUT', 'perClass must be an array of finite numbers', { field: 'perClass' });
    }
    const row = [
      checkCount('epoch', e.epoch),
      checkCount('step', e.step),
      finiteOrNull(e.knn1),
      finiteOrNull(e.knn20),
      finiteOrNull(e.knn20Weighted),
      finiteOrNull(e.linear),
      finiteOrNull(e.purity),
      perClass === null ? null : JSON.stringify(perClass),
      finiteOrNull(e.frequentAcc),
      finiteOrNull(e.rareAcc),
      e.time === undefined ? this.now() : checkTime('time', e.time),
    ];
    const add = this.db.transaction(() => {
      this.requireRun(runId);
      this.sc
        .get(
          `INSERT OR REPLACE INTO epoch_evals (run_id, epoch, step, knn1, knn20, knn20_weighted, linear, purity, per_class, frequent_acc, rare_acc, time)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(runId, ...row);
      this.sc.get(`UPDATE runs SET best_knn20 = ${BEST_KNN20} WHERE id = ?`).run(runId, runId);
    });
    add.immediate();
    return parseEval(
      this.sc
        .get<EvalDbRow>(`SELECT ${EVAL_COLUMNS} FROM epoch_evals WHERE run_id = ? AND epoch = ?`)
        .get(runId, e.epoch)!,
    );
  }

  addCheckpoint(runId: string, c: CheckpointInput): CheckpointRow {
    if (!CHECKPOINT_KINDS.includes(c.kind))
      throw new IsdError('BAD_INPUT', `checkpoint kind must be ${CHECKPOINT_KINDS.join(', ')}`, { field: 'kind' });
    if (typeof c.path !== 'string' || c.path.length === 0)
      throw new IsdError('BAD_INPUT', 'checkpoint path must be a non-empty string', { field: 'path' });
    const epoch = checkCount('epoch', c.epoch);
    const step = checkCount('step', c.step);
    const createdAt = c.createdAt === undefined ? this.now() : checkTime('createdAt', c.createdAt);
    const add = this.db.transaction(() => {
      this.requireRun(runId);
      return this.sc
        .get('INSERT INTO checkpoints (run_id, epoch, step, path, kind, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(runId, epoch, step, c.path, c.kind, createdAt);
    });
    const result = add.immediate();
    return { id: Number(result.lastInsertRowid), runId, epoch, step, path: c.path, kind: c.kind, createdAt };
  }

  /** One page of runs matching the filter, with the number of all matches. */
  listRuns(q: RunListQuery = {}): RunListPage {
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
      where.push(
        "(name LIKE ? ESCAPE '\\' OR dataset_name LIKE ? ESCAPE '\\' OR notes LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')",
      );
      params.push(like, like, like, `${like.slice(1)}`);
    }
    const sort = q.sort ?? 'createdAt';
    if (!RUN_SORT_FIELDS.includes(sort))
      throw new IsdError('BAD_INPUT', `sort must be one of ${RUN_SORT_FIELDS.join(', ')}, got ${String(sort)}`, {
        field: 'sort',
      });
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc')
      throw new IsdError('BAD_INPUT', `order must be asc or desc, got ${String(order)}`, { field: 'order' });
    const limit = q.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new IsdError('BAD_INPUT', 'limit must be a whole number from 1 to 10000', { field: 'limit' });
    const offset = q.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0)
      throw new IsdError('BAD_INPUT', 'offset must be a whole number, 0 or more', { field: 'offset' });

    const { column, nullable } = SORT_COLUMNS[sort];
    const dir = order === 'asc' ? 'ASC' : 'DESC';
    const orderBy = `${column} ${dir}${nullable ? ' NULLS LAST' : ''}${sort === 'createdAt' ? '' : ', created_at DESC'}, id`;
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.sc.get<{ n: number }>(`SELECT COUNT(*) AS n FROM runs ${whereSql}`).get(...params)!.n;
    const rows = this.sc
      .get<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM runs ${whereSql} ORDER BY ${orderBy} LIMIT ? OFFSET ?`)
      .all(...params, limit, offset);
    return { total, runs: rows.map(parseSummary) };
  }

  getRunRecord(id: string): RunRecord {
    const row = this.sc.get<RecordRow>(`SELECT ${SUMMARY_COLUMNS}, config, notes FROM runs WHERE id = ?`).get(id);
    if (!row) throw notFound(id);
    return { ...parseSummary(row), config: JSON.parse(row.config) as RunConfig, notes: row.notes };
  }

  /** A run with its config, evaluations, checkpoints and a summary of its step metrics. */
  getRun(id: string): RunDetail {
    const read = this.db.transaction(() => {
      const run = this.getRunRecord(id);
      const agg = this.sc
        .get<Omit<StepMetricsSummary, 'lastLoss' | 'lastTime'>>(
          `SELECT COUNT(*) AS points, MIN(step) AS firstStep, MAX(step) AS lastStep, MIN(loss) AS minLoss, AVG(images_per_sec) AS meanImagesPerSec
             FROM step_metrics WHERE run_id = ?`,
        )
        .get(id)!;
      const last = this.sc
        .get<{ loss: number | null; time: number }>(
          'SELECT loss, time FROM step_metrics WHERE run_id = ? ORDER BY step DESC LIMIT 1',
        )
        .get(id);
      const metrics: StepMetricsSummary = { ...agg, lastLoss: last?.loss ?? null, lastTime: last?.time ?? null };
      return { run, config: run.config, metrics, evals: this.evalsOf(id), checkpoints: this.checkpointsOf(id) };
    });
    return read();
  }

  /** The run's step metrics for charts: at most maxPoints real rows (default 1000), first and last always kept. */
  getCurves(id: string, opts: CurveOptions = {}): RunCurves {
    const maxPoints = checkMaxPoints(opts.maxPoints ?? 1000);
    const read = this.db.transaction(() => {
      this.requireRun(id);
      return { runId: id, ...downsampledStepRows(this.sc, id, maxPoints) };
    });
    return read();
  }

  /** Every step metric row of a run, in step order (exports; charts want getCurves). */
  getStepMetrics(id: string): StepMetricRow[] {
    this.requireRun(id);
    return this.sc
      .get<StepMetricRow>(`SELECT ${STEP_METRIC_COLUMNS} FROM step_metrics WHERE run_id = ? ORDER BY step`)
      .all(id);
  }

  /** Several runs side by side: summaries, curves on one step grid, evals by epoch, differing settings, final metrics. */
  compareRuns(ids: readonly string[], opts: CurveOptions = {}): RunComparison {
    const unique = [...new Set(ids)];
    if (unique.length === 0) throw new IsdError('BAD_INPUT', 'compare needs at least one run id', { field: 'ids' });
    if (unique.length > MAX_COMPARE)
      throw new IsdError('BAD_INPUT', `compare at most ${MAX_COMPARE} runs at once, got ${unique.length}`, {
        field: 'ids',
      });
    const maxPoints = checkMaxPoints(opts.maxPoints ?? 500);
    const read = this.db.transaction(() => {
      const records = unique.map((id) => this.getRunRecord(id));
      const runs: RunSummary[] = records.map(({ config: _config, notes: _notes, ...summary }) => summary);
      const final = Object.fromEntries(FINAL_METRIC_NAMES.map((m) => [m, runs.map((r) => r[m])])) as Record<
        FinalMetricName,
        (number | null)[]
      >;
      const evalsByRun = new Map(unique.map((id) => [id, this.evalsOf(id)]));
      return {
        runs,
        curves: alignedStepCurves(this.sc, unique, maxPoints),
        evals: alignedEvalCurves(unique, evalsByRun),
        configDiff: configDiff(records.map((r) => r.config as unknown as Record<string, unknown>)),
        final,
      };
    });
    return read();
  }

  renameRun(id: string, name: string): RunRecord {
    const clean = checkName(typeof name === 'string' ? name.trim() : '');
    if (this.sc.get('UPDATE runs SET name = ? WHERE id = ?').run(clean, id).changes === 0) throw notFound(id);
    return this.getRunRecord(id);
  }

  /** Replaces the run's tags (trimmed, deduplicated, stored sorted). */
  setTags(id: string, tags: readonly string[]): RunRecord {
    const clean = normalizeTags(tags);
    const write = this.db.transaction(() => {
      this.requireRun(id);
      this.sc.get('DELETE FROM run_tags WHERE run_id = ?').run(id);
      this.writeTags(id, clean);
    });
    write.immediate();
    return this.getRunRecord(id);
  }

  setNotes(id: string, notes: string): RunRecord {
    if (typeof notes !== 'string' || notes.length > MAX_NOTES)
      throw new IsdError('BAD_INPUT', `notes must be text of at most ${MAX_NOTES} characters`, { field: 'notes' });
    if (this.sc.get('UPDATE runs SET notes = ? WHERE id = ?').run(notes, id).changes === 0) throw notFound(id);
    return this.getRunRecord(id);
  }

  /**
   * Deletes the run and (cascade) its metrics, evaluations, checkpoint rows and tags. With
   * deleteFiles, also removes its checkpoint folder, which must lie inside the store's checkpointRoot.
   */
  deleteRun(id: string, opts: DeleteRunOptions = {}): DeleteRunResult {
    const run = this.getRunRecord(id);
    if (run.status === 'running' || run.status === 'paused') {
      throw new IsdError('CONFLICT', `run ${id} is ${run.status}; stop it before deleting it`, { field: 'id' });
    }
    // Checked before any row goes, so a refused folder leaves the run intact.
    const folder = opts.deleteFiles && run.checkpointDir ? this.removableCheckpointFolder(run.checkpointDir) : null;
    this.sc.get('DELETE FROM runs WHERE id = ?').run(id);
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

  /** Everything stored about a run as one object: step metrics as columns (ready for a data frame). */
  exportRun(id: string): RunExport {
    // One read transaction, so the run row and its metrics come from the same moment.
    const read = this.db.transaction((): RunExport => {
      const detail = this.getRun(id);
      const cols: RunExport['stepMetrics'] = {
        step: [],
        epoch: [],
        loss: [],
        lr: [],
        purity: [],
        imagesPerSec: [],
        time: [],
      };
      for (const r of this.sc
        .get<StepMetricRow>(`SELECT ${STEP_METRIC_COLUMNS} FROM step_metrics WHERE run_id = ? ORDER BY step`)
        .iterate(id)) {
        cols.step.push(r.step);
        cols.epoch.push(r.epoch);
        cols.loss.push(r.loss);
        cols.lr.push(r.lr);
        cols.purity.push(r.purity);
        cols.imagesPerSec.push(r.imagesPerSec);
        cols.time.push(r.time);
      }
      const { config, ...run } = detail.run;
      return {
        format: 'isd-studio-run',
        formatVersion: 1,
        exportedAt: this.now(),
        run,
        config,
        evals: detail.evals,
        checkpoints: detail.checkpoints,
        stepMetrics: cols,
      };
    });
    return read();
  }

  /** exportRun as compact JSON text. */
  exportRunJson(id: string): string {
    return JSON.stringify(this.exportRun(id));
  }

  /** A run's step metrics (default) or epoch evaluations as CSV, one row per step / epoch. */
  exportMetricsCsv(id: string, which: 'steps' | 'evals' = 'steps'): string {
    const run = this.getRunRecord(id);
    if (which === 'evals') {
      const header = [
        'run_id',
        'run_name',
        'epoch',
        'step',
        'knn1',
        'knn20',
        'knn20_weighted',
        'linear',
        'purity',
        'frequent_acc',
        'rare_acc',
        'per_class',
        'time',
      ];
      const rows = this.evalsOf(id).map((e): CsvValue[] => [
        run.id,
        run.name,
        e.epoch,
        e.step,
        e.knn1,
        e.knn20,
        e.knn20Weighted,
        e.linear,
        e.purity,
        e.frequentAcc,
        e.rareAcc,
        e.perClass === null ? null : JSON.stringify(e.perClass),
        e.time,
      ]);
      return csvText(header, rows);
    }
    if (which !== 'steps')
      throw new IsdError('BAD_INPUT', `export steps or evals, not ${String(which)}`, { field: 'which' });
    const header = ['run_id', 'run_name', 'step', 'epoch', 'loss', 'lr', 'purity', 'images_per_sec', 'time'];
    const stmt = this.sc.get<StepMetricRow>(
      `SELECT ${STEP_METRIC_COLUMNS} FROM step_metrics WHERE run_id = ? ORDER BY step`,
    );
    function* rows(): Generator<CsvValue[]> {
      for (const r of stmt.iterate(id))
        yield [run.id, run.name, r.step, r.epoch, r.loss, r.lr, r.purity, r.imagesPerSec, r.time];
    }
    return csvText(header, rows());
  }

  // ── datasets the user added ───────────────────────────────────────────────────────────────────

  /** Remembers a dataset file or folder (absolute path); adding it again renames it. */
  addUserDataset(datasetPath: string, name: string): UserDatasetRow {
    if (typeof datasetPath !== 'string' || !path.isAbsolute(datasetPath)) {
      throw new IsdError('BAD_INPUT', `dataset path must be absolute, got "${String(datasetPath)}"`, { field: 'path' });
    }
    const clean = path.resolve(datasetPath);
    const label = checkName(typeof name === 'string' ? name.trim() : '');
    this.sc
      .get(
        'INSERT INTO datasets_user (path, name, added_at) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET name = excluded.name',
      )
      .run(clean, label, this.now());
    return this.sc
      .get<UserDatasetRow>('SELECT path, name, added_at AS addedAt FROM datasets_user WHERE path = ?')
      .get(clean)!;
  }

  removeUserDataset(datasetPath: string): void {
    const clean =
      typeof datasetPath === 'string' && path.isAbsolute(datasetPath) ? path.resolve(datasetPath) : datasetPath;
    if (this.sc.get('DELETE FROM datasets_user WHERE path = ?').run(clean).changes === 0) {
      throw new IsdError('NOT_FOUND', `dataset ${datasetPath} is not in the list of added datasets`, {
        path: String(datasetPath),
      });
    }
  }

  listUserDatasets(): UserDatasetRow[] {
    return this.sc
      .get<UserDatasetRow>('SELECT path, name, added_at AS addedAt FROM datasets_user ORDER BY added_at, path')
      .all();
  }

  // ── studies ───────────────────────────────────────────────────────────────────────────────────

  /** A named group of runs; `spec` is the study's own JSON description. */
  createStudy(input: { name: string; spec: unknown }): StudyRow {
    const name = checkName(typeof input.name === 'string' ? input.name.trim() : '');
    let spec: string | undefined;
    try {
      spec = JSON.stringify(input.spec);
    } catch (err) {
      throw new IsdError('BAD_INPUT', `study spec cannot be stored as JSON: ${(err as Error).message}`, {
        field: 'spec',
        cause: err,
      });
    }
    if (spec === undefined) throw new IsdError('BAD_INPUT', 'study spec must be a JSON value', { field: 'spec' });
    const id = randomUUID();
    this.sc.get('INSERT INTO studies (id, name, spec, created_at) VALUES (?, ?, ?, ?)').run(id, name, spec, this.now());
    return this.getStudy(id);
  }

  getStudy(id: string): StudyRow {
    const row = this.sc.get<StudyDbRow>(`${STUDY_SELECT} WHERE s.id = ?`).get(id);
    if (!row) throw new IsdError('NOT_FOUND', `study ${id} not found`, { field: 'studyId' });
    return { ...row, spec: JSON.parse(row.spec) as unknown };
  }

  listStudies(): StudyRow[] {
    return this.sc
      .get<StudyDbRow>(`${STUDY_SELECT} ORDER BY s.created_at DESC, s.id`)
      .all()
      .map((r) => ({ ...r, spec: JSON.parse(r.spec) as unknown }));
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────

  private requireRun(id: string): void {
    if (!this.sc.get('SELECT 1 FROM runs WHERE id = ?').get(id)) throw notFound(id);
  }

  private requireStudy(id: string): void {
    if (!this.sc.get('SELECT 1 FROM studies WHERE id = ?').get(id))
      throw new IsdError('NOT_FOUND', `study ${id} not found`, { field: 'studyId' });
  }

  private writeTags(id: string, tags: readonly string[]): void {
    const insert = this.sc.get('INSERT INTO run_tags (run_id, tag) VALUES (?, ?)');
    for (const t of tags) insert.run(id, t);
  }

  private evalsOf(id: string): EpochEvalRow[] {
    return this.sc
      .get<EvalDbRow>(`SELECT ${EVAL_COLUMNS} FROM epoch_evals WHERE run_id = ? ORDER BY epoch`)
      .all(id)
      .map(parseEval);
  }

  private checkpointsOf(id: string): CheckpointRow[] {
    return this.sc
      .get<CheckpointRow>(
        'SELECT id, run_id AS runId, epoch, step, path, kind, created_at AS createdAt FROM checkpoints WHERE run_id = ? ORDER BY step, id',
      )
      .all(id);
  }

  /** The real path of a run's checkpoint folder if it may be removed, null if it is already gone; refuses anything outside the root. */
  private removableCheckpointFolder(dir: string): string | null {
    if (!this.checkpointRoot) {
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
      root = fs.realpathSync(this.checkpointRoot);
    } catch {
      root = this.checkpointRoot;
    }
    const rel = path.relative(root, real);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new IsdError(
        'BAD_INPUT',
        `refusing to delete ${dir}: it is not inside the checkpoint folder ${this.checkpointRoot}`,
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
}

export interface RunExport {
  format: 'isd-studio-run';
  formatVersion: 1;
  exportedAt: number;
  run: Omit<RunRecord, 'config'>;
  config: RunConfig;
  evals: EpochEvalRow[];
  checkpoints: CheckpointRow[];
  stepMetrics: {
    step: number[];
    epoch: number[];
    loss: (number | null)[];
    lr: (number | null)[];
    purity: (number | null)[];
    imagesPerSec: (number | null)[];
    time: number[];
  };
}

const STUDY_SELECT = `SELECT s.id, s.name, s.spec, s.created_at AS createdAt, (SELECT COUNT(*) FROM runs r WHERE r.study_id = s.id) AS runCount FROM studies s`;

function notFound(id: string): IsdError {
  return new IsdError('NOT_FOUND', `run ${id} not found`, { field: 'id' });
}

/** Signal 0 tests for existence without touching the process; EPERM means it exists under another user. */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseSummary(row: SummaryRow): RunSummary {
  const tags = (JSON.parse(row.tags) as string[]).sort();
  return { ...row, tags };
}

function parseEval(row: EvalDbRow): EpochEvalRow {
  return { ...row, perClass: row.perClass === null ? null : (JSON.parse(row.perClass) as number[]) };
}

function checkName(name: string): string {
  if (name.length === 0) throw new IsdError('BAD_INPUT', 'name must not be empty', { field: 'name' });
  if (name.length > MAX_NAME)
    throw new IsdError('BAD_INPUT', `name must be at most ${MAX_NAME} characters`, { field: 'name' });
  return name;
}

function normalizeTags(tags: readonly string[]): string[] {
  if (!Array.isArray(tags)) throw new IsdError('BAD_INPUT', 'tags must be a list of words', { field: 'tags' });
  const clean = [...new Set(tags.map((t) => (typeof t === 'string' ? t.trim() : '')))].sort();
  for (const t of clean) {
    if (t.length === 0 || t.length > MAX_TAG)
      throw new IsdError('BAD_INPUT', `each tag must be 1 to ${MAX_TAG} characters`, { field: 'tags' });
  }
  if (clean.length > MAX_TAGS) throw new IsdError('BAD_INPUT', `at most ${MAX_TAGS} tags per run`, { field: 'tags' });
  return clean;
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function checkCount(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new IsdError('BAD_INPUT', `${field} must be a whole number, 0 or more`, { field });
  return v;
}

function checkTime(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new IsdError('BAD_INPUT', `${field} must be a time in ms since 1970`, { field });
  return Math.round(v);
}

function checkMaxPoints(n: number): number {
  if (!Number.isInteger(n) || n < 2 || n > 100_000)
    throw new IsdError('BAD_INPUT', 'maxPoints must be a whole number from 2 to 100000', { field: 'maxPoints' });
  return n;
}

function checkPatchValue(field: string, kind: PatchKind, value: unknown): unknown {
  switch (kind) {
    case 'status':
      if (!RUN_STATUSES.includes(value as RunStatus))
        throw new IsdError('BAD_INPUT', `status must be one of ${RUN_STATUSES.join(', ')}`, { field });
      return value;
    case 'text':
      if (value !== null && typeof value !== 'string')
        throw new IsdError('BAD_INPUT', `${field} must be text or null`, { field });
      return value;
    case 'study':
      if (value !== null && typeof value !== 'string')
        throw new IsdError('BAD_INPUT', `${field} must be a study id or null`, { field });
      return value;
    case 'time':
      return value === null ? null : checkTime(field, value);
    case 'count':
      return checkCount(field, value);
    case 'metric':
      if (value !== null && (typeof value !== 'number' || !Number.isFinite(value)))
        throw new IsdError('BAD_INPUT', `${field} must be a finite number or null`, { field });
      return value;
  }
}
