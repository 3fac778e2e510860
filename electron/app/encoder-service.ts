/**
 * The main-thread side of "use what you trained": resolves the run and its checkpoint, gathers what the
 * export records (run, method, accuracy at that step), and hands the tensor work to the analysis worker
 * (encoder-tasks.ts). Wired like the study service:
 *   const encoders = new EncoderService({ store, analysis, analysisInput, appVersion, savePath });
 *   const handlers: Handlers = { ...core, ...study.handlers, ...encoders.handlers };
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  CheckpointInfo,
  EncoderEmbedding,
  EncoderExport,
  EncoderMap,
  EncoderSearch,
  Handlers,
  NeighbourImage,
} from '../contract';
import type { EncoderFormat } from '../engine/encoder-export';
import { IsdError } from '../errors';
import type { RunStore } from '../store';
import type { AnalysisClient } from './analysis-client';
import type { RunAnalysisInput } from './analysis-worker';
import type { AppEvents } from './app-events';
import type {
  EmbedResult,
  EmbedSplit,
  EmbedTask,
  EncoderProvenance,
  ExportEncoderResult,
  ExportEncoderTask,
  TaskProgress,
} from './encoder-tasks';
import type { MapResult, SearchPixels, SearchResult } from './encoder-map';

export type EncoderChannel =
  'encoder.export' | 'encoder.embed' | 'encoder.stop' | 'encoder.map' | 'encoder.image' | 'encoder.search';
export type EncoderHandlers = Pick<Handlers, EncoderChannel>;

/** The native save dialog (Electron main passes it); null when cancelled. */
export type SavePath = (opts: {
  title: string;
  defaultName: string;
  kind: 'file' | 'folder';
}) => Promise<string | null>;

export interface EncoderServiceOptions {
  store: RunStore;
  analysis: AnalysisClient;
  /** The run's checkpoint at `checkpointStep` (default: the last) as the analysis worker takes it. */
  analysisInput: (
    id: string,
    testIndex: number,
    checkpointStep?: number,
  ) => Promise<{ input: RunAnalysisInput; checkpoint: CheckpointInfo }>;
  appVersion: string;
  savePath?: SavePath;
  events: AppEvents;
  /** A dataset id or path to the path to load (the transport's path rules applied). */
  resolveDataset: (idOrPath: string) => Promise<string>;
  /** One image's pixels as a thumbnail (services.ts imageOf). */
  thumbnail: (p: SearchPixels, shape: [number, number, number], classNames: string[] | null) => Promise<NeighbourImage>;
}

export interface EmbedOptions {
  dataset: string;
  split: EmbedSplit;
  out: string;
  checkpointStep?: number;
  onProgress?: (p: TaskProgress) => void;
  signal?: AbortSignal;
}

/** Progress events per second a job sends to clients. */
const PROGRESS_PER_SEC = 5;

export interface ExportEncoderOptions {
  format: EncoderFormat;
  checkpointStep?: number;
  teacher: boolean;
  out: string;
}

const MIME: Record<string, string> = {
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.json': 'application/json',
};

export class EncoderService {
  readonly handlers: EncoderHandlers;
  private readonly jobs = new Map<string, AbortController>();

  constructor(private readonly o: EncoderServiceOptions) {
    this.handlers = {
      'encoder.export': async (input): Promise<EncoderExport> => {
        const id = o.store.resolveRunId(input.id);
        const base = { format: input.format, checkpointStep: input.checkpointStep, teacher: input.teacher };
        const name = `${
          o.store
            .getRunRecord(id)
            .name.replace(/[^\w.-]+/g, '-')
            .slice(0, 60) || 'run'
        }-${id.slice(0, 8)}`;
        const defaultName = input.format === 'onnx' ? `${name}.onnx` : `${name}-tfjs`;
        if (input.destination === 'dialog') {
          if (!o.savePath)
            throw new IsdError('CONFLICT', 'no native dialog on the web host: use destination "download"', {
              field: 'destination',
            });
          const out = await o.savePath({
            title: input.format === 'onnx' ? 'Export the encoder as ONNX' : 'Export the encoder as a TF.js folder',
            defaultName,
            kind: input.format === 'onnx' ? 'file' : 'folder',
          });
          if (out === null) {
            const { checkpoint } = await o.analysisInput(id, 0, input.checkpointStep);
            return {
              runId: id,
              format: input.format,
              encoder: role(input.teacher),
              checkpoint,
              seconds: 0,
              bytes: 0,
              path: null,
              downloads: [],
            };
          }
          const r = await this.exportEncoder(id, { ...base, out });
          return { ...summary(r), path: input.format === 'onnx' ? r.files[r.files.length - 1] : out, downloads: [] };
        }
        // download: written to a private temporary folder, read back, removed.
        const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'isd-encoder-'));
        try {
          const r = await this.exportEncoder(id, { ...base, out: path.join(tmp, defaultName) });
          // The model before its JSON: a browser that asks before a second download has the model already.
          const modelFirst = [...r.files].sort((a, b) => Number(!a.endsWith('.onnx')) - Number(!b.endsWith('.onnx')));
          const downloads = await Promise.all(
            modelFirst.map(async (f) => ({
              filename: input.format === 'onnx' ? path.basename(f) : `${defaultName}-${path.basename(f)}`,
              mimeType: MIME[path.extname(f)] ?? 'application/octet-stream',
              base64: (await fsp.readFile(f)).toString('base64'),
            })),
          );
          return { ...summary(r), path: null, downloads };
        } finally {
          await fsp.rm(tmp, { recursive: true, force: true });
        }
      },
      'encoder.embed': async (input): Promise<EncoderEmbedding> => {
        const id = o.store.resolveRunId(input.id);
        if (this.jobs.has(input.jobId))
          throw new IsdError('CONFLICT', `job ${input.jobId} is already running`, { field: 'jobId' });
        const datasetName = path.basename(input.dataset).replace(/\.[^.]*$/, '') || 'dataset';
        const defaultName = `${datasetName}-${input.split}-${id.slice(0, 8)}.${input.format}`;
        let out: string;
        let tmp: string | null = null;
        if (input.destination === 'dialog') {
          if (!o.savePath)
            throw new IsdError('CONFLICT', 'no native dialog on the web host: use destination "download"', {
              field: 'destination',
            });
          const chosen = await o.savePath({ title: 'Save the embedding', defaultName, kind: 'file' });
          if (chosen === null) return cancelledEmbedding(id, input);
          out = /\.(npy|csv)$/i.test(chosen) ? chosen : `${chosen}.${input.format}`;
        } else {
          tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'isd-embed-'));
          out = path.join(tmp, defaultName);
        }
        const controller = new AbortController();
        this.jobs.set(input.jobId, controller);
        try {
          const r = await this.embed(id, {
            dataset: input.dataset,
            split: input.split,
            out,
            checkpointStep: input.checkpointStep,
            signal: controller.signal,
            onProgress: this.progressTo(input.jobId, id),
          });
          const downloads = tmp
            ? await Promise.all(
                r.files.map(async (f) => ({
                  filename: path.basename(f),
                  mimeType: MIME[path.extname(f)] ?? 'text/csv',
                  base64: (await fsp.readFile(f)).toString('base64'),
                })),
              )
            : [];
          return { ...embeddingSummary(r), path: tmp ? null : out, downloads };
        } finally {
          this.jobs.delete(input.jobId);
          if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
        }
      },
      'encoder.map': async (input): Promise<EncoderMap> => {
        const id = o.store.resolveRunId(input.id);
        const { base, checkpoint, seed } = await this.provenance(id);
        const controller = new AbortController();
        if (input.jobId) this.jobs.set(input.jobId, controller);
        try {
          const r = await o.analysis.request<MapResult>(
            {
              type: 'map',
              ...base,
              split: input.split,
              method: input.method,
              model: input.model,
              maxPoints: input.maxPoints,
              seed,
            },
            { signal: controller.signal, onProgress: input.jobId ? this.progressTo(input.jobId, id) : undefined },
          );
          return {
            runId: id,
            checkpoint:
              input.model === 'init' ? { epoch: 0, step: 0, at: o.store.getRunRecord(id).createdAt } : checkpoint,
            model: input.model,
            method: input.method,
            split: input.split,
            count: r.count,
            xy: Array.from(r.xy, (v) => Math.round(v * 1e5) / 1e5),
            labels: r.labels ? Array.from(r.labels) : null,
            classNames: r.classNames,
            rareClasses: r.rareClasses,
            seconds: r.seconds,
          };
        } finally {
          if (input.jobId) this.jobs.delete(input.jobId);
        }
      },
      'encoder.image': async (input) => {
        const id = o.store.resolveRunId(input.id);
        const { base, seed } = await this.provenance(id);
        const r = await o.analysis.request<{
          shape: [number, number, number];
          image: SearchPixels;
          classNames: string[] | null;
        }>({ type: 'image', ...base, split: input.split, index: input.index, seed });
        return o.thumbnail(r.image, r.shape, r.classNames);
      },
      'encoder.search': async (input): Promise<EncoderSearch> => {
        const id = o.store.resolveRunId(input.id);
        const { base, checkpoint, seed } = await this.provenance(id);
        const query =
          input.query.kind === 'dataset'
            ? input.query
            : {
                kind: 'file' as const,
                name: input.query.name,
                bytes: new Uint8Array(Buffer.from(input.query.base64, 'base64')),
              };
        const r = await o.analysis.request<SearchResult>({
          type: 'search',
          ...base,
          query,
          among: input.among,
          limit: input.limit,
          k: input.k,
          seed,
        });
        return {
          runId: id,
          checkpoint,
          among: input.among,
          searched: r.searched,
          query: await o.thumbnail(r.query, r.shape, r.classNames),
          neighbours: await Promise.all(
            r.neighbours.map(async (n) => ({
              ...(await o.thumbnail(n, r.shape, r.classNames)),
              similarity: n.similarity,
            })),
          ),
        };
      },
      'encoder.stop': (input) => {
        const job = this.jobs.get(input.jobId);
        job?.abort();
        return { stopped: job !== undefined };
      },
    };
  }

  /** encoder.progress events for a job, at most PROGRESS_PER_SEC a second (and the last one); runs.neighbours uses it too. */
  progressTo(jobId: string, runId: string): (p: TaskProgress) => void {
    let last = 0;
    return (p) => {
      const now = Date.now();
      if (now - last < 1000 / PROGRESS_PER_SEC && p.done < p.total) return;
      last = now;
      this.o.events.emit('encoder.progress', { jobId, runId, ...p });
    };
  }

  private async provenance(id: string, checkpointStep?: number) {
    const { input, checkpoint } = await this.o.analysisInput(id, 0, checkpointStep);
    const { testIndex: _unused, ...base } = input;
    const record = this.o.store.getRunRecord(id);
    const at = this.o.store.getRun(id).evals.find((e) => e.step === checkpoint.step);
    const provenance: EncoderProvenance = {
      runId: id,
      runName: record.name,
      method: record.config.method,
      arch: record.config.arch,
      checkpoint: { step: checkpoint.step, epoch: checkpoint.epoch },
      accuracy: at ? { knn1: at.knn1, knn20: at.knn20, linear: at.linear } : null,
      appVersion: this.o.appVersion,
    };
    return { base, checkpoint, provenance, seed: record.config.seed };
  }

  /** `isd embed`: the features of every image of a dataset's split, written at opts.out. */
  async embed(idOrPrefix: string, opts: EmbedOptions): Promise<EmbedResult & { checkpoint: CheckpointInfo }> {
    const id = this.o.store.resolveRunId(idOrPrefix);
    const { base, checkpoint, provenance, seed } = await this.provenance(id, opts.checkpointStep);
    const task: EmbedTask = {
      source: await this.o.resolveDataset(opts.dataset),
      split: opts.split,
      outPath: opts.out,
      seed,
      provenance,
    };
    const r = await this.o.analysis.request<EmbedResult>(
      { type: 'embed', ...base, ...task },
      { onProgress: opts.onProgress, signal: opts.signal },
    );
    return { ...r, checkpoint };
  }

  /** `isd export-encoder`: writes the export at opts.out and says what it wrote. */
  async exportEncoder(
    idOrPrefix: string,
    opts: ExportEncoderOptions,
  ): Promise<ExportEncoderResult & { runId: string; checkpoint: CheckpointInfo }> {
    const id = this.o.store.resolveRunId(idOrPrefix);
    const { base, checkpoint, provenance } = await this.provenance(id, opts.checkpointStep);
    const task: ExportEncoderTask = {
      format: opts.format,
      role: role(opts.teacher),
      outPath: opts.out,
      provenance,
    };
    const r = await this.o.analysis.request<ExportEncoderResult>({ type: 'exportEncoder', ...base, ...task });
    return { ...r, runId: id, checkpoint };
  }
}

function role(teacher: boolean): 'student' | 'teacher' {
  return teacher ? 'teacher' : 'student';
}

function summary(
  r: ExportEncoderResult & { runId: string; checkpoint: CheckpointInfo },
): Omit<EncoderExport, 'path' | 'downloads'> {
  return {
    runId: r.runId,
    format: r.info.format,
    encoder: r.info.encoder,
    checkpoint: r.checkpoint,
    seconds: r.seconds,
    bytes: r.bytes,
  };
}

function embeddingSummary(
  r: EmbedResult & { checkpoint: CheckpointInfo },
): Omit<EncoderEmbedding, 'path' | 'downloads'> {
  return {
    runId: r.info.runId,
    checkpoint: r.checkpoint,
    dataset: r.info.dataset,
    split: r.info.split,
    images: r.info.shape[0],
    dim: r.info.shape[1],
    seconds: r.info.seconds,
    imagesPerSec: r.info.imagesPerSec,
    adapted: r.info.adapted,
    skipped: r.info.skipped,
  };
}

function cancelledEmbedding(runId: string, input: { dataset: string; split: EmbedSplit }): EncoderEmbedding {
  return {
    runId,
    checkpoint: { epoch: 0, step: 0, at: 0 },
    dataset: input.dataset,
    split: input.split,
    images: 0,
    dim: 0,
    seconds: 0,
    imagesPerSec: 0,
    adapted: { from: [0, 0, 0], resizedTo: null, channels: null },
    skipped: [],
    path: null,
    downloads: [],
  };
}
