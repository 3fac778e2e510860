import { describe, expect, it } from 'vitest';
import type { Curves } from '../../electron/contract';
import { mergeCurves } from './compare-series';

const curves = (runId: string, losses: number[], stepsPerEpoch: number, knn20: number[]): Curves => ({
  runId,
  points: losses.map((loss, i) => ({
    step: (i + 1) * 10,
    epoch: ((i + 1) * 10) / stepsPerEpoch,
    loss,
    lr: 0.1,
    purity: null,
    imagesPerSec: 100,
  })),
  evals: knn20.map((k, i) => ({
    epoch: i + 1,
    step: (i + 1) * stepsPerEpoch,
    knn1: k - 0.1,
    knn20: k,
    knn20Weighted: k,
    knn200Weighted: k,
    linear: null,
    at: 0,
  })),
  baseline: {
    epoch: 0,
    step: 0,
    knn1: 0.1,
    knn20: 0.12,
    knn20Weighted: 0.12,
    knn200Weighted: 0.12,
    linear: null,
    at: 0,
  },
  pixel: null,
  totalSteps: losses.length * 10,
  recorded: losses.length,
});

describe('mergeCurves', () => {
  const a = curves('a', [4, 3, 2, 1], 20, [0.5, 0.6]);
  const b = curves('b', [5, 4], 10, [0.4, 0.55]);

  it('puts every run under its own key, one row per x (one hover reads all runs), unsmoothed at 0', () => {
    const rows = mergeCurves([a, b], 'loss', 'step', 0);
    expect(rows.map((r) => r.x)).toEqual([10, 20, 30, 40]);
    expect(rows[0]).toEqual({ x: 10, run0: 4, run0Raw: 4, run1: 5, run1Raw: 5 });
    expect(rows.filter((r) => 'run0' in r).map((r) => r.run0)).toEqual([4, 3, 2, 1]);
    expect(rows.filter((r) => 'run1' in r).map((r) => r.run1)).toEqual([5, 4]);
  });

  it('smooths each run separately', () => {
    const rows = mergeCurves([a, b], 'loss', 'step', 0.5);
    const run1 = rows.filter((r) => 'run1' in r).map((r) => r.run1!);
    expect(run1[0]).toBeCloseTo(5); // debiased: not pulled towards run 0
    expect(run1[1]).toBeCloseTo((0.25 * 5 + 0.5 * 4) / 0.75);
    expect(rows.find((r) => r.x === 20)!.run1Raw).toBe(4); // the raw value, drawn faint behind
  });

  it('aligns runs of different epoch lengths on the epoch axis and leads evaluations with step 0', () => {
    const rows = mergeCurves([a, b], 'knn20', 'epoch', 0.9);
    expect(rows.filter((r) => 'run0' in r).map((r) => [r.x, r.run0])).toEqual([
      [0, 0.12],
      [1, 0.5],
      [2, 0.6],
    ]);
    expect(rows.filter((r) => 'run1' in r).map((r) => r.x)).toEqual([0, 1, 2]);
  });
});
