import { describe, expect, it } from 'vitest';
import {
  checkAgainstDataset,
  CROSS_FIELD_DEPENDENTS,
  DEFAULT_RUN_CONFIG,
  formatImbalance,
  KNN_K,
  METHOD_DEFAULTS,
  methodLabel,
  MIN_MEANINGFUL_TEST_IMAGES,
  parseImbalance,
  runConfigSchema,
  validateRunConfig,
} from './run-config';

describe('validateRunConfig', () => {
  it('accepts the defaults and fills omitted fields from them', () => {
    const r = validateRunConfig({ epochs: 3 });
    expect(r).toEqual({ ok: true, config: { ...DEFAULT_RUN_CONFIG, epochs: 3 } });
  });

  it('names the field of each single-field problem', () => {
    const r = validateRunConfig({ tempStudent: 0, epochs: 1.5, method: 'simclr' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.field).sort()).toEqual(['epochs', 'method', 'tempStudent']);
  });

  it('refuses a queue that is not a multiple of the batch size, naming the queue', () => {
    const r = validateRunConfig({ queueSize: 100, batchSize: 32 });
    expect(r).toEqual({
      ok: false,
      issues: [{ field: 'queueSize', message: 'queue size 100 must be a multiple of the batch size 32' }],
    });
  });

  it('reports a cross-field problem together with an unrelated invalid field', () => {
    const r = validateRunConfig({ queueSize: 100, batchSize: 32, temperature: 0 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.field).sort()).toEqual(['queueSize', 'temperature']);
  });

  it('skips a cross-field check whose own fields are invalid', () => {
    const r = validateRunConfig({ queueSize: 100, batchSize: 0 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.field)).toEqual(['batchSize']);
  });

  it('checks the teacher temperature against the student only for ISD, and warm-up against the run', () => {
    expect(validateRunConfig({ tempTeacher: 0.5, tempStudent: 0.1 }).ok).toBe(false);
    expect(validateRunConfig({ method: 'moco', tempTeacher: 0.5, tempStudent: 0.1 }).ok).toBe(true);
    const w = validateRunConfig({ warmupEpochs: 5, epochs: 5 });
    expect(w.ok ? [] : w.issues.map((i) => i.field)).toEqual(['warmupEpochs']);
  });

  it('names, for each field, the fields whose cross-field error it can make or clear', () => {
    expect(CROSS_FIELD_DEPENDENTS).toEqual({
      batchSize: ['queueSize'],
      method: ['tempTeacher'],
      tempStudent: ['tempTeacher'],
      epochs: ['warmupEpochs'],
      bnGroups: ['batchSize'],
      shuffleBn: ['bnGroups'],
    });
    // Each dependent really changes with its field: BatchNorm groups alone make the batch size wrong.
    const r = validateRunConfig({ batchSize: 64, bnGroups: 7 });
    expect(r.ok ? [] : r.issues.map((i) => i.field)).toEqual(['batchSize']);
    const s = validateRunConfig({ bnGroups: 1, shuffleBn: true });
    expect(s.ok ? [] : s.issues.map((i) => i.field)).toEqual(['bnGroups']);
    expect(validateRunConfig({ bnGroups: 1, shuffleBn: false }).ok).toBe(true);
  });

  it('refuses unknown fields and non-objects', () => {
    const r = validateRunConfig({ learningRate: 0.1 });
    expect(r.ok ? null : r.issues[0]).toEqual({ field: 'config', message: 'unknown field(s): learningRate' });
    expect(validateRunConfig(null)).toEqual({ ok: false, issues: [{ field: 'config', message: 'must be an object' }] });
    expect(runConfigSchema.safeParse({ ...DEFAULT_RUN_CONFIG, imbalance: 'longtail:0.5' }).success).toBe(false);
  });
});

describe('method settings', () => {
  it("a MoCo run's defaults are MoCo v2's: strong views on both branches, a head without BN, T 0.2, Shuffle BN", () => {
    const r = validateRunConfig({ method: 'moco' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.config).toMatchObject({
      augTeacher: 'strong',
      augStudent: 'strong',
      projectionBn: false,
      temperature: 0.2,
      shuffleBn: true,
      bnGroups: 2,
    });
    expect(methodLabel(r.config)).toBe('MoCo v2');
    // ISD keeps ISD+'s: weak teacher view, BN head; and shuffles too
    const isd = validateRunConfig({ method: 'isd' });
    expect(isd.ok && isd.config).toMatchObject({ ...METHOD_DEFAULTS.isd, augTeacher: 'weak', projectionBn: true });
    // what a user sets wins over the method's defaults
    const mixed = validateRunConfig({ method: 'moco', augTeacher: 'weak', projectionBn: true });
    expect(mixed.ok && methodLabel(mixed.config)).toBe('MoCo with ISD+ views');
  });

  it('refuses a batch that does not split into its BatchNorm groups, and Shuffle BN on one group, naming the field', () => {
    expect(validateRunConfig({ batchSize: 100, queueSize: 1000, bnGroups: 3 })).toEqual({
      ok: false,
      issues: [
        {
          field: 'batchSize',
          message: 'batch size 100 must be a multiple of the BatchNorm groups (3), with at least 2 images per group',
        },
      ],
    });
    // the seed's bounds in words, not the schema library's ("Too small: expected number to be >=0")
    expect(validateRunConfig({ seed: -1 })).toEqual({
      ok: false,
      issues: [{ field: 'seed', message: 'must be 0 or more' }],
    });
    expect(validateRunConfig({ batchSize: 4, queueSize: 8, bnGroups: 4 })).toMatchObject({
      ok: false,
      issues: [{ field: 'batchSize' }],
    });
    expect(validateRunConfig({ shuffleBn: true, bnGroups: 1 })).toMatchObject({
      ok: false,
      issues: [{ field: 'bnGroups', message: expect.stringMatching(/Shuffle BN needs at least 2 BatchNorm groups/) }],
    });
    expect(validateRunConfig({ shuffleBn: false, bnGroups: 1 }).ok).toBe(true);
  });
});

describe('imbalance specs', () => {
  it('parses and formats every profile', () => {
    expect(parseImbalance('none')).toEqual({ kind: 'none' });
    expect(parseImbalance('longtail:10')).toEqual({ kind: 'longtail', rho: 10 });
    expect(parseImbalance('dominant:3:100')).toEqual({ kind: 'dominant', large: 3, perSmall: 100 });
    for (const t of ['none', 'longtail:2.5', 'dominant:8:100']) expect(formatImbalance(parseImbalance(t))).toBe(t);
  });

  it('refuses malformed specs', () => {
    for (const t of ['longtail', 'longtail:0.5', 'dominant:3', 'dominant:0:10', 'dominant:2:1.5', 'zipf:2']) {
      expect(() => parseImbalance(t), t).toThrow(/imbalance must be/);
    }
  });
});

describe('checkAgainstDataset', () => {
  const sizes = { trainImages: 20, bankImages: 20, testImages: 2 };

  it('names the batch and queue a 20-image training set cannot hold, and offers the fix', () => {
    const c = checkAgainstDataset({ batchSize: 64, queueSize: 1024, trainLimit: 0 }, sizes);
    expect(c.errors).toEqual([
      { field: 'batchSize', message: 'Batch size must be at most 20 for this dataset (20 training images)' },
      { field: 'queueSize', message: 'Queue size must be at most 20 for this dataset (20 training images)' },
    ]);
    expect(c.fix).toEqual({ batchSize: 16, queueSize: 16 });
    const fixed = checkAgainstDataset({ ...c.fix!, trainLimit: 0 }, sizes);
    expect(fixed.errors).toEqual([]);
    expect(fixed.fix).toBeNull();
    expect(validateRunConfig({ ...c.fix }).ok).toBe(true);
  });

  it('counts the train limit, keeps a batch that fits, and skips fields that are not numbers yet', () => {
    const big = { trainImages: 10_000, bankImages: 10_000, testImages: 2_000 };
    const c = checkAgainstDataset({ batchSize: 32, queueSize: 4096, trainLimit: 1000 }, big);
    expect(c.errors.map((e) => e.field)).toEqual(['queueSize']);
    expect(c.fix).toEqual({ batchSize: 32, queueSize: 992 });
    expect(c.warnings).toEqual([]);
    expect(checkAgainstDataset({ batchSize: NaN, queueSize: 64, trainLimit: 0 }, big).errors).toEqual([]);
  });

  it('warns when the test split is too small for a meaningful kNN, or there is none', () => {
    const w = checkAgainstDataset({ batchSize: 16, queueSize: 16, trainLimit: 0 }, sizes).warnings;
    expect(w.map((x) => x.message)).toEqual([
      `Only 2 test images: each moves kNN accuracy by 50.0 points, too coarse to compare runs (${MIN_MEANINGFUL_TEST_IMAGES}+ is meaningful).`,
    ]);
    const small = checkAgainstDataset({ batchSize: 4, queueSize: 8, trainLimit: 0 }, { ...sizes, bankImages: 12 });
    expect(small.warnings[0]!.message).toMatch(`${KNN_K}-NN votes over fewer than ${KNN_K}`);
    const none = checkAgainstDataset({ batchSize: 4, queueSize: 8, trainLimit: 0 }, { ...sizes, testImages: 0 });
    expect(none.warnings.map((x) => x.message)).toEqual([
      'No labelled test split: the run trains but reports no kNN accuracy.',
    ]);
  });

  it('refuses a full-test evaluation of a dataset without a test split, naming the field', () => {
    const c = { batchSize: 4, queueSize: 8, trainLimit: 0, evalFullTest: true };
    const none = checkAgainstDataset(c, { ...sizes, testImages: 0 });
    expect(none.errors).toEqual([
      { field: 'evalFullTest', message: 'This dataset has no labelled test split to evaluate in full' },
    ]);
    expect(none.fix).toBeNull(); // no batch or queue to change: the field's own message says what to do
    expect(checkAgainstDataset(c, sizes).errors).toEqual([]);
    expect(checkAgainstDataset({ ...c, evalFullTest: false }, { ...sizes, testImages: 0 }).errors).toEqual([]);
  });
});
