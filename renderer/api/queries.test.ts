import { describe, expect, it } from 'vitest';
import type { Curves, RunProgressEvent } from '../../electron/contract';
import { appendProgress } from './queries';

const base: Curves = { runId: 'r', points: [], evals: [], baseline: null, pixel: null, totalSteps: 100, recorded: 0 };
const event = (step: number): RunProgressEvent => ({
  runId: 'r',
  step,
  epoch: 1,
  loss: 1 / step,
  lr: 0.1,
  purity: null,
  imagesPerSec: 50,
  totalSteps: 100,
  etaSec: 10,
  at: 0,
});

describe('appendProgress', () => {
  it('appends new steps and ignores steps the fetched curves already hold', () => {
    let c = appendProgress(base, event(1));
    c = appendProgress(c, event(2));
    c = appendProgress(c, event(2));
    c = appendProgress(c, event(1));
    expect(c.points.map((p) => p.step)).toEqual([1, 2]);
    expect(c.recorded).toBe(2);
  });

  it('thins the older points when there are too many, keeping the recent ones whole', () => {
    let c = base;
    for (let s = 1; s <= 101; s++) c = appendProgress(c, event(s), 100);
    expect(c.points.length).toBeLessThanOrEqual(100);
    expect(c.points.at(-1)?.step).toBe(101);
    expect(c.points.slice(-50).map((p) => p.step)).toEqual(Array.from({ length: 50 }, (_, i) => 52 + i));
    const steps = c.points.map((p) => p.step);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
  });
});
