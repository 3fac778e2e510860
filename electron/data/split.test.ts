import { describe, expect, it } from 'vitest';
import { countClasses, indicesByClass, selectImages, stratifiedSplit } from './split';

/** Labels with the given count per class, interleaved. */
function labelsWith(counts: number[]): Int32Array {
  const out: number[] = [];
  const left = counts.slice();
  while (left.some((n) => n > 0)) left.forEach((n, c) => n > 0 && (out.push(c), left[c]--));
  return Int32Array.from(out);
}

describe('stratifiedSplit', () => {
  it('holds out round(n × fraction) of every class, keeps at least one training image per class, and partitions the indices', () => {
    const labels = labelsWith([100, 35, 5, 1]);
    const { train, test } = stratifiedSplit(labels, 0.1, 7);
    expect(
      countClasses(
        Int32Array.from(test, (i) => labels[i]),
        4,
      ),
    ).toEqual([10, 4, 1, 0]);
    expect(
      countClasses(
        Int32Array.from(train, (i) => labels[i]),
        4,
      ),
    ).toEqual([90, 31, 4, 1]);
    const all = [...train, ...test].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: labels.length }, (_, i) => i));
    expect([...test]).toEqual([...test].sort((a, b) => a - b));
  });

  it('is seeded: the same seed gives the same split, another seed another', () => {
    const labels = labelsWith([50, 50, 50]);
    const a = stratifiedSplit(labels, 0.2, 1);
    const b = stratifiedSplit(labels, 0.2, 1);
    const c = stratifiedSplit(labels, 0.2, 2);
    expect([...a.test]).toEqual([...b.test]);
    expect([...a.test]).not.toEqual([...c.test]);
  });

  it('rejects a fraction outside [0, 1)', () => {
    expect(() => stratifiedSplit(labelsWith([3]), 1, 0)).toThrow(/test fraction/);
    expect(stratifiedSplit(labelsWith([3]), 0, 0).test.length).toBe(0);
  });
});

describe('selectImages and indicesByClass', () => {
  it('copies the chosen images and labels in the given order', () => {
    const split = { count: 3, images: Uint8Array.from([1, 1, 2, 2, 3, 3]), labels: Int32Array.from([0, 1, 0]) };
    const s = selectImages(split, Int32Array.from([2, 0]), 2);
    expect(Array.from(s.images)).toEqual([3, 3, 1, 1]);
    expect(Array.from(s.labels ?? [])).toEqual([0, 0]);
    expect(() => selectImages(split, Int32Array.from([3]), 2)).toThrow(/outside/);
    expect(indicesByClass(split.labels, 2).map((a) => Array.from(a))).toEqual([[0, 2], [1]]);
  });
});
