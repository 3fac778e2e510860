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

  it('refuses a checkpoint written by another engine version', async () => {
    const ck = path.join(ckptDir, listing(ckptDir).at(-1)!);
    const manifest = path.join(ck, 'manifest.json');
    const original = fs.readFileSync(manifest, 'utf8');
    fs.writeFileSync(manifest, JSON.stringify({ ...JSON.parse(original), version: 0 }));
    try {
      const out = path.join(dir(), 'old', 'enc.onnx');
      const r = await isd('export-encoder', runId, '--format', 'onnx', '--out', out, '--json');
      expect(r.code).toBe(2);
      expect(jsonLines(r.stdout)[0].message).toMatch(/version 0 is not 1: written by another app version/);
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
    expect(r.status, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/no space left on the disk/);
    expect(r.stdout).toMatch(/ls: *$/m); // neither enc.onnx, enc.json nor a temporary file
  });
});
