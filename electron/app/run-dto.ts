/**
 * Maps the run store's rows to the contract's DTOs (what crosses the wire), adding what only the app
 * knows: the live state of the run that is training, runs waiting in the queue, and the run report
 * the engine wrote when the run started (class names, training counts per class, total steps).
 */
import fs from 'node:fs';
import path from 'node:path';
import type {
  CheckpointInfo,
  ContractError,
  Curves,
  EvalPoint,
  PerClassAccuracy,
  PixelBaseline,
  ProgressPoint,
  RunDetail,
  RunPhaseInfo,
  RunStatus,
  RunSummary,
} from '../contract';
import { ERROR_CODES, type ErrorCode } from '../contract';
import { isResumable } from '../run-status';
import type { BaselineRow, CheckpointRow, EpochEvalRow, RunCurves, RunRow, RunStore } from '../store';

export const RUN_REPORT_FILE = 'run-report.json';

/** What the app keeps about a run beside its checkpoints, from the engine's ready event. */
export interface RunReport {
  classNames: string[] | null;
  trainClassCounts: number[] | null;
  trainImages: number;
  stepsPerEpoch: number;
  totalSteps: number;
  imageSize: number;
  parameters: number;
  backend: string;
  device: string;
  /** Seconds spent in kNN evaluations and the linear probe so far (added at each evaluation). */
  evalSec?: number;
}

/** Reports read so far (a list of 200 runs would otherwise read 200 files per request); only found ones are kept. */
const reportCache = new Map<string, RunReport>();

export function readRunReport(checkpointDir: string | null): RunReport | null {
  if (!checkpointDir) return null;
  const hit = reportCache.get(checkpointDir);
  if (hit) return hit;
  try {
    const report = JSON.parse(fs.readFileSync(path.join(checkpointDir, RUN_REPORT_FILE), 'utf8')) as RunReport;
    if (reportCache.size > 5000) reportCache.clear();
    reportCache.set(checkpointDir, report);
    return report;
  } catch {
    return null;
  }
}

export function writeRunReport(checkpointDir: string, report: RunReport): void {
  fs.mkdirSync(checkpointDir, { recursive: true });
  const file = path.join(checkpointDir, RUN_REPORT_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(report, null, 1));
  fs.renameSync(`${file}.tmp`, file);
  reportCache.set(checkpointDir, report);
}

/** The code and message of a run's error column (written by errors.ts storedError). */
export function parseStoredError(text: string | null): ContractError | null {
  if (!text) return null;
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(text);
  if (m && (ERROR_CODES as readonly string[]).includes(m[1])) return { code: m[1] as ErrorCode, message: m[2] };
  return { code: 'INTERNAL', message: text };
}

/** What the run service knows beyond the store, per run. */
export interface LiveRunState {
  /** Shown instead of the stored status (a stopped run waiting in the queue to resume shows queued). */
  status?: RunStatus;
  step?: number;
  epoch?: number;
  totalSteps?: number;
  imagesPerSec?: number;
  phase?: RunPhaseInfo;
}

/** Planned optimizer steps: from the run report, else from an evaluation's step/epoch ratio, else what is known. */
function totalStepsOf(record: RunRow, report: RunReport | null, evals: readonly EpochEvalRow[] | null): number {
  if (report) return report.totalSteps;
  if (record.status === 'completed') return record.stepsDone;
  const ev = evals?.find((e) => e.epoch > 0);
  if (ev) return Math.round((ev.step / ev.epoch) * record.epochs);
  return 0;
}

export function toRunSummary(
  record: RunRow,
  opts: { live?: LiveRunState; report?: RunReport | null; evals?: readonly EpochEvalRow[] } = {},
): RunSummary {
  const live = opts.live ?? {};
  const report = opts.report === undefined ? readRunReport(record.checkpointDir) : opts.report;
  const step = Math.max(record.stepsDone, live.step ?? 0);
  const speed = live.imagesPerSec ?? record.imagesPerSec;
  const batchSize = record.config.batchSize;
  return {
    id: record.id,
    name: record.name,
    method: record.method as RunSummary['method'],
    arch: record.arch as RunSummary['arch'],
    dataset: record.dataset,
    datasetName: record.datasetName,
    imbalance: record.imbalance,
    status: live.status ?? record.status,
    tags: record.tags,
    notes: record.notes,
    createdAt: record.createdAt,
    startedAt: record.startedAt,
    endedAt: record.endedAt,
    // Time spent in training steps (from the measured throughput) and evaluations; pauses excluded.
    durationSec: speed && speed > 0 && step > 0 ? (step * batchSize) / speed + (report?.evalSec ?? 0) : null,
    epoch: Math.max(record.epochsDone, live.epoch ?? 0),
    epochs: record.epochs,
    step,
    totalSteps: live.totalSteps ?? totalStepsOf(record, report, opts.evals ?? null),
    knn1: record.knn1,
    knn20: record.knn20,
    bestKnn20: record.bestKnn20,
    linear: record.linear,
    initKnn1: record.initKnn1,
    initKnn20: record.initKnn20,
    pixelKnn1: record.pixelKnn1,
    pixelKnn20: record.pixelKnn20,
    evalTestImages: record.evalTestImages,
    evalTestSplitImages: record.evalTestSplitImages,
    backend: record.backend,
    device: record.device,
    error: parseStoredError(record.error),
    config: record.config,
  };
}

export function toEvalPoint(e: EpochEvalRow): EvalPoint {
  return {
    epoch: e.epoch,
    step: e.step,
    knn1: e.knn1 ?? 0,
    knn20: e.knn20 ?? 0,
    knn20Weighted: e.knn20Weighted ?? 0,
    knn200Weighted: e.knn200Weighted,
    linear: e.linear,
    at: e.time,
  };
}

/** A stored baseline as the contract's PixelBaseline; null when the run has none (or only part of one). */
export function toPixelBaseline(b: BaselineRow | null): PixelBaseline | null {
  if (!b || b.pixelKnn1 === null || b.pixelKnn20 === null) return null;
  return {
    pixelKnn1: b.pixelKnn1,
    pixelKnn20: b.pixelKnn20,
    pixelKnn20Weighted: b.pixelKnn20Weighted,
    pixelKnn200Weighted: b.pixelKnn200Weighted,
    bankImages: b.bankImages,
    testImages: b.testImages,
    testSplitImages: b.testSplitImages,
  };
}

/** Checkpoint rows whose folders still exist (the engine prunes old ones), oldest first. */
export function existingCheckpoints(rows: readonly CheckpointRow[]): CheckpointRow[] {
  return rows.filter((c) => fs.existsSync(c.path));
}

export function toCheckpointInfo(c: CheckpointRow): CheckpointInfo {
  return { epoch: c.epoch, step: c.step, at: c.createdAt };
}

export function perClassOf(evals: readonly EpochEvalRow[], report: RunReport | null): PerClassAccuracy | null {
  const last = [...evals].reverse().find((e) => e.epoch > 0 && e.perClass !== null);
  if (!last?.perClass || !report?.classNames || !report.trainClassCounts) return null;
  return { classNames: report.classNames, trainCounts: report.trainClassCounts, knn20: last.perClass };
}

export function toRunDetail(store: RunStore, id: string, live: LiveRunState | undefined): RunDetail {
  const detail = store.getRun(id);
  const report = readRunReport(detail.run.checkpointDir);
  const checkpoints = existingCheckpoints(detail.checkpoints);
  const run = toRunSummary(detail.run, { live, report, evals: detail.evals });
  const baseline = detail.evals.find((e) => e.epoch === 0);
  return {
    run,
    config: detail.config,
    baseline: baseline ? toEvalPoint(baseline) : null,
    pixel: toPixelBaseline(detail.baseline),
    evals: detail.evals.filter((e) => e.epoch > 0).map(toEvalPoint),
    checkpoints: checkpoints.map(toCheckpointInfo),
    perClass: perClassOf(detail.evals, report),
    // A run that never started (taken out of the queue, or queued when its process ended) starts when resumed;
    // one that started has something to resume from only with a checkpoint.
    canResume: isResumable(run.status, checkpoints.length > 0 || run.startedAt === null),
    phase: live?.phase ?? null,
  };
}

export function toProgressPoints(curves: RunCurves): ProgressPoint[] {
  const points: ProgressPoint[] = [];
  for (const r of curves.points) {
    if (r.loss === null) continue; // a non-finite loss was stored as null: nothing to plot
    points.push({
      step: r.step,
      epoch: r.epoch,
      loss: r.loss,
      lr: r.lr ?? 0,
      purity: r.purity,
      imagesPerSec: r.imagesPerSec ?? 0,
    });
  }
  return points;
}

export function toCurves(store: RunStore, id: string, maxPoints: number, live: LiveRunState | undefined): Curves {
  const curves = store.getCurves(id, { maxPoints });
  const detail = store.getRun(id);
  const report = readRunReport(detail.run.checkpointDir);
  const baseline = detail.evals.find((e) => e.epoch === 0);
  return {
    runId: id,
    points: toProgressPoints(curves),
    evals: detail.evals.filter((e) => e.epoch > 0).map(toEvalPoint),
    baseline: baseline ? toEvalPoint(baseline) : null,
    pixel: toPixelBaseline(detail.baseline),
    totalSteps: live?.totalSteps ?? totalStepsOf(detail.run, report, detail.evals),
    recorded: curves.totalPoints,
  };
}
