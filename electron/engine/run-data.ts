/**
 * What a run trains and is evaluated on, from a loaded dataset and its config: the imbalance draw,
 * then the first trainLimit images; the kNN bank and queries. Shared by the engine worker and the
 * analysis worker (which rebuilds a finished run's training images for its normalisation).
 */
import { drawImbalance, rareClassesOf } from '../data/imbalance';
import { countClasses, selectImages } from '../data/split';
import type { LoadedDataset } from '../data/types';
import { IsdError } from '../errors';
import { parseImbalance, type RunConfig } from '../run-config';
import type { DatasetReport, EngineOptions } from './protocol';

/** Images as one uint8 array [count, h, w, c] with optional labels [count]. */
export interface ImageSet {
  images: Uint8Array;
  labels: Int32Array | null;
  /** Index of each image in the dataset's training split, where a draw or limit chose them (absent: image i is index i). */
  sources?: Int32Array;
  count: number;
  h: number;
  w: number;
  c: number;
}

export interface LabelledImageSet extends ImageSet {
  labels: Int32Array;
}

/** kNN evaluation: the bank (labelled training images) and the queries (test images). */
export interface EvaluationSets {
  bank: LabelledImageSet;
  test: LabelledImageSet;
  numClasses: number;
  /** Classes reported apart as "rare" (imbalanced runs). */
  rareClasses?: number[];
  /** Images in the dataset's test split (test.count when the queries are all of it); default test.count. */
  testSplitImages?: number;
}

/** kNN defaults for quick runs (trainLimit > 0): a bank of max(trainLimit, 5000) and 2000 queries. */
const QUICK_BANK_MIN = 5000;
const QUICK_TEST = 2000;

/** The kNN bank (first training images) and queries (first test images) a run evaluates with; evalFullTest: all test images. */
export function evaluationSetSizes(
  config: { trainLimit: number; evalFullTest?: boolean },
  trainSplitImages: number,
  testImages: number,
  engine: Pick<EngineOptions, 'evalBankLimit' | 'evalTestLimit'>,
): { bank: number; test: number } {
  const quick = config.trainLimit > 0;
  const bank = engine.evalBankLimit ?? (quick ? Math.max(config.trainLimit, QUICK_BANK_MIN) : trainSplitImages);
  const test = config.evalFullTest ? testImages : (engine.evalTestLimit ?? (quick ? QUICK_TEST : testImages));
  return { bank: Math.min(bank, trainSplitImages), test: Math.min(test, testImages) };
}

export interface PreparedData {
  train: ImageSet;
  evaluation: EvaluationSets | null;
  report: DatasetReport;
}

function firstImages(split: LoadedDataset['train'], ds: LoadedDataset, n: number): ImageSet {
  const count = Math.min(n, split.count);
  const px = ds.height * ds.width * ds.channels;
  return {
    images: split.images.subarray(0, count * px),
    labels: split.labels ? split.labels.subarray(0, count) : null,
    count,
    h: ds.height,
    w: ds.width,
    c: ds.channels,
  };
}

/**
 * The images a run trains on (imbalance draw, then the first trainLimit) and its kNN sets: the
 * dataset's own (balanced) training split as the bank and its test split as the queries, both capped
 * by the engine options. Rare classes of an imbalanced draw: those left with less than half the
 * largest class's images.
 */
export function prepareRunData(ds: LoadedDataset, config: RunConfig, engine: EngineOptions = {}): PreparedData {
  const px = ds.height * ds.width * ds.channels;
  const numClasses =
    ds.classNames?.length ?? (ds.train.labels ? ds.train.labels.reduce((m, y) => Math.max(m, y), -1) + 1 : 0);
  const spec = parseImbalance(config.imbalance);
  let indices: Int32Array | null = null;
  let trainClassCounts: number[] | null = null;
  let rareClasses: number[] | null = null;
  if (spec.kind !== 'none') {
    if (!ds.train.labels)
      throw new IsdError('BAD_INPUT', `imbalance ${config.imbalance} needs class labels; ${ds.path} has none`, {
        field: 'imbalance',
      });
    const draw = drawImbalance(ds.train.labels, numClasses, spec, config.seed);
    indices = draw.indices;
    rareClasses = rareClassesOf(draw.classCounts);
  }
  if (config.trainLimit > 0) {
    const all = indices ?? Int32Array.from({ length: ds.train.count }, (_, i) => i);
    indices = all.subarray(0, Math.min(config.trainLimit, all.length));
  }
  const trainSplit = indices ? selectImages(ds.train, indices, px) : ds.train;
  if (trainSplit.labels && numClasses > 0) trainClassCounts = countClasses(trainSplit.labels, numClasses);
  const train: ImageSet = {
    images: trainSplit.images,
    labels: trainSplit.labels,
    ...(indices ? { sources: indices } : {}),
    count: trainSplit.count,
    h: ds.height,
    w: ds.width,
    c: ds.channels,
  };

  let evaluation: EvaluationSets | null = null;
  if (ds.train.labels && ds.test?.labels && numClasses > 0) {
    const sets = evaluationSetSizes(config, ds.train.count, ds.test.count, engine);
    const bank = firstImages(ds.train, ds, sets.bank);
    const test = firstImages(ds.test, ds, sets.test);
    evaluation = {
      bank: { ...bank, labels: bank.labels as Int32Array },
      test: { ...test, labels: test.labels as Int32Array },
      numClasses,
      testSplitImages: ds.test.count,
      ...(rareClasses ? { rareClasses } : {}),
    };
  }
  return {
    train,
    evaluation,
    report: {
      name: ds.name,
      format: ds.format,
      shape: [ds.height, ds.width, ds.channels],
      classNames: ds.classNames,
      trainImages: train.count,
      trainClassCounts,
      evalBankImages: evaluation?.bank.count ?? 0,
      evalTestImages: evaluation?.test.count ?? 0,
      rareClasses,
    },
  };
}
