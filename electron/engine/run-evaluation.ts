/**
 * A run's evaluations on its kNN bank and queries: the encoder's kNN (and, at the end, the linear
 * probe) on the student backbone's features, and the raw-pixel kNN that every accuracy is read
 * against. The trainer decides when they run and wraps the metrics in its events.
 */
import type * as tf from '@tensorflow/tfjs';
import type { RunPhase } from '../contract';
import { extractFeatures, knnEvaluate, linearProbe, pixelFeatures } from './evaluate';
import type { BaselineEvent, EpochEvalEvent, KnnMetrics } from './protocol';
import type { EvaluationSets } from './run-data';

/** The metrics of one evaluation, the part of an epochEval event it measures. */
export type EncoderMetrics = Pick<
  EpochEvalEvent,
  'knn1' | 'knn20' | 'knn20Weighted' | 'knn200Weighted' | 'perClass' | 'frequent' | 'rare' | 'linear'
>;

export interface EncoderEvaluation {
  /** Student backbone features [B, featureDim], inference-mode BN. */
  embed: (x: tf.Tensor4D) => tf.Tensor2D;
  featureDim: number;
  /** The evaluation view: image size, the training set's channel mean and std, images per forward pass. */
  view: { size: number; mean: number[]; std: number[]; batchSize: number };
  /** Seeds the linear probe. */
  seed: number;
  withLinear: boolean;
  /** Images embedded so far of bank + queries (force: at a phase's start); 'linear' once the probe starts. */
  onPhase: (phase: RunPhase, done: number, total: number, force?: boolean) => void;
}

/** The four kNN accuracies alone (no per-class or split parts). */
export function knnOnly(m: KnnMetrics): KnnMetrics {
  return { knn1: m.knn1, knn20: m.knn20, knn20Weighted: m.knn20Weighted, knn200Weighted: m.knn200Weighted };
}

/** kNN (and optionally the linear probe) of the encoder; knnSecPerImage: the rate of the kNN part, for ETAs. */
export async function evaluateEncoder(
  ev: EvaluationSets,
  phase: 'baseline' | 'evaluating' | 'final',
  e: EncoderEvaluation,
): Promise<{ metrics: EncoderMetrics; knnSecPerImage: number }> {
  const t0 = performance.now();
  const total = ev.bank.count + ev.test.count;
  e.onPhase(phase, 0, total, true);
  const bankFeatures = await extractFeatures(e.embed, ev.bank.images, ev.bank.count, ev.bank, {
    ...e.view,
    onBatch: (done) => e.onPhase(phase, done, total),
  });
  const testFeatures = await extractFeatures(e.embed, ev.test.images, ev.test.count, ev.test, {
    ...e.view,
    onBatch: (done) => e.onPhase(phase, ev.bank.count + done, total),
  });
  const bank = { features: bankFeatures, labels: ev.bank.labels.subarray(0, ev.bank.count), dim: e.featureDim };
  const test = { features: testFeatures, labels: ev.test.labels.subarray(0, ev.test.count) };
  const knn = await knnEvaluate(bank, test, { numClasses: ev.numClasses, rareClasses: ev.rareClasses });
  const knnSecPerImage = (performance.now() - t0) / 1000 / total;
  const metrics: EncoderMetrics = {
    ...knnOnly(knn),
    perClass: knn.perClass,
    ...(knn.frequent ? { frequent: knn.frequent as KnnMetrics } : {}),
    ...(knn.rare ? { rare: knn.rare as KnnMetrics } : {}),
  };
  if (e.withLinear) {
    e.onPhase('linear', 0, 0, true);
    metrics.linear = (await linearProbe(bank, test, { numClasses: ev.numClasses, seed: e.seed })).top1;
  }
  return { metrics, knnSecPerImage };
}

/**
 * Raw-pixel cosine kNN on the same bank and queries, as the `baseline` event beside the step-0 kNN
 * (`init`): what the run's accuracies must beat.
 */
export async function pixelBaseline(ev: EvaluationSets, init: KnnMetrics): Promise<BaselineEvent> {
  const t0 = performance.now();
  const dim = ev.bank.h * ev.bank.w * ev.bank.c;
  const px = await knnEvaluate(
    {
      features: pixelFeatures(ev.bank.images, ev.bank.count, ev.bank),
      labels: ev.bank.labels.subarray(0, ev.bank.count),
      dim,
    },
    {
      features: pixelFeatures(ev.test.images, ev.test.count, ev.test),
      labels: ev.test.labels.subarray(0, ev.test.count),
    },
    { numClasses: ev.numClasses },
  );
  return {
    type: 'baseline',
    pixel: knnOnly(px),
    init: knnOnly(init),
    bankImages: ev.bank.count,
    testImages: ev.test.count,
    testSplitImages: ev.testSplitImages ?? ev.test.count,
    pixelSec: (performance.now() - t0) / 1000,
  };
}
