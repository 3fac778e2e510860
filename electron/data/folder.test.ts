import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { loadImageFolder } from './folder';
import { inspectDataset, loadDataset } from './load';
import { countClasses } from './split';
import type { LoadProgress } from './types';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'isd-folder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Rgb = [number, number, number];

/** Writes a solid-colour image (lossless for PNG/WebP-lossless) or a greyscale one. */
async function writeImage(file: string, colour: Rgb | number, o: { w?: number; h?: number } = {}): Promise<void> {
  const { w = 20, h = 20 } = o;
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const ext = path.extname(file).toLowerCase();
  let img: sharp.Sharp;
  if (typeof colour === 'number') {
    img = sharp(Buffer.alloc(w * h, colour), { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w');
  } else {
    const buf = Buffer.alloc(w * h * 3);
    for (let p = 0; p < w * h; p++) buf.set(colour, p * 3);
    img = sharp(buf, { raw: { width: w, height: h, channels: 3 } });
  }
  if (ext === '.png') await img.png().toFile(file);
  else if (ext === '.webp') await img.webp({ lossless: true }).toFile(file);
  else await img.jpeg({ quality: 95 }).toFile(file);
}

/** Two classes (cat: red PNGs + a JPEG, dog: blue WebPs), n images each. */
async function writeClassFolder(name: string, n = 10): Promise<string> {
  const dir = path.join(tmp, name);
  for (let i = 0; i < n; i++) {
    await writeImage(path.join(dir, 'dog', `d${i}.webp`), [0, 0, 255]);
    await writeImage(path.join(dir, 'cat', i === 0 ? 'c0.jpg' : `c${i}.png`), [255, 0, 0]);
  }
  return dir;
}

async function expectIsdError(p: Promise<unknown>, code: string, ...parts: (string | RegExp)[]): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected an IsdError').toBeInstanceOf(IsdError);
  expect((err as IsdError).code).toBe(code);
  for (const part of parts) expect((err as IsdError).message).toMatch(part);
}

describe('image folder reader', () => {
  it('labels images by class sub-folder (sorted), resizes them, splits 10% per class for test, and reports progress', async () => {
    const dir = await writeClassFolder('classes');
    const progress: LoadProgress[] = [];
    const ds = await loadDataset(dir, { imageSize: 16, onProgress: (p) => progress.push(p) });
    expect(ds.format).toBe('folder');
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect([ds.height, ds.width, ds.channels]).toEqual([16, 16, 3]);
    expect(ds.train.count).toBe(18);
    expect(ds.test?.count).toBe(2);
    expect(countClasses(ds.train.labels as Int32Array, 2)).toEqual([9, 9]);
    expect(countClasses(ds.test?.labels as Int32Array, 2)).toEqual([1, 1]);
    expect(ds.train.images.length).toBe(18 * 16 * 16 * 3);
    // Every image's centre pixel has its class colour (JPEG within a few levels).
    const labels = ds.train.labels as Int32Array;
    for (let i = 0; i < ds.train.count; i++) {
      const o = (i * 256 + 8 * 16 + 8) * 3;
      const px = Array.from(ds.train.images.subarray(o, o + 3));
      const want = labels[i] === 0 ? [255, 0, 0] : [0, 0, 255];
      px.forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThanOrEqual(3));
    }
    expect(ds.skipped).toEqual([]);

    const decode = progress.filter((p) => p.phase === 'decode');
    expect(progress[0].phase).toBe('read');
    expect(progress.some((p) => p.phase === 'scan')).toBe(true);
    expect(decode.at(-1)).toEqual({ done: 20, total: 20, phase: 'decode' });
    for (let k = 1; k < decode.length; k++) expect(decode[k].done).toBeGreaterThanOrEqual(decode[k - 1].done);
  });

  it('gives the same result whatever the decode concurrency, and the same split for the same seed', async () => {
    const dir = await writeClassFolder('concurrency', 6);
    const a = await loadImageFolder(dir, { imageSize: 8, concurrency: 1, testFraction: 0.5, seed: 4 });
    const b = await loadImageFolder(dir, { imageSize: 8, concurrency: 8, testFraction: 0.5, seed: 4 });
    expect(Buffer.from(a.train.images).equals(Buffer.from(b.train.images))).toBe(true);
    expect(Array.from(a.test?.labels ?? [])).toEqual(Array.from(b.test?.labels ?? []));
    expect(a.test?.count).toBe(6);
  });

  it('centre-crops to a square before resizing', async () => {
    const dir = path.join(tmp, 'crop', 'one');
    await fsp.mkdir(dir, { recursive: true });
    const w = 30;
    const h = 10;
    const buf = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) buf[(y * w + x) * 3 + Math.floor(x / 10)] = 255; // red | green | blue thirds
    await sharp(buf, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(path.join(dir, 'wide.png'));
    await writeImage(path.join(dir, 'other.png'), [9, 9, 9]);
    const ds = await loadImageFolder(path.dirname(dir), { imageSize: 16, testFraction: 0 });
    const o = (8 * 16 + 8) * 3; // centre of image 0 (other.png sorts before wide.png)
    expect(Array.from(ds.train.images.subarray(16 * 16 * 3 + o, 16 * 16 * 3 + o + 3))).toEqual([0, 255, 0]);
    expect(ds.test).toBeNull();
  });

  it('reads a flat folder as unlabelled, with no test split', async () => {
    const dir = path.join(tmp, 'flat');
    for (let i = 0; i < 5; i++) await writeImage(path.join(dir, `img${i}.png`), [10 * i, 0, 0]);
    await fsp.writeFile(path.join(dir, 'notes.txt'), 'not an image');
    const ds = await loadDataset(dir, { imageSize: 4 });
    expect(ds.classNames).toBeNull();
    expect(ds.train.labels).toBeNull();
    expect(ds.train.count).toBe(5);
    expect(ds.test).toBeNull();
    expect(ds.train.images[4 * 4 * 3 * 3]).toBe(30); // img3's first red value
    const s = await inspectDataset(dir);
    expect(s.classes).toBe(0);
    expect(s.splits.train.classCounts).toBeNull();
  });

  it('keeps one channel when every image is greyscale, and replicates grey into RGB among colour images', async () => {
    const grey = path.join(tmp, 'grey');
    await writeImage(path.join(grey, 'a', '1.png'), 77);
    await writeImage(path.join(grey, 'b', '1.jpg'), 200);
    const g = await loadImageFolder(grey, { imageSize: 8, testFraction: 0 });
    expect(g.channels).toBe(1);
    expect(g.train.images.length).toBe(2 * 64);
    expect(g.train.images[0]).toBe(77);
    expect(Math.abs(g.train.images[64] - 200)).toBeLessThanOrEqual(2);

    const mixed = path.join(tmp, 'mixed');
    await writeImage(path.join(mixed, 'a', '1.png'), 77);
    await writeImage(path.join(mixed, 'b', '1.png'), [1, 2, 3]);
    const m = await loadImageFolder(mixed, { imageSize: 8, testFraction: 0 });
    expect(m.channels).toBe(3);
    expect(Array.from(m.train.images.subarray(0, 3))).toEqual([77, 77, 77]);
    expect(Array.from(m.train.images.subarray(192, 195))).toEqual([1, 2, 3]);
  });

  it('uses train/ and test/ (or val/) folders as the split', async () => {
    const dir = path.join(tmp, 'split');
    for (const [split, n] of [
      ['train', 3],
      ['val', 1],
    ] as const) {
      for (let i = 0; i < n; i++) {
        await writeImage(path.join(dir, split, 'x', `${i}.png`), [1, 1, 1]);
        await writeImage(path.join(dir, split, 'y', `${i}.png`), [2, 2, 2]);
      }
    }
    const ds = await loadDataset(dir, { imageSize: 4 });
    expect(ds.classNames).toEqual(['x', 'y']);
    expect(ds.train.count).toBe(6);
    expect(ds.test?.count).toBe(2);
    expect(Array.from(ds.test?.labels ?? [])).toEqual([0, 1]);

    await writeImage(path.join(dir, 'val', 'z', '0.png'), [3, 3, 3]);
    await expectIsdError(loadDataset(dir), 'DATASET_INVALID', path.join(dir, 'val', 'z'), /class "z" has no folder in/);
  });

  it('skips a corrupt and a truncated image among good ones, counts and reports them', async () => {
    const dir = await writeClassFolder('corrupt', 5);
    const garbage = path.join(dir, 'cat', 'broken.png');
    await fsp.writeFile(garbage, 'this is not a PNG');
    const truncated = path.join(dir, 'dog', 'cut.jpg');
    await writeImage(truncated, [0, 0, 255], { w: 64, h: 64 });
    const bytes = await fsp.readFile(truncated);
    await fsp.writeFile(truncated, bytes.subarray(0, bytes.length >> 1));
    const loose = path.join(dir, 'stray.png');
    await writeImage(loose, [0, 0, 0]);

    const ds = await loadDataset(dir, { imageSize: 8, testFraction: 0 });
    expect(ds.train.count).toBe(10);
    expect(countClasses(ds.train.labels as Int32Array, 2)).toEqual([5, 5]);
    expect(ds.skipped).toHaveLength(3);
    const byPath = new Map(ds.skipped.map((s) => [s.path, s.reason]));
    expect(byPath.get(garbage)).toMatch(/unsupported image format/i);
    expect(byPath.get(truncated)).toMatch(/premature end|truncat|end of/i);
    expect(byPath.get(loose)).toBe('image outside any class folder');
    expect((await inspectDataset(dir)).skipped).toBe(3);
  });

  it('refuses a folder where no image decodes, naming the first failure', async () => {
    const dir = path.join(tmp, 'allbad');
    await fsp.mkdir(dir);
    await fsp.writeFile(path.join(dir, 'a.png'), 'nope');
    await fsp.writeFile(path.join(dir, 'b.jpg'), 'nope');
    await expectIsdError(loadDataset(dir), 'DATASET_INVALID', dir, /none of its 2 images could be decoded/, /a\.png/);
  });

  it('refuses an empty folder and a folder with no images', async () => {
    const empty = path.join(tmp, 'empty');
    await fsp.mkdir(empty);
    await expectIsdError(loadDataset(empty), 'DATASET_INVALID', empty, /is empty/);
    const noImages = path.join(tmp, 'noimages');
    await fsp.mkdir(path.join(noImages, 'sub'), { recursive: true });
    await fsp.writeFile(path.join(noImages, 'readme.txt'), 'hi');
    await fsp.writeFile(path.join(noImages, 'sub', 'data.csv'), '1,2');
    await expectIsdError(
      loadDataset(noImages),
      'DATASET_INVALID',
      noImages,
      /holds no images \(\.png, \.jpg, \.jpeg, \.webp\)/,
    );
  });

  it('refuses a bad image size', async () => {
    const dir = await writeClassFolder('size', 2);
    await expectIsdError(loadImageFolder(dir, { imageSize: 2.5 }), 'BAD_INPUT', /image size/);
  });
});
