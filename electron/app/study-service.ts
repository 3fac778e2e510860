/**
 * Imbalance studies on top of the app services: a study is created in the store and its runs go
 * through the app's own runs.start (the one FIFO queue, one run at a time), each linked to the study
 * and tagged. Stop takes the study's waiting runs out of the queue and stops the training one with a
 * checkpoint; resume re-queues only runs that are not completed (stopped or interrupted ones continue
 * from their checkpoints; runs never created are created). Live progress of the whole study goes out
 * as study.progress events.
 *
 * Wiring (electron/app/services.ts): after the core handlers exist,
 *   const study = new StudyService({ store, runs, events, datasets, handlers: core });
 *   const handlers: Handlers = { ...core, ...study.handlers };
 */
import { countClasses } from '../data';
import { IsdError } from '../errors';
import type { RunStore } from '../store';
import type { AppEvents } from './app-events';
import type { DatasetService } from './dataset-service';
import type { RunService } from './run-service';
import type { Handlers, RunSummary } from '../contract';
import { checkStudyAgainstDataset, estimateStudy, planStudy, validateStudySpec } from '../study/plan';
import type { StudySpec } from '../contract/study-spec';
import type { StudyDetail, StudyEstimateView, StudyExport, StudyProgress, StudySummary } from '../contract/study';
import {
  exportStudy,
  listStudySummaries,
  loadStudy,
  resolveStudyId,
  STUDY_KIND,
  studyDetail,
  studyProgress,
  type LiveLookup,
  type StoredStudy,
} from './study-view';

export type StudyChannel =
  'study.estimate' | 'study.start' | 'study.list' | 'study.get' | 'study.stop' | 'study.resume' | 'study.export';
export type StudyHandlers = Pick<Handlers, StudyChannel>;

export interface StudyServiceOptions {
  store: RunStore;
  runs: RunService;
  events: AppEvents;
  datasets: DatasetService;
  /** The app's own runs.start (validation, dataset check, the queue) and runs.estimate (the measured speed). */
  handlers: Pick<Handlers, 'runs.start' | 'runs.estimate'>;
  /** study.progress events per second per study while a run trains (default 1). */
  progressPerSec?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** What study.resume did, beside the study's new state. */
export interface StudyResumeReport {
  /** Runs put back in the queue (from their checkpoints where they have one). */
  requeued: string[];
  /** Planned runs that did not exist and were created. */
  created: string[];
  /** Runs left alone: completed, already queued or training, or owned by another live process. */
  skipped: { runId: string; reason: string }[];
}

export class StudyService {
  readonly handlers: StudyHandlers;
  private readonly o: StudyServiceOptions;
  /** runId → studyId (null: not in a study), so progress events cost no query after the first. */
  private readonly studyOfRun = new Map<string, string | null>();
  private readonly lastSent = new Map<string, number>();
  private readonly offs: (() => void)[] = [];

  constructor(opts: StudyServiceOptions) {
    this.o = opts;
    this.offs.push(
      opts.events.on('run.progress', (p) => this.onRunEvent(p.runId, p.step === p.totalSteps)),
      opts.events.on('run.status', (p) => this.onRunEvent(p.runId, true)),
      opts.events.on('run.eval', (p) => this.onRunEvent(p.runId, true)),
    );
    this.handlers = {
      'study.estimate': (input) => this.estimate(input.spec),
      'study.start': (input) => this.start(input.spec),
      'study.list': () => this.list(),
      'study.get': (input) => this.get(input.id),
      'study.stop': (input) => this.stop(input.id),
      'study.resume': async (input) => (await this.resume(input.id)).detail,
      'study.export': (input) => this.export(input.id, input.format),
    };
  }

  private readonly live: LiveLookup = (runId) => this.o.runs.liveState(runId);

  /** Class counts, the profiles' rare classes and the duration estimate for a spec on its dataset. */
  private async prepare(
    spec: StudySpec,
  ): Promise<Omit<StoredStudy, 'kind' | 'version' | 'spec'> & { datasetName: string }> {
    const { path: p, entry } = await this.o.datasets.resolve(spec.dataset, 'dataset');
    if (entry?.error) throw new IsdError('DATASET_INVALID', entry.error, { field: 'dataset', path: entry.path });
    const ds = await this.o.datasets.load(p);
    const classes = ds.classNames?.length ?? 0;
    const train = ds.train.labels && classes > 0 ? countClasses(ds.train.labels, classes) : null;
    const profiles = checkStudyAgainstDataset(spec, train);
    if (!ds.test?.labels || ds.test.count === 0) {
      throw new IsdError('BAD_INPUT', `dataset: ${p} has no labelled test split to evaluate on`, {
        field: 'dataset',
        path: p,
      });
    }
    const probe = await this.o.handlers['runs.estimate']({ config: planStudy(spec, 'estimate')[0].config });
    const e = estimateStudy(spec, {
      trainClassCounts: train as number[],
      testImages: ds.test.count,
      imagesPerSec: probe.imagesPerSec,
    });
    const estimate: StudyEstimateView = { ...e, basis: probe.basis, backend: probe.backend };
    return { estimate, profiles, classNames: ds.classNames ?? null, datasetName: entry?.name ?? ds.name };
  }

  async estimate(input: unknown): Promise<StudyEstimateView> {
    const spec = validateStudySpec(input);
    return (await this.prepare(spec)).estimate as StudyEstimateView;
  }

  /** Creates the study and queues all its runs, seed by seed. */
  async start(input: unknown): Promise<StudyDetail> {
    const spec = validateStudySpec(input);
    const { estimate, profiles, classNames, datasetName } = await this.prepare(spec);
    const name = spec.name || `Imbalance study: ${datasetName}, ${spec.profiles.join(' / ')}`;
    const stored: StoredStudy = { kind: STUDY_KIND, version: 1, spec, estimate, profiles, classNames };
    const row = this.o.store.createStudy({ name: name.slice(0, 200), spec: stored });
    await this.enqueueMissing(row.id);
    this.emitProgress(row.id);
    return this.get(row.id);
  }

  /** Starts every planned run that has no run yet; returns the new run ids. */
  private async enqueueMissing(studyId: string): Promise<string[]> {
    const s = loadStudy(this.o.store, studyId);
    const created: string[] = [];
    for (const p of s.plan) {
      if (s.runs.has(p.key)) continue;
      const run: RunSummary = await this.o.handlers['runs.start']({ config: p.config });
      // runs.start knows nothing of studies: the link is written at once (the run may already train).
      this.o.store.updateRun(run.id, { studyId });
      this.studyOfRun.set(run.id, studyId);
      created.push(run.id);
    }
    return created;
  }

  list(): StudySummary[] {
    return listStudySummaries(this.o.store, this.live);
  }

  get(idOrPrefix: string): StudyDetail {
    return studyDetail(this.o.store, resolveStudyId(this.o.store, idOrPrefix), this.live);
  }

  progress(idOrPrefix: string): StudyProgress {
    return studyProgress(loadStudy(this.o.store, resolveStudyId(this.o.store, idOrPrefix)), this.live);
  }

  /** Takes the study's waiting runs out of the queue, then stops its training run with a checkpoint. */
  stop(idOrPrefix: string): StudyDetail {
    const id = resolveStudyId(this.o.store, idOrPrefix);
    const s = loadStudy(this.o.store, id);
    const runIds = s.plan.flatMap((p) => (s.runs.has(p.key) ? [s.runs.get(p.key)!.id] : []));
    // Waiting runs first: stopping the training one frees the slot, and the queue must not hand it to them.
    for (const runId of runIds) if (this.live(runId)?.status === 'queued') this.o.runs.stop(runId);
    for (const runId of runIds) if (this.o.runs.isBusy(runId)) this.o.runs.stop(runId);
    this.emitProgress(id);
    return this.get(id);
  }

  /** Re-queues the runs that are not completed and creates the planned runs that are missing. */
  async resume(idOrPrefix: string): Promise<{ detail: StudyDetail; report: StudyResumeReport }> {
    const id = resolveStudyId(this.o.store, idOrPrefix);
    const s = loadStudy(this.o.store, id);
    const report: StudyResumeReport = { requeued: [], created: [], skipped: [] };
    for (const p of s.plan) {
      const rec = s.runs.get(p.key);
      if (!rec) continue;
      this.studyOfRun.set(rec.id, id);
      const live = this.live(rec.id);
      if (rec.status === 'completed') report.skipped.push({ runId: rec.id, reason: 'completed' });
      else if (live?.status === 'queued') report.skipped.push({ runId: rec.id, reason: 'already queued' });
      else if (live && rec.status === 'running') report.skipped.push({ runId: rec.id, reason: 'training' });
      else if (!live && (rec.status === 'running' || rec.status === 'paused'))
        report.skipped.push({ runId: rec.id, reason: `${rec.status} in another process` });
      else {
        await this.o.runs.resume(rec.id); // paused here: continues; stopped/interrupted/failed: from its newest checkpoint
        report.requeued.push(rec.id);
      }
    }
    report.created = await this.enqueueMissing(id);
    this.emitProgress(id);
    return { detail: this.get(id), report };
  }

  export(idOrPrefix: string, format: 'csv' | 'md'): StudyExport {
    return exportStudy(this.o.store, resolveStudyId(this.o.store, idOrPrefix), format, this.live);
  }

  dispose(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private studyOf(runId: string): string | null {
    if (this.studyOfRun.has(runId)) return this.studyOfRun.get(runId) ?? null;
    let studyId: string | null = null;
    try {
      studyId = this.o.store.getRunRecord(runId).studyId;
    } catch {
      studyId = null;
    }
    this.studyOfRun.set(runId, studyId);
    return studyId;
  }

  private onRunEvent(runId: string, always: boolean): void {
    const studyId = this.studyOf(runId);
    if (!studyId) return;
    const now = Date.now();
    const interval = 1000 / (this.o.progressPerSec ?? 1);
    if (!always && now - (this.lastSent.get(studyId) ?? 0) < interval) return;
    this.emitProgress(studyId);
  }

  private emitProgress(studyId: string): void {
    try {
      const p = studyProgress(loadStudy(this.o.store, studyId), this.live);
      this.lastSent.set(studyId, p.at);
      this.o.events.emit('study.progress', p);
    } catch (err) {
      this.o.log?.('warn', `study ${studyId}: progress not sent: ${(err as Error).message}`);
    }
  }
}
