import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data';
import type { LoadedDataset } from '../data/types';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { prepareRunData } from './run-data';

let fm: LoadedDataset;

describe('prepareRunData on Fashion-MNIST', () => {
  beforeAll(async () => {
    fm = await loadDataset('/usr/share/datasets/fashion-mnist');
  });

  it('applies the imbalance draw, then the train limit; the kNN bank stays the balanced training split', () => {
    const d = prepareRunData(
      fm,
      { ...DEFAULT_RUN_CONFIG, imbalance: 'dominant:3:100', trainLimit: 0 },
      { evalBankLimit: 1000, evalTestLimit: 500 },
    );
    expect(d.report.trainClassCounts).toEqual([6000, 6000, 6000, 100, 100, 100, 100, 100, 100, 100]);
    expect(d.train.count).toBe(18_700);
    expect(d.report.rareClasses).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(d.evaluation?.rareClasses).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect([d.evaluation?.bank.count, d.evaluation?.test.count]).toEqual([1000, 500]);
    expect(Array.from(d.evaluation!.bank.labels.subarray(0, 20))).toEqual(Array.from(fm.train.labels!.subarray(0, 20)));

    const limited = prepareRunData(fm, { ...DEFAULT_RUN_CONFIG, imbalance: 'dominant:3:100', trainLimit: 500 });
    expect(limited.train.count).toBe(500);
    // the first 500 of the same draw
    expect(Array.from(limited.train.labels!)).toEqual(Array.from(d.train.labels!.subarray(0, 500)));
    expect(Array.from(limited.train.images.subarray(0, 784 * 3))).toEqual(
      Array.from(d.train.images.subarray(0, 784 * 3)),
    );
    // each image says where it sits in the dataset's training split: its pixels and label are those there
    const px = 784;
    expect(limited.train.sources).toHaveLength(500);
    for (const i of [0, 1, 250, 499]) {
      const src = limited.train.sources![i]!;
      expect(limited.train.labels![i]).toBe(fm.train.labels![src]);
      expect(Array.from(limited.train.images.subarray(i * px, (i + 1) * px))).toEqual(
        Array.from(fm.train.images.subarray(src * px, (src + 1) * px)),
      );
    }
    // quick runs evaluate on a bank of max(trainLimit, 5000) and 2000 queries
    expect([limited.evaluation?.bank.count, limited.evaluation?.test.count]).toEqual([5000, 2000]);
  });

  it('without imbalance or limit trains on everything and evaluates on both full splits', () => {
    const d = prepareRunData(fm, DEFAULT_RUN_CONFIG);
    expect(d.train.count).toBe(60_000);
    expect(d.train.sources).toBeUndefined(); // image i is the split's image i
    expect(d.report).toMatchObject({
      shape: [28, 28, 1],
      evalBankImages: 60_000,
      evalTestImages: 10_000,
      rareClasses: null,
    });
  });
});
