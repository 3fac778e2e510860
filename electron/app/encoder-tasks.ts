/**
 * The analysis worker's tensor work on a run's trained encoder (docs/encoder.md): export the backbone
 * as ONNX or TF.js; the features of any dataset the app reads (embed, the map, search) through the one
 * feature cache. Runs inside analysis-worker.ts, on the run it has loaded.
 */
import path from 'node:path';
import { refuseForeignFiles, writeFilesAtomically, writeFolderAtomically, type FileToWrite } from '../atomic-write';
import { csvText } from '../csv';
import { loadDataset } from '../data';
import { convertChannels } from '../data/channels';
import type { ImageSplit, LoadedDataset } from '../data/types';
import { EVAL_RESIZE } from '../engine/augment';
import { extractFeatures } from '../engine/evaluate';
import { createTrainingStep, type TrainingStep } from '../engine/training-step';
import {
  encoderExportFiles,
  NORMALISATION_NOTE,
  readBackboneWeights,
  TFJS_INFO_JSON,
  type EncoderExportInfo,
  type EncoderFormat,
  type EncoderRole,
} from '../engine/encoder-export';
import { IsdError } from '../errors';
import type { LoadedRun } from './analysis-worker';
import { FeatureCache, type FeatureRows } from './feature-cache';

/** Whether a file's start is a JSON object of an earlier export or embedding: it names its run and `fields`. */
function earlierResultJson(...fields: string[]): (head: string) => boolean {
  return (head) => {
    try {
      const o = JSON.parse(head) as Record<string, unknown> | null;
      return typeof o?.runId === 'string' && fields.every((f) => o[f] !== undefined);
    } catch {
      return false; // not JSON, or longer than the part read: not one of ours
    }
  };
}

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
    input: {
      name: 'pixels',
      shape: [null, size, size, spec.channels],
      dtype: 'float32',
      range: [0, 1],
      resize: EVAL_RESIZE,
    },
    output: { name: 'features', shape: [null, spec.featureDim], l2Normalised: false },
    normalisation: { insideModel: true, note: NORMALISATION_NOTE, mean: run.norm.mean, std: run.norm.std },
    exportedAt: new Date().toISOString(),
  };
  const graph = { spec, weights: await readBackboneWeights(run.step.params, task.role), size, ...run.norm };
  const files = await encoderExportFiles(task.format, graph, info, path.basename(outPath));
  let written: string[];
  if (task.format === 'onnx') {
    // The .json beside the named .onnx replaces only an earlier export's.
    const targets = files.map((f) => {
      const target = path.join(path.dirname(outPath), f.name);
      return target === outPath
        ? { path: target, data: f.data }
        : { path: target, data: f.data, replaceIf: earlierResultJson('format', 'input') };
    });
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

// ---------------------------------------------------------------------------------------------
// Features of any dataset: embed, the map, search
// ---------------------------------------------------------------------------------------------

export const EMBED_SPLITS = ['train', 'test', 'all'] as const;
export type EmbedSplit = (typeof EMBED_SPLITS)[number];
/** The trained student backbone (what kNN evaluates), or the same architecture at its random init (step 0). */
export type FeatureModel = 'trained' | 'init';

/** Progress and stop of a long task, wired by the worker to its messages. */
export interface TaskContext {
  progress(p: TaskProgress): void;
  /** Throws when the user stopped the task. */
  checkStopped(): void;
}

export interface TaskProgress {
  phase: 'load' | 'features' | 'umap' | 'write';
  done: number;
  total: number;
  /** Images per second of the feature pass so far. */
  imagesPerSec: number | null;
}

/** Rows of a split as the run's encoder reads them: the run's channels, any size (toEvalBatch resizes). */
export interface EmbedSet {
  key: string;
  datasetPath: string;
  split: EmbedSplit;
  images: Uint8Array; // [count, h, w, c]
  count: number;
  h: number;
  w: number;
  c: 1 | 3;
  labels: Int32Array | null;
  classNames: string[] | null;
  /** Split and index in it of each row, and the file it came from (image folders). */
  rowSplit: ('train' | 'test')[];
  rowIndex: Int32Array;
  rowFile: (string | null)[] | null;
  /** What was done to fit the run's input: [h, w, c] read; resized to the run's size; grey/colour converted. */
  adapted: { from: [number, number, number]; resizedTo: number | null; channels: 'grey→colour' | 'colour→grey' | null };
  skipped: { path: string; reason: string }[];
}

let otherDataset: { key: string; ds: Promise<LoadedDataset> } | null = null;
let lastSet: EmbedSet | null = null;
let initModel: { key: string; step: TrainingStep } | null = null;
export const featureCache = new FeatureCache();

/** The dataset at `p` as the run reads it: the run's own when it is the run's dataset, else loaded at the run's size. */
async function datasetAt(run: LoadedRun, p: string, seed: number): Promise<LoadedDataset> {
  if (path.resolve(p) === path.resolve(run.ds.path)) return run.ds;
  const key = `${path.resolve(p)}\0${run.imageSize}\0${seed}`;
  if (otherDataset?.key !== key) {
    const ds = loadDataset(p, { imageSize: run.imageSize, seed });
    otherDataset = { key, ds };
    ds.catch(() => {
      if (otherDataset?.key === key) otherDataset = null;
    });
  }
  return otherDataset.ds;
}

/** A split (or train then test for 'all') of a dataset, converted to the run's channels. Order: the dataset's. */
export async function embedSet(
  run: LoadedRun,
  datasetPath: string,
  split: EmbedSplit,
  seed: number,
): Promise<EmbedSet> {
  const ds = await datasetAt(run, datasetPath, seed);
  const key = `${path.resolve(ds.path)}\0${run.imageSize}\0${seed}\0${split}`;
  if (lastSet?.key === key) return lastSet;
  const parts: { name: 'train' | 'test'; split: ImageSplit; files: string[] | null }[] = [];
  if (split !== 'test') parts.push({ name: 'train', split: ds.train, files: ds.sources?.train ?? null });
  if (split !== 'train') {
    if (ds.test) parts.push({ name: 'test', split: ds.test, files: ds.sources?.test ?? null });
    else if (split === 'test')
      throw new IsdError('BAD_INPUT', `${ds.path}: the dataset has no test split; use --split train or all`, {
        field: 'split',
        path: ds.path,
      });
  }
  const c = run.step.spec.backbone.channels as 1 | 3;
  const px = ds.height * ds.width;
  const count = parts.reduce((n, p) => n + p.split.count, 0);
  const images = new Uint8Array(count * px * c);
  const labelled = parts.every((p) => p.split.labels !== null);
  const labels = labelled ? new Int32Array(count) : null;
  const rowSplit: ('train' | 'test')[] = [];
  const rowIndex = new Int32Array(count);
  const rowFile = ds.sources ? ([] as (string | null)[]) : null;
  let at = 0;
  for (const p of parts) {
    images.set(convertChannels(p.split.images, p.split.count * px, ds.channels, c), at * px * c);
    if (labels) labels.set(p.split.labels as Int32Array, at);
    for (let i = 0; i < p.split.count; i++) {
      rowSplit.push(p.name);
      rowIndex[at + i] = i;
      rowFile?.push(p.files?.[i] ?? null);
    }
    at += p.split.count;
  }
  if (count === 0)
    throw new IsdError('BAD_INPUT', `${ds.path}: the ${split} split holds no images`, { field: 'split' });
  lastSet = {
    key,
    datasetPath: ds.path,
    split,
    images,
    count,
    h: ds.height,
    w: ds.width,
    c,
    labels,
    classNames: ds.classNames,
    rowSplit,
    rowIndex,
    rowFile,
    adapted: {
      from: [ds.height, ds.width, ds.channels],
      // folder images are decoded straight to the run's size; other formats are resized by toEvalBatch
      resizedTo:
        ds.format === 'folder' || ds.height !== run.imageSize || ds.width !== run.imageSize ? run.imageSize : null,
      channels: ds.channels === c ? null : ds.channels === 1 ? 'grey→colour' : 'colour→grey',
    },
    skipped: ds.skipped,
  };
  return lastSet;
}

/** The run's architecture at its random initialisation: rebuilt from the run's seed (createTrainingStep is deterministic). */
function initStep(run: LoadedRun): TrainingStep {
  const key = JSON.stringify(run.step.options);
  if (initModel?.key !== key) {
    initModel?.step.dispose();
    initModel = { key, step: createTrainingStep(run.step.options) };
  }
  return initModel.step;
}

/** The L2-normalised features [count, D] of the set's first `count` rows, from the feature cache. */
export async function setFeatures(
  run: LoadedRun,
  set: EmbedSet,
  model: FeatureModel,
  count: number,
  ctx: TaskContext | null,
  batchSize = 256,
): Promise<FeatureRows> {
  const step = model === 'trained' ? run.step : initStep(run);
  const key = `${model === 'trained' ? run.key : `init\0${JSON.stringify(run.step.options)}`}\0${set.key}`;
  return featureCache.rows(key, count, async (n) => {
    const t0 = performance.now();
    ctx?.progress({ phase: 'features', done: 0, total: n, imagesPerSec: null });
    return extractFeatures(
      (x) => step.studentEmbed(x),
      set.images,
      n,
      { h: set.h, w: set.w, c: set.c },
      {
        size: run.imageSize,
        ...run.norm,
        batchSize,
        onBatch: async (done) => {
          ctx?.progress({ phase: 'features', done, total: n, imagesPerSec: done / ((performance.now() - t0) / 1000) });
          await new Promise((r) => setImmediate(r)); // let a stop message in
          ctx?.checkStopped();
        },
      },
    );
  });
}

/** numpy's .npy (format 1.0): a little-endian float32 C-order array of `shape`. */
export function npyBytes(data: Float32Array, shape: number[]): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1; // magic 6, version 2, header length 2, dict, '\n'
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export interface EmbedTask {
  /** The dataset to embed (not datasetPath, which names the run's own in the worker's request). */
  source: string;
  split: EmbedSplit;
  /** .npy (with .csv and .embedding.json beside it) or .csv (with .embedding.json beside it). */
  outPath: string;
  seed: number;
  provenance: EncoderProvenance;
}

/** What the JSON beside an embedding says. */
export interface EmbedInfo {
  runId: string;
  runName: string;
  checkpoint: { step: number; epoch: number };
  dataset: string;
  split: EmbedSplit;
  /** Row i of the features is row i of the CSV: the dataset's order, train before test for 'all'. */
  order: string;
  shape: [number, number];
  dtype: 'float32';
  l2Normalised: true;
  adapted: EmbedSet['adapted'];
  skipped: { path: string; reason: string }[];
  classNames: string[] | null;
  seconds: number;
  imagesPerSec: number;
}

export interface EmbedResult {
  info: EmbedInfo;
  files: string[];
}

/** The columns that say which image a row of an embedding is. */
const EMBED_ROW_HEADER = ['index', 'split', 'position', 'label', 'class', 'file'];

const ORDER =
  "the dataset's own order: IDX and CIFAR as in their files (train file, then test file for 'all'); an image folder as listed (class folders in name order, files in name order), its held-out test images after the training ones";

export async function embedDataset(run: LoadedRun, task: EmbedTask, ctx: TaskContext): Promise<EmbedResult> {
  const outPath = path.resolve(task.outPath);
  const ext = path.extname(outPath).toLowerCase();
  if (ext !== '.npy' && ext !== '.csv')
    throw new IsdError('BAD_INPUT', `${outPath}: the output file must end in .npy or .csv`, { field: 'out' });
  const base = outPath.slice(0, -ext.length);
  // The files beside the named one replace only an earlier embedding's; checked before the features are computed.
  const infoFile = { path: `${base}.embedding.json`, replaceIf: earlierResultJson('split', 'shape') };
  // An earlier embedding's .csv: its rows alone, or (a .csv embedding) its rows and features.
  const rowsHeader = csvText(EMBED_ROW_HEADER, []).trimEnd();
  const rowsFile = { path: `${base}.csv`, replaceIf: (head: string) => head.startsWith(rowsHeader) };
  await refuseForeignFiles(ext === '.npy' ? [infoFile, rowsFile] : [infoFile]);
  ctx.progress({ phase: 'load', done: 0, total: 1, imagesPerSec: null });
  const set = await embedSet(run, task.source, task.split, task.seed);
  const t0 = performance.now();
  const rows = await setFeatures(run, set, 'trained', set.count, ctx);
  const seconds = (performance.now() - t0) / 1000;
  ctx.progress({ phase: 'write', done: 0, total: 1, imagesPerSec: set.count / seconds });
  const info: EmbedInfo = {
    runId: task.provenance.runId,
    runName: task.provenance.runName,
    checkpoint: task.provenance.checkpoint,
    dataset: set.datasetPath,
    split: task.split,
    order: ORDER,
    shape: [set.count, rows.dim],
    dtype: 'float32',
    l2Normalised: true,
    adapted: set.adapted,
    skipped: set.skipped,
    classNames: set.classNames,
    seconds,
    imagesPerSec: set.count / seconds,
  };
  const className = (i: number) => (set.labels ? (set.classNames?.[set.labels[i]] ?? String(set.labels[i])) : null);
  const rowCells = (i: number) => [
    i,
    set.rowSplit[i],
    set.rowIndex[i],
    set.labels?.[i] ?? null,
    className(i),
    set.rowFile?.[i] ?? null,
  ];
  // .embedding.json, not .json: an ONNX export named alike in the same folder writes <name>.json
  const files: FileToWrite[] = [{ ...infoFile, data: JSON.stringify(info, null, 2) }];
  if (ext === '.npy') {
    files.push({
      ...rowsFile,
      data: csvText(
        EMBED_ROW_HEADER,
        Array.from({ length: set.count }, (_, i) => rowCells(i)),
      ),
    });
    files.push({ path: outPath, data: npyBytes(rows.features, [set.count, rows.dim]) });
  } else {
    const dims = Array.from({ length: rows.dim }, (_, d) => `f${d}`);
    const lines = Array.from({ length: set.count }, (_, i) => [
      ...rowCells(i),
      ...rows.features.subarray(i * rows.dim, (i + 1) * rows.dim),
    ]);
    files.push({ path: outPath, data: csvText([...EMBED_ROW_HEADER, ...dims], lines) });
  }
  await writeFilesAtomically(files);
  return { info, files: files.map((f) => f.path) };
}
