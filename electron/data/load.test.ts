import { chmodSync, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { encodeIdx } from './idx';
import { detectFormat, inspectDataset, loadDataset } from './load';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'isd-load-'));
chmodSync(tmp, 0o755); // the permission test reads through it as another user
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<IsdError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected an IsdError').toBeInstanceOf(IsdError);
  return err as IsdError;
}

/**
 * Runs fn with fs access checked as an unprivileged user. Tests run as root here, and root reads
 * files whatever their mode, so as root we drop the effective uid to nobody (65534) and take it back.
 */
async function withoutRoot<T>(fn: () => Promise<T>): Promise<T> {
  const isRoot = process.geteuid?.() === 0;
  if (isRoot) process.seteuid?.(65534);
  try {
    return await fn();
  } finally {
    if (isRoot) process.seteuid?.(0);
  }
}

describe('format detection and the errors every reader shares', () => {
  it('tells the formats apart', async () => {
    expect(await detectFormat('/usr/share/datasets/fashion-mnist')).toBe('idx');
    expect(await detectFormat('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz')).toBe('idx');
    // An idx3 file under another name is recognised by its header.
    const renamed = path.join(tmp, 'pictures.dat');
    await fsp.writeFile(renamed, encodeIdx([2, 3, 3], new Uint8Array(18)));
    expect(await detectFormat(renamed)).toBe('idx');
    const images = path.join(tmp, 'imgs');
    await fsp.mkdir(images);
    await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } })
      .png()
      .toFile(path.join(images, 'a.png'));
    expect(await detectFormat(images)).toBe('folder');
  });

  it('refuses a missing path with NOT_FOUND, naming it', async () => {
    const missing = path.join(tmp, 'nope', 'train-images-idx3-ubyte.gz');
    const err = await errorOf(loadDataset(missing));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe(`${missing}: no such file or folder`);
    expect(err.path).toBe(missing);
    expect((await errorOf(inspectDataset(missing))).code).toBe('NOT_FOUND');
  });

  it('refuses a path that runs through a file', async () => {
    const file = path.join(tmp, 'plain.txt');
    await fsp.writeFile(file, 'x');
    const err = await errorOf(loadDataset(path.join(file, 'sub')));
    expect(err.code).toBe('DATASET_INVALID');
    expect(err.message).toMatch(/plain\.txt\/sub: is not a folder/);
  });

  it('refuses an unreadable file and folder with PERMISSION', async () => {
    const dir = path.join(tmp, 'locked');
    await fsp.mkdir(dir);
    const file = path.join(dir, 'train-images-idx3-ubyte');
    await fsp.writeFile(file, encodeIdx([1, 2, 2], new Uint8Array(4)));
    await fsp.chmod(dir, 0o755);
    await fsp.chmod(file, 0o000);
    const fileErr = await withoutRoot(() => errorOf(loadDataset(file)));
    expect(fileErr.code).toBe('PERMISSION');
    expect(fileErr.message).toBe(`${file}: permission denied`);

    const closed = path.join(tmp, 'closed');
    await fsp.mkdir(closed, { mode: 0o700 });
    await fsp.writeFile(path.join(closed, 'a.png'), 'x');
    await fsp.chmod(closed, 0o000);
    const dirErr = await withoutRoot(() => errorOf(loadDataset(closed)));
    expect(dirErr.code).toBe('PERMISSION');
    expect(dirErr.message).toBe(`${closed}: permission denied`);
  });

  it('refuses files of unknown format with what it expected', async () => {
    const file = path.join(tmp, 'notes.txt');
    await fsp.writeFile(file, 'hello');
    const err = await errorOf(loadDataset(file));
    expect(err.code).toBe('DATASET_INVALID');
    expect(err.message).toMatch(/notes\.txt: unknown dataset format: expected an IDX/);
    expect(
      (await errorOf(loadDataset('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz'))).message,
    ).toMatch(/is an IDX labels file/);
    expect((await errorOf(loadDataset(path.join(tmp, 'imgs', 'a.png')))).message).toMatch(/is a single image/);
  });

  it('refuses a bad test fraction', async () => {
    const err = await errorOf(loadDataset('/usr/share/datasets/fashion-mnist', { testFraction: 1.5 }));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.field).toBe('testFraction');
  });

  it('inspects the real Fashion-MNIST as docs/cli.md prints it', async () => {
    const s = await inspectDataset('/usr/share/datasets/fashion-mnist');
    expect(s).toMatchObject({
      format: 'idx',
      path: '/usr/share/datasets/fashion-mnist',
      shape: [28, 28, 1],
      classes: 10,
      splits: {
        train: { images: 60_000, classCounts: new Array(10).fill(6000) },
        test: { images: 10_000, classCounts: new Array(10).fill(1000) },
      },
      skipped: 0,
    });
    expect(s.classNames?.[9]).toBe('Ankle boot');
  });
});
