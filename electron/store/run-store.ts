/**
 * RunStore: the open run history. Each table's reads and writes are functions over the database in
 * their own module (runs, step-metrics, evaluations, checkpoints, tags, studies, user-datasets,
 * run-queries, run-removal, crash-recovery); this class holds the connection and names them as methods.
 * Values are always bound as parameters; the only SQL built at run time joins whitelisted fragments.
 */
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { RunConfig } from '../run-config';
import { setBaseline } from './baselines';
import { addCheckpoint } from './checkpoints';
import type { StoreContext } from './context';
import { recoverInterruptedRuns } from './crash-recovery';
import { claimRun, liveOwner, type ClaimResult } from './run-claims';
import { openDatabase, openError, type OpenDatabaseOptions } from './database';
import { addEpochEval } from './evaluations';
import type {
  BaselineInput,
  BaselineRow,
  CheckpointInput,
  CheckpointRow,
  CreateRunOptions,
  CurveOptions,
  DeleteRunOptions,
  DeleteRunResult,
  EpochEvalInput,
  EpochEvalRow,
  OpenReport,
  RunCurves,
  RunListQuery,
  RunPatch,
  RunRow,
  RunRowPage,
  RunRows,
  StepMetricInput,
  StepMetricRow,
  StudyRow,
  UserDatasetRow,
} from './rows';
import { getRunRows, listRuns } from './run-queries';
import { deleteRun } from './run-removal';
import { createRun, getRunRow, renameRun, resolveRunId, setNotes, updateRun } from './runs';
import { StatementCache } from './statement-cache';
import { appendStepMetrics, discardAfterStep, getCurves, iterateStepMetrics } from './step-metrics';
import { createStudy, getStudy, listStudies } from './studies';
import { setTags } from './tags';
import { addUserDataset, listUserDatasets, removeUserDataset } from './user-datasets';

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

export class RunStore {
  readonly db: Database.Database;
  readonly file: string;
  /** Schema versions and the runs found orphaned at open. */
  readonly openReport: OpenReport;
  readonly checkpointRoot: string | null;
  /** What the table modules' functions take. */
  readonly ctx: StoreContext;

  constructor(
    db: Database.Database,
    file: string,
    opts: RunStoreOptions,
    versions: { fromVersion: number; toVersion: number },
  ) {
    this.db = db;
    this.file = file;
    this.checkpointRoot = opts.checkpointRoot ? path.resolve(opts.checkpointRoot) : null;
    this.ctx = { db, sc: new StatementCache(db), now: opts.now ?? Date.now, checkpointRoot: this.checkpointRoot };
    const interruptedRunIds = opts.recoverInterrupted === false ? [] : this.recoverInterruptedRuns();
    this.openReport = { ...versions, interruptedRunIds };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  recoverInterruptedRuns(): string[] {
    return recoverInterruptedRuns(this.ctx);
  }

  // runs
  resolveRunId(idOrPrefix: string): string {
    return resolveRunId(this.ctx, idOrPrefix);
  }
  createRun(config: RunConfig, opts: CreateRunOptions = {}): RunRow {
    return getRunRow(this.ctx, createRun(this.ctx, config, opts));
  }
  /** Claims a run for this process to train (run-claims.ts). */
  claimRun(id: string): ClaimResult {
    return claimRun(this.ctx, id);
  }

  /** The live process holding a run queued, running or paused (this one included); null when none. */
  liveOwner(id: string): number | null {
    return liveOwner(this.ctx, id);
  }

  updateRun(id: string, patch: RunPatch): RunRow {
    updateRun(this.ctx, id, patch);
    return getRunRow(this.ctx, id);
  }
  getRunRecord(id: string): RunRow {
    return getRunRow(this.ctx, id);
  }
  renameRun(id: string, name: string): RunRow {
    renameRun(this.ctx, id, name);
    return getRunRow(this.ctx, id);
  }
  setNotes(id: string, notes: string): RunRow {
    setNotes(this.ctx, id, notes);
    return getRunRow(this.ctx, id);
  }
  setTags(id: string, tags: readonly string[]): RunRow {
    setTags(this.ctx, id, tags);
    return getRunRow(this.ctx, id);
  }
  deleteRun(id: string, opts: DeleteRunOptions = {}): DeleteRunResult {
    return deleteRun(this.ctx, id, opts);
  }

  // reads across a run's tables
  listRuns(q: RunListQuery = {}): RunRowPage {
    return listRuns(this.ctx, q);
  }
  getRun(id: string): RunRows {
    return getRunRows(this.ctx, id);
  }

  // step metrics, evaluations, checkpoints
  appendStepMetrics(runId: string, rows: readonly StepMetricInput[]): number {
    return appendStepMetrics(this.ctx, runId, rows);
  }
  discardAfterStep(runId: string, step: number): void {
    discardAfterStep(this.ctx, runId, step);
  }
  getCurves(id: string, opts: CurveOptions = {}): RunCurves {
    return getCurves(this.ctx, id, opts);
  }
  iterateStepMetrics(id: string): IterableIterator<StepMetricRow> {
    return iterateStepMetrics(this.ctx, id);
  }
  addEpochEval(runId: string, e: EpochEvalInput): EpochEvalRow {
    return addEpochEval(this.ctx, runId, e);
  }
  /** Raw-pixel kNN and the evaluation sizes of a run (its `baseline` engine event). */
  setBaseline(runId: string, b: BaselineInput): BaselineRow {
    return setBaseline(this.ctx, runId, b);
  }
  addCheckpoint(runId: string, c: CheckpointInput): CheckpointRow {
    return addCheckpoint(this.ctx, runId, c);
  }

  // user datasets, studies
  addUserDataset(datasetPath: string, name: string): UserDatasetRow {
    return addUserDataset(this.ctx, datasetPath, name);
  }
  removeUserDataset(datasetPath: string): void {
    removeUserDataset(this.ctx, datasetPath);
  }
  listUserDatasets(): UserDatasetRow[] {
    return listUserDatasets(this.ctx);
  }
  createStudy(input: { name: string; spec: unknown }): StudyRow {
    return createStudy(this.ctx, input);
  }
  getStudy(id: string): StudyRow {
    return getStudy(this.ctx, id);
  }
  listStudies(): StudyRow[] {
    return listStudies(this.ctx);
  }
}
