// `isd …` in-process on the real program: a real SQLite file, real engine workers from dist/ (npm test
// builds first), the real Fashion-MNIST from Debian and the bundled sample.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isdOnTempDb, jsonLines } from './cli-test-support';
import type { RequestOutput } from './contract';

const FASHION = '/usr/share/datasets/fashion-mnist';
const { isd, dir: tempDir } = isdOnTempDb('isd-cli-');

describe('isd info', () => {
  it('names the backend, the device, the replicas and why better backends are not used', async () => {
    const r = await isd('info', '--json');
    expect(r.code).toBe(0);
    const info = jsonLines(r.stdout)[0] as {
      backend: string;
      device: string;
      replicas: number;
      fallbacks: { backend: string; reason: string }[];
    };
    expect(['tensorflow', 'wasm', 'cpu']).toContain(info.backend);
    expect(info.device.length).toBeGreaterThan(3);
    expect(info.replicas).toBe(info.backend === 'tensorflow' || os.cpus().length < 2 ? 1 : 2);
    // here tfjs-node-gpu is not installed: the reason says so in words a user can act on
    if (info.backend !== 'tensorflow')
      expect(info.fallbacks[0]).toMatchObject({
        backend: 'tensorflow',
        reason: expect.stringMatching(/tfjs-node-gpu/),
      });
  });
});

describe('isd datasets', () => {
  it('inspects the real Fashion-MNIST: 60,000/10,000 images, 10 classes of 6,000, 28×28×1', async () => {
    const r = await isd('datasets', 'inspect', FASHION, '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      format: 'idx',
      shape: [28, 28, 1],
      classes: 10,
      splits: { train: { images: 60000 }, test: { images: 10000 } },
    });
    expect(s.splits.train.classCounts).toEqual(new Array(10).fill(6000));
  });

  it('lists the bundled sample and the detected Fashion-MNIST', async () => {
    const r = await isd('datasets', 'list', '--json');
    expect(r.code).toBe(0);
    const ids = (JSON.parse(r.stdout) as { id: string }[]).map((d) => d.id);
    expect(ids).toEqual(expect.arrayContaining(['sample', 'fashion-mnist']));
  });

  it('exits 2 with one line naming the file for a missing or corrupt dataset', async () => {
    const missing = await isd('datasets', 'inspect', path.join(tempDir(), 'nope'));
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain(path.join(tempDir(), 'nope'));
    const bad = path.join(tempDir(), 'bad');
    fs.mkdirSync(bad);
    fs.writeFileSync(path.join(bad, 'train-images-idx3-ubyte'), Buffer.from([0, 0, 9, 9, 0, 0, 0, 1]));
    const corrupt = await isd('datasets', 'inspect', bad, '--json');
    expect(corrupt.code).toBe(2);
    expect(jsonLines(corrupt.stdout)[0]).toMatchObject({ type: 'error', code: 'DATASET_INVALID' });
  });
});

describe('isd train', () => {
  it('names the flag at fault and exits 2 before anything runs', async () => {
    for (const [args, flag] of [
      [['--queue-size', '100', '--batch-size', '32'], '--queue-size'],
      [['--temp-teacher', '0'], '--temp-teacher'],
      [['--epochs', 'many'], '--epochs'],
      [['--image-size', '8'], '--image-size'],
      [['--dataset', 'no-such-dataset'], '--dataset'],
      [['--preset', 'no-such-preset'], '--preset'],
      [['--batch-size', '96', '--queue-size', '960', '--bn-groups', '5'], '--batch-size'],
      [['--shuffle-bn', 'true', '--bn-groups', '1'], '--bn-groups'],
      [['--shuffle-bn', 'yes'], '--shuffle-bn'],
    ] as const) {
      const r = await isd('train', ...args, '--json');
      expect(r.code, args.join(' ')).toBe(2);
      expect(jsonLines(r.stdout)[0]).toMatchObject({ type: 'error', field: flag });
    }
    // A file's method settings that --method replaced are said on stderr, before any refusal.
    const isdFile = path.join(tempDir(), 'isd-views.json');
    fs.writeFileSync(isdFile, JSON.stringify({ method: 'isd', augStudent: 'weak' }));
    const noted = await isd('train', '--config', isdFile, '--method', 'moco', '--epochs', 'many', '--json');
    expect(noted.code).toBe(2);
    expect(noted.stderr).toContain(`isd: note: --method moco: ${isdFile} set augStudent weak for isd;`);
    // Full-test evaluation of a dataset without a test split (a flat folder of images: unlabelled, nothing
    // held out; an IDX folder without test files gets a seeded split instead): refused before a run row is written.
    const noTest = path.join(tempDir(), 'no-test');
    fs.mkdirSync(noTest);
    const pixels = zlib.gunzipSync(fs.readFileSync(path.join(FASHION, 'train-images-idx3-ubyte.gz')));
    for (let i = 0; i < 40; i++)
      await sharp(pixels.subarray(16 + i * 784, 16 + (i + 1) * 784), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toFile(path.join(noTest, `img-${i}.png`));
    const full = await isd(
      'train',
      '--dataset',
      noTest,
      '--batch-size',
      '16',
      '--queue-size',
      '32',
      '--full-test',
      '--json',
    );
    expect(full.code, full.stderr).toBe(2);
    expect(jsonLines(full.stdout)[0]).toMatchObject({ type: 'error', field: '--full-test' });
    expect(full.stderr).toMatch(/no labelled test split/);
    const unknown = await isd('train', '--bogus', '1');
    expect(unknown.code).toBe(2);
    expect(JSON.parse((await isd('runs', 'list', '--json')).stdout)).toEqual({ runs: [], total: 0 });
  });

  it('trains a tiny run that streams JSON lines and lands in the history; eval and runs show read it back', async () => {
    const r = await isd(
      'train',
      '--dataset',
      'sample',
      '--train-limit',
      '64',
      '--batch-size',
      '16',
      '--queue-size',
      '64',
      '--epochs',
      '1',
      '--name',
      'tiny',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines(r.stdout);
    // The first line says which run this is before anything trains.
    expect(lines[0]).toMatchObject({
      type: 'start',
      name: 'tiny',
      status: 'running',
      resumed: false,
      waitingBehind: null,
    });
    expect(lines.filter((l) => l.type === 'start')).toHaveLength(1);
    expect(lines.filter((l) => l.type === 'progress').length).toBeGreaterThan(0);
    const evals = lines.filter((l) => l.type === 'epoch');
    expect(evals.map((e) => e.epoch)).toEqual([0, 1]); // the random-init baseline, then epoch 1
    // One baseline line, after the step-0 evaluation and before the first step.
    const at = (type: string) => lines.findIndex((l) => l.type === type);
    expect(lines.filter((l) => l.type === 'baseline')).toHaveLength(1);
    expect(at('epoch')).toBeLessThan(at('baseline'));
    expect(at('baseline')).toBeLessThan(at('progress'));
    const baseline = lines[at('baseline')];
    for (const k of ['pixelKnn1', 'pixelKnn20', 'pixelKnn20Weighted', 'pixelKnn200Weighted'])
      expect(baseline[k] as number, k).toBeGreaterThan(0.5); // raw pixels on the sample: far above chance (0.1)
    expect(baseline).toMatchObject({ initKnn20: evals[0].knn20, initKnn200Weighted: evals[0].knn200Weighted });
    expect(baseline).toMatchObject({ bankImages: expect.any(Number), testImages: expect.any(Number) });
    for (const e of evals) expect(e.knn200Weighted as number).toBeGreaterThan(0);
    const done = lines[lines.length - 1];
    expect(done).toMatchObject({ type: 'done', status: 'completed', knn200Weighted: evals[1].knn200Weighted });
    expect(done.runId).toBe(lines[0].runId);
    expect(done.knn20).toBeGreaterThan(0);
    // The change against step 0, with the standard error over the baseline's queries.
    const r20 = (done.readings as Record<string, { change: number; se: number; verdict: string }>).knn20;
    expect(r20.change).toBeCloseTo((done.knn20 as number) - (evals[0].knn20 as number), 12);
    const n = baseline.testImages as number;
    expect(r20.se).toBeCloseTo(Math.sqrt(((done.knn20 as number) * (1 - (done.knn20 as number))) / n), 12);
    expect(['learned', 'lost', 'within noise']).toContain(r20.verdict);

    // the API's shapes: runs.list's page, runs.get's RunDetail (baseline apart from the evaluations)
    const listed = JSON.parse((await isd('runs', 'list', '--json')).stdout) as RequestOutput<'runs.list'>;
    expect(listed).toEqual({
      runs: [expect.objectContaining({ id: done.runId, name: 'tiny', status: 'completed', epoch: 1 })],
      total: 1,
    });
    const shown = JSON.parse(
      (await isd('runs', 'show', String(done.runId).slice(0, 8), '--json')).stdout,
    ) as RequestOutput<'runs.get'>;
    expect(shown.config).toMatchObject({ trainLimit: 64, batchSize: 16, queueSize: 64, epochs: 1 });
    expect(shown.baseline?.epoch).toBe(0);
    expect(shown.evals.map((e) => e.epoch)).toEqual([1]);
    expect(shown.run).toMatchObject({ id: done.runId, knn20: done.knn20 });
    const badSort = await isd('runs', 'list', '--sort', 'colour', '--json');
    expect(badSort.code).toBe(2);
    expect(jsonLines(badSort.stdout)[0]).toMatchObject({ type: 'error', field: '--sort' });
    const twice = await isd('runs', 'compare', String(done.runId), String(done.runId), '--json');
    expect(twice.code).toBe(2);
    expect(jsonLines(twice.stdout)[0]).toMatchObject({ type: 'error', field: 'ids', message: 'each run once' });

    const ev = await isd('eval', String(done.runId), '--json');
    expect(ev.code, ev.stderr).toBe(0);
    const acc = JSON.parse(ev.stdout);
    expect(acc).toMatchObject({ runId: done.runId, bankImages: 10000, testImages: 2000 });
    for (const k of ['knn1', 'knn20', 'knn20Weighted']) expect(acc[k]).toBeGreaterThan(0.1); // far above chance (0.1) even untrained
    expect((await isd('eval', 'ffffffff')).code).toBe(2);
  }, 300_000); // a shared 2-core machine under load: the tiny run has taken over 2 min
});
