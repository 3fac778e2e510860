/** The runs table: creating a run, changing it (status transitions checked), reading it by id or id prefix. */
import { randomUUID } from 'node:crypto';
import { IsdError } from '../errors';
import { configError, runConfigSchema, type RunConfig } from '../run-config';
import { checkCount, checkName, checkTime, requireStudy, runNotFound } from './checks';
import type { StoreContext } from './context';
import { canBecome, isEnded, isOwned, RUN_STATUSES, type RunStatus } from '../run-status';
import type { CreateRunOptions, RunPatch, RunRow, RunSummaryRow } from './rows';
import { normalizeTags, writeTags } from './tags';

/** The columns of a run summary row, named as RunSummaryRow's fields (tags as a JSON array). */
export const SUMMARY_COLUMNS = `id, name, method, arch, dataset, dataset_name AS datasetName, imbalance, status, error, backend, device,
  created_at AS createdAt, started_at AS startedAt, finished_at AS endedAt,
  epochs, epochs_done AS epochsDone, steps_done AS stepsDone, COALESCE(json_extract(config, '$.imageSize'), 0) AS imageSize,
  knn1, knn20, knn20_weighted AS knn20Weighted, knn200_weighted AS knn200Weighted, linear, best_knn20 AS bestKnn20,
  purity, images_per_sec AS imagesPerSec,
  (SELECT knn1 FROM epoch_evals e WHERE e.run_id = runs.id AND e.epoch = 0) AS initKnn1,
  (SELECT knn20 FROM epoch_evals e WHERE e.run_id = runs.id AND e.epoch = 0) AS initKnn20,
  (SELECT pixel_knn1 FROM run_baselines b WHERE b.run_id = runs.id) AS pixelKnn1,
  (SELECT pixel_knn20 FROM run_baselines b WHERE b.run_id = runs.id) AS pixelKnn20,
  (SELECT test_images FROM run_baselines b WHERE b.run_id = runs.id) AS evalTestImages,
  (SELECT test_split_images FROM run_baselines b WHERE b.run_id = runs.id) AS evalTestSplitImages,
  checkpoint_dir AS checkpointDir, study_id AS studyId,
  (SELECT json_group_array(tag) FROM run_tags t WHERE t.run_id = runs.id) AS tags`;

/** A summary row as SQLite returns it: tags still JSON text. */
export type RawSummaryRow = Omit<RunSummaryRow, 'tags'> & { tags: string };
type RawRunRow = RawSummaryRow & { config: string; notes: string };

export function parseSummary(row: RawSummaryRow): RunSummaryRow {
  const tags = (JSON.parse(row.tags) as string[]).sort();
  return { ...row, tags };
}

type PatchKind = 'status' | 'text' | 'time' | 'count' | 'metric' | 'study';
/** Patch fields → column and how the value is checked. Order fixes the SQL text (and so its cached statement). */
const PATCH_COLUMNS: Record<keyof RunPatch, { column: string; kind: PatchKind }> = {
  status: { column: 'status', kind: 'status' },
  error: { column: 'error', kind: 'text' },
  backend: { column: 'backend', kind: 'text' },
  device: { column: 'device', kind: 'text' },
  startedAt: { column: 'started_at', kind: 'time' },
  endedAt: { column: 'finished_at', kind: 'time' },
  epochsDone: { column: 'epochs_done', kind: 'count' },
  stepsDone: { column: 'steps_done', kind: 'count' },
  knn1: { column: 'knn1', kind: 'metric' },
  knn20: { column: 'knn20', kind: 'metric' },
  knn20Weighted: { column: 'knn20_weighted', kind: 'metric' },
  knn200Weighted: { column: 'knn200_weighted', kind: 'metric' },
  linear: { column: 'linear', kind: 'metric' },
  bestKnn20: { column: 'best_knn20', kind: 'metric' },
  purity: { column: 'purity', kind: 'metric' },
  imagesPerSec: { column: 'images_per_sec', kind: 'metric' },
  checkpointDir: { column: 'checkpoint_dir', kind: 'text' },
  studyId: { column: 'study_id', kind: 'study' },
};

/** The full id for an id or a unique id prefix of at least 4 characters (what the CLI accepts). */
export function resolveRunId(ctx: StoreContext, idOrPrefix: string): string {
  const exact = ctx.sc.get<{ id: string }>('SELECT id FROM runs WHERE id = ?').get(idOrPrefix);
  if (exact) return exact.id;
  if (/^[0-9a-f-]{4,}$/i.test(idOrPrefix)) {
    const matches = ctx.sc
      .get<{ id: string }>('SELECT id FROM runs WHERE id LIKE ? LIMIT 2')
      .all(`${idOrPrefix.toLowerCase()}%`);
    if (matches.length === 1) return matches[0].id;
    if (matches.length > 1)
      throw new IsdError('BAD_INPUT', `run id prefix ${idOrPrefix} matches several runs; give more characters`, {
        field: 'id',
      });
  }
  throw runNotFound(idOrPrefix, /^[0-9a-f-]{1,3}$/i.test(idOrPrefix));
}

export function getRunRow(ctx: StoreContext, id: string): RunRow {
  const row = ctx.sc.get<RawRunRow>(`SELECT ${SUMMARY_COLUMNS}, config, notes FROM runs WHERE id = ?`).get(id);
  if (!row) throw runNotFound(id);
  return { ...parseSummary(row), config: JSON.parse(row.config) as RunConfig, notes: row.notes };
}

/** Inserts a run (queued, or running and owned by this process) with its tags; returns its id. */
export function createRun(ctx: StoreContext, config: RunConfig, opts: CreateRunOptions = {}): string {
  // An invariant of the column (the app validated the config already): a stored config always parses.
  const parsed = runConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw configError(issue.path.length ? issue.path.join('.') : 'config', issue.message);
  }
  const c = parsed.data;
  const status = opts.status ?? 'queued';
  if (status !== 'queued' && status !== 'running')
    throw new IsdError('BAD_INPUT', `a new run starts queued or running, not ${String(status)}`, { field: 'status' });
  const datasetName = (opts.datasetName ?? '').trim() || c.dataset;
  const name = checkName((opts.name ?? '').trim() || c.name.trim() || `${c.method} on ${datasetName}`);
  const tags = normalizeTags(c.tags);
  const id = randomUUID();
  const now = ctx.now();
  const insert = ctx.db.transaction(() => {
    if (opts.studyId !== undefined) requireStudy(ctx, opts.studyId);
    ctx.sc
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
        process.pid, // queued or running, it is held by this process (run-claims.ts)
        now,
        status === 'running' ? now : null,
        c.epochs,
        opts.checkpointDir ?? null,
        opts.studyId ?? null,
      );
    writeTags(ctx, id, tags);
  });
  insert.immediate();
  return id;
}

/** Changes status, timings, backend, progress or final metrics; a status change must be allowed by RUN_TRANSITIONS (run-status.ts). */
export function updateRun(ctx: StoreContext, id: string, patch: RunPatch): void {
  const sets = new Map<string, unknown>();
  for (const [key, value] of Object.entries(patch) as [keyof RunPatch, unknown][]) {
    const spec = Object.hasOwn(PATCH_COLUMNS, key) ? PATCH_COLUMNS[key] : undefined;
    if (!spec) throw new IsdError('BAD_INPUT', `updateRun: unknown field ${String(key)}`, { field: String(key) });
    if (value === undefined) continue;
    sets.set(spec.column, checkPatchValue(String(key), spec.kind, value));
  }
  const update = ctx.db.transaction(() => {
    const cur = ctx.sc
      .get<{ status: RunStatus; startedAt: number | null }>(
        'SELECT status, started_at AS startedAt FROM runs WHERE id = ?',
      )
      .get(id);
    if (!cur) throw runNotFound(id);
    const next = patch.status;
    if (next !== undefined) {
      // Never skipped for an unchanged status: a second process must not "resume" a run that is running.
      if (!canBecome(cur.status, next)) {
        throw new IsdError('CONFLICT', `run ${id} is ${cur.status}; it cannot become ${next}`, { field: 'status' });
      }
      const now = ctx.now();
      const derive = (column: string, value: unknown) => {
        if (!sets.has(column)) sets.set(column, value);
      };
      if (next === 'running') {
        derive('started_at', cur.startedAt ?? now);
        derive('finished_at', null);
        derive('error', null);
      }
      if (isEnded(next)) derive('finished_at', now);
      if (next === 'interrupted') derive('finished_at', null);
      sets.set('owner_pid', isOwned(next) || next === 'queued' ? process.pid : null); // queued: held in this process's queue
    }
    if (patch.studyId) requireStudy(ctx, patch.studyId);
    if (sets.size === 0) return;
    const columns = [...sets.keys()].sort();
    ctx.sc
      .get(`UPDATE runs SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`)
      .run(...columns.map((c) => sets.get(c)), id);
  });
  update.immediate();
}

export function renameRun(ctx: StoreContext, id: string, name: string): void {
  const clean = checkName(typeof name === 'string' ? name.trim() : '');
  if (ctx.sc.get('UPDATE runs SET name = ? WHERE id = ?').run(clean, id).changes === 0) throw runNotFound(id);
}

export function setNotes(ctx: StoreContext, id: string, notes: string): void {
  if (typeof notes !== 'string') throw new IsdError('BAD_INPUT', 'notes must be text', { field: 'notes' });
  if (ctx.sc.get('UPDATE runs SET notes = ? WHERE id = ?').run(notes, id).changes === 0) throw runNotFound(id);
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
