/**
 * Reads a study back from the run store: its stored spec, its runs placed in the plan, where it
 * stands (with what the run service knows live), its results. Shared by the study service (app,
 * web host) and `isd study list/show`, which open only the store.
 */
import { readRunReport } from './run-dto';
import { fileSlug } from '../csv';
import { IsdError } from '../errors';
import type { RunStatus } from '../run-status';
import type { EpochEvalRow, RunRow, RunStore, StudyRow } from '../store';
import { readGroupEvals } from '../study/group-evals';
import { planStudy, studyRunKey, type PlannedRun } from '../study/plan';
import {
  computeStudyResults,
  median,
  studyResultsCsv,
  studyResultsMarkdown,
  type StudyRunResult,
} from '../study/results';
import { studySpecSchema, type StudySpec } from '../contract/study-spec';
import type {
  ProfileClasses,
  StudyActiveRun,
  StudyDetail,
  StudyEstimateView,
  StudyExport,
  StudyProgress,
  StudyResults,
  StudyRunView,
  StudyState,
  StudySummary,
} from '../contract/study';

export const STUDY_KIND = 'imbalance-study';

/** What the studies table's spec column holds for an imbalance study. */
export interface StoredStudy {
  kind: typeof STUDY_KIND;
  version: 1;
  spec: StudySpec;
  estimate: StudyEstimateView | null;
  profiles: ProfileClasses[];
  /** The dataset's class names when the study started (absent in studies stored before them). */
  classNames?: string[] | null;
}

/** What the run service knows about a run beyond the store (app/run-dto.ts LiveRunState). */
export interface LiveRun {
  status?: RunStatus;
  step?: number;
  totalSteps?: number;
  imagesPerSec?: number;
}
export type LiveLookup = (runId: string) => LiveRun | undefined;

export interface LoadedStudy {
  row: StudyRow;
  stored: StoredStudy;
  plan: PlannedRun[];
  /** Plan key → the newest run of the study at that place (a user may have re-run one by hand). */
  runs: Map<string, RunRow>;
}

/** The full study id for an id or a unique prefix of at least 4 characters. */
export function resolveStudyId(store: RunStore, idOrPrefix: string): string {
  const all = store.listStudies();
  if (all.some((s) => s.id === idOrPrefix)) return idOrPrefix;
  const matches = idOrPrefix.length >= 4 ? all.filter((s) => s.id.startsWith(idOrPrefix.toLowerCase())) : [];
  if (matches.length === 1) return matches[0].id;
  if (matches.length > 1)
    throw new IsdError('BAD_INPUT', `study id prefix ${idOrPrefix} matches several studies; give more characters`, {
      field: 'id',
    });
  const hint = idOrPrefix.length < 4 ? 'an id prefix needs at least 4 characters; ' : '';
  throw new IsdError('NOT_FOUND', `study ${idOrPrefix} not found (${hint}\`isd study list\` shows them)`, {
    field: 'id',
  });
}

export function parseStoredStudy(row: StudyRow): StoredStudy {
  const s = row.spec as Partial<StoredStudy> | null;
  const spec = s && s.kind === STUDY_KIND ? studySpecSchema.safeParse(s.spec) : null;
  if (!s || !spec?.success)
    throw new IsdError('BAD_INPUT', `study ${row.id} is not an imbalance study this version of the app can read`, {
      field: 'id',
    });
  return {
    kind: STUDY_KIND,
    version: 1,
    spec: spec.data,
    estimate: s.estimate ?? null,
    profiles: Array.isArray(s.profiles) ? s.profiles : [],
    classNames: Array.isArray(s.classNames) && s.classNames.every((n) => typeof n === 'string') ? s.classNames : null,
  };
}

export function loadStudy(store: RunStore, id: string): LoadedStudy {
  const row = store.getStudy(id);
  const stored = parseStoredStudy(row);
  const plan = planStudy(stored.spec, row.id);
  const runs = new Map<string, RunRow>();
  // Oldest first, so the newest run at a place wins.
  const page = store.listRuns({ studyId: row.id, sort: 'createdAt', order: 'asc', limit: 10_000 });
  for (const r of page.runs) {
    const rec = store.getRunRecord(r.id);
    runs.set(studyRunKey(rec.config.method, rec.config.imbalance, rec.config.seed), rec);
  }
  return { row, stored, plan, runs };
}

function runStatusOf(rec: RunRow | undefined, live: LiveLookup | undefined): RunStatus | 'missing' {
  if (!rec) return 'missing';
  return live?.(rec.id)?.status ?? rec.status;
}

function lastEval(evals: readonly EpochEvalRow[], epoch: number): EpochEvalRow | undefined {
  return evals.find((e) => e.epoch === epoch);
}

export function runViews(store: RunStore, s: LoadedStudy, live?: LiveLookup): StudyRunView[] {
  return s.plan.map((p): StudyRunView => {
    const rec = s.runs.get(p.key);
    const l = rec ? live?.(rec.id) : undefined;
    const evals = rec ? store.getRun(rec.id).evals : [];
    const final = rec ? lastEval(evals, rec.epochsDone) : undefined;
    return {
      key: p.key,
      method: p.method,
      profile: p.profile,
      seed: p.seed,
      runId: rec?.id ?? null,
      status: runStatusOf(rec, live),
      step: Math.max(rec?.stepsDone ?? 0, l?.step ?? 0),
      totalSteps: l?.totalSteps ?? (rec ? (readRunReport(rec.checkpointDir)?.totalSteps ?? 0) : 0),
      epoch: rec?.epochsDone ?? 0,
      epochs: p.config.epochs,
      knn1: rec?.knn1 ?? null,
      knn20: rec?.knn20 ?? null,
      linear: rec?.linear ?? null,
      initKnn1: rec?.initKnn1 ?? null,
      initKnn20: rec?.initKnn20 ?? null,
      pixelKnn1: rec?.pixelKnn1 ?? null,
      pixelKnn20: rec?.pixelKnn20 ?? null,
      evalTestImages: rec?.evalTestImages ?? null,
      frequentKnn20: final?.frequentAcc ?? null,
      rareKnn20: final?.rareAcc ?? null,
      error: rec?.error ?? null,
    };
  });
}

/** The final evaluation of each completed run, placed in the design. */
export function studyRunResults(store: RunStore, s: LoadedStudy): StudyRunResult[] {
  const out: StudyRunResult[] = [];
  for (const p of s.plan) {
    const rec = s.runs.get(p.key);
    if (!rec || rec.status !== 'completed') continue;
    const final = lastEval(store.getRun(rec.id).evals, rec.config.epochs);
    const groups = readGroupEvals(rec.checkpointDir).find((g) => g.epoch === rec.config.epochs);
    const imbalanced = p.profile !== 'none';
    out.push({
      runId: rec.id,
      method: p.method,
      profile: p.profile,
      seed: p.seed,
      all: { knn1: rec.knn1, knn20: rec.knn20, linear: rec.linear },
      frequent: imbalanced
        ? {
            knn1: groups?.frequent?.knn1 ?? null,
            knn20: final?.frequentAcc ?? groups?.frequent?.knn20 ?? null,
            linear: null,
          }
        : null,
      rare: imbalanced
        ? { knn1: groups?.rare?.knn1 ?? null, knn20: final?.rareAcc ?? groups?.rare?.knn20 ?? null, linear: null }
        : null,
    });
  }
  return out;
}

/** Where a study stands: counts, the active run, the share done and the seconds of work left. */
export function studyProgress(s: LoadedStudy, live?: LiveLookup, now = Date.now()): StudyProgress {
  let completed = 0;
  let failed = 0;
  let stopped = 0;
  let queued = 0;
  let active: StudyActiveRun | null = null;
  let queuedHere = false;
  const wall: number[] = [];
  for (const p of s.plan) {
    const rec = s.runs.get(p.key);
    const status = runStatusOf(rec, live);
    if (status === 'completed') {
      completed++;
      if (rec?.startedAt && rec.endedAt && rec.endedAt > rec.startedAt) wall.push((rec.endedAt - rec.startedAt) / 1000);
    } else if (status === 'failed') failed++;
    else if (status === 'stopped' || status === 'interrupted') stopped++;
    else if (status === 'queued') {
      queued++;
      if (rec && live?.(rec.id)?.status === 'queued') queuedHere = true;
    } else if ((status === 'running' || status === 'paused') && rec && !active) {
      const l = live?.(rec.id);
      active = {
        runId: rec.id,
        key: p.key,
        method: p.method,
        profile: p.profile,
        seed: p.seed,
        status,
        step: Math.max(rec.stepsDone, l?.step ?? 0),
        totalSteps: l?.totalSteps ?? readRunReport(rec.checkpointDir)?.totalSteps ?? 0,
        imagesPerSec: l?.imagesPerSec ?? null,
      };
    }
  }
  const total = s.plan.length;
  const activeShare = active && active.totalSteps > 0 ? Math.min(1, active.step / active.totalSteps) : 0;
  const fraction = total ? (completed + activeShare) / total : 1;
  const est = s.stored.estimate;
  let secPerRun: number | null = null;
  if (wall.length) secPerRun = median(wall);
  else if (est && est.runs > 0) {
    const scale = active?.imagesPerSec && active.imagesPerSec > 0 ? est.imagesPerSec / active.imagesPerSec : 1;
    secPerRun = (est.seconds / est.runs) * scale;
  }
  const left = total - completed - (active ? activeShare : 0);
  // A queued run counts as moving only when this process's queue holds it (a crash leaves rows queued).
  const state: StudyState = completed === total ? 'completed' : active || queuedHere ? 'running' : 'incomplete';
  return {
    studyId: s.row.id,
    state,
    total,
    completed,
    failed,
    stopped,
    queued,
    active,
    fraction,
    etaSec: left > 0 && secPerRun !== null ? left * secPerRun : null,
    at: now,
  };
}

export function studySummary(s: LoadedStudy, progress: StudyProgress): StudySummary {
  const spec = s.stored.spec;
  return {
    id: s.row.id,
    name: s.row.name,
    createdAt: s.row.createdAt,
    dataset: spec.dataset,
    methods: [...spec.methods],
    profiles: [...spec.profiles],
    seeds: spec.seeds,
    state: progress.state,
    total: progress.total,
    completed: progress.completed,
    failed: progress.failed,
  };
}

export function studyResults(store: RunStore, s: LoadedStudy): StudyResults {
  return computeStudyResults(s.stored.spec, studyRunResults(store, s));
}

export function studyDetail(store: RunStore, id: string, live?: LiveLookup): StudyDetail {
  const s = loadStudy(store, id);
  const progress = studyProgress(s, live);
  const results = studyResults(store, s);
  const summary = studySummary(s, progress);
  const backend = [...s.runs.values()].find((r) => r.backend)?.backend ?? null;
  const runs = runViews(store, s, live);
  return {
    summary,
    spec: s.stored.spec,
    estimate: s.stored.estimate,
    profiles: s.stored.profiles,
    runs,
    progress,
    results,
    markdown: studyResultsMarkdown(
      {
        id: s.row.id,
        name: s.row.name,
        spec: s.stored.spec,
        completed: progress.completed,
        total: progress.total,
        backend,
        profiles: s.stored.profiles,
        classNames: s.stored.classNames,
      },
      results,
      runs.filter((r) => r.status === 'completed'),
    ),
  };
}

export function listStudySummaries(store: RunStore, live?: LiveLookup): StudySummary[] {
  const out: StudySummary[] = [];
  for (const row of store.listStudies()) {
    let s: LoadedStudy;
    try {
      s = loadStudy(store, row.id);
    } catch {
      continue; // a study of another kind (or a newer version): not ours to list
    }
    out.push(studySummary(s, studyProgress(s, live)));
  }
  return out;
}

export function exportStudy(store: RunStore, id: string, format: 'csv' | 'md', live?: LiveLookup): StudyExport {
  const d = studyDetail(store, id, live);
  const base = `${fileSlug(d.summary.name, 'study')}-${id.slice(0, 8)}`;
  if (format === 'csv')
    return {
      filename: `${base}.csv`,
      mimeType: 'text/csv',
      content: studyResultsCsv(
        id,
        d.results,
        d.runs.filter((r) => r.status === 'completed'),
      ),
    };
  if (format === 'md') return { filename: `${base}.md`, mimeType: 'text/markdown', content: d.markdown };
  throw new IsdError('BAD_INPUT', `format must be csv or md, got ${String(format)}`, { field: 'format' });
}
