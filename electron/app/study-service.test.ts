// A tiny imbalance study end to end: the real app services (SQLite file, the one run queue) and real
// engine workers from dist/ (npm test builds first), on the bundled sample. Engine knobs shrink the
// encoder width and the kNN sets so the 8 + 4 runs take a few minutes on two shared cores.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppServices, type AppServices } from './services';
import { dispatchRequest } from './dispatch';
import type { Channel, EventName, Handlers, RequestInput, RequestOutput, Result, StudyProgress } from '../contract';
import { GROUP_EVALS_FILE, readGroupEvals } from '../study/group-evals';
import type { StudyService } from './study-service';

const ENGINE = { baseWidth: 4, evalBankLimit: 400, evalTestLimit: 200 };
const TINY = {
  name: 'tiny',
  dataset: 'sample',
  profiles: ['none', 'dominant:3:100'],
  seeds: 2,
  budget: { trainLimit: 128, batchSize: 32, queueSize: 64, epochs: 1, evalEvery: 1, imageSize: 0 },
};

let dir: string;
let app: AppServices;
let study: StudyService;
let handlers: Handlers;
const seen: { event: EventName; payload: unknown; at: number }[] = [];

async function call<C extends Channel>(channel: C, input: RequestInput<C>): Promise<RequestOutput<C>> {
  const r = (await dispatchRequest(handlers, channel, input)) as Result<RequestOutput<C>>;
  if (!r.ok) throw new Error(`${channel}: ${r.error.code} ${r.error.field ?? ''} ${r.error.message}`);
  return r.value;
}

/** Resolves with the first study.progress of `studyId` (from now on) that matches. */
function progressWhere(
  studyId: string,
  match: (p: StudyProgress) => boolean,
  timeoutMs = 240_000,
): Promise<StudyProgress> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`study ${studyId}: no matching progress within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = app.events.on('study.progress', (p) => {
      if (p.studyId !== studyId || !match(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-study-'));
  // The default engine starter carries the group-evaluation tap (group-evals.ts).
  app = createAppServices({
    dbPath: path.join(dir, 'history.db'),
    transport: 'web',
    engine: ENGINE,
    log: () => undefined,
  });
  study = app.study;
  handlers = app.handlers;
  app.events.onAny((event, payload) => seen.push({ event, payload, at: Date.now() }));
});

afterAll(async () => {
  await app?.close({ stopTimeoutMs: 5000 });
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a tiny study', () => {
  let studyId: string;

  it('estimates the study on its dataset, naming the rare classes of each profile', async () => {
    const e = await call('study.estimate', { spec: TINY });
    expect(e.runs).toBe(8);
    expect(e.seconds).toBeGreaterThan(0);
    expect(e.perProfile.map((p) => [p.profile, p.trainImages, p.steps, p.rare])).toEqual([
      ['none', 128, 4, []],
      ['dominant:3:100', 128, 4, [3, 4, 5, 6, 7, 8, 9]],
    ]);
    const bad = await dispatchRequest(
      handlers,
      'study.start',
      { spec: { ...TINY, profiles: ['dominant:12:5'] } },
      () => undefined,
    );
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'profiles' } });
    const missing = await dispatchRequest(
      handlers,
      'study.start',
      { spec: { ...TINY, dataset: 'no-such-dataset' } },
      () => undefined,
    );
    expect(missing).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', field: 'dataset' } });
    expect(await call('study.list', {})).toEqual([]); // refused specs create nothing
  });

  it('runs end to end through the run queue, one run at a time, with live progress and a results table', async () => {
    const started = await call('study.start', { spec: TINY });
    studyId = started.summary.id;
    expect(started.runs).toHaveLength(8);
    expect(started.runs.every((r) => r.runId !== null)).toBe(true);
    expect(started.progress.state).toBe('running');
    const done = await progressWhere(studyId, (p) => p.state !== 'running');
    expect(done).toMatchObject({ state: 'completed', completed: 8, total: 8, failed: 0, fraction: 1, etaSec: null });

    // every run is an ordinary run of the history, linked and tagged
    const runs = app.store.listRuns({ studyId, limit: 100, sort: 'startedAt', order: 'asc' }).runs;
    expect(runs).toHaveLength(8);
    for (const r of runs) {
      expect(r.status).toBe('completed');
      expect(r.tags).toContain(`study:${studyId.slice(0, 8)}`);
    }
    // the queue ran them one at a time
    for (let i = 1; i < runs.length; i++) expect(runs[i].startedAt!).toBeGreaterThanOrEqual(runs[i - 1].endedAt!);

    // progress went up run by run, with an ETA while work was left
    const progress = seen
      .filter((s) => s.event === 'study.progress' && (s.payload as StudyProgress).studyId === studyId)
      .map((s) => s.payload as StudyProgress);
    expect(progress.length).toBeGreaterThan(8);
    const counts = progress.map((p) => p.completed);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(progress.some((p) => p.active !== null && p.etaSec !== null && p.etaSec > 0)).toBe(true);

    const d = await call('study.get', { id: studyId.slice(0, 8) });
    // Over IPC/HTTP the contract refuses a short prefix; the CLI calls the service directly.
    const short = await dispatchRequest(handlers, 'study.get', { id: studyId.slice(0, 3) });
    expect(short).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'id' } });
    expect(JSON.stringify(short)).toContain('give at least 4 characters of the study id');
    expect(() => study.get(studyId.slice(0, 3))).toThrow(
      /study \w{3} not found \(an id prefix needs at least 4 characters;/,
    );
    expect(d.summary).toMatchObject({
      id: studyId,
      state: 'completed',
      completed: 8,
      total: 8,
      methods: ['isd', 'moco'],
      profiles: ['none', 'dominant:3:100'],
    });
    expect(d.profiles.map((p) => p.rare)).toEqual([[], [3, 4, 5, 6, 7, 8, 9]]);
    // the table: 2 methods × (none: all; dominant: all, frequent, rare) × 1-NN and 20-NN, each over 2 seeds
    expect(d.results.runs).toBe(8);
    expect(d.results.cells).toHaveLength(2 * (1 + 3) * 2);
    for (const c of d.results.cells) {
      expect(c.n).toBe(2);
      expect(c.mean).toBeGreaterThan(0);
      expect(c.mean).toBeLessThanOrEqual(1);
      expect(c.std).not.toBeNull();
    }
    // the run store keeps 20-NN frequent/rare; the tap kept 1-NN too, equal to the engine's own numbers
    const dominantIsd = d.runs.find((r) => r.method === 'isd' && r.profile === 'dominant:3:100' && r.seed === 0)!;
    const groups = readGroupEvals(path.join(dir, 'runs', dominantIsd.runId!));
    expect(groups.map((g) => g.epoch)).toEqual([0, 1]);
    expect(groups[1].rare!.knn20).toBeCloseTo(dominantIsd.rareKnn20!, 12);
    expect(groups[1].all.knn1).toBeCloseTo(dominantIsd.knn1!, 12);
    const rare1 = d.results.cells.find(
      (c) => c.method === 'isd' && c.profile === 'dominant:3:100' && c.metric === 'knn1' && c.group === 'rare',
    )!;
    expect(rare1.values).toContain(groups[1].rare!.knn1);
    expect(
      fs.existsSync(path.join(dir, 'runs', d.runs.find((r) => r.profile === 'none')!.runId!, GROUP_EVALS_FILE)),
    ).toBe(false); // balanced: nothing apart

    // paired ISD − MoCo per profile with a 95% interval over the 2 seeds, and a verdict per profile
    const pairedAll = d.results.paired.filter((p) => p.group === 'all');
    expect(pairedAll).toHaveLength(4);
    for (const p of d.results.paired) {
      expect(p.pairs).toBe(2);
      expect(p.ciLow!).toBeLessThanOrEqual(p.mean!);
      expect(p.ciHigh!).toBeGreaterThanOrEqual(p.mean!);
      expect(p.verdict.length).toBeGreaterThan(10);
    }
    expect(d.results.verdicts.map((v) => v.profile)).toEqual(['none', 'dominant:3:100']);

    const md = await call('study.export', { id: studyId, format: 'md' });
    expect(md).toMatchObject({ mimeType: 'text/markdown', filename: expect.stringMatching(/^tiny-[0-9a-f]{8}\.md$/) });
    expect(md.content).toContain('| `dominant:3:100` | isd |');
    expect(md.content).toContain('Runs completed: 8/8');
    const rare = d.profiles.find((p) => p.profile === 'dominant:3:100')!.rare;
    expect(rare.length).toBeGreaterThan(0);
    // named as the dataset names them (the sample's classes.txt), the index after each name
    const names = fs
      .readFileSync(path.join(__dirname, '..', '..', 'resources', 'sample', 'classes.txt'), 'utf8')
      .trim()
      .split('\n');
    expect(md.content).toContain(
      `Rare classes: \`dominant:3:100\` ${rare.map((c) => `${names[c]} (${c})`).join(', ')}.`,
    );
    const csv = await call('study.export', { id: studyId, format: 'csv' });
    const csvLines = csv.content.split('\r\n');
    expect(csvLines.filter((l) => l.includes(',summary,'))).toHaveLength(d.results.cells.length);
    expect(csvLines.filter((l) => l.includes(',raw pixels,'))).toHaveLength(4);
    // Each profile × method's step 0 over its 2 completed runs (one per seed), from the runs' own evaluations.
    for (const profile of TINY.profiles)
      for (const method of ['isd', 'moco']) {
        const inits = d.runs.filter((r) => r.profile === profile && r.method === method).map((r) => r.initKnn20!);
        expect(csvLines).toContainEqual(
          expect.stringMatching(
            new RegExp(
              `^${studyId},step 0,${profile},${method},knn20,all,2,${Number(((inits[0] + inits[1]) / 2).toFixed(5))},`,
            ),
          ),
        );
      }
    expect((await call('study.list', {})).map((s) => [s.id, s.state, s.completed])).toEqual([
      [studyId, 'completed', 8],
    ]);
  });

  it('a resume of a finished study redoes nothing', async () => {
    const before = app.store.listRuns({ studyId, limit: 100 }).runs;
    const since = Date.now();
    const { report, detail } = await study.resume(studyId);
    expect(report.requeued).toEqual([]);
    expect(report.created).toEqual([]);
    expect(report.skipped.map((s) => s.reason)).toEqual(new Array(8).fill('completed'));
    expect(detail.progress.state).toBe('completed');
    await new Promise((r) => setTimeout(r, 500));
    expect(seen.some((s) => s.at >= since && s.event === 'run.status')).toBe(false);
    expect(app.store.listRuns({ studyId, limit: 100 }).runs).toEqual(before);
  });
});

describe('stop and resume', () => {
  it('stops the study mid-run with a checkpoint, then resumes only the unfinished runs, the stopped one from its checkpoint', async () => {
    const spec = {
      ...TINY,
      name: 'stop me',
      profiles: ['dominant:3:100'],
      budget: { ...TINY.budget, trainLimit: 256, epochs: 2 },
    };
    const started = await call('study.start', { spec });
    const id = started.summary.id;
    const order = started.runs.map((r) => r.runId!);
    // the second run trains its second epoch: the first run is completed, the second has a checkpoint
    const second = order[1];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the second run never reached its second epoch')), 240_000);
      const off = app.events.on('run.progress', (p) => {
        if (p.runId === second && p.epoch === 2) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    });
    const stopped = await call('study.stop', { id });
    expect(stopped.runs.filter((r) => r.status === 'stopped').map((r) => r.runId)).toEqual(order.slice(2)); // out of the queue at once
    const idle = await progressWhere(id, (p) => p.state !== 'running', 60_000).catch(() => study.progress(id));
    expect(idle.state).toBe('incomplete');
    const firstDone = app.store.getRunRecord(order[0]);
    expect(firstDone.status).toBe('completed');
    const secondStopped = app.store.getRun(second);
    expect(secondStopped.run.status).toBe('stopped');
    const stopCheckpoint = secondStopped.checkpoints.find((c) => c.kind === 'stop')!;
    expect(stopCheckpoint.step).toBeGreaterThan(8); // into the second epoch (8 steps per epoch)

    const since = Date.now();
    const { report } = await study.resume(id);
    expect(report.skipped).toEqual([{ runId: order[0], reason: 'completed' }]);
    expect(report.requeued).toEqual(order.slice(1));
    expect(report.created).toEqual([]);
    const done = await progressWhere(id, (p) => p.state !== 'running');
    expect(done).toMatchObject({ state: 'completed', completed: 4 });
    // the completed run was left alone; the stopped one went on from its checkpoint, not from step 1
    expect(app.store.getRunRecord(order[0])).toEqual(firstDone);
    const resumedSteps = seen
      .filter((s) => s.at >= since && s.event === 'run.progress' && (s.payload as { runId: string }).runId === second)
      .map((s) => (s.payload as { step: number }).step);
    expect(Math.min(...resumedSteps)).toBeGreaterThan(stopCheckpoint.step);
    expect(app.store.getRunRecord(second).stepsDone).toBe(16);
    expect(
      seen.some(
        (s) => s.at >= since && s.event === 'run.status' && (s.payload as { runId: string }).runId === order[0],
      ),
    ).toBe(false);
  });
});
