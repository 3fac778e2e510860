/**
 * CIFAR-10 / CIFAR-100 binary reader. CIFAR-10: data_batch_1..5.bin + test_batch.bin, records of
 * 1 label byte + 3072 pixel bytes; CIFAR-100: train.bin + test.bin, records of coarse + fine label
 * bytes + 3072 pixel bytes (fine labels are used). Pixels are stored planar [3, 32, 32] (CHW) and
 * come out interleaved [32, 32, 3] (HWC). A folder holding cifar-10-batches-bin/ or cifar-100-binary/
 * (the archives' own folder names) is looked into.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import { listFolder } from './list-folder';
import { readNameList } from './name-list';
import type { ImageSplit, LoadedDataset } from './types';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

const SIDE = 32;
const PIXELS = SIDE * SIDE; // per channel
const IMAGE_BYTES = PIXELS * 3;

export type CifarKind = 'cifar10' | 'cifar100';

export interface CifarFiles {
  kind: CifarKind;
  dir: string;
  train: string[];
  test: string | null;
}

interface Layout {
  labelBytes: number; // label bytes before the pixels
  labelOffset: number; // which label byte is the class
  numClasses: number;
  namesFile: string;
}

const LAYOUT: Record<CifarKind, Layout> = {
  cifar10: { labelBytes: 1, labelOffset: 0, numClasses: 10, namesFile: 'batches.meta.txt' },
  cifar100: { labelBytes: 2, labelOffset: 1, numClasses: 100, namesFile: 'fine_label_names.txt' },
};

function invalid(file: string, reason: string): IsdError {
  return new IsdError('DATASET_INVALID', `${file}: ${reason}`, { path: file });
}

/** The CIFAR file set in a folder (or in its cifar-10-batches-bin / cifar-100-binary subfolder), or null. */
export async function findCifarFiles(dir: string): Promise<CifarFiles | null> {
  const names = await listFolder(dir);
  for (const sub of ['cifar-10-batches-bin', 'cifar-100-binary']) {
    if (names.includes(sub)) {
      const inner = await findCifarFiles(path.join(dir, sub));
      if (inner) return inner;
    }
  }
  const batches = names
    .map((n) => /^data_batch_(\d+)\.bin$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (batches.length > 0 || names.includes('test_batch.bin')) {
    if (batches.length === 0) throw invalid(dir, 'holds test_batch.bin but no data_batch_<n>.bin');
    for (let k = 0; k < batches.length; k++) {
      if (batches[k] !== k + 1)
        throw invalid(dir, `data_batch_${k + 1}.bin is missing (found batches ${batches.join(', ')})`);
    }
    return {
      kind: 'cifar10',
      dir,
      train: batches.map((b) => path.join(dir, `data_batch_${b}.bin`)),
      test: names.includes('test_batch.bin') ? path.join(dir, 'test_batch.bin') : null,
    };
  }
  if (names.includes('train.bin')) {
    return {
      kind: 'cifar100',
      dir,
      train: [path.join(dir, 'train.bin')],
      test: names.includes('test.bin') ? path.join(dir, 'test.bin') : null,
    };
  }
  if (names.includes('test.bin')) throw invalid(dir, 'holds test.bin but no train.bin (CIFAR-100 binary)');
  return null;
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch (err) {
    throw fsError(err, file);
  }
}

function checkRecords(file: string, size: number, layout: Layout): number {
  const record = layout.labelBytes + IMAGE_BYTES;
  if (size === 0) throw invalid(file, 'is empty');
  if (size % record !== 0) {
    throw invalid(
      file,
      `truncated or not a CIFAR batch: ${size} bytes is not a whole number of ${record}-byte records (${Math.floor(size / record)} full records + ${size % record} bytes)`,
    );
  }
  return size / record;
}

/** Reads batch files into one split: labels from the class byte, pixels CHW → HWC. */
async function readSplit(files: string[], layout: Layout): Promise<ImageSplit> {
  const record = layout.labelBytes + IMAGE_BYTES;
  const sizes = await Promise.all(files.map(fileSize));
  const counts = files.map((f, i) => checkRecords(f, sizes[i], layout));
  const total = counts.reduce((a, b) => a + b, 0);
  const images = new Uint8Array(total * IMAGE_BYTES); // [N, 32, 32, 3]
  const labels = new Int32Array(total);
  let n = 0;
  for (let f = 0; f < files.length; f++) {
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(files[f]);
    } catch (err) {
      throw fsError(err, files[f]);
    }
    if (bytes.length !== sizes[f])
      throw invalid(files[f], `changed size while being read (${sizes[f]} → ${bytes.length} bytes)`);
    for (let r = 0; r < counts[f]; r++, n++) {
      const base = r * record;
      const label = bytes[base + layout.labelOffset];
      if (label >= layout.numClasses) {
        throw invalid(
          files[f],
          `label ${label} in record ${r} is out of range: ${layout.numClasses === 10 ? 'CIFAR-10' : 'CIFAR-100 fine'} labels are 0–${layout.numClasses - 1}`,
        );
      }
      labels[n] = label;
      const src = base + layout.labelBytes;
      const dst = n * IMAGE_BYTES;
      for (let p = 0; p < PIXELS; p++) {
        const o = dst + p * 3;
        images[o] = bytes[src + p];
        images[o + 1] = bytes[src + PIXELS + p];
        images[o + 2] = bytes[src + 2 * PIXELS + p];
      }
    }
  }
  return { count: total, images, labels };
}

async function readNames(dir: string, layout: Layout): Promise<string[] | null> {
  const file = path.join(dir, layout.namesFile);
  const names = await readNameList(file);
  if (names && names.length !== layout.numClasses)
    throw invalid(file, `lists ${names.length} class names, expected ${layout.numClasses}`);
  return names;
}

function defaultNames(kind: CifarKind): string[] {
  return kind === 'cifar10' ? CIFAR10_CLASSES : Array.from({ length: 100 }, (_, c) => `class ${c}`);
}

/** Loads a CIFAR-10 or CIFAR-100 binary folder; test is null when the folder has no test batch. */
export async function loadCifar(source: string): Promise<LoadedDataset> {
  const files = await findCifarFiles(source);
  if (!files) throw invalid(source, 'holds no CIFAR binary batches (data_batch_<n>.bin or train.bin)');
  const layout = LAYOUT[files.kind];
  const train = await readSplit(files.train, layout);
  const test = files.test ? await readSplit([files.test], layout) : null;
  const classNames = (await readNames(files.dir, layout)) ?? defaultNames(files.kind);
  return {
    format: files.kind,
    path: source,
    name: path.basename(path.resolve(source)),
    height: SIDE,
    width: SIDE,
    channels: 3,
    classNames,
    train,
    test,
    skipped: [],
  };
}

/** Listing summary from file sizes only. */
export async function probeCifar(
  source: string,
): Promise<{ format: CifarKind; images: number; classes: number; shape: [number, number, number] }> {
  const files = await findCifarFiles(source);
  if (!files) throw invalid(source, 'holds no CIFAR binary batches (data_batch_<n>.bin or train.bin)');
  const layout = LAYOUT[files.kind];
  const all = files.test ? [...files.train, files.test] : files.train;
  const sizes = await Promise.all(all.map(fileSize));
  const images = all.reduce((sum, f, i) => sum + checkRecords(f, sizes[i], layout), 0);
  return { format: files.kind, images, classes: layout.numClasses, shape: [SIDE, SIDE, 3] };
}
