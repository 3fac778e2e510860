import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESOURCES_DIR } from '../electron/data/registry';
import { Rng } from '../electron/rng';
import { DEFAULT_SOURCE, balancedSubset, makeSample } from './make-sample';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'isd-sample-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('make-sample', () => {
  it('rebuilds the committed resources/sample byte for byte from the Debian Fashion-MNIST', async () => {
    const out = path.join(tmp, 'sample');
    const counts = await makeSample({ source: DEFAULT_SOURCE, out, trainPerClass: 1000, testPerClass: 200, seed: 0 });
    expect(counts.train).toEqual(new Array(10).fill(1000));
    expect(counts.test).toEqual(new Array(10).fill(200));
    const committed = path.join(RESOURCES_DIR, 'sample');
    const names = (await fsp.readdir(out)).sort();
    expect(names).toEqual((await fsp.readdir(committed)).sort());
    for (const n of names) {
      const same = (await fsp.readFile(path.join(out, n))).equals(await fsp.readFile(path.join(committed, n)));
      expect(same, `${n} differs from the committed file`).toBe(true);
    }
  });

  it('picks a seeded, class-balanced subset in source order, and refuses more than a class has', () => {
    const labels = Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]);
    const a = balancedSubset(labels, 2, 2, new Rng(1));
    expect(Array.from(a, (i) => labels[i]).sort()).toEqual([0, 0, 1, 1]);
    expect([...a]).toEqual([...a].sort((x, y) => x - y));
    expect([...balancedSubset(labels, 2, 2, new Rng(1))]).toEqual([...a]);
    const withRare = Int32Array.from([0, 1, 0, 1, 2]);
    expect(() => balancedSubset(withRare, 3, 2, new Rng(1))).toThrow(/class 2 has 1 images, fewer than the 2 asked/);
  });
});
