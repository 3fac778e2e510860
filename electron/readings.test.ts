import { describe, expect, it } from 'vitest';
import { describeChange, describeQueries, formatAccuracy, formatChange, readAccuracy, standardError } from './readings';

describe('readings', () => {
  it('gives the binomial standard error sqrt(p(1−p)/n), and none without n', () => {
    expect(standardError(0.8, 2000)).toBeCloseTo(Math.sqrt(0.16 / 2000), 15); // 0.00894
    expect(standardError(0.5, 100)).toBeCloseTo(0.05, 15);
    expect(standardError(1, 100)).toBe(0);
    expect(standardError(0.8, null)).toBeNull();
    expect(standardError(0.8, 0)).toBeNull();
  });

  it("reads the issue's runs: 72.5 → 72.45 % is within noise, 65.4 → 73.05 % learned, 75 → 70 % lost (2,000 queries)", () => {
    const flat = readAccuracy(0.7245, 0.725, 2000);
    expect(flat.change).toBeCloseTo(-0.0005, 12);
    // SE of the change: sqrt(0.7245·0.2755/2000 + 0.725·0.275/2000) = 0.01412
    expect(flat.changeSe).toBeCloseTo(Math.sqrt((0.7245 * 0.2755 + 0.725 * 0.275) / 2000), 12);
    expect(flat.verdict).toBe('within noise');
    expect(readAccuracy(0.7305, 0.654, 2000).verdict).toBe('learned');
    expect(readAccuracy(0.7, 0.75, 2000).verdict).toBe('lost');
    // 2 SE is the line: +2.0 points is within noise on 2,000 queries (2 × 1.40 = 2.8), learned on 10,000 (2 × 0.63).
    expect(readAccuracy(0.745, 0.725, 2000).verdict).toBe('within noise');
    expect(readAccuracy(0.745, 0.725, 10000).verdict).toBe('learned');
  });

  it('gives the change without a verdict when n is unknown, and neither without step 0', () => {
    expect(readAccuracy(0.8, 0.7, null)).toEqual({
      value: 0.8,
      se: null,
      change: expect.closeTo(0.1, 12),
      changeSe: null,
      verdict: null,
    });
    expect(readAccuracy(0.8, null, 2000)).toMatchObject({ change: null, changeSe: null, verdict: null });
  });

  it('writes the readings in words', () => {
    expect(formatChange(0.0345)).toBe('+3.5 pts');
    expect(formatChange(-0.041)).toBe('−4.1 pts');
    expect(formatChange(0.0002)).toBe('±0.0 pts');
    expect(formatAccuracy(readAccuracy(0.8, null, 2000))).toBe('80.0% ± 0.9');
    expect(formatAccuracy(readAccuracy(0.8, null, null))).toBe('80.0%');
    expect(describeChange(readAccuracy(0.7, 0.75, 2000))).toBe('−5.0 ± 1.4 pts vs step 0, LOST');
    expect(describeChange(readAccuracy(0.8, 0.7, null))).toBe('+10.0 pts vs step 0');
    expect(describeChange(readAccuracy(0.75, 0.75, 2000))).toBe('0.0 ± 1.4 pts vs step 0, within noise');
    expect(describeChange(readAccuracy(0.8, null, 2000))).toBe('');
    expect(describeQueries(2000, 10000)).toBe('from a subset: 2,000 of 10,000 test images');
    expect(describeQueries(10000, 10000)).toBe('');
    expect(describeQueries(null, null)).toBe('');
  });
});
