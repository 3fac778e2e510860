/**
 * The analysis worker's tensor work on a run's trained encoder (issue "use what you trained"): export
 * the backbone as ONNX or TF.js. Runs inside analysis-worker.ts, on the run it has loaded.
 */
import path from 'node:path';
import { writeFilesAtomically, writeFolderAtomically } from '../atomic-write';
import {
  encoderExportFiles,
  readBackboneWeights,
  TFJS_INFO_JSON,
  type EncoderExportInfo,
  type EncoderFormat,
  type EncoderRole,
} from '../engine/encoder-export';
import { IsdError } from '../errors';
import type { LoadedRun } from './analysis-worker';

/** What main knows about the export (the run, its checkpoint, its accuracy); the worker adds the rest. */
export type EncoderProvenance = Pick<
  EncoderExportInfo,
  'runId' | 'runName' | 'method' | 'arch' | 'checkpoint' | 'accuracy' | 'appVersion'
>;

export interface ExportEncoderTask {
  format: EncoderFormat;
  role: EncoderRole;
  /** ONNX: the .onnx file (its JSON beside it, same name); TF.js: the folder to create. */
  outPath: string;
  provenance: EncoderProvenance;
}

export interface ExportEncoderResult {
  info: EncoderExportInfo;
  /** Every file written, absolute. */
  files: string[];
  bytes: number;
  seconds: number;
}

/** Writes the export: every file under a temporary name first, so a full disk leaves nothing behind. */
export async function exportEncoder(run: LoadedRun, task: ExportEncoderTask): Promise<ExportEncoderResult> {
  const t0 = performance.now();
  const outPath = path.resolve(task.outPath);
  if (task.format === 'onnx' && !/\.onnx$/i.test(outPath))
    throw new IsdError('BAD_INPUT', `${outPath}: an ONNX export's file name ends in .onnx`, { field: 'out' });
  const spec = run.step.spec.backbone;
  const size = run.imageSize;
  const info: EncoderExportInfo = {
    ...task.provenance,
    format: task.format,
    encoder: task.role,
    input: { name: 'pixels', shape: [null, size, size, spec.channels], dtype: 'float32', range: [0, 1] },
    output: { name: 'features', shape: [null, spec.featureDim], l2Normalised: false },
    normalisation: { mean: run.norm.mean, std: run.norm.std },
    exportedAt: new Date().toISOString(),
  };
  const graph = { spec, weights: await readBackboneWeights(run.step.params, task.role), size, ...run.norm };
  const files = await encoderExportFiles(task.format, graph, info, path.basename(outPath));
  let written: string[];
  if (task.format === 'onnx') {
    const targets = files.map((f) => ({ path: path.join(path.dirname(outPath), f.name), data: f.data }));
    await writeFilesAtomically(targets);
    written = targets.map((t) => t.path);
  } else {
    await writeFolderAtomically(
      outPath,
      files.map((f) => ({ path: f.name, data: f.data })),
      (names) => names.includes(TFJS_INFO_JSON),
    );
    written = files.map((f) => path.join(outPath, f.name));
  }
  const bytes = files.reduce((n, f) => n + (typeof f.data === 'string' ? Buffer.byteLength(f.data) : f.data.length), 0);
  return { info, files: written, bytes, seconds: (performance.now() - t0) / 1000 };
}
