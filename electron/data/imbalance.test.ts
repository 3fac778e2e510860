import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { parseImbalance } from '../run-config';
import { readIdxFile } from './idx';
import { drawImbalance, imbalanceCounts } from './imbalance';
import { countClasses } from './split';

const FASHION_LABELS = path.join('/usr/share/datasets/fashion-mnist', 'train-labels-idx1-ubyte.gz');

function labelsWith(counts: number[]): Int32Array {
  const out: number[] = [];
  counts.forEach((n, c) => {
    for (let i = 0; i < n; i++) out.push(c);
  });
  return Int32Array.from(out);
}

function expectValidDraw(
  labels: Int32Array,
  numClasses: number,
  draw: { indices: Int32Array; classCounts: number[] },
): void {
  expect(new Set(draw.indices).size).toBe(draw.indices.length); // no image twice
  expect(draw.indices.every((i) => i >= 0 && i < labels.length)).toBe(true);
  expect(
    countClasses(
      Int32Array.from(draw.indices, (i) => labels[i]),
      numClasses,
    ),
  ).toEqual(draw.classCounts);
}

describe('imbalance draws', () => {
  it('longtail:10 on the real Fashion-MNIST training labels: exponential counts from 6,000 down to 600', async () => {
    const labels = Int32Array.from((await readIdxFile(FASHION_LABELS)).data);
    const draw = drawImbalance(labels, 10, parseImbalance('longtail:10'), 0);
    // floor(6000 · 10^(−c/9)), c = 0..9
    expect(draw.classCounts).toEqual([6000, 4645, 3596, 2784, 2156, 1669, 1292, 1000, 774, 600]);
    expect(draw.indices.length).toBe(24_516);
    expectValidDraw(labels, 10, draw);
  });

  it('longtail uses the smallest class as the head size, so every class can supply its share', () => {
    expect(imbalanceCounts([100, 120, 130], parseImbalance('longtail:4'))).toEqual([100, 50, 25]);
    expect(imbalanceCounts([7], parseImbalance('longtail:4'))).toEqual([7]);
    expect(imbalanceCounts([10, 10], parseImbalance('longtail:1000'))).toEqual([10, 1]); // never below one image
    expect(() => imbalanceCounts([10, 0, 10], parseImbalance('longtail:2'))).toThrow(/class 1 has none/);
  });

  it('dominant:2:10 keeps the first two classes whole and 10 of every other', () => {
    const labels = labelsWith([30, 20, 40, 50]);
    const draw = drawImbalance(labels, 4, parseImbalance('dominant:2:10'), 5);
    expect(draw.classCounts).toEqual([30, 20, 10, 10]);
    expectValidDraw(labels, 4, draw);
  });

  it('dominant refuses more per small class than it has, and as many large classes as there are classes', () => {
    let err: unknown = null;
    try {
      drawImbalance(labelsWith([30, 20, 8]), 3, parseImbalance('dominant:1:10'), 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IsdError);
    expect((err as IsdError).field).toBe('imbalance');
    expect((err as IsdError).message).toMatch(/asks 10 images of class 2, which has only 8/);
    expect(() => imbalanceCounts([5, 5], parseImbalance('dominant:2:1'))).toThrow(
      /needs more than 2 classes; the dataset has 2/,
    );
  });

  it('none keeps every image, shuffled', () => {
    const labels = labelsWith([3, 4]);
    const draw = drawImbalance(labels, 2, parseImbalance('none'), 1);
    expect(draw.classCounts).toEqual([3, 4]);
    expect([...draw.indices].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('is seeded: the same seed gives the same draw, another seed a different one', () => {
    const labels = labelsWith([200, 200, 200, 200]);
    const spec = parseImbalance('longtail:8');
    const a = drawImbalance(labels, 4, spec, 11);
    const b = drawImbalance(labels, 4, spec, 11);
    const c = drawImbalance(labels, 4, spec, 12);
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    expect(c.classCounts).toEqual(a.classCounts);
    expect(Array.from(c.indices)).not.toEqual(Array.from(a.indices));
    expect(new Set(c.indices)).not.toEqual(new Set(a.indices)); // another subset, not only another order
    // Shuffled: the draw does not come out grouped by class.
    const firstClasses = new Set(Array.from(a.indices.subarray(0, 20), (i) => labels[i]));
    expect(firstClasses.size).toBeGreaterThan(1);
  });

  it('refuses labels outside the class range', () => {
    expect(() => drawImbalance(Int32Array.from([0, 3]), 3, parseImbalance('none'), 0)).toThrow(
      /label 3 at index 1 is outside the 3 classes/,
    );
  });
});
