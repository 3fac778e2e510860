/**
 * One door to every reader: detects the format of a path, loads it, and gives a labelled dataset
 * without a test split a seeded stratified one.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import { findCifarFiles, loadCifar } from './cifar';
import { DEFAULT_TEST_FRACTION, isImageFile, loadImageFolder } from './folder';
import { findIdxFiles, loadIdx, looksLikeIdxImages } from './idx';
import { countClasses, selectImages, stratifiedSplit } from './split';
import {
  SKIPPED_LISTED,
  type DatasetFormat,
  type DatasetSummary,
  type ImageSplit,
  type LoadedDataset,
  type LoadProgress,
} from './types';

export interface LoadOptions {
  /** Folder datasets: side of the square images (default 32; 0 means the default). Other formats keep their size. */
  imageSize?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Share of each class held out for test when the format has no test split (default 0.1; 0: no test split). */
  testFraction?: number;
  /** Seed of that split. */
  seed?: number;
}

function invalid(file: string, reason: string): IsdError {
  return new IsdError('DATASET_INVALID', `${file}: ${reason}`, { path: file });
}

/** The format of a dataset file or folder, from its names and headers; throws when it is none we read. */
export async function detectFormat(source: string): Promise<DatasetFormat> {
  let stat;
  try {
    stat = await fsp.stat(source);
  } catch (err) {
    throw fsError(err, source, 'file or folder');
  }
  if (stat.isDirectory()) {
    if (await findIdxFiles(source)) return 'idx';
    const cifar = await findCifarFiles(source);
    if (cifar) return cifar.kind;
    return 'folder';
  }
  const name = path.basename(source);
  if (/labels[.-]idx1-ubyte(\.gz)?$/i.test(name))
    throw invalid(source, 'is an IDX labels file: give the images file (…-images-idx3-ubyte) or the folder');
  if (await looksLikeIdxImages(source)) return 'idx';
  if (isImageFile(name)) throw invalid(source, 'is a single image: give the folder that holds the images');
  if (/\.bin$/i.test(name))
    throw invalid(source, 'looks like a single CIFAR batch: give the folder that holds the batches');
  throw invalid(
    source,
    'unknown dataset format: expected an IDX images file or folder (MNIST family), a CIFAR-10/100 binary folder, or a folder of PNG/JPEG/WebP images',
  );
}

/** Loads any supported dataset. A labelled dataset whose format has no test split gets a seeded stratified one. */
export async function loadDataset(source: string, opts: LoadOptions = {}): Promise<LoadedDataset> {
  const fraction = opts.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(fraction >= 0 && fraction < 1))
    throw new IsdError('BAD_INPUT', `test fraction must be in [0, 1), got ${fraction}`, { field: 'testFraction' });
  const format = await detectFormat(source);
  opts.onProgress?.({ done: 0, total: 1, phase: 'read' });
  let ds: LoadedDataset;
  if (format === 'folder') ds = await loadImageFolder(source, opts);
  else if (format === 'idx') ds = await loadIdx(source);
  else ds = await loadCifar(source);
  if (format !== 'folder') opts.onProgress?.({ done: 1, total: 1, phase: 'read' });
  if (!ds.test && ds.train.labels && fraction > 0) {
    const imageBytes = ds.height * ds.width * ds.channels;
    const parts = stratifiedSplit(ds.train.labels, fraction, opts.seed ?? 0);
    if (parts.test.length > 0) {
      const test = selectImages(ds.train, parts.test, imageBytes);
      const train = selectImages(ds.train, parts.train, imageBytes);
      ds = { ...ds, train, test, sources: undefined }; // a folder splits itself; other formats have no files per image
    }
  }
  return ds;
}

function splitSummary(split: ImageSplit, classes: number): { images: number; classCounts: number[] | null } {
  return { images: split.count, classCounts: split.labels ? countClasses(split.labels, classes) : null };
}

/** What `isd datasets inspect` prints, from an already loaded dataset. */
export function summarizeDataset(ds: LoadedDataset): DatasetSummary {
  const classes = ds.classNames ? ds.classNames.length : 0;
  return {
    format: ds.format,
    path: ds.path,
    name: ds.name,
    shape: [ds.height, ds.width, ds.channels],
    classes,
    classNames: ds.classNames,
    splits: ds.test
      ? { train: splitSummary(ds.train, classes), test: splitSummary(ds.test, classes) }
      : { train: splitSummary(ds.train, classes) },
    skipped: ds.skipped.length,
    skippedFiles: ds.skipped.slice(0, SKIPPED_LISTED),
  };
}

/** Loads the dataset fully and summarises it (class counts per split). */
export async function inspectDataset(source: string, opts: LoadOptions = {}): Promise<DatasetSummary> {
  return summarizeDataset(await loadDataset(source, opts));
}
