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
import type { CheckpointInfo, EncoderExport, Handlers } from '../contract';
import type { EncoderFormat } from '../engine/encoder-export';
import { IsdError } from '../errors';
import type { RunStore } from '../store';
import type { AnalysisClient } from './analysis-client';
import type { RunAnalysisInput } from './analysis-worker';
import type { ExportEncoderResult, ExportEncoderTask } from './encoder-tasks';

export type EncoderChannel = 'encoder.export';
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
}

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
          const downloads = await Promise.all(
            r.files.map(async (f) => ({
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
    };
  }

  /** `isd export-encoder`: writes the export at opts.out and says what it wrote. */
  async exportEncoder(
    idOrPrefix: string,
    opts: ExportEncoderOptions,
  ): Promise<ExportEncoderResult & { runId: string; checkpoint: CheckpointInfo }> {
    const id = this.o.store.resolveRunId(idOrPrefix);
    const { input, checkpoint } = await this.o.analysisInput(id, 0, opts.checkpointStep);
    const { testIndex: _unused, ...base } = input;
    const record = this.o.store.getRunRecord(id);
    const at = this.o.store.getRun(id).evals.find((e) => e.step === checkpoint.step);
    const task: ExportEncoderTask = {
      format: opts.format,
      role: role(opts.teacher),
      outPath: opts.out,
      provenance: {
        runId: id,
        runName: record.name,
        method: record.config.method,
        arch: record.config.arch,
        checkpoint: { step: checkpoint.step, epoch: checkpoint.epoch },
        accuracy: at ? { knn1: at.knn1, knn20: at.knn20, linear: at.linear } : null,
        appVersion: this.o.appVersion,
      },
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
