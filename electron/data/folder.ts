/**
 * Image-folder reader: PNG, JPEG and WebP decoded by sharp, centre-cropped and resized to a square
 * (default 32 px). Layouts:
 *   root/<class>/**.png              labelled; classes are the sub-folder names, sorted
 *   root/*.png                       unlabelled (labels null, no test split)
 *   root/train/<class>/…, root/test|val/<class>/…   labelled, with the split given by the folders
 * Sub-folders holding no images are not classes. Images beside class folders are skipped and
 * reported. Channels: 1 when every image is greyscale in its file (its header says so), else 3
 * (greyscale images among colour ones are replicated to RGB). Alpha is dropped. An image sharp
 * cannot decode (corrupt, truncated) is skipped and reported in `skipped`; if none decodes, the
 * folder is invalid.
 */
import { promises as fsp, type Dirent } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { convertChannels } from './channels';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import { selectImages, stratifiedSplit } from './split';
import type { ImageSplit, LoadedDataset, LoadProgress } from './types';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];
export const DEFAULT_FOLDER_IMAGE_SIZE = 32;
export const DEFAULT_TEST_FRACTION = 0.1;

export interface FolderLoadOptions {
  /** Side of the square output images; 0 or undefined: 32. */
  imageSize?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Share of each class held out for test when the folder has no train/test split (default 0.1). */
  testFraction?: number;
  seed?: number;
  /** Images decoded at once (default: 2 × CPU cores, at most 16). */
  concurrency?: number;
}

interface ScannedFile {
  file: string;
  label: number; // -1 when unlabelled
  split: 'train' | 'test';
}

export interface FolderScan {
  classNames: string[] | null;
  files: ScannedFile[];
  hasSplitFolders: boolean;
  /** Images that belong to no class (beside class folders). */
  outside: string[];
}

function invalid(file: string, reason: string): IsdError {
  return new IsdError('DATASET_INVALID', `${file}: ${reason}`, { path: file });
}

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

async function readEntries(dir: string): Promise<Dirent[]> {
  try {
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => !e.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    throw fsError(err, dir, 'folder');
  }
}

/** Every image file under dir, recursively, in sorted order. */
async function imagesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readEntries(dir)) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await imagesUnder(full)));
    else if (e.isFile() && isImageFile(e.name)) out.push(full);
  }
  return out;
}

/** Class folders (sub-folders holding images) of dir and the images directly in it. */
async function classFolders(dir: string): Promise<{ classes: Map<string, string[]>; loose: string[] }> {
  const classes = new Map<string, string[]>();
  const loose: string[] = [];
  for (const e of await readEntries(dir)) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      const files = await imagesUnder(full);
      if (files.length > 0) classes.set(e.name, files);
    } else if (e.isFile() && isImageFile(e.name)) loose.push(full);
  }
  return { classes, loose };
}

/** Finds the images and their labels without decoding anything. Throws for an empty folder or one with no images. */
export async function scanImageFolder(dir: string): Promise<FolderScan> {
  let all: Dirent[];
  try {
    all = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw fsError(err, dir, 'folder');
  }
  if (all.length === 0) throw invalid(dir, 'is empty');

  const entries = await readEntries(dir);
  const subdirs = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
  const testName = subdirs.has('test') ? 'test' : subdirs.has('val') ? 'val' : null;
  if (subdirs.has('train') && testName) {
    const train = await classFolders(path.join(dir, 'train'));
    const test = await classFolders(path.join(dir, testName));
    if (train.classes.size > 0) {
      const classNames = [...train.classes.keys()]; // already sorted
      const index = new Map(classNames.map((n, i) => [n, i]));
      const files: ScannedFile[] = [];
      for (const [name, list] of train.classes)
        for (const file of list) files.push({ file, label: index.get(name) as number, split: 'train' });
      for (const [name, list] of test.classes) {
        const label = index.get(name);
        if (label === undefined)
          throw invalid(path.join(dir, testName, name), `class "${name}" has no folder in ${path.join(dir, 'train')}`);
        for (const file of list) files.push({ file, label, split: 'test' });
      }
      return { classNames, files, hasSplitFolders: true, outside: [...train.loose, ...test.loose] };
    }
  }

  const { classes, loose } = await classFolders(dir);
  if (classes.size > 0) {
    const classNames = [...classes.keys()];
    const files: ScannedFile[] = [];
    classNames.forEach((name, label) => {
      for (const file of classes.get(name) as string[]) files.push({ file, label, split: 'train' });
    });
    return { classNames, files, hasSplitFolders: false, outside: loose };
  }
  if (loose.length > 0)
    return {
      classNames: null,
      files: loose.map((file) => ({ file, label: -1, split: 'train' })),
      hasSplitFolders: false,
      outside: [],
    };
  throw invalid(dir, `holds no images (${IMAGE_EXTENSIONS.join(', ')}), neither directly nor in class sub-folders`);
}

function isGreyscale(meta: sharp.Metadata): boolean {
  return meta.space === 'b-w' || meta.space === 'grey16' || meta.channels === 1 || meta.channels === 2;
}

/** Decodes one image into out[offset .. offset + size²·3) as RGB; returns whether the file is greyscale. */
async function decodeInto(file: string, size: number, out: Uint8Array, offset: number): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw fsError(err, file);
  }
  const { rgb, grey } = await decodeImage(bytes, size);
  out.set(rgb, offset);
  return grey;
}

/**
 * Decodes a PNG/JPEG/WebP held in memory to RGB uint8 [size, size, 3] (cover-cropped to the centre,
 * EXIF orientation honoured, alpha dropped); grey says whether the image is greyscale. Throws on
 * corrupt or truncated pixel data.
 */
export async function decodeImage(bytes: Buffer, size: number): Promise<{ rgb: Uint8Array; grey: boolean }> {
  // failOn 'error': truncated or corrupt pixel data fails; benign warnings (extra bytes after the end marker) pass.
  const img = sharp(bytes, { failOn: 'error' });
  const meta = await img.metadata();
  const grey = isGreyscale(meta);
  const { data, info } = await img
    .rotate() // honour EXIF orientation
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .removeAlpha()
    .toColourspace(grey ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const pixels = size * size;
  if (info.width !== size || info.height !== size || data.length !== pixels * info.channels) {
    throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}`);
  }
  if (info.channels === 3) return { rgb: new Uint8Array(data), grey };
  if (info.channels !== 1) throw new Error(`decoded to ${info.channels} channels`);
  return { rgb: convertChannels(data, pixels, 1, 3), grey };
}

/** Runs task(i) for i in [0, n) with at most `limit` in flight. */
async function forEachBounded(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

function collapseToGrey(rgb: Uint8Array, count: number, pixels: number): Uint8Array {
  const grey = new Uint8Array(count * pixels);
  for (let p = 0; p < grey.length; p++) grey[p] = rgb[3 * p];
  return grey;
}

/** Loads an image folder. Reports progress as {phase: 'scan'} then {phase: 'decode', done, total}. */
export async function loadImageFolder(dir: string, opts: FolderLoadOptions = {}): Promise<LoadedDataset> {
  const size = opts.imageSize && opts.imageSize > 0 ? opts.imageSize : DEFAULT_FOLDER_IMAGE_SIZE;
  if (!Number.isInteger(size) || size > 4096)
    throw new IsdError('BAD_INPUT', `image size must be a whole number of pixels up to 4096, got ${size}`, {
      field: 'imageSize',
    });
  const fraction = opts.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(fraction >= 0 && fraction < 1))
    throw new IsdError('BAD_INPUT', `test fraction must be in [0, 1), got ${fraction}`, { field: 'testFraction' });
  const concurrency = opts.concurrency ?? Math.min(16, 2 * os.availableParallelism());
  const report = opts.onProgress ?? (() => undefined);

  report({ done: 0, total: 0, phase: 'scan' });
  const scan = await scanImageFolder(dir);
  const n = scan.files.length;
  const imageBytes = size * size * 3;
  const rgb = new Uint8Array(n * imageBytes); // [n, size, size, 3]
  const ok = new Uint8Array(n);
  const reasons: (string | null)[] = new Array<string | null>(n).fill(null);
  let allGrey = true;
  let done = 0;
  const every = Math.max(1, Math.ceil(n / 200)); // about 200 progress reports, whatever the folder size
  report({ done: 0, total: n, phase: 'decode' });
  await forEachBounded(n, concurrency, async (i) => {
    try {
      const grey = await decodeInto(scan.files[i].file, size, rgb, i * imageBytes);
      ok[i] = 1;
      if (!grey) allGrey = false;
    } catch (err) {
      reasons[i] = err instanceof IsdError ? err.message : (err as Error).message;
    }
    done++;
    if (done % every === 0 || done === n) report({ done, total: n, phase: 'decode' });
  });

  const skipped = scan.outside.map((file) => ({ path: file, reason: 'image outside any class folder' }));
  const kept: number[] = [];
  for (let i = 0; i < n; i++) {
    if (ok[i]) kept.push(i);
    else skipped.push({ path: scan.files[i].file, reason: reasons[i] ?? 'not decoded' });
  }
  if (kept.length === 0) {
    const first = skipped.find((s) => s.reason !== 'image outside any class folder') ?? skipped[0];
    throw invalid(dir, `none of its ${n} images could be decoded (first: ${first.path}: ${first.reason})`);
  }

  const channels: 1 | 3 = allGrey ? 1 : 3;
  const all: ImageSplit = {
    count: n,
    images: allGrey ? collapseToGrey(rgb, n, size * size) : rgb,
    labels: scan.classNames ? Int32Array.from(scan.files, (f) => f.label) : null,
  };
  const bytesPerImage = size * size * channels;
  const keptOf = (split: 'train' | 'test') => Int32Array.from(kept.filter((i) => scan.files[i].split === split));
  let train: ImageSplit;
  let test: ImageSplit | null = null;
  const fileOf = (indices: ArrayLike<number>, base: ArrayLike<number>) =>
    Array.from(indices, (i) => scan.files[base[i]].file);
  let sources: NonNullable<LoadedDataset['sources']>;
  if (scan.hasSplitFolders) {
    const trainIdx = keptOf('train');
    train = selectImages(all, trainIdx, bytesPerImage);
    const testIdx = keptOf('test');
    test = testIdx.length > 0 ? selectImages(all, testIdx, bytesPerImage) : null;
    sources = {
      train: Array.from(trainIdx, (i) => scan.files[i].file),
      test: test ? Array.from(testIdx, (i) => scan.files[i].file) : null,
    };
  } else {
    const keptIdx = Int32Array.from(kept);
    train = selectImages(all, keptIdx, bytesPerImage);
    sources = { train: kept.map((i) => scan.files[i].file), test: null };
    if (train.labels && fraction > 0) {
      const parts = stratifiedSplit(train.labels, fraction, opts.seed ?? 0);
      if (parts.test.length > 0) {
        test = selectImages(train, parts.test, bytesPerImage);
        train = selectImages(train, parts.train, bytesPerImage);
        sources = { train: fileOf(parts.train, keptIdx), test: fileOf(parts.test, keptIdx) };
      }
    }
  }
  if (train.count === 0) throw invalid(dir, 'no training image could be decoded');

  return {
    format: 'folder',
    path: dir,
    name: path.basename(path.resolve(dir)),
    height: size,
    width: size,
    channels,
    classNames: scan.classNames,
    train,
    test,
    skipped,
    sources,
  };
}

/** Listing summary without decoding: file count, class count; channels from the first image's header only. */
export async function probeImageFolder(
  dir: string,
  imageSize = DEFAULT_FOLDER_IMAGE_SIZE,
): Promise<{ images: number; classes: number; shape: [number, number, number] }> {
  const scan = await scanImageFolder(dir);
  let channels = 3;
  try {
    channels = isGreyscale(await sharp(scan.files[0].file).metadata()) ? 1 : 3;
  } catch {
    // a corrupt first image: the load will skip it and report it; the listing keeps 3
  }
  return {
    images: scan.files.length,
    classes: scan.classNames ? scan.classNames.length : 0,
    shape: [imageSize, imageSize, channels],
  };
}
