import { describe, expect, it } from 'vitest';
import { meanOver, splitFrequentRare } from './per-class';

describe('splitFrequentRare', () => {
  it('treats near-equal counts as balanced', () => {
    expect(splitFrequentRare([6000, 5900, 6000, 5000])).toEqual({ balanced: true, frequent: [0, 1, 2, 3], rare: [] });
  });

  it('picks the large classes of a dominant-class draw', () => {
    expect(splitFrequentRare([6000, 100, 6000, 100, 100, 6000])).toEqual({
      balanced: false,
      frequent: [0, 2, 5],
      rare: [1, 3, 4],
    });
  });

  it('splits an exponential long tail near its middle, largest first', () => {
    const rho = 10;
    const counts = Array.from({ length: 10 }, (_, i) => Math.round(6000 * Math.pow(1 / rho, i / 9)));
    const s = splitFrequentRare(counts);
    expect(s.frequent).toEqual([0, 1, 2, 3, 4]);
    expect(s.rare).toEqual([5, 6, 7, 8, 9]);
  });

  it('ignores empty classes when finding the extremes', () => {
    expect(splitFrequentRare([500, 0, 100])).toMatchObject({ frequent: [0], rare: [2, 1] });
  });
});

describe('meanOver', () => {
  it('averages the chosen classes', () => {
    expect(meanOver([0.9, 0.1, 0.5], [0, 2])).toBeCloseTo(0.7);
    expect(meanOver([0.9], [])).toBeNull();
    expect(meanOver([0.9, null, 0.5], [0, 1, 2])).toBeCloseTo(0.7); // a class without queries has no accuracy
    expect(meanOver([null], [0])).toBeNull();
  });
});
