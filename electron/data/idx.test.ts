import { mkdtempSync, promises as fsp, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { FASHION_MNIST_CLASSES, encodeIdx, loadIdx, probeIdx, readIdxDims } from './idx';
import { loadDataset } from './load';
import { countClasses } from './split';

const FASHION = '/usr/share/datasets/fashion-mnist';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'isd-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function expectIsdError(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<IsdError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected an IsdError').toBeInstanceOf(IsdError);
  const e = err as IsdError;
  expect(e.code).toBe(code);
  for (const part of parts) expect(e.message).toMatch(part);
  return e;
}

/** A small valid IDX dataset in a fresh folder: n images of h×w with labels i % classes. */
async function writeIdxSet(
  name: string,
  o: { n?: number; testN?: number; h?: number; w?: number; classes?: number; gzip?: boolean } = {},
): Promise<string> {
  const { n = 20, testN = 10, h = 4, w = 3, classes = 5, gzip = false } = o;
  const dir = path.join(tmp, name);
  await fsp.mkdir(dir, { recursive: true });
  const write = async (file: string, bytes: Buffer) =>
    fsp.writeFile(path.join(dir, gzip ? `${file}.gz` : file), gzip ? zlib.gzipSync(bytes) : bytes);
  const pixels = (count: number, base: number) =>
    Uint8Array.from({ length: count * h * w }, (_, i) => (i + base) % 256);
  const labels = (count: number) => Uint8Array.from({ length: count }, (_, i) => i % classes);
  await write('train-images-idx3-ubyte', encodeIdx([n, h, w], pixels(n, 0)));
  await write('train-labels-idx1-ubyte', encodeIdx([n], labels(n)));
  await write('t10k-images-idx3-ubyte', encodeIdx([testN, h, w], pixels(testN, 7)));
  await write('t10k-labels-idx1-ubyte', encodeIdx([testN], labels(testN)));
  return dir;
}

describe('IDX reader on the real Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('loads 60,000 + 10,000 images of 28×28×1, 6,000 / 1,000 per class, quickly', async () => {
    const t0 = performance.now();
    const ds = await loadDataset(FASHION);
    const ms = performance.now() - t0;
    console.log(`Fashion-MNIST train+test load: ${ms.toFixed(0)} ms (shared machine)`);
    expect(ms).toBeLessThan(5000); // gross-regression guard; the target is well under 2 s
    expect(ds.format).toBe('idx');
    expect([ds.height, ds.width, ds.channels]).toEqual([28, 28, 1]);
    expect(ds.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(ds.train.count).toBe(60_000);
    expect(ds.train.images.length).toBe(60_000 * 28 * 28);
    expect(countClasses(ds.train.labels as Int32Array, 10)).toEqual(new Array(10).fill(6000));
    expect(ds.test?.count).toBe(10_000);
    expect(countClasses(ds.test?.labels as Int32Array, 10)).toEqual(new Array(10).fill(1000));
    expect(ds.skipped).toEqual([]);
    // Each split owns its whole buffer, so the engine can transfer it to a worker.
    expect(ds.train.images.byteOffset).toBe(0);
    expect(ds.train.images.buffer.byteLength).toBe(ds.train.images.length);

    // The first training label, read straight from the file's bytes: idx1 header (magic 0x00000801, count) then labels.
    const raw = zlib.gunzipSync(readFileSync(path.join(FASHION, 'train-labels-idx1-ubyte.gz')));
    expect(raw.readUInt32BE(0)).toBe(0x801);
    expect(raw.readUInt32BE(4)).toBe(60_000);
    expect(raw[8]).toBe(9);
    expect(ds.train.labels?.[0]).toBe(raw[8]);
    expect(ds.classNames?.[ds.train.labels?.[0] as number]).toBe('Ankle boot');

    // First image's pixels straight from the images file (16-byte idx3 header).
    const imgHead = zlib
      .gunzipSync(readFileSync(path.join(FASHION, 'train-images-idx3-ubyte.gz')))
      .subarray(16, 16 + 784);
    expect(Buffer.from(ds.train.images.subarray(0, 784)).equals(imgHead)).toBe(true);
  });

  it('reads the dimensions from the gzip header alone', async () => {
    expect(await readIdxDims(path.join(FASHION, 'train-images-idx3-ubyte.gz'))).toEqual([60_000, 28, 28]);
    expect(await readIdxDims(path.join(FASHION, 't10k-labels-idx1-ubyte.gz'))).toEqual([10_000]);
  });

  it('loads a single images file with its labels found beside it, and gives it a stratified test split', async () => {
    const ds = await loadDataset(path.join(FASHION, 't10k-images-idx3-ubyte.gz'), { testFraction: 0.1, seed: 3 });
    expect(ds.train.count + (ds.test?.count ?? 0)).toBe(10_000);
    expect(countClasses(ds.test?.labels as Int32Array, 10)).toEqual(new Array(10).fill(100));
    expect(countClasses(ds.train.labels as Int32Array, 10)).toEqual(new Array(10).fill(900));
  });
});

describe('IDX reader on files the test writes', () => {
  it('reads raw and gzip files alike', async () => {
    const raw = await loadIdx(await writeIdxSet('raw'));
    const gz = await loadIdx(await writeIdxSet('gz', { gzip: true }));
    expect(raw.train.count).toBe(20);
    expect(raw.test?.count).toBe(10);
    expect([raw.height, raw.width, raw.channels]).toEqual([4, 3, 1]);
    expect(Array.from(raw.train.images.subarray(0, 5))).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(raw.test?.images.subarray(0, 2) ?? [])).toEqual([7, 8]);
    expect(Array.from(raw.train.labels ?? []).slice(0, 7)).toEqual([0, 1, 2, 3, 4, 0, 1]);
    expect(raw.classNames).toEqual(['0', '1', '2', '3', '4']);
    expect(Buffer.from(gz.train.images).equals(Buffer.from(raw.train.images))).toBe(true);
    expect(Array.from(gz.test?.labels ?? [])).toEqual(Array.from(raw.test?.labels ?? []));
  });

  it('takes class names from classes.txt and refuses labels beyond them', async () => {
    const dir = await writeIdxSet('named', { classes: 5 });
    await fsp.writeFile(path.join(dir, 'classes.txt'), 'a\nb\nc\nd\ne\n');
    expect((await loadIdx(dir)).classNames).toEqual(['a', 'b', 'c', 'd', 'e']);
    await fsp.writeFile(path.join(dir, 'classes.txt'), 'a\nb\nc\n');
    await expectIsdError(
      loadIdx(dir),
      'DATASET_INVALID',
      'train-labels-idx1-ubyte',
      /label 3 at index 3 is out of range/,
      /3 classes/,
    );
  });

  it('refuses a test label no training image has', async () => {
    const dir = await writeIdxSet('testrange', { classes: 5 });
    await fsp.writeFile(
      path.join(dir, 't10k-labels-idx1-ubyte'),
      encodeIdx([10], Uint8Array.from([0, 1, 2, 3, 4, 0, 1, 2, 3, 7])),
    );
    await expectIsdError(
      loadIdx(dir),
      'DATASET_INVALID',
      't10k-labels-idx1-ubyte',
      /label 7 at index 9 is out of range/,
    );
  });

  it('counts the classes as the distinct labels and refuses a stray 255, naming the file, index and value', async () => {
    const dir = await writeIdxSet('stray255', { classes: 5 });
    expect((await loadIdx(dir)).classNames).toEqual(['0', '1', '2', '3', '4']);
    const labels = Uint8Array.from({ length: 20 }, (_, i) => i % 5);
    labels[13] = 255; // 6 distinct values: 0–4 and 255
    await fsp.writeFile(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([20], labels));
    const e = await expectIsdError(
      loadIdx(dir),
      'DATASET_INVALID',
      /train-labels-idx1-ubyte: label 255 at index 13 is out of range/,
      /6 distinct values/,
    );
    expect(e.path).toBe(path.join(dir, 'train-labels-idx1-ubyte'));
    // The listing's probe refuses it the same way (the entry shows the error; runs.start refuses it).
    await expect(probeIdx(dir)).rejects.toThrow(/label 255 at index 13 is out of range/);
  });

  it('refuses a truncated images file, naming it and the byte counts', async () => {
    const dir = await writeIdxSet('trunc');
    const file = path.join(dir, 'train-images-idx3-ubyte');
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(file, bytes.subarray(0, bytes.length - 5));
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', file, /truncated/, /needs 240 data bytes, found 235/);
  });

  it('refuses a file cut inside its header', async () => {
    const dir = await writeIdxSet('trunchead');
    const file = path.join(dir, 'train-labels-idx1-ubyte');
    await fsp.writeFile(file, Buffer.from([0, 0, 8, 1, 0, 0]));
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', file, /truncated/);
  });

  it('refuses a truncated gzip file', async () => {
    const dir = await writeIdxSet('truncgz', { gzip: true, n: 500, h: 28, w: 28 });
    const file = path.join(dir, 'train-images-idx3-ubyte.gz');
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(file, bytes.subarray(0, bytes.length >> 1));
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', file, /truncated or corrupt gzip/);
  });

  it('refuses a wrong magic number', async () => {
    const dir = await writeIdxSet('magic');
    const file = path.join(dir, 'train-images-idx3-ubyte');
    const bytes = await fsp.readFile(file);
    bytes[0] = 0x12;
    await fsp.writeFile(file, bytes);
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', file, /wrong magic number 0x12000803/);
  });

  it('refuses an element type other than unsigned byte', async () => {
    const dir = await writeIdxSet('float');
    const file = path.join(dir, 'train-images-idx3-ubyte');
    const bytes = await fsp.readFile(file);
    bytes[2] = 0x0d;
    await fsp.writeFile(file, bytes);
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', file, /0x0d \(float\) is not supported/);
  });

  it('refuses a label count that does not match the image count', async () => {
    const dir = await writeIdxSet('count');
    const file = path.join(dir, 'train-labels-idx1-ubyte');
    await fsp.writeFile(file, encodeIdx([19], new Uint8Array(19)));
    await expectIsdError(
      loadIdx(dir),
      'DATASET_INVALID',
      file,
      /holds 19 labels but train-images-idx3-ubyte holds 20 images/,
    );
  });

  it('refuses test images of another shape than the training images', async () => {
    const dir = await writeIdxSet('shape');
    const file = path.join(dir, 't10k-images-idx3-ubyte');
    await fsp.writeFile(file, encodeIdx([10, 3, 4], new Uint8Array(120)));
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', file, /3×4×1 but the training images are 4×3×1/);
  });

  it('refuses a labels file where images were expected, and a folder with test files only', async () => {
    const dir = await writeIdxSet('swapped');
    await fsp.copyFile(path.join(dir, 'train-labels-idx1-ubyte'), path.join(dir, 'train-images-idx3-ubyte'));
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', 'train-images-idx3-ubyte', /labels file/);
    const only = await writeIdxSet('testonly');
    await fsp.rm(path.join(only, 'train-images-idx3-ubyte'));
    await expectIsdError(loadDataset(only), 'DATASET_INVALID', only, /t10k-images-idx3-ubyte but no train-images/);
  });

  it('refuses a test split without labels when the training split has them', async () => {
    const dir = await writeIdxSet('nolabels');
    await fsp.rm(path.join(dir, 't10k-labels-idx1-ubyte'));
    await expectIsdError(loadIdx(dir), 'DATASET_INVALID', 't10k-images-idx3-ubyte', /no labels file beside it/);
  });
});
