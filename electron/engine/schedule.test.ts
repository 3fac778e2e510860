import { describe, expect, it } from 'vitest';
import { learningRateAt } from './schedule';

describe('learningRateAt', () => {
  const base = { lr: 0.1, epochs: 10, warmupEpochs: 0, stepsPerEpoch: 100 };

  it('cosine: peak at the start, half at the middle, towards 0 at the end', () => {
    const o = { ...base, schedule: 'cosine' as const };
    expect(learningRateAt(0, o)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(500, o)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(999, o)).toBeLessThan(1e-5);
    expect(learningRateAt(250, o)).toBeCloseTo(0.1 * 0.5 * (1 + Math.cos(Math.PI / 4)), 12);
  });

  it('step: ×0.2 at 60% and at 80% of the epochs', () => {
    const o = { ...base, schedule: 'step' as const };
    expect(learningRateAt(599, o)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(600, o)).toBeCloseTo(0.02, 12);
    expect(learningRateAt(799, o)).toBeCloseTo(0.02, 12);
    expect(learningRateAt(800, o)).toBeCloseTo(0.004, 12);
  });

  it('warm-up rises linearly to the peak, then the schedule starts from the peak', () => {
    const o = { ...base, schedule: 'cosine' as const, warmupEpochs: 2 };
    expect(learningRateAt(0, o)).toBeCloseTo(0.1 / 200, 12);
    expect(learningRateAt(99, o)).toBeCloseTo(0.05, 12);
    expect(learningRateAt(199, o)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(200, o)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(600, o)).toBeCloseTo(0.05, 12);
  });
});
