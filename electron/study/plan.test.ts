import path from 'node:path';
import { rareClassesOf } from '../data/imbalance';
import { describe, expect, it } from 'vitest';
import { loadDataset, countClasses, RESOURCES_DIR } from '../data';
import { prepareRunData } from '../engine/run-data';
import { IsdError } from '../errors';
import { runConfigSchema } from '../run-config';
import {
  checkStudyAgainstDataset,
  estimateStudy,
  EVAL_SPEED_RATIO,
  planStudy,
  profileClasses,
  RUN_OVERHEAD_SEC,
  runCost,
  studyTag,
  validateStudySpec,
} from './plan';
import { DEFAULT_STUDY_SPEC } from '../contract/study-spec';

const TEN = new Array(10).fill(1000);

function badField(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IsdError);
    expect((e as IsdError).code).toBe('BAD_INPUT');
    expect((e as IsdError).message).toContain((e as IsdError).field ?? '');
    return (e as IsdError).field;
  }
  throw new Error('expected a BAD_INPUT error');
}

describe('validateStudySpec', () => {
  it('fills every left-out field from the default, budget field by field, and canonicalises profiles', () => {
    const s = validateStudySpec({ profiles: ['none', 'longtail:10.0', 'dominant:3:100'], budget: { epochs: 3 } });
    expect(s.profiles).toEqual(['none', 'longtail:10', 'dominant:3:100']);
    expect(s.budget).toEqual({ ...DEFAULT_STUDY_SPEC.budget, epochs: 3 });
    expect(s.methods).toEqual(['isd', 'moco']);
    expect(validateStudySpec({})).toEqual(DEFAULT_STUDY_SPEC);
  });

  it('names the field at fault', () => {
    expect(badField(() => validateStudySpec({ seeds: 1 }))).toBe('seeds');
    expect(badField(() => validateStudySpec({ profiles: ['none', 'longtail:0.5'] }))).toBe('profiles.1');
    expect(badField(() => validateStudySpec({ profiles: ['none', 'none'] }))).toBe('profiles');
    expect(badField(() => validateStudySpec({ methods: ['isd', 'simclr'] }))).toBe('methods.1');
    expect(badField(() => validateStudySpec({ budget: { batchSize: 100, queueSize: 1024 } }))).toBe('budget.queueSize');
    expect(badField(() => validateStudySpec({ budget: { trainLimit: 64, batchSize: 128 } }))).toBe('budget.trainLimit');
    expect(badField(() => validateStudySpec({ budget: { epochs: 0 } }))).toBe('budget.epochs');
    expect(badField(() => validateStudySpec({ budget: { lr: 0.1 } }))).toBe('budget.lr');
    expect(
      badField(() =>
        validateStudySpec({
          seeds: 20,
          profiles: ['none', 'longtail:2', 'longtail:4', 'longtail:8', 'longtail:16', 'longtail:32'],
        }),
      ),
    ).toBe('seeds');
    expect(badField(() => validateStudySpec(null))).toBe('spec');
  });
});

describe('planStudy', () => {
  it('makes one valid, tagged run config per method × profile × seed, seeds paired across methods', () => {
    const spec = validateStudySpec({
      name: 'tiny',
      profiles: ['none', 'dominant:3:100'],
      seeds: 3,
      firstSeed: 7,
      budget: { epochs: 2, trainLimit: 256, batchSize: 32, queueSize: 64 },
    });
    const runs = planStudy(spec, 'abcdef12-3456-7890-abcd-ef1234567890');
    expect(runs).toHaveLength(2 * 2 * 3);
    expect(new Set(runs.map((r) => r.key)).size).toBe(12);
    for (const r of runs) {
      expect(runConfigSchema.safeParse(r.config).success).toBe(true);
      expect(r.config).toMatchObject({
        method: r.method,
        imbalance: r.profile,
        seed: r.seed,
        epochs: 2,
        trainLimit: 256,
        batchSize: 32,
        queueSize: 64,
        dataset: 'sample',
      });
      expect(r.config.tags).toContain(studyTag('abcdef12-3456-7890-abcd-ef1234567890'));
      expect(r.config.tags).toContain(`imbalance:${r.profile}`);
    }
    expect(studyTag('abcdef12-3456')).toBe('study:abcdef12');
    // queued seed by seed: the first four runs are seed 7's two profiles × two methods
    expect(runs.slice(0, 4).map((r) => r.seed)).toEqual([7, 7, 7, 7]);
    expect(runs.map((r) => r.seed).sort()).toEqual([7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9]);
  });
});

describe('rare classes', () => {
  it('follow the draw: dominant keeps the first classes large, longtail makes the tail rare', () => {
    expect(profileClasses(TEN, 'none', 0)).toEqual({
      profile: 'none',
      counts: TEN,
      trainImages: 10_000,
      frequent: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      rare: [],
    });
    const dom = profileClasses(TEN, 'dominant:3:100', 2048);
    expect(dom.counts).toEqual([1000, 1000, 1000, 100, 100, 100, 100, 100, 100, 100]);
    expect([dom.frequent, dom.rare, dom.trainImages]).toEqual([[0, 1, 2], [3, 4, 5, 6, 7, 8, 9], 2048]);
    // 1000 · 10^(−c/9), floored: 1000 774 599 464 359 278 215 166 129 100; rare below 500
    const lt = profileClasses(TEN, 'longtail:10', 0);
    expect(lt.counts).toEqual([1000, 774, 599, 464, 359, 278, 215, 166, 129, 100]);
    expect([lt.frequent, lt.rare, lt.trainImages]).toEqual([[0, 1, 2], [3, 4, 5, 6, 7, 8, 9], 4084]);
    expect(rareClassesOf([10, 6, 5, 4])).toEqual([3]);
    expect(badField(() => profileClasses(TEN, 'dominant:10:5', 0))).toBe('profiles');
  });

  it('agree with the classes the engine evaluates apart, on the bundled sample', async () => {
    const ds = await loadDataset(path.join(RESOURCES_DIR, 'sample'));
    const available = countClasses(ds.train.labels!, 10);
    for (const profile of ['dominant:3:100', 'longtail:10', 'longtail:3', 'dominant:1:500']) {
      const config = planStudy(validateStudySpec({ profiles: [profile], budget: { trainLimit: 512 } }), 'x')[0].config;
      const engine = prepareRunData(ds, config, { evalBankLimit: 10, evalTestLimit: 10 }).report;
      expect(engine.rareClasses).toEqual(profileClasses(available, profile, 512).rare);
      expect(engine.trainImages).toBe(512);
    }
    expect(
      prepareRunData(ds, planStudy(validateStudySpec({ profiles: ['none'] }), 'x')[0].config, {
        evalBankLimit: 10,
        evalTestLimit: 10,
      }).report.rareClasses,
    ).toBeNull();
  });
});

describe('checkStudyAgainstDataset', () => {
  it('refuses unlabeled data, profiles the dataset cannot supply and batches larger than a draw', () => {
    const spec = validateStudySpec({ profiles: ['none', 'dominant:3:100'] });
    expect(checkStudyAgainstDataset(spec, TEN).map((p) => p.rare.length)).toEqual([0, 7]);
    expect(badField(() => checkStudyAgainstDataset(spec, null))).toBe('dataset');
    expect(badField(() => checkStudyAgainstDataset(spec, [1000, 1000, 1000, 50]))).toBe('profiles');
    const small = validateStudySpec({
      profiles: ['dominant:1:10'],
      budget: { trainLimit: 0, batchSize: 128, queueSize: 128 },
    });
    expect(badField(() => checkStudyAgainstDataset(small, [100, 20, 20]))).toBe('budget.batchSize');
  });
});

describe('estimate', () => {
  it('counts steps, kNN passes and overhead per run, from a measured speed', () => {
    const spec = validateStudySpec({
      profiles: ['none', 'dominant:3:100'],
      seeds: 2,
      budget: { epochs: 4, evalEvery: 2, trainLimit: 2048, batchSize: 128, queueSize: 1024 },
    });
    const input = { trainClassCounts: TEN, testImages: 2000, imagesPerSec: 50 };
    const c = runCost(spec, 'none', input);
    // 2048/128 = 16 steps per epoch; evals at step 0, epoch 2 and 4; bank max(2048, 5000) + test 2000
    expect(c).toMatchObject({ steps: 64, trainImages: 8192, evalImages: 3 * 7000 });
    expect(c.seconds).toBeCloseTo(8192 / 50 + 21_000 / (50 * EVAL_SPEED_RATIO) + RUN_OVERHEAD_SEC, 6);
    const e = estimateStudy(spec, input);
    expect(e.runs).toBe(8);
    expect(e.seconds).toBeCloseTo(8 * c.seconds, 6); // both profiles train on 2048 images
    expect(e.perProfile[1]).toMatchObject({
      profile: 'dominant:3:100',
      trainImages: 2048,
      rare: [3, 4, 5, 6, 7, 8, 9],
    });
    // without a train limit the whole draw trains and kNN uses the whole splits
    const whole = runCost(
      validateStudySpec({ budget: { trainLimit: 0, epochs: 1, evalEvery: 1 } }),
      'dominant:3:100',
      input,
    );
    expect(whole).toMatchObject({ steps: Math.floor(3700 / 128), evalImages: 2 * 12_000 });
    expect(badField(() => runCost(spec, 'none', { ...input, imagesPerSec: 0 }))).toBe('imagesPerSec');
  });
});
