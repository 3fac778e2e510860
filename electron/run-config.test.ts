import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG, formatImbalance, parseImbalance, runConfigSchema, validateRunConfig } from './run-config';

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

  it('refuses unknown fields and non-objects', () => {
    const r = validateRunConfig({ learningRate: 0.1 });
    expect(r.ok ? null : r.issues[0]).toEqual({ field: 'config', message: 'unknown field(s): learningRate' });
    expect(validateRunConfig(null)).toEqual({ ok: false, issues: [{ field: 'config', message: 'must be an object' }] });
    expect(runConfigSchema.safeParse({ ...DEFAULT_RUN_CONFIG, imbalance: 'longtail:0.5' }).success).toBe(false);
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
