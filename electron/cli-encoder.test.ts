import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { isdOnTempDb, jsonLines } from './cli-test-support';
import { loadIdx } from './data/idx';
import { openRunStore } from './store';
import { DEFAULT_RUN_CONFIG } from './run-config';
import { checkpointRootFor } from './app/paths';
import { CHECKPOINT_VERSION } from './engine/checkpoint';

// The CLI end to end on a tiny real run on Fashion-MNIST; the features themselves are checked against
// the engine in engine/encoder-export.test.ts.
const { isd, dir } = isdOnTempDb('isd-cli-encoder-');
const FASHION = '/usr/share/datasets/fashion-mnist';
const canUnshare = spawnSync('unshare', ['-rm', 'true']).status === 0;

let runId = '';
let ckptDir = '';

beforeAll(async () => {
  const r = await isd(
    'train',
    '--dataset',
    FASHION,
    '--train-limit',
    '64',
    '--batch-size',
    '16',
    '--queue-size',
    '64',
    '--epochs',
    '1',
    '--json',
  );
  expect(r.code, r.stderr).toBe(0);
  runId = String(jsonLines(r.stdout).at(-1)?.runId);
  ckptDir = path.join(checkpointRootFor(path.join(dir(), 'history.db')), runId);
}, 240_000);

const listing = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);

describe('isd export-encoder', () => {
  it('writes an ONNX file and its JSON, which ONNX Runtime runs on real images; TF.js writes a folder', async () => {
    const out = path.join(dir(), 'exports', 'enc.onnx');
    const r = await isd('export-encoder', runId.slice(0, 8), '--format', 'onnx', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({
      runId,
      format: 'onnx',
      encoder: 'student',
      files: [path.join(dir(), 'exports', 'enc.json'), out],
    });
    expect(listing(path.dirname(out))).toEqual(['enc.json', 'enc.onnx']);
    const info = JSON.parse(fs.readFileSync(path.join(dir(), 'exports', 'enc.json'), 'utf8'));
    expect(info).toMatchObject({
      runId,
      method: 'isd',
      arch: 'resnet20',
      encoder: 'student',
      input: { shape: [null, 28, 28, 1], range: [0, 1] },
      output: { shape: [null, 16], l2Normalised: false }, // baseWidth 4 (the tests' tiny engine): 4·4 features
    });
    expect(info.accuracy.knn20).toBeGreaterThan(0); // the final evaluation is at the final checkpoint's step
    expect(info.normalisation.mean[0]).toBeGreaterThan(0.1);
    // The JSON says the normalisation is inside the model, and how the app resizes, so no user repeats it.
    expect(info.normalisation).toMatchObject({ insideModel: true, note: expect.stringMatching(/do not subtract/) });
    expect(info.input.resize).toMatch(/^bilinear without antialiasing/);

    const ds = await loadIdx(FASHION);
    const x = Float32Array.from(ds.test!.images.subarray(0, 8 * 784), (v) => v / 255);
    const session = await ort.InferenceSession.create(out);
    const y = await session.run({ pixels: new ort.Tensor('float32', x, [8, 28, 28, 1]) });
    await session.release();
    expect(y.features.dims).toEqual([8, 16]);
    expect(Array.from(y.features.data as Float32Array).every(Number.isFinite)).toBe(true);

    const folder = path.join(dir(), 'exports', 'tfjs');
    const t = await isd('export-encoder', runId, '--format', 'tfjs', '--teacher', '--out', folder, '--json');
    expect(t.code, t.stderr).toBe(0);
    expect(listing(folder)).toEqual(['encoder.json', 'model.json', 'model.weights.bin']);
    expect(JSON.parse(fs.readFileSync(path.join(folder, 'encoder.json'), 'utf8')).encoder).toBe('teacher');
    // a second export replaces the first; a folder holding something else is refused
    expect((await isd('export-encoder', runId, '--format', 'tfjs', '--out', folder)).code).toBe(0);
    const other = path.join(dir(), 'exports', 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'mine.txt'), 'keep');
    const refused = await isd('export-encoder', runId, '--format', 'tfjs', '--out', other, '--json');
    expect(refused.code).toBe(2);
    expect(listing(other)).toEqual(['mine.txt']);
    expect(listing(path.join(dir(), 'exports')).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('refuses bad input with one clear error and writes nothing', async () => {
    const out = path.join(dir(), 'bad', 'enc.onnx');
    const cases: [string[], RegExp][] = [
      [['export-encoder', 'ffffffff', '--format', 'onnx', '--out', out], /ffffffff/],
      [['export-encoder', runId, '--format', 'keras', '--out', out], /--format/],
      [['export-encoder', runId, '--format', 'onnx', '--out', out, '--checkpoint', '7'], /no checkpoint at step 7/],
      [['export-encoder', runId, '--format', 'onnx', '--out', path.join(dir(), 'bad', 'enc.bin')], /\.onnx/],
    ];
    for (const [args, message] of cases) {
      const r = await isd(...args, '--json');
      expect(r.code, args.join(' ')).toBe(2);
      expect(jsonLines(r.stdout)[0].message).toMatch(message);
    }
    // a run without a checkpoint
    const store = openRunStore(path.join(dir(), 'history.db'), {
      checkpointRoot: checkpointRootFor(path.join(dir(), 'history.db')),
    });
    const queued = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: FASHION });
    store.close();
    const none = await isd('export-encoder', queued.id, '--format', 'onnx', '--out', out, '--json');
    expect(none.code).toBe(2);
    expect(jsonLines(none.stdout)[0]).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/no checkpoint/),
    });
    expect(listing(path.join(dir(), 'bad'))).toEqual([]);
  }, 60_000);

  it('replaces an earlier export beside its model, and refuses to overwrite a file of yours there', async () => {
    const folder = path.join(dir(), 'beside');
    const out = path.join(folder, 'enc.onnx');
    expect((await isd('export-encoder', runId, '--format', 'onnx', '--out', out)).code).toBe(0);
    const first = fs.readFileSync(path.join(folder, 'enc.json'), 'utf8');
    // Exported again: the pair is replaced (a new export time).
    expect((await isd('export-encoder', runId, '--format', 'onnx', '--out', out)).code).toBe(0);
    expect(fs.readFileSync(path.join(folder, 'enc.json'), 'utf8')).not.toBe(first);
    // Your own enc2.json where the export would put its JSON: refused, both left as they were.
    fs.writeFileSync(path.join(folder, 'enc2.json'), 'precious');
    const r = await isd('export-encoder', runId, '--format', 'onnx', '--out', path.join(folder, 'enc2.onnx'), '--json');
    expect(r.code).toBe(2);
    expect(jsonLines(r.stdout)[0]).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/enc2\.json: exists and is not from an earlier export/),
    });
    expect(fs.readFileSync(path.join(folder, 'enc2.json'), 'utf8')).toBe('precious');
    expect(listing(folder)).toEqual(['enc.json', 'enc.onnx', 'enc2.json']);
  }, 60_000);

  it('refuses a checkpoint written by another engine version', async () => {
    const ck = path.join(ckptDir, listing(ckptDir).at(-1)!);
    const manifest = path.join(ck, 'manifest.json');
    const original = fs.readFileSync(manifest, 'utf8');
    fs.writeFileSync(manifest, JSON.stringify({ ...JSON.parse(original), version: 0 }));
    try {
      const out = path.join(dir(), 'old', 'enc.onnx');
      const r = await isd('export-encoder', runId, '--format', 'onnx', '--out', out, '--json');
      expect(r.code).toBe(2);
      expect(jsonLines(r.stdout)[0].message).toContain(
        `version 0 is not ${CHECKPOINT_VERSION}: written by another app version`,
      );
      expect(fs.existsSync(path.dirname(out))).toBe(false);
    } finally {
      fs.writeFileSync(manifest, original);
    }
  }, 60_000);

  it.skipIf(!canUnshare)('on a full disk (a 16 kB tmpfs) fails clearly and leaves no file behind', () => {
    const mnt = fs.mkdtempSync(path.join(dir(), 'full-'));
    const bin = path.resolve(__dirname, '..', 'bin', 'isd.js');
    const db = path.join(dir(), 'history.db');
    const script = `mount -t tmpfs -o size=16k none "${mnt}" && node "${bin}" --db "${db}" --json export-encoder ${runId} --format onnx --out "${mnt}/enc.onnx"; code=$?; echo "ls:$(ls -A "${mnt}" | tr '\\n' ' ')"; exit $code`;
    const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(1); // DISK_FULL: not the user's input, exit 1
    expect(r.stdout).toMatch(/is full \(no space left while writing/);
    expect(r.stdout).toMatch(/ls: *$/m); // neither enc.onnx, enc.json nor a temporary file
  });
});

describe('isd embed', () => {
  it('writes a .npy that numpy loads as float32 [N, D], with its rows in a .csv and a .embedding.json', async () => {
    const out = path.join(dir(), 'emb', 'fm-test.npy');
    const r = await isd('embed', runId, '--dataset', 'fashion-mnist', '--split', 'test', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ split: 'test', shape: [10000, 16], skipped: [] });
    expect(res.imagesPerSec).toBeGreaterThan(0);
    expect(listing(path.dirname(out))).toEqual(['fm-test.csv', 'fm-test.embedding.json', 'fm-test.npy']);
    // an ONNX export of the same name in the same folder keeps both JSON files
    const onnx = await isd(
      'export-encoder',
      runId,
      '--format',
      'onnx',
      '--out',
      out.replace(/\.npy$/, '.onnx'),
      '--json',
    );
    expect(onnx.code, onnx.stderr).toBe(0);
    expect(listing(path.dirname(out))).toEqual([
      'fm-test.csv',
      'fm-test.embedding.json',
      'fm-test.json',
      'fm-test.npy',
      'fm-test.onnx',
    ]);
    expect(JSON.parse(fs.readFileSync(out.replace(/\.npy$/, '.embedding.json'), 'utf8')).split).toBe('test');
    const py = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys, numpy as np; a = np.load(sys.argv[1]); print(a.shape, a.dtype, float(np.linalg.norm(a, axis=1).mean()), sep="|")',
        out,
      ],
      { encoding: 'utf8' },
    );
    expect(py.status, py.stderr).toBe(0);
    const [shape, dtype, norm] = py.stdout.trim().split('|');
    expect(shape).toBe('(10000, 16)');
    expect(dtype).toBe('float32');
    expect(Number(norm)).toBeCloseTo(1, 4); // rows are L2-normalised
    const csv = fs
      .readFileSync(path.join(dir(), 'emb', 'fm-test.csv'), 'utf8')
      .trim()
      .split('\r\n');
    expect(csv[0]).toBe('index,split,position,label,class,file');
    expect(csv).toHaveLength(10001);
    expect(csv[1]).toBe('0,test,0,9,Ankle boot,'); // the first Fashion-MNIST test image, in the file's order
  }, 120_000);

  it('embeds a colour image folder into a grey run, converting and listing the unreadable file', async () => {
    const sharp = (await import('sharp')).default;
    const ds = await loadIdx(FASHION);
    const folder = path.join(dir(), 'colour', 'shirts');
    fs.mkdirSync(folder, { recursive: true });
    for (let i = 0; i < 6; i++) {
      const grey = ds.test!.images.subarray(i * 784, (i + 1) * 784);
      const rgb = Buffer.alloc(784 * 3);
      for (let p = 0; p < 784; p++) rgb.set([grey[p], grey[p] >> 1, 255 - grey[p]], p * 3);
      await sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } })
        .resize(40, 40)
        .png()
        .toFile(path.join(folder, `img-${i}.png`));
    }
    fs.writeFileSync(path.join(folder, 'broken.png'), Buffer.from('not a png at all'));
    const out = path.join(dir(), 'emb', 'colour.csv');
    const r = await isd(
      'embed',
      runId,
      '--dataset',
      path.join(dir(), 'colour'),
      '--split',
      'all',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.shape).toEqual([6, 16]);
    expect(res.adapted).toEqual({ from: [28, 28, 3], resizedTo: 28, channels: 'colour→grey' });
    expect(res.skipped).toEqual([{ path: path.join(folder, 'broken.png'), reason: expect.any(String) }]);
    const info = JSON.parse(fs.readFileSync(path.join(dir(), 'emb', 'colour.embedding.json'), 'utf8'));
    expect(info.adapted.channels).toBe('colour→grey');
    const rows = fs.readFileSync(out, 'utf8').trim().split('\r\n');
    expect(rows[0].split(',').slice(0, 7)).toEqual(['index', 'split', 'position', 'label', 'class', 'file', 'f0']);
    expect(rows).toHaveLength(7);
    expect(rows[1].split(',')[5]).toBe(path.join(folder, 'img-0.png'));
    expect(rows[1].split(',')).toHaveLength(6 + 16);
    // Embedded again, as .csv and twice as .npy: the earlier embedding's files beside it are replaced.
    for (const again of [out, out.replace(/\.csv$/, '.npy'), out.replace(/\.csv$/, '.npy')]) {
      const e = await isd('embed', runId, '--dataset', path.join(dir(), 'colour'), '--split', 'all', '--out', again);
      expect(e.code, e.stderr).toBe(0);
    }
    expect(listing(path.join(dir(), 'emb')).filter((n) => n.startsWith('colour'))).toEqual([
      'colour.csv',
      'colour.embedding.json',
      'colour.npy',
    ]);
  }, 60_000);

  it('stops at the next batch with nothing written, and refuses what it cannot do', async () => {
    const { createAppServices } = await import('./app/services');
    const app = createAppServices({ dbPath: path.join(dir(), 'history.db'), transport: 'web' });
    const out = path.join(dir(), 'stopped', 'x.npy');
    const stop = new AbortController();
    let progress = 0;
    try {
      await expect(
        app.encoders.embed(runId, {
          dataset: 'fashion-mnist',
          split: 'train',
          out,
          signal: stop.signal,
          onProgress: (p) => {
            if (p.phase === 'features' && p.done > 0 && ++progress === 1) stop.abort();
          },
        }),
      ).rejects.toThrow(/stopped: nothing was written/);
    } finally {
      await app.close();
    }
    expect(progress).toBeGreaterThan(0);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
    const bad = await isd('embed', runId, '--dataset', 'fashion-mnist', '--out', path.join(dir(), 'x.txt'), '--json');
    expect(bad.code).toBe(2);
    expect(jsonLines(bad.stdout)[0].message).toMatch(/\.npy or \.csv/);
    const split = await isd('embed', runId, '--dataset', 'fashion-mnist', '--split', 'val', '--out', out, '--json');
    expect(split.code).toBe(2);
    // A file of yours beside the named one (emb.csv beside emb.npy, emb.embedding.json): refused before
    // any image is embedded, and kept; an earlier embedding's are replaced.
    const mine = path.join(dir(), 'mine');
    fs.mkdirSync(mine);
    for (const [name, beside] of [
      ['emb.csv', 'emb.npy'],
      ['tab.embedding.json', 'tab.csv'],
    ]) {
      fs.writeFileSync(path.join(mine, name), 'precious');
      const refused = await isd(
        'embed',
        runId,
        '--dataset',
        'fashion-mnist',
        '--out',
        path.join(mine, beside),
        '--json',
      );
      expect(refused.code, name).toBe(2);
      expect(jsonLines(refused.stdout)[0].message).toMatch(
        new RegExp(`${name.replace('.', '\\.')}: exists and is not`),
      );
      expect(fs.readFileSync(path.join(mine, name), 'utf8')).toBe('precious');
    }
    expect(listing(mine)).toEqual(['emb.csv', 'tab.embedding.json']);
  }, 120_000);

  it.skipIf(!canUnshare)(
    'on a full disk fails clearly and leaves no file behind',
    () => {
      const mnt = fs.mkdtempSync(path.join(dir(), 'full-embed-'));
      const bin = path.resolve(__dirname, '..', 'bin', 'isd.js');
      const db = path.join(dir(), 'history.db');
      const script = `mount -t tmpfs -o size=64k none "${mnt}" && node "${bin}" --db "${db}" --json embed ${runId} --dataset ${FASHION} --out "${mnt}/e.npy"; code=$?; echo "ls:$(ls -A "${mnt}" | tr '\\n' ' ')"; exit $code`;
      const r = spawnSync('unshare', ['-rm', 'sh', '-c', script], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(1); // DISK_FULL: not the user's input, exit 1
      expect(r.stdout).toMatch(/is full \(no space left while writing/);
      expect(r.stdout).toMatch(/ls: *$/m);
    },
    130_000,
  );
});
