// The contract's channels through the real services: a real temporary SQLite file, the bundled sample
// dataset, real engine workers from dist/ (npm test builds first). Engine knobs shrink the encoder
// width and the kNN sets so runs take seconds on two shared cores.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHANNELS,
  KEYS_BARELY_DIFFER,
  type Channel,
  type EventName,
  type EventPayload,
  type RequestInput,
  type RequestOutput,
  type Result,
} from '../contract';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { EVAL_SPEED_RATIO, RUN_OVERHEAD_SEC } from '../study/plan';
import { createAppServices, type AppServices } from './services';
import { dispatchRequest } from './dispatch';

const DEFAULT_EPOCHS = DEFAULT_RUN_CONFIG.epochs;
const ENGINE = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
const TINY = { dataset: 'sample', trainLimit: 64, batchSize: 16, queueSize: 64, epochs: 1, imageSize: 0 };
/** 2 epochs × 16 steps: long enough to pause, resume and stop in the middle. */
const LONGER = { dataset: 'sample', trainLimit: 256, batchSize: 16, queueSize: 64, epochs: 2, imageSize: 0 };

/** Low enough that the throttle must drop some of the engine's one-per-step progress events. */
const PROGRESS_PER_SEC = 1;

let dir: string;
let app: AppServices;
const seen: { event: EventName; payload: unknown; at: number }[] = [];

async function call<C extends Channel>(channel: C, input: RequestInput<C>): Promise<RequestOutput<C>> {
  const r = (await dispatchRequest(app.handlers, channel, input)) as Result<RequestOutput<C>>;
  if (!r.ok) throw new Error(`${channel}: ${r.error.code} ${r.error.field ?? ''} ${r.error.message}`);
  return r.value;
}

async function fail(channel: Channel, input: unknown) {
  const r = await dispatchRequest(app.handlers, channel, input, () => undefined);
  if (r.ok) throw new Error(`${channel} should have failed`);
  return r.error;
}

/** Resolves with the first matching event from now on (or one already seen after `since`). */
function waitFor<E extends EventName>(
  event: E,
  match: (p: EventPayload<E>) => boolean,
  timeoutMs = 90_000,
  since = 0,
): Promise<EventPayload<E>> {
  const old = seen.find((s) => s.at >= since && s.event === event && match(s.payload as EventPayload<E>));
  if (old) return Promise.resolve(old.payload as EventPayload<E>);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = app.events.on(event, (p) => {
      if (!match(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

const statusesOf = (runId: string) =>
  seen
    .filter((s) => s.event === 'run.status' && (s.payload as { runId: string }).runId === runId)
    .map((s) => (s.payload as { status: string }).status);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-services-'));
  app = createAppServices({
    dbPath: path.join(dir, 'history.db'),
    transport: 'web',
    engine: ENGINE,
    progressPerSec: PROGRESS_PER_SEC,
    pickPath: async (kind) => (kind === 'folder' ? path.join(dir, 'picked') : null),
  });
  app.events.onAny((event, payload) => seen.push({ event, payload, at: Date.now() }));
});

afterAll(async () => {
  await app?.close({ stopTimeoutMs: 5000 });
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('datasets', () => {
  it('lists the bundled sample (and Fashion-MNIST where the system has it)', async () => {
    const list = await call('datasets.list', {});
    const sample = list.find((d) => d.id === 'sample');
    expect(sample).toMatchObject({ source: 'bundled', format: 'idx', classes: 10, shape: [28, 28, 1], images: 12_000 });
    if (fs.existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'))
      expect(list.some((d) => d.id === 'fashion-mnist' && d.images === 70_000)).toBe(true);
  });

  it('inspects by id with class counts per split', async () => {
    const s = await call('datasets.inspect', { id: 'sample' });
    expect(s.splits.train.classCounts).toEqual(new Array(10).fill(1000));
    expect(s.splits.test?.classCounts).toEqual(new Array(10).fill(200));
  });

  it('previews thumbnails per class as small PNG data URLs', async () => {
    const p = await call('datasets.preview', { id: 'sample', perClass: 3, size: 32 });
    expect(p.groups.map((g) => g.className)).toEqual(p.classNames);
    expect(p.classCounts).toEqual(new Array(10).fill(1000));
    for (const g of p.groups) {
      expect(g.samples).toHaveLength(3);
      for (const s of g.samples) expect(s.label).toBe(g.label);
    }
    const url = p.groups[4].samples[0].dataUrl;
    expect(url.startsWith('data:image/png;base64,')).toBe(true);
    const png = Buffer.from(url.slice('data:image/png;base64,'.length), 'base64');
    expect(png.length).toBeLessThan(4000);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 32, 32]);
  });

  it('gives the class counts an imbalance draw would keep', async () => {
    const p = await call('datasets.imbalancePreview', { id: 'sample', imbalance: 'longtail:10' });
    expect(p.before).toEqual(new Array(10).fill(1000));
    expect(p.after[0]).toBe(1000);
    expect(p.after[9]).toBe(100);
    expect(p.total).toBe(p.after.reduce((a, b) => a + b, 0));
    expect(await fail('datasets.imbalancePreview', { id: 'sample', imbalance: 'dominant:12:5' })).toMatchObject({
      code: 'BAD_INPUT',
      field: 'imbalance',
    });
  });

  it('adds and removes an image folder the user typed (web host), announcing the change', async () => {
    const root = path.join(dir, 'shapes');
    for (const [cls, value] of [
      ['dark', 20],
      ['light', 230],
    ] as const) {
      fs.mkdirSync(path.join(root, cls), { recursive: true });
      for (let i = 0; i < 6; i++) {
        await sharp({
          create: { width: 12, height: 12, channels: 3, background: { r: value, g: value - i, b: value } },
        })
          .png()
          .toFile(path.join(root, cls, `${i}.png`));
      }
    }
    const entry = await call('datasets.add', { path: root });
    expect(entry).toMatchObject({ source: 'user', format: 'folder', classes: 2, images: 12, name: 'shapes' });
    expect((await call('datasets.list', {})).map((d) => d.id)).toContain(entry.id);
    expect(
      seen.some((s) => s.event === 'datasets.changed' && (s.payload as { ids: string[] }).ids.includes(entry.id)),
    ).toBe(true);
    expect(await call('datasets.remove', { id: entry.id })).toEqual({ removed: entry.id });
    expect((await call('datasets.list', {})).map((d) => d.id)).not.toContain(entry.id);
    expect(await fail('datasets.remove', { id: 'sample' })).toMatchObject({ code: 'CONFLICT', field: 'id' });
    expect(await fail('datasets.add', { path: path.join(dir, 'nothing-here') })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await fail('datasets.add', { path: 'relative/path' })).toMatchObject({ code: 'BAD_INPUT', field: 'path' });
  });

  it('picks through the injected dialog', async () => {
    expect(await call('datasets.pick', { kind: 'folder' })).toEqual({ path: path.join(dir, 'picked') });
    expect(await call('datasets.pick', { kind: 'file' })).toEqual({ path: null });
  });
});

describe('system info and estimates', () => {
  it('reports the backend without loading tfjs on this thread', async () => {
    const info = await call('system.info', {});
    expect(['tensorflow', 'wasm', 'cpu']).toContain(info.backend);
    expect(info.device.length).toBeGreaterThan(0);
    expect(info.transport).toBe('web');
    expect(info.dbPath).toBe(path.join(dir, 'history.db'));
    expect(info.versions.tfjs).toBe('4.22.0');
    expect(Object.keys(require.cache).some((k) => k.includes(`${path.sep}@tensorflow${path.sep}`))).toBe(false);
  });

  it('estimates from the training images after the draw and limit', async () => {
    const e = await call('runs.estimate', {
      config: { dataset: 'sample', imbalance: 'longtail:10', batchSize: 128, queueSize: 2048, epochs: 3 },
    });
    const kept = (await call('datasets.imbalancePreview', { id: 'sample', imbalance: 'longtail:10' })).total;
    expect(e.steps).toBe(Math.floor(kept / 128) * 3);
    expect(e.trainSeconds).toBeCloseTo((e.steps * 128) / e.imagesPerSec, 6);
    // The step-0 baseline and 3 epoch evaluations over the engine's kNN sets, at the measured eval rate.
    const evalImages = 4 * (ENGINE.evalBankLimit + ENGINE.evalTestLimit);
    expect(e.evalSeconds).toBeCloseTo(evalImages / (e.imagesPerSec * EVAL_SPEED_RATIO), 6);
    expect(e.seconds).toBeCloseTo(e.trainSeconds + e.evalSeconds + RUN_OVERHEAD_SEC, 6);
    expect(['measured', 'benchmark', 'assumed']).toContain(e.basis);
    expect(
      await fail('runs.estimate', { config: { dataset: 'sample', trainLimit: 10, batchSize: 16, queueSize: 64 } }),
    ).toMatchObject({ code: 'BAD_INPUT', field: 'config.batchSize' });
  });

  it('estimates runs and studies at the side they train at, the sample’s own 28 px when imageSize is 0', async () => {
    const at = async (imageSize: number) =>
      (await call('runs.estimate', { config: { dataset: 'sample', imageSize, epochs: 1 } })).imagesPerSec;
    const own = await at(0);
    expect(await at(28)).toBe(own);
    // No run completed yet at either side: both come from the one speed, per pixel.
    expect(await at(16)).toBeCloseTo(own * (28 / 16) ** 1.5, 6);
    expect(await at(32)).toBeCloseTo(own * (28 / 32) ** 1.5, 6);
    const study = await call('study.estimate', { spec: { dataset: 'sample', budget: { imageSize: 16 } } });
    expect(study.imagesPerSec).toBeCloseTo(own * (28 / 16) ** 1.5, 6);
  });

  it('refuses a batch or queue larger than a 22-image folder, on start and estimate, writing no run', async () => {
    const root = path.join(dir, 'tiny-folder');
    for (const [cls, value] of [
      ['dark', 30],
      ['light', 220],
    ] as const) {
      fs.mkdirSync(path.join(root, cls), { recursive: true });
      for (let i = 0; i < 11; i++)
        await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: value, g: value, b: value - i } } })
          .png()
          .toFile(path.join(root, cls, `${i}.png`));
    }
    const entry = await call('datasets.add', { path: root });
    const summary = await call('datasets.inspect', { id: entry.id });
    const n = summary.splits.train.images;
    const before = app.store.listRuns().total;
    for (const channel of ['runs.start', 'runs.estimate'] as const) {
      const big = await fail(channel, { config: { dataset: entry.id, batchSize: 64, queueSize: 64 } });
      expect(big).toMatchObject({ code: 'BAD_INPUT', field: 'config.batchSize' });
      expect(big.message).toBe(`Batch size must be at most ${n} for this dataset (${n} training images)`);
      const queue = await fail(channel, { config: { dataset: entry.id, batchSize: 8, queueSize: 64 } });
      expect(queue).toMatchObject({ code: 'BAD_INPUT', field: 'config.queueSize' });
    }
    expect(app.store.listRuns().total).toBe(before);
    // The form's one-click fix is accepted by main.
    const fixed = await call('runs.estimate', { config: { dataset: entry.id, batchSize: 16, queueSize: 16 } });
    expect(fixed.steps).toBe(Math.floor(n / 16) * DEFAULT_EPOCHS);
    await call('datasets.remove', { id: entry.id });
  });
});

describe('runs', () => {
  it('refuses malformed inputs on every run channel, naming the field, and changes nothing', async () => {
    const before = app.store.listRuns().total;
    const cases: [Channel, unknown, string][] = [
      ['runs.start', { config: { epochs: 0 } }, 'config.epochs'],
      ['runs.start', { config: { queueSize: 100, batchSize: 64 } }, 'config.queueSize'],
      ['runs.start', { config: { dataset: 'no-such-dataset' } }, 'config.dataset'],
      ['runs.start', {}, 'config'],
      ['runs.pause', { id: '' }, 'id'],
      ['runs.resume', { id: 5 }, 'id'],
      ['runs.stop', {}, 'id'],
      ['runs.list', { limit: 0 }, 'limit'],
      ['runs.get', { id: 'x'.repeat(65) }, 'id'],
      ['runs.curves', { id: 'x', maxPoints: 5 }, 'maxPoints'],
      ['runs.compare', { ids: ['a'] }, 'ids'],
      ['runs.rename', { id: 'x', name: '' }, 'name'],
      ['runs.tag', { id: 'x', tags: [''] }, 'tags.0'],
      ['runs.notes', { id: 'x', notes: 'n'.repeat(10_001) }, 'notes'],
      ['runs.delete', { id: 'x', force: true }, 'force'],
      ['runs.export', { id: 'x', format: 'xml' }, 'format'],
      ['runs.neighbours', { id: 'x', testIndex: -1 }, 'testIndex'],
      ['runs.teacherSimilarity', { id: 'x', testIndex: 0, bins: 1 }, 'bins'],
      ['runs.estimate', { config: { lr: 0 } }, 'config.lr'],
      ['datasets.inspect', { id: 'sample', path: '/tmp' }, 'id'],
      ['datasets.preview', { id: 'sample', size: 4 }, 'size'],
      ['datasets.pick', { kind: 'socket' }, 'kind'],
    ];
    for (const [channel, input, field] of cases) {
      const e = await fail(channel, input);
      expect([channel, e.field]).toEqual([channel, field]);
      expect(e.message).not.toMatch(/\n\s+at /);
    }
    expect(app.store.listRuns().total).toBe(before);
    expect(CHANNELS.filter((c) => c.startsWith('runs.')).every((c) => cases.some(([ch]) => ch === c))).toBe(true);
  });

  it('trains one run at a time: a second waits queued, a stopped queued run never trains', async () => {
    const since = Date.now();
    const a = await call('runs.start', { config: { ...LONGER, name: 'A' } });
    const b = await call('runs.start', { config: { ...TINY, name: 'B' } });
    const c = await call('runs.start', { config: { ...TINY, name: 'C' } });
    expect(a.status).toBe('running');
    expect(b.status).toBe('queued');
    expect(c.status).toBe('queued');
    expect(await fail('runs.pause', { id: b.id })).toMatchObject({ code: 'CONFLICT' });
    expect(await fail('runs.delete', { id: a.id })).toMatchObject({ code: 'CONFLICT' });
    expect((await call('runs.stop', { id: c.id })).status).toBe('stopped');

    // Pause reaches the worker at a step boundary; nothing trains while paused.
    await waitFor('run.progress', (p) => p.runId === a.id, 90_000, since);
    await call('runs.pause', { id: a.id });
    await waitFor('run.status', (p) => p.runId === a.id && p.status === 'paused', 30_000, since);
    expect(app.store.getRunRecord(a.id).status).toBe('paused');
    const stepAtPause = app.store.getRunRecord(a.id).stepsDone;
    await new Promise((r) => setTimeout(r, 1500));
    expect(app.store.getRunRecord(a.id).stepsDone).toBe(stepAtPause);
    expect(app.store.getRunRecord(b.id).status).toBe('queued'); // a paused run keeps the slot
    await call('runs.resume', { id: a.id });
    await waitFor('run.status', (p) => p.runId === a.id && p.status === 'running', 30_000, Date.now());

    await waitFor('run.status', (p) => p.runId === a.id && p.status === 'completed', 120_000, since);
    await waitFor('run.status', (p) => p.runId === b.id && p.status === 'completed', 120_000, since);
    expect(statusesOf(a.id)).toEqual(['queued', 'running', 'paused', 'running', 'completed']);
    expect(statusesOf(b.id)).toEqual(['queued', 'running', 'completed']);
    expect(statusesOf(c.id)).toEqual(['queued', 'stopped']);
    const aEnd = app.store.getRunRecord(a.id).endedAt!;
    expect(app.store.getRunRecord(b.id).startedAt!).toBeGreaterThanOrEqual(aEnd);
    expect(app.store.getRunRecord(c.id)).toMatchObject({ status: 'stopped', stepsDone: 0, startedAt: null });

    // Every step persisted once, in order; progress events throttled but the last one sent.
    const steps = [...app.store.iterateStepMetrics(a.id)].map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    const progress = seen.filter((s) => s.event === 'run.progress' && (s.payload as { runId: string }).runId === a.id);
    expect(progress.length).toBeLessThan(32);
    expect((progress[progress.length - 1].payload as { step: number }).step).toBe(32);
    const gaps = progress.slice(1).map((p, i) => p.at - progress[i].at);
    // Apart from the last step (always sent at once), events are about 1/PROGRESS_PER_SEC apart; `at` is
    // when the test received one, so a loaded machine's timer jitter (978 ms seen) is allowed, no burst is.
    expect(gaps.slice(0, -1).filter((g) => g < (0.9 * 1000) / PROGRESS_PER_SEC)).toEqual([]);

    const detail = await call('runs.get', { id: a.id });
    expect(detail.run).toMatchObject({
      status: 'completed',
      step: 32,
      totalSteps: 32,
      epoch: 2,
      epochs: 2,
      backend: expect.any(String),
    });
    expect(detail.baseline?.epoch).toBe(0);
    expect(detail.evals.map((e) => e.epoch)).toEqual([1, 2]);
    expect(detail.checkpoints.length).toBeGreaterThan(0);
    expect(detail.perClass?.classNames).toHaveLength(10);
    expect(detail.perClass?.trainCounts.reduce((x, y) => x + y, 0)).toBe(256);
    expect(detail.canResume).toBe(false);
    expect(await fail('runs.resume', { id: a.id })).toMatchObject({ code: 'CONFLICT' });
  }, 300_000);

  it('stops a run with a checkpoint and resumes it from there to completion', async () => {
    const since = Date.now();
    const r = await call('runs.start', { config: { ...LONGER, name: 'stop-resume' } });
    await waitFor('run.progress', (p) => p.runId === r.id && p.step >= 3, 90_000, since);
    await call('runs.stop', { id: r.id });
    await waitFor('run.status', (p) => p.runId === r.id && p.status === 'stopped', 60_000, since);
    const stopped = await call('runs.get', { id: r.id });
    expect(stopped.canResume).toBe(true);
    const stopStep = stopped.run.step;
    expect(stopStep).toBeGreaterThanOrEqual(3);
    expect(stopStep).toBeLessThan(32);
    expect(stopped.checkpoints[stopped.checkpoints.length - 1].step).toBe(stopStep);

    const resumedAt = Date.now();
    await call('runs.resume', { id: r.id });
    await waitFor('run.status', (p) => p.runId === r.id && p.status === 'completed', 120_000, resumedAt);
    const steps = [...app.store.iterateStepMetrics(r.id)].map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    const curves = await call('runs.curves', { id: r.id, maxPoints: 10 });
    expect(curves.recorded).toBe(32);
    expect(curves.points.length).toBeLessThanOrEqual(10);
    expect(curves.points[curves.points.length - 1].step).toBe(32);
  }, 300_000);

  it('lists, renames, tags, notes, compares, exports and deletes', async () => {
    const { runs, total } = await call('runs.list', { status: ['completed'], sort: 'name', dir: 'asc' });
    expect(total).toBe(3);
    expect(runs.map((r) => r.name)).toEqual(['A', 'B', 'stop-resume']);
    const [a, b] = runs;
    expect((await call('runs.rename', { id: a.id, name: 'A renamed' })).name).toBe('A renamed');
    expect((await call('runs.tag', { id: a.id, tags: ['z', 'baseline'] })).tags).toEqual(['baseline', 'z']);
    expect((await call('runs.notes', { id: a.id, notes: 'first try' })).notes).toBe('first try');
    expect((await call('runs.list', { search: 'first try' })).runs.map((r) => r.id)).toEqual([a.id]);
    expect((await call('runs.list', { method: ['moco'] })).total).toBe(0);
    const byDuration = await call('runs.list', { sort: 'durationSec', dir: 'desc' });
    expect(byDuration.total).toBe(4);

    const cmp = await call('runs.compare', { ids: [a.id, b.id], maxPoints: 50 });
    expect(cmp.runs.map((r) => r.id)).toEqual([a.id, b.id]);
    expect(cmp.configDiff.trainLimit).toEqual([256, 64]);
    expect(cmp.curves[0].points.length).toBeGreaterThan(0);

    const json = await call('runs.export', { id: a.id, format: 'json' });
    expect(json.mimeType).toBe('application/json');
    expect(JSON.parse(json.content).run.id).toBe(a.id);
    const csv = await call('runs.export', { id: a.id, format: 'csv' });
    expect(csv.content.trim().split('\n')).toHaveLength(33);

    const dirOfB = app.store.getRunRecord(b.id).checkpointDir!;
    expect(fs.existsSync(dirOfB)).toBe(true);
    expect(await call('runs.delete', { id: b.id })).toEqual({ deleted: b.id });
    expect(fs.existsSync(dirOfB)).toBe(false);
    expect(await fail('runs.get', { id: b.id })).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('finds neighbours and the teacher similarity from the final checkpoint, in a worker', async () => {
    const a = (await call('runs.list', { search: 'A renamed' })).runs[0];
    const g = await call('runs.neighbours', { id: a.id, testIndex: 5, k: 4, jobId: 'gallery-1' });
    expect(g.neighbours).toHaveLength(4);
    // The first view embeds the run's bank, with progress under the page's job id, the last one complete.
    const progress = seen
      .filter((s) => s.event === 'encoder.progress' && (s.payload as { jobId: string }).jobId === 'gallery-1')
      .map((s) => s.payload as { runId: string; phase: string; done: number; total: number });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ runId: a.id, phase: 'features', done: g.bankCount, total: g.bankCount });
    expect(g.testCount).toBe(2000);
    expect(g.query.index).toBe(5);
    expect(g.query.dataUrl.startsWith('data:image/png;base64,')).toBe(true);
    const sims = g.neighbours.map((n) => n.similarity);
    expect([...sims].sort((x, y) => y - x)).toEqual(sims);
    expect(sims.every((s) => s <= 1 + 1e-5 && s >= -1 - 1e-5)).toBe(true);

    const t = await call('runs.teacherSimilarity', { id: a.id, testIndex: 5, bins: 10, top: 3 });
    expect(t.queueSize).toBe(64);
    expect(t.temperature).toBe(0.01);
    expect(t.probability.counts.reduce((x, y) => x + y, 0)).toBe(64);
    expect(t.cosine.counts.reduce((x, y) => x + y, 0)).toBe(64);
    expect(t.effectiveAnchors).toBeGreaterThanOrEqual(1);
    expect(t.effectiveAnchors).toBeLessThanOrEqual(64);
    // The anchors' mean cosine to each other: K unit vectors average at least −1/(K−1).
    expect(t.anchorMeanCosine).toBeGreaterThanOrEqual(-1 / 63 - 1e-6);
    expect(t.anchorMeanCosine).toBeLessThan(KEYS_BARELY_DIFFER);
    expect(t.topAnchors).toHaveLength(3);
    expect(t.topAnchors[0].probability).toBeGreaterThanOrEqual(t.topAnchors[2].probability);
    // Each anchor is the training image its key came from: the same thumbnail and class as that image as a
    // query, inside the searched bank or beyond it (the run trains on more images than the test's bank).
    const every = await call('runs.teacherSimilarity', { id: a.id, testIndex: 5, bins: 10, top: 32 });
    for (const anchor of every.topAnchors) {
      expect(anchor.trainIndex).not.toBeNull();
      expect(anchor.dataUrl!.startsWith('data:image/png;base64,')).toBe(true);
    }
    const inBank = every.topAnchors.filter((x) => x.trainIndex! < g.bankCount).slice(0, 2);
    const beyond = every.topAnchors.filter((x) => x.trainIndex! >= g.bankCount).slice(0, 2);
    expect([inBank.length, beyond.length]).toEqual([2, 2]);
    for (const anchor of [...inBank, ...beyond]) {
      const image = (await call('runs.neighbours', { id: a.id, testIndex: anchor.trainIndex!, split: 'train', k: 1 }))
        .query;
      expect(anchor.dataUrl).toBe(image.dataUrl);
      expect([anchor.label, anchor.className]).toEqual([image.label, image.className]);
    }
    expect(await fail('runs.neighbours', { id: a.id, testIndex: 99_999 })).toMatchObject({
      code: 'BAD_INPUT',
      field: 'testIndex',
    });

    // A neighbour clicked to become the query: training image n, in the bank, is not its own neighbour.
    const n = g.neighbours[1];
    const again = await call('runs.neighbours', { id: a.id, testIndex: n.index, split: 'train', k: 4 });
    expect(again.query.index).toBe(n.index);
    expect(again.query.dataUrl).toBe(n.dataUrl);
    expect(again.neighbours).toHaveLength(4);
    expect(again.neighbours.map((x) => x.index)).not.toContain(n.index);
    const againSims = again.neighbours.map((x) => x.similarity);
    expect(againSims).toEqual([...againSims].sort((x, y) => y - x));
    const tt = await call('runs.teacherSimilarity', { id: a.id, testIndex: n.index, split: 'train', bins: 10, top: 3 });
    expect(tt.query.dataUrl).toBe(n.dataUrl);
    expect(tt.probability.counts.reduce((x, y) => x + y, 0)).toBe(64);
    // Past the training split (the sample's 10,000 images), not past the bank.
    expect(await fail('runs.neighbours', { id: a.id, testIndex: 10_000, split: 'train' })).toMatchObject({
      code: 'BAD_INPUT',
      field: 'testIndex',
    });
  }, 120_000);

  it('says the keys barely differ when every training image is the same picture', async () => {
    // 80 copies of one grey image: the teacher's weak view of each is the same, so every key is.
    const root = path.join(dir, 'copies');
    for (const cls of ['a', 'b']) {
      fs.mkdirSync(path.join(root, cls), { recursive: true });
      for (let i = 0; i < 40; i++)
        await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 120, g: 120, b: 120 } } })
          .png()
          .toFile(path.join(root, cls, `${i}.png`));
    }
    const entry = await call('datasets.add', { path: root });
    const since = Date.now();
    const run = await call('runs.start', {
      config: { dataset: entry.id, trainLimit: 0, batchSize: 16, queueSize: 32, epochs: 2, imageSize: 0 },
    });
    await waitFor('run.status', (p) => p.runId === run.id && p.status === 'completed', 120_000, since);
    const t = await call('runs.teacherSimilarity', { id: run.id, testIndex: 0, bins: 10, top: 3 });
    expect(t.anchorMeanCosine).toBeGreaterThan(0.99);
    // The query's key is computed in eval mode, so it need not match the anchors; all anchors look alike to it.
    expect(t.cosine.counts.filter((c) => c > 0)).toEqual([32]);
  });

  it('image search, the map and its thumbnails refuse bad input naming the field, and answer after', async () => {
    const a = (await call('runs.list', { search: 'A renamed' })).runs[0];
    const file = (bytes: Buffer) => ({ kind: 'file' as const, name: 'query.png', base64: bytes.toString('base64') });
    const noise = Buffer.from(Array.from({ length: 40 * 40 * 3 }, (_, i) => (i * 2654435761) >>> 24));
    const png = await sharp(noise, { raw: { width: 40, height: 40, channels: 3 } })
      .png()
      .toBuffer();
    // The same PNG whose header claims 100,000 × 100,000 pixels (CRC mended): a decompression bomb.
    const bomb = Buffer.from(png);
    bomb.writeUInt32BE(100_000, 16);
    bomb.writeUInt32BE(100_000, 20);
    bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
    for (const [bytes, why] of [
      [Buffer.from('plain text, not an image'), /unsupported image format/],
      [png.subarray(0, png.length >> 1), /end of stream/],
      [bomb, /pixel limit/],
    ] as const) {
      const e = await fail('encoder.search', { id: a.id, query: file(bytes) });
      expect(e).toMatchObject({ code: 'BAD_INPUT', field: 'query.base64' });
      expect(e.message).toMatch(/^query\.png: the image could not be read/);
      expect(e.message).toMatch(why);
    }
    const dataset = (split: 'train' | 'test', index: number) => ({ kind: 'dataset' as const, split, index });
    expect(await fail('encoder.search', { id: a.id, query: dataset('test', 2000) })).toMatchObject({
      code: 'BAD_INPUT',
      field: 'query.index',
    });
    expect(await fail('encoder.search', { id: 'ffffffff', query: dataset('test', 0) })).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await fail('encoder.image', { id: a.id, split: 'test', index: 2000 })).toMatchObject({
      code: 'BAD_INPUT',
      field: 'index',
    });

    // The analysis worker survived all of it: a training image finds itself first, the PNG finds k images.
    const self = await call('encoder.search', { id: a.id, query: dataset('train', 7), among: 'train', k: 3 });
    expect(self.neighbours[0].index).toBe(7);
    expect(self.neighbours[0].similarity).toBeCloseTo(1, 4);
    expect((await call('encoder.search', { id: a.id, query: file(png), k: 3 })).neighbours).toHaveLength(3);
    expect((await call('encoder.image', { id: a.id, split: 'test', index: 1999 })).index).toBe(1999);
  }, 120_000);

  it('the embedding map names the rare classes of an unbalanced run, and none of a balanced one', async () => {
    const balanced = (await call('runs.list', { search: 'A renamed' })).runs[0];
    const since = Date.now();
    const skewed = await call('runs.start', { config: { ...TINY, imbalance: 'longtail:10', name: 'skewed' } });
    await waitFor('run.status', (p) => p.runId === skewed.id && p.status === 'completed', 120_000, since);
    const map = (id: string) =>
      call('encoder.map', { id, split: 'test', method: 'pca', model: 'trained', maxPoints: 100 });
    // longtail:10 over 10 classes keeps 1/10 of the largest at the tail: classes 3…9 fall under half of class 0.
    expect((await map(skewed.id)).rareClasses).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect((await map(balanced.id)).rareClasses).toBeNull();
  }, 180_000);

  it('never loads tfjs on the thread that serves requests (compiled services, in a child process)', () => {
    const script = `
      const { createAppServices } = require(${JSON.stringify(path.resolve('dist/electron/app/services.js'))});
      const app = createAppServices({ dbPath: ${JSON.stringify(path.join(dir, 'history.db'))}, transport: 'web' });
      Promise.all([app.handlers['system.info']({}), app.handlers['runs.list']({ sort: 'createdAt', dir: 'desc', limit: 5, offset: 0 }), app.handlers['datasets.preview']({ id: 'sample', perClass: 1, size: 16 })])
        .then(async ([info]) => {
          const tf = Object.keys(require.cache).filter((k) => k.includes('@tensorflow'));
          await app.close();
          console.log(JSON.stringify({ backend: info.backend, tf }));
        });`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop()!,
    );
    expect(out.tf).toEqual([]);
    expect(['tensorflow', 'wasm', 'cpu']).toContain(out.backend);
  });
});
