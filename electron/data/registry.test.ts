import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { FASHION_MNIST_CLASSES, encodeIdx } from './idx';
import { loadDataset } from './load';
import { RESOURCES_DIR, SAMPLE_ID, findProjectRoot, listDatasets, resolveDataset, userDatasetId } from './registry';
import { countClasses } from './split';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'isd-registry-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('bundled sample', () => {
  it('lives in resources/ beside package.json and loads as 1,000 + 200 Fashion-MNIST images per class', async () => {
    expect(RESOURCES_DIR).toBe(path.join(findProjectRoot(__dirname) as string, 'resources'));
    const ds = await loadDataset(path.join(RESOURCES_DIR, 'sample'));
    expect(ds.format).toBe('idx');
    expect([ds.height, ds.width, ds.channels]).toEqual([28, 28, 1]);
    expect(ds.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(ds.train.count).toBe(10_000);
    expect(ds.test?.count).toBe(2_000);
    expect(countClasses(ds.train.labels as Int32Array, 10)).toEqual(new Array(10).fill(1000));
    expect(countClasses(ds.test?.labels as Int32Array, 10)).toEqual(new Array(10).fill(200));
  });
});

describe('listDatasets', () => {
  it('lists the sample and the system Fashion-MNIST from headers, quickly', async () => {
    const t0 = performance.now();
    const list = await listDatasets();
    const ms = performance.now() - t0;
    console.log(`listDatasets: ${ms.toFixed(0)} ms for ${list.length} entries (shared machine)`);
    expect(ms).toBeLessThan(1000); // a full load of Fashion-MNIST alone takes longer than this; listing reads headers
    const sample = list.find((e) => e.id === SAMPLE_ID);
    expect(sample).toMatchObject({ source: 'bundled', format: 'idx', images: 12_000, classes: 10, shape: [28, 28, 1] });
    const fashion = list.find((e) => e.id === 'fashion-mnist');
    expect(fashion).toMatchObject({
      name: 'Fashion-MNIST',
      source: 'system',
      format: 'idx',
      path: '/usr/share/datasets/fashion-mnist',
      images: 70_000,
      classes: 10,
      shape: [28, 28, 1],
    });
    expect(list[0].id).toBe(SAMPLE_ID);
  });

  it('finds MNIST-style and CIFAR folders under other system roots, lists user paths with stable ids, and reports broken ones', async () => {
    const root = path.join(tmp, 'datasets');
    const mnist = path.join(root, 'mnist');
    await fsp.mkdir(mnist, { recursive: true });
    await fsp.writeFile(path.join(mnist, 'train-images-idx3-ubyte'), encodeIdx([6, 2, 2], new Uint8Array(24)));
    await fsp.writeFile(
      path.join(mnist, 'train-labels-idx1-ubyte'),
      encodeIdx([6], Uint8Array.from([0, 1, 2, 3, 4, 2])),
    );
    const cifar = path.join(root, 'cifar-10', 'cifar-10-batches-bin');
    await fsp.mkdir(cifar, { recursive: true });
    await fsp.writeFile(path.join(cifar, 'data_batch_1.bin'), Buffer.alloc(3073 * 3));
    await fsp.writeFile(path.join(cifar, 'test_batch.bin'), Buffer.alloc(3073));
    await fsp.mkdir(path.join(root, 'not-a-dataset'));

    const photos = path.join(tmp, 'My Photos');
    await fsp.mkdir(path.join(photos, 'a'), { recursive: true });
    await sharp(Buffer.alloc(12, 50), { raw: { width: 2, height: 2, channels: 3 } })
      .png()
      .toFile(path.join(photos, 'a', '1.png'));
    await fsp.writeFile(path.join(photos, 'a', '2.png'), 'corrupt, but listing does not decode');
    const missing = path.join(tmp, 'gone');

    const list = await listDatasets({
      resourcesDir: path.join(tmp, 'no-resources'),
      systemRoots: [root, path.join(tmp, 'no-root')],
      userPaths: [photos, missing, photos],
    });
    expect(list.map((e) => e.id)).toEqual(['cifar-10', 'mnist', userDatasetId(photos), userDatasetId(missing)]);
    expect(list[0]).toMatchObject({ name: 'CIFAR-10', format: 'cifar10', images: 4, classes: 10, shape: [32, 32, 3] });
    expect(list[1]).toMatchObject({ name: 'MNIST', format: 'idx', images: 6, classes: 5, shape: [2, 2, 1] });
    expect(list[2]).toMatchObject({
      name: 'My Photos',
      source: 'user',
      format: 'folder',
      images: 2,
      classes: 1,
      shape: [32, 32, 3],
    });
    expect(list[2].error).toBeUndefined();
    expect(list[3]).toMatchObject({ source: 'user', images: 0 });
    expect(list[3].error).toMatch(/gone: no such file or folder/);
    expect(userDatasetId(photos)).toMatch(/^my-photos-[0-9a-f]{8}$/);
    expect(userDatasetId(path.join(photos, '.'))).toBe(userDatasetId(photos));
    expect(userDatasetId(path.join(tmp, 'Other'))).not.toBe(userDatasetId(photos));
  });
});

describe('resolveDataset', () => {
  it('resolves ids to paths and passes existing paths through', async () => {
    expect(await resolveDataset('sample')).toBe(path.join(RESOURCES_DIR, 'sample'));
    expect(await resolveDataset('fashion-mnist')).toBe('/usr/share/datasets/fashion-mnist');
    expect(await resolveDataset('/usr/share/datasets/fashion-mnist/')).toBe('/usr/share/datasets/fashion-mnist');
    const user = path.join(tmp, 'userset');
    await fsp.mkdir(user);
    expect(await resolveDataset(userDatasetId(user), { userPaths: [user] })).toBe(user);
  });

  it('refuses an unknown id with the known ones, and a missing sample with how to build it', async () => {
    const err = await resolveDataset('no-such-set').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IsdError);
    expect((err as IsdError).code).toBe('NOT_FOUND');
    expect((err as IsdError).message).toMatch(
      /no-such-set: no dataset with this id \(known: sample, fashion-mnist.*\) and no such file or folder/,
    );
    const noSample = await resolveDataset('sample', { resourcesDir: path.join(tmp, 'none'), systemRoots: [] }).catch(
      (e: unknown) => e,
    );
    expect((noSample as IsdError).code).toBe('NOT_FOUND');
    expect((noSample as IsdError).message).toMatch(/make-sample\.js/);
  });
});
