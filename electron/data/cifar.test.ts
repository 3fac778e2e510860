import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { CIFAR10_CLASSES, loadCifar } from './cifar';
import { inspectDataset, loadDataset } from './load';
import { countClasses } from './split';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'isd-cifar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Pixel value of record r, channel ch, position p (CHW in the file): distinct per channel so a wrong transpose shows. */
const pixel = (r: number, ch: number, p: number) => (r * 31 + ch * 85 + p) % 256;

/** CIFAR records: label bytes then 3072 planar pixel bytes. */
function records(labels: number[][], first = 0): Buffer {
  const n = labels.length;
  const rec = labels[0].length + 3072;
  const buf = Buffer.alloc(n * rec);
  labels.forEach((lb, r) => {
    lb.forEach((v, k) => (buf[r * rec + k] = v));
    for (let ch = 0; ch < 3; ch++)
      for (let p = 0; p < 1024; p++) buf[r * rec + lb.length + ch * 1024 + p] = pixel(first + r, ch, p);
  });
  return buf;
}

async function writeCifar10(name: string, perBatch = 4, batches = 5): Promise<string> {
  const dir = path.join(tmp, name);
  await fsp.mkdir(dir, { recursive: true });
  for (let b = 1; b <= batches; b++) {
    const labels = Array.from({ length: perBatch }, (_, r) => [((b - 1) * perBatch + r) % 10]);
    await fsp.writeFile(path.join(dir, `data_batch_${b}.bin`), records(labels, (b - 1) * perBatch));
  }
  await fsp.writeFile(path.join(dir, 'test_batch.bin'), records([[3], [9], [0]], 1000));
  return dir;
}

async function writeCifar100(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(
    path.join(dir, 'train.bin'),
    records([
      [1, 42],
      [19, 99],
      [0, 0],
    ]),
  );
  await fsp.writeFile(path.join(dir, 'test.bin'), records([[4, 7]], 500));
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

describe('CIFAR-10 binary reader', () => {
  it('reads five batches and the test batch, CHW → HWC, with the default class names', async () => {
    const dir = await writeCifar10('c10');
    const ds = await loadDataset(dir);
    expect(ds.format).toBe('cifar10');
    expect([ds.height, ds.width, ds.channels]).toEqual([32, 32, 3]);
    expect(ds.train.count).toBe(20);
    expect(ds.test?.count).toBe(3);
    expect(ds.classNames).toEqual(CIFAR10_CLASSES);
    expect(Array.from(ds.train.labels ?? []).slice(0, 12)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(Array.from(ds.test?.labels ?? [])).toEqual([3, 9, 0]);
    // Record 13 (batch 4, record 1), pixel at row 5, column 7: HWC offset ((13·32 + 5)·32 + 7)·3.
    const p = 5 * 32 + 7;
    const o = (13 * 1024 + p) * 3;
    expect(Array.from(ds.train.images.subarray(o, o + 3))).toEqual([pixel(13, 0, p), pixel(13, 1, p), pixel(13, 2, p)]);
    const t = (2 * 1024 + 1023) * 3; // last pixel of the last test image
    expect(Array.from(ds.test?.images.subarray(t, t + 3) ?? [])).toEqual([
      pixel(1002, 0, 1023),
      pixel(1002, 1, 1023),
      pixel(1002, 2, 1023),
    ]);
  });

  it('takes class names from batches.meta.txt, and looks into cifar-10-batches-bin/', async () => {
    const outer = path.join(tmp, 'c10outer');
    await fsp.mkdir(outer);
    const inner = await writeCifar10(path.join('c10outer', 'cifar-10-batches-bin'));
    const names = Array.from({ length: 10 }, (_, c) => `thing${c}`);
    await fsp.writeFile(path.join(inner, 'batches.meta.txt'), `${names.join('\n')}\n\n`);
    const s = await inspectDataset(outer);
    expect(s.format).toBe('cifar10');
    expect(s.classNames).toEqual(names);
    expect(s.splits.train.images).toBe(20);
    expect(s.splits.train.classCounts).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    expect(s.splits.test?.classCounts).toEqual([1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
  });

  it('refuses a truncated batch, naming the file and the record arithmetic', async () => {
    const dir = await writeCifar10('c10trunc');
    const file = path.join(dir, 'data_batch_3.bin');
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(file, bytes.subarray(0, bytes.length - 100));
    await expectIsdError(loadCifar(dir), 'DATASET_INVALID', file, /truncated/, /3 full records \+ 2973 bytes/);
  });

  it('refuses a missing batch in the sequence and an empty batch', async () => {
    const dir = await writeCifar10('c10gap');
    await fsp.rm(path.join(dir, 'data_batch_2.bin'));
    await expectIsdError(loadCifar(dir), 'DATASET_INVALID', dir, /data_batch_2\.bin is missing/);
    const empty = await writeCifar10('c10empty');
    await fsp.writeFile(path.join(empty, 'test_batch.bin'), Buffer.alloc(0));
    await expectIsdError(loadCifar(empty), 'DATASET_INVALID', 'test_batch.bin', /is empty/);
  });

  it('refuses a label out of range', async () => {
    const dir = await writeCifar10('c10range');
    const file = path.join(dir, 'data_batch_2.bin');
    const bytes = await fsp.readFile(file);
    bytes[2 * 3073] = 10; // record 2's label
    await fsp.writeFile(file, bytes);
    await expectIsdError(
      loadCifar(dir),
      'DATASET_INVALID',
      file,
      /label 10 in record 2 is out of range: CIFAR-10 labels are 0–9/,
    );
  });

  it('refuses a names file with the wrong number of names', async () => {
    const dir = await writeCifar10('c10names');
    await fsp.writeFile(path.join(dir, 'batches.meta.txt'), 'a\nb\n');
    await expectIsdError(loadCifar(dir), 'DATASET_INVALID', 'batches.meta.txt', /lists 2 class names, expected 10/);
  });
});

describe('CIFAR-100 binary reader', () => {
  it('uses the fine labels and fine_label_names.txt', async () => {
    const dir = await writeCifar100('c100');
    const names = Array.from({ length: 100 }, (_, c) => `fine${c}`);
    await fsp.writeFile(path.join(dir, 'fine_label_names.txt'), names.join('\n'));
    const ds = await loadDataset(dir);
    expect(ds.format).toBe('cifar100');
    expect(Array.from(ds.train.labels ?? [])).toEqual([42, 99, 0]);
    expect(Array.from(ds.test?.labels ?? [])).toEqual([7]);
    expect(ds.classNames).toEqual(names);
    expect(countClasses(ds.train.labels as Int32Array, 100)[42]).toBe(1);
    const p = 1000;
    expect(Array.from(ds.train.images.subarray(3072 + p * 3, 3072 + p * 3 + 3))).toEqual([
      pixel(1, 0, p),
      pixel(1, 1, p),
      pixel(1, 2, p),
    ]);
  });

  it('refuses a fine label out of range and a truncated file', async () => {
    const dir = await writeCifar100('c100range');
    await fsp.writeFile(path.join(dir, 'test.bin'), records([[4, 100]]));
    await expectIsdError(
      loadCifar(dir),
      'DATASET_INVALID',
      'test.bin',
      /label 100 in record 0 is out of range: CIFAR-100 fine labels are 0–99/,
    );
    const t = await writeCifar100('c100trunc');
    const file = path.join(t, 'train.bin');
    await fsp.writeFile(file, (await fsp.readFile(file)).subarray(0, 3074 + 10));
    await expectIsdError(loadCifar(t), 'DATASET_INVALID', file, /not a whole number of 3074-byte records/);
  });

  it('gives a CIFAR folder without a test batch a stratified test split', async () => {
    const dir = await writeCifar10('c10notest', 10, 2);
    await fsp.rm(path.join(dir, 'test_batch.bin'));
    const ds = await loadDataset(dir, { testFraction: 0.5, seed: 1 });
    expect(ds.train.count).toBe(10);
    expect(ds.test?.count).toBe(10);
    expect(countClasses(ds.test?.labels as Int32Array, 10)).toEqual(new Array(10).fill(1));
  });
});
