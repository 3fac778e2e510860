/**
 * IDX reader (MNIST, Fashion-MNIST, KMNIST…): a folder holding train-images-idx3-ubyte[.gz],
 * train-labels-idx1-ubyte[.gz], t10k-images-…, t10k-labels-… (raw or gzip, told apart by magic bytes),
 * or a single idx3 images file with its labels file found beside it by name.
 * Class names come from a classes.txt beside the files (one per line) when present, the Fashion-MNIST
 * names when the path says "fashion", else the label numbers.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import { listFolder } from './list-folder';
import { readNameList } from './name-list';
import type { ImageSplit, LoadedDataset } from './types';

const gunzip = promisify(zlib.gunzip);

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Element type byte of an IDX header; only unsigned bytes hold images and labels. */
const IDX_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'short',
  0x0c: 'int',
  0x0d: 'float',
  0x0e: 'double',
};

const IMAGES_FILE = /^(train|t10k|test)-images[.-]idx3-ubyte(\.gz)?$/i;

export interface IdxArray {
  dims: number[];
  data: Uint8Array; // row-major, dims[0] × dims[1] × …
}

export interface IdxFiles {
  trainImages: string;
  trainLabels: string | null;
  testImages: string | null;
  testLabels: string | null;
}

function invalid(file: string, reason: string): IsdError {
  return new IsdError('DATASET_INVALID', `${file}: ${reason}`, { path: file });
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses the header of IDX bytes: checks the magic number and returns the dimensions and header length. */
export function parseIdxHeader(bytes: Uint8Array, file: string): { dims: number[]; headerBytes: number } {
  if (bytes.length < 4) throw invalid(file, `truncated: ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Buffer.from(bytes.subarray(0, 4)).toString('hex');
    throw invalid(
      file,
      `wrong magic number 0x${magic}: not an IDX file (expected 0x0000 followed by type and rank bytes)`,
    );
  }
  const type = bytes[2];
  if (type !== IDX_UBYTE) {
    throw invalid(
      file,
      `IDX element type 0x${type.toString(16).padStart(2, '0')} (${IDX_TYPE_NAMES[type] ?? 'unknown'}) is not supported, expected 0x08 (unsigned byte)`,
    );
  }
  const rank = bytes[3];
  if (rank < 1 || rank > 4)
    throw invalid(file, `IDX rank ${rank} is not supported (expected 1 for labels, 3 or 4 for images)`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes)
    throw invalid(file, `truncated: ${bytes.length} bytes, the header alone needs ${headerBytes}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const dims: number[] = [];
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d, false));
  return { dims, headerBytes };
}

/** Decodes uncompressed IDX bytes; the data is a view (no copy). */
export function decodeIdx(bytes: Uint8Array, file: string): IdxArray {
  const { dims, headerBytes } = parseIdxHeader(bytes, file);
  const expected = checkDataBytes(file, dims, bytes.length - headerBytes);
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerBytes, expected) };
}

/** The data bytes the header's dims describe; throws when `found` is fewer or more. */
function checkDataBytes(file: string, dims: number[], found: number): number {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (found < expected)
    throw invalid(file, `truncated: header [${dims.join(', ')}] needs ${expected} data bytes, found ${found}`);
  if (found > expected)
    throw invalid(file, `${found - expected} bytes beyond the ${expected} that header [${dims.join(', ')}] describes`);
  return expected;
}

/** Uncompressed IDX bytes for an unsigned-byte array of the given dimensions. */
export function encodeIdx(dims: number[], data: Uint8Array): Buffer {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected)
    throw new RangeError(`IDX data holds ${data.length} bytes, dims [${dims.join(', ')}] need ${expected}`);
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = IDX_UBYTE;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

async function readFileOrThrow(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw fsError(err, file);
  }
}

/** Reads an IDX file, raw or gzip. */
export async function readIdxFile(file: string): Promise<IdxArray> {
  let bytes: Uint8Array = await readFileOrThrow(file);
  if (isGzip(bytes)) {
    try {
      bytes = await gunzip(bytes);
    } catch (err) {
      throw invalid(file, `truncated or corrupt gzip data (${(err as Error).message})`);
    }
  }
  return decodeIdx(bytes, file);
}

/** Dimensions of an IDX file from its first few kilobytes only (gzip decoded partially); a raw file's size is checked against them. */
export async function readIdxDims(file: string): Promise<number[]> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, 'r');
  } catch (err) {
    throw fsError(err, file);
  }
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    let bytes: Uint8Array = head.subarray(0, bytesRead);
    if (isGzip(bytes)) {
      try {
        bytes = zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } catch (err) {
        throw invalid(file, `corrupt gzip data (${(err as Error).message})`);
      }
      return parseIdxHeader(bytes, file).dims;
    }
    const { dims, headerBytes } = parseIdxHeader(bytes, file);
    checkDataBytes(file, dims, (await handle.stat()).size - headerBytes);
    return dims;
  } finally {
    await handle.close();
  }
}

/** The IDX file set in a folder, or null when the folder holds no `*-images-idx3-ubyte[.gz]`. */
export async function findIdxFiles(dir: string): Promise<IdxFiles | null> {
  const names = await listFolder(dir);
  const pick = (split: 'train' | 'test', kind: 'images' | 'labels'): string | null => {
    const prefixes = split === 'train' ? ['train'] : ['t10k', 'test'];
    const rank = kind === 'images' ? 'idx3' : 'idx1';
    const candidates = names.filter((n) => {
      const m = /^([a-z0-9]+)-(images|labels)[.-](idx[13])-ubyte(\.gz)?$/i.exec(n);
      return (
        m !== null &&
        prefixes.includes(m[1].toLowerCase()) &&
        m[2].toLowerCase() === kind &&
        m[3].toLowerCase() === rank
      );
    });
    candidates.sort((a, b) => Number(a.endsWith('.gz')) - Number(b.endsWith('.gz'))); // raw first: no inflate
    return candidates.length ? path.join(dir, candidates[0]) : null;
  };
  const trainImages = pick('train', 'images');
  const testImages = pick('test', 'images');
  if (!trainImages) {
    if (testImages) throw invalid(dir, `holds ${path.basename(testImages)} but no train-images-idx3-ubyte[.gz]`);
    return null;
  }
  return {
    trainImages,
    trainLabels: pick('train', 'labels'),
    testImages,
    testLabels: testImages ? pick('test', 'labels') : null,
  };
}

/** The labels file beside a single images file (…images-idx3-ubyte → …labels-idx1-ubyte, raw or .gz). */
export async function findLabelsBeside(imagesFile: string): Promise<string | null> {
  const base = path.basename(imagesFile).replace(/\.gz$/i, '');
  const labelsBase = base.replace(/images([.-])idx3/i, 'labels$1idx1');
  if (labelsBase === base) return null;
  for (const name of [labelsBase, `${labelsBase}.gz`]) {
    const candidate = path.join(path.dirname(imagesFile), name);
    try {
      await fsp.access(candidate);
      return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

/** True when the file starts like an IDX images file (rank 3 or 4 unsigned bytes), raw or gzip. */
export async function looksLikeIdxImages(file: string): Promise<boolean> {
  if (IMAGES_FILE.test(path.basename(file))) return true;
  try {
    const dims = await readIdxDims(file);
    return dims.length === 3 || dims.length === 4;
  } catch {
    return false;
  }
}

interface IdxImages {
  count: number;
  height: number;
  width: number;
  channels: 1 | 3;
  data: Uint8Array;
}

function asImages(arr: IdxArray, file: string): IdxImages {
  const { dims } = arr;
  // Own a tight ArrayBuffer (no header bytes, no zlib slack) so callers may transfer images.buffer to a worker.
  const data =
    arr.data.byteOffset === 0 && arr.data.buffer.byteLength === arr.data.length ? arr.data : arr.data.slice();
  if (dims.length === 3) return { count: dims[0], height: dims[1], width: dims[2], channels: 1, data };
  if (dims.length === 4 && (dims[3] === 1 || dims[3] === 3))
    return { count: dims[0], height: dims[1], width: dims[2], channels: dims[3], data };
  if (dims.length === 1) throw invalid(file, 'is an IDX labels file (rank 1); expected images (idx3)');
  throw invalid(
    file,
    `IDX dims [${dims.join(', ')}] are not images: expected [count, height, width] or [count, height, width, 1|3]`,
  );
}

function asLabels(arr: IdxArray, file: string, imagesFile: string, imageCount: number): Int32Array {
  if (arr.dims.length !== 1)
    throw invalid(file, `IDX dims [${arr.dims.join(', ')}] are not labels: expected rank 1 (idx1)`);
  if (arr.dims[0] !== imageCount) {
    throw invalid(file, `holds ${arr.dims[0]} labels but ${path.basename(imagesFile)} holds ${imageCount} images`);
  }
  return Int32Array.from(arr.data);
}

async function readClassNames(dir: string): Promise<string[] | null> {
  const file = path.join(dir, 'classes.txt');
  const names = await readNameList(file);
  if (names && names.length === 0) throw invalid(file, 'holds no class names');
  return names;
}

function checkRange(labels: ArrayLike<number>, numClasses: number, file: string, why: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses)
      throw invalid(
        file,
        `label ${labels[i]} at index ${i} is out of range: ${why}, so labels go from 0 to ${numClasses - 1}`,
      );
  }
}

interface LabelFile {
  file: string;
  labels: ArrayLike<number>;
}

/**
 * The names of the N classes, every label checked to be below N: N is the length of classes.txt where
 * there is one, else the Fashion-MNIST ten where the path says so, else the number of distinct labels
 * over both splits (a stray 255 among 0–9 is then refused, not taken for 256 classes).
 */
function classNamesOf(source: string, listedNames: string[] | null, files: LabelFile[]): string[] {
  let names: string[];
  let why: string;
  if (listedNames) {
    names = listedNames;
    why = `classes.txt lists ${names.length} classes`;
  } else if (/fashion/i.test(path.resolve(source))) {
    names = FASHION_MNIST_CLASSES;
    why = `Fashion-MNIST has ${names.length} classes`;
  } else {
    const seen = new Set<number>();
    for (const f of files) for (let i = 0; i < f.labels.length; i++) seen.add(f.labels[i]);
    names = Array.from({ length: seen.size }, (_, c) => String(c));
    why = `the labels hold ${seen.size} distinct values and there is no classes.txt naming more classes`;
  }
  for (const f of files) checkRange(f.labels, names.length, f.file, why);
  return names;
}

/** Loads an IDX folder or a single idx3 images file. Train/test come from the files; test is null for a single file. */
export async function loadIdx(source: string): Promise<LoadedDataset> {
  let stat;
  try {
    stat = await fsp.stat(source);
  } catch (err) {
    throw fsError(err, source);
  }
  let files: IdxFiles;
  let dir: string;
  if (stat.isDirectory()) {
    const found = await findIdxFiles(source);
    if (!found) throw invalid(source, 'holds no train-images-idx3-ubyte[.gz] file');
    files = found;
    dir = source;
  } else {
    files = { trainImages: source, trainLabels: await findLabelsBeside(source), testImages: null, testLabels: null };
    dir = path.dirname(source);
  }
  if (files.testImages && Boolean(files.trainLabels) !== Boolean(files.testLabels)) {
    const missing = files.trainLabels ? (files.testImages as string) : files.trainImages;
    throw invalid(
      missing,
      `has no labels file beside it (the other split has one): expected ${path.basename(missing).replace(/images([.-])idx3/i, 'labels$1idx1')}`,
    );
  }

  // All files inflate concurrently in the thread pool.
  const [trainImgArr, trainLblArr, testImgArr, testLblArr, listedNames] = await Promise.all([
    readIdxFile(files.trainImages),
    files.trainLabels ? readIdxFile(files.trainLabels) : null,
    files.testImages ? readIdxFile(files.testImages) : null,
    files.testLabels ? readIdxFile(files.testLabels) : null,
    readClassNames(dir),
  ]);
  const trainImg = asImages(trainImgArr, files.trainImages);
  const trainLabels =
    trainLblArr && files.trainLabels
      ? asLabels(trainLblArr, files.trainLabels, files.trainImages, trainImg.count)
      : null;
  let test: ImageSplit | null = null;
  let testLabels: Int32Array | null = null;
  if (testImgArr && files.testImages) {
    const testImg = asImages(testImgArr, files.testImages);
    if (
      testImg.height !== trainImg.height ||
      testImg.width !== trainImg.width ||
      testImg.channels !== trainImg.channels
    ) {
      throw invalid(
        files.testImages,
        `images are ${testImg.height}×${testImg.width}×${testImg.channels} but the training images are ${trainImg.height}×${trainImg.width}×${trainImg.channels}`,
      );
    }
    testLabels =
      testLblArr && files.testLabels ? asLabels(testLblArr, files.testLabels, files.testImages, testImg.count) : null;
    test = { count: testImg.count, images: testImg.data, labels: testLabels };
  }
  if (trainImg.count === 0) throw invalid(files.trainImages, 'holds no images');

  let classNames: string[] | null = null;
  if (trainLabels && files.trainLabels) {
    const labelled: LabelFile[] = [{ file: files.trainLabels, labels: trainLabels }];
    if (testLabels && files.testLabels) labelled.push({ file: files.testLabels, labels: testLabels });
    classNames = classNamesOf(source, listedNames, labelled);
  }

  return {
    format: 'idx',
    path: source,
    name: datasetName(source, stat.isDirectory()),
    height: trainImg.height,
    width: trainImg.width,
    channels: trainImg.channels,
    classNames,
    train: { count: trainImg.count, images: trainImg.data, labels: trainLabels },
    test,
    skipped: [],
  };
}

function datasetName(source: string, isDir: boolean): string {
  const base = path.basename(path.resolve(source));
  return isDir ? base : base.replace(/\.gz$/i, '');
}

/** Headers-only summary for listings: image counts and shape from the idx3 headers, classes from the (small) labels files. */
export async function probeIdx(
  source: string,
): Promise<{ images: number; classes: number; shape: [number, number, number] }> {
  let stat;
  try {
    stat = await fsp.stat(source);
  } catch (err) {
    throw fsError(err, source);
  }
  const files = stat.isDirectory()
    ? await findIdxFiles(source)
    : { trainImages: source, trainLabels: await findLabelsBeside(source), testImages: null, testLabels: null };
  if (!files) throw invalid(source, 'holds no train-images-idx3-ubyte[.gz] file');
  const dir = stat.isDirectory() ? source : path.dirname(source);
  const trainDims = await readIdxDims(files.trainImages);
  if (trainDims.length !== 3 && trainDims.length !== 4)
    throw invalid(files.trainImages, `IDX dims [${trainDims.join(', ')}] are not images`);
  const testDims = files.testImages ? await readIdxDims(files.testImages) : null;
  let classes = 0;
  const names = await readClassNames(dir);
  if (files.trainLabels) {
    // Labels files are small (60 kB for MNIST): read them so a listing shows a bad label as the entry's error.
    const labelled: LabelFile[] = [];
    for (const file of [files.trainLabels, files.testLabels]) {
      if (file) labelled.push({ file, labels: (await readIdxFile(file)).data });
    }
    classes = classNamesOf(source, names, labelled).length;
  }
  return {
    images: trainDims[0] + (testDims ? testDims[0] : 0),
    classes,
    shape: [trainDims[1], trainDims[2], trainDims.length === 4 ? trainDims[3] : 1],
  };
}
