import { describe, expect, it } from 'vitest';
import { smoothEma } from './smoothing';

describe('smoothEma', () => {
  it('weight 0 is the identity; missing values stay missing', () => {
    expect(smoothEma([1, null, 3, Number.NaN], 0)).toEqual([1, null, 3, null]);
  });

  it('is debiased: a constant series stays constant at any weight', () => {
    for (const w of [0.3, 0.9, 0.99]) for (const v of smoothEma([5, 5, 5, 5], w)) expect(v).toBeCloseTo(5, 12);
  });

  it('follows the recurrence and skips gaps', () => {
    const w = 0.5;
    // raw EMA: 0.5, then 0.5*0.5+0.5*3 = 1.75; debiased by 1-0.5 and 1-0.25
    const r = smoothEma([1, null, 3], w);
    expect(r[0]).toBeCloseTo(1, 12);
    expect(r[1]).toBeNull();
    expect(r[2]).toBeCloseTo(1.75 / 0.75, 12);
  });

  it('reduces the spread of a noisy series', () => {
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 1 : -1));
    const s = smoothEma(noisy, 0.9).slice(50) as number[];
    expect(Math.max(...s) - Math.min(...s)).toBeLessThan(0.25);
  });
});
