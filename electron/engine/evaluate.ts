/**
 * Evaluation of an encoder's features, as the reference (UMBCvision/ISD eval_knn.py, InstDisc):
 *   - extractFeatures: backbone features of a split, L2-normalised, batch by batch;
 *   - knnEvaluate: cosine k-nearest neighbours of each query (test) image among the bank (training)
 *     features: 1-NN, 20-NN majority vote, the 20-NN vote weighted by exp(similarity / 0.07), and the
 *     200-NN vote weighted by exp(similarity / 0.1) (the InstDisc / MoCo monitor); per class, and
 *     apart for rare and frequent classes;
 *   - pixelFeatures: raw pixels as L2-normalised rows, the reference every encoder should beat;
 *   - nearestNeighbours: the closest bank images of one feature, for the UI's gallery;
 *   - linearProbe (linear-probe.ts): one linear layer on frozen features.
 * Purity (queue-neighbour label agreement during training) lives in methods/teacher-queue.ts.
 *
 * Similarities are one matmul per chunk of queries against the whole bank ([chunk, N], sized to a
 * few tens of MB so a 60,000-image bank fits), then TopK; the votes are counted in JS.
 */
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../errors';
import { toEvalBatch, type ImageShape } from './augment';
import { checkLabels, type LabelledFeatures } from './labelled-features';
import { readAllAndDispose, readAndDispose } from './read-back';

export { linearProbe, type LinearProbeOptions, type LinearProbeResult } from './linear-probe';

export interface FeatureBank extends LabelledFeatures {
  dim: number;
}

export interface ExtractOptions {
  size: number;
  mean: number[];
  std: number[];
  batchSize: number;
  /** Called after each batch with the images embedded so far (a progress bar); may throw to stop (a stopped embedding). */
  onBatch?: (imagesDone: number) => Promise<void> | void;
}

/**
 * Runs embed over the first `count` images of a uint8 [N, h, w, c] array (no augmentation, see
 * toEvalBatch) and returns their L2-normalised features, row-major [count, D]. embed gets
 * [B, size, size, c] and returns [B, D]; it should run the backbone in inference mode.
 */
export async function extractFeatures(
  embed: (x: tf.Tensor4D) => tf.Tensor2D,
  images: Uint8Array,
  count: number,
  src: ImageShape,
  opts: ExtractOptions,
): Promise<Float32Array> {
  if (!Number.isInteger(count) || count < 1)
    throw new IsdError('BAD_INPUT', `count must be a whole number of at least 1, got ${count}`, { field: 'count' });
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
    throw new IsdError('BAD_INPUT', `batchSize must be a whole number of at least 1, got ${opts.batchSize}`, {
      field: 'batchSize',
    });
  const available = images.length / (src.h * src.w * src.c);
  if (count > available)
    throw new IsdError('BAD_INPUT', `count ${count} is more than the ${Math.floor(available)} images given`, {
      field: 'count',
    });
  let out: Float32Array | null = null;
  let dim = 0;
  for (let start = 0; start < count; start += opts.batchSize) {
    const end = Math.min(count, start + opts.batchSize);
    const indices = Int32Array.from({ length: end - start }, (_, i) => start + i);
    const feats = await readAndDispose(tf.tidy(() => l2NormalizeRows(embed(toEvalBatch(images, indices, src, opts))))); // [B, D]
    if (out === null) {
      dim = feats.length / indices.length;
      out = new Float32Array(count * dim);
    }
    out.set(feats, start * dim);
    await opts.onBatch?.(end);
  }
  return out as Float32Array;
}

/**
 * The first `count` images of a uint8 [N, h, w, c] array as raw-pixel features: one row of h·w·c
 * values per image, L2-normalised ([count, h·w·c]), so a dot product is their cosine. No tensors:
 * a few multiply-adds per pixel.
 */
export function pixelFeatures(images: Uint8Array, count: number, src: ImageShape): Float32Array {
  const dim = src.h * src.w * src.c;
  if (!Number.isInteger(count) || count < 1 || count * dim > images.length)
    throw new IsdError('BAD_INPUT', `count must be from 1 to ${Math.floor(images.length / dim)}, got ${count}`, {
      field: 'count',
    });
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const o = i * dim;
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += images[o + d] * images[o + d];
    const inv = 1 / Math.max(Math.sqrt(sq), 1e-12); // an all-black image stays a zero row, as normalize does
    for (let d = 0; d < dim; d++) out[o + d] = images[o + d] * inv;
  }
  return out;
}

/** x / max(‖x‖, 1e-12) per row, as torch.nn.functional.normalize: [B, D] → [B, D]. */
function l2NormalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), 1, true)), 1e-12));
}

export interface KnnOptions {
  numClasses: number;
  /** [k for "knn1", k for "knn20" and "knn20Weighted", k for "knn200Weighted" (default 200)]; default [1, 20, 200]. Capped at the bank size. */
  ks?: readonly [number, number] | readonly [number, number, number];
  /** Temperature of knn20Weighted's exp(similarity / T); default 0.07. */
  temperature?: number;
  /** Temperature of knn200Weighted's vote; default 0.1 (InstDisc / MoCo's kNN monitor). */
  temperature200?: number;
  /** Queries per similarity matmul; default: as many as keep [chunk, N] near 8M floats. */
  chunk?: number;
  /** Class ids counted as rare (the app derives them from the imbalance draw's class counts). */
  rareClasses?: number[];
}

/** Predicted labels per query. */
export interface KnnPredictions {
  /** Majority vote of the ks[0] nearest (the nearest itself for k = 1). */
  knn1: Int32Array;
  /** Majority vote of the ks[1] nearest; a tie goes to the tied class with the nearest neighbour. */
  knn20: Int32Array;
  /** ks[1] nearest, each voting exp(similarity / T); a tie (rare) goes the same way. */
  knn20Weighted: Int32Array;
  /** ks[2] nearest, each voting exp(similarity / temperature200). */
  knn200Weighted: Int32Array;
}

export interface KnnAccuracy {
  knn1: number;
  knn20: number;
  knn20Weighted: number;
  knn200Weighted: number;
}

const KNN_KEYS = ['knn1', 'knn20', 'knn20Weighted', 'knn200Weighted'] as const;

export interface KnnResult extends KnnAccuracy {
  /** The k of each vote, after capping at the bank size. */
  ks: [number, number, number];
  /** Accuracy over the queries of each class (NaN for a class with no query). */
  perClass: Record<(typeof KNN_KEYS)[number], number[]>;
  /** With rareClasses: accuracy over the queries of the other classes (the paper's "all" minus rare). */
  frequent?: KnnAccuracy;
  /** With rareClasses: accuracy over the queries of those classes. */
  rare?: KnnAccuracy;
}

function checkLabelled(set: LabelledFeatures, dim: number, numClasses: number, field: string): number {
  const n = set.labels.length;
  if (n < 1) throw new IsdError('BAD_INPUT', `${field}: no features`, { field });
  if (set.features.length !== n * dim) {
    throw new IsdError(
      'BAD_INPUT',
      `${field}.features holds ${set.features.length} values, expected ${n} labels × ${dim} dims`,
      { field: `${field}.features` },
    );
  }
  checkLabels(set.labels, numClasses, field);
  return n;
}

function checkNumClasses(numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new IsdError('BAD_INPUT', `numClasses must be a whole number of at least 1, got ${numClasses}`, {
      field: 'numClasses',
    });
}

function checkKnnOptions(
  opts: KnnOptions,
  bankSize: number,
): { ks: [number, number, number]; temperature: number; temperature200: number } {
  const ks = opts.ks ?? [1, 20, 200];
  for (const k of ks)
    if (!Number.isInteger(k) || k < 1)
      throw new IsdError('BAD_INPUT', `ks must hold whole numbers of at least 1, got [${ks.join(', ')}]`, {
        field: 'ks',
      });
  const temperature = opts.temperature ?? 0.07;
  const temperature200 = opts.temperature200 ?? 0.1;
  for (const [field, t] of [
    ['temperature', temperature],
    ['temperature200', temperature200],
  ] as const)
    if (!(t > 0)) throw new IsdError('BAD_INPUT', `${field} must be greater than 0, got ${t}`, { field });
  if (opts.chunk !== undefined && (!Number.isInteger(opts.chunk) || opts.chunk < 1))
    throw new IsdError('BAD_INPUT', `chunk must be a whole number of at least 1, got ${opts.chunk}`, {
      field: 'chunk',
    });
  const k200 = (ks as readonly number[])[2] ?? 200;
  return {
    ks: [Math.min(ks[0], bankSize), Math.min(ks[1], bankSize), Math.min(k200, bankSize)],
    temperature,
    temperature200,
  };
}

/**
 * Cosine kNN predictions for each query row ([Q, dim], L2-normalised like the bank) by majority and
 * weighted votes among the bank's nearest features.
 */
export async function knnPredict(
  bank: FeatureBank,
  queryFeatures: Float32Array,
  opts: KnnOptions,
): Promise<KnnPredictions & { ks: [number, number, number] }> {
  const { dim } = bank;
  if (!Number.isInteger(dim) || dim < 1)
    throw new IsdError('BAD_INPUT', `bank.dim must be a whole number of at least 1, got ${dim}`, { field: 'bank.dim' });
  checkNumClasses(opts.numClasses);
  const n = checkLabelled(bank, dim, opts.numClasses, 'bank');
  const { ks, temperature, temperature200 } = checkKnnOptions(opts, n);
  if (queryFeatures.length % dim !== 0 || queryFeatures.length === 0) {
    throw new IsdError(
      'BAD_INPUT',
      `query.features holds ${queryFeatures.length} values, not a non-empty whole number of ${dim}-dim rows`,
      { field: 'query.features' },
    );
  }
  const q = queryFeatures.length / dim;
  const kMax = Math.max(...ks);
  const chunk = opts.chunk ?? Math.max(1, Math.floor(8_000_000 / n));
  const numClasses = opts.numClasses;

  const out: KnnPredictions = {
    knn1: new Int32Array(q),
    knn20: new Int32Array(q),
    knn20Weighted: new Int32Array(q),
    knn200Weighted: new Int32Array(q),
  };
  const votes = new Float64Array(numClasses);
  const bankT = tf.tidy(() => tf.transpose(tf.tensor2d(bank.features, [n, dim]))); // [dim, N]: the long side as columns
  try {
    for (let start = 0; start < q; start += chunk) {
      const m = Math.min(chunk, q - start);
      const [sims, idx] = (await readAllAndDispose(
        tf.tidy(() => {
          const queries = tf.tensor2d(queryFeatures.subarray(start * dim, (start + m) * dim), [m, dim]);
          const top = tf.topk(tf.matMul(queries, bankT), kMax, true); // [m, kMax], most similar first
          return [top.values, top.indices];
        }),
      )) as [Float32Array, Int32Array];
      for (let i = 0; i < m; i++) {
        const row = i * kMax;
        const labelAt = (r: number) => bank.labels[idx[row + r]];
        out.knn1[start + i] = vote(votes, ks[0], labelAt, () => 1);
        out.knn20[start + i] = vote(votes, ks[1], labelAt, () => 1);
        out.knn20Weighted[start + i] = vote(votes, ks[1], labelAt, (r) => Math.exp(sims[row + r] / temperature));
        out.knn200Weighted[start + i] = vote(votes, ks[2], labelAt, (r) => Math.exp(sims[row + r] / temperature200));
      }
    }
  } finally {
    bankT.dispose();
  }
  return { ...out, ks };
}

/** Sums weight(r) per label over ranks 0…k−1; the highest total wins, a tie goes to the nearest. */
function vote(
  votes: Float64Array,
  k: number,
  labelAt: (rank: number) => number,
  weight: (rank: number) => number,
): number {
  votes.fill(0);
  let best = 0;
  for (let r = 0; r < k; r++) {
    const y = labelAt(r);
    votes[y] += weight(r);
    if (votes[y] > best) best = votes[y];
  }
  for (let r = 0; r < k; r++) if (votes[labelAt(r)] === best) return labelAt(r);
  return labelAt(0);
}

/**
 * kNN accuracy of the query set against the bank: 1-NN, 20-NN majority, 20-NN and 200-NN weighted, in
 * [0, 1]; per class; and over rare and frequent classes apart when rareClasses is given.
 */
export async function knnEvaluate(bank: FeatureBank, query: LabelledFeatures, opts: KnnOptions): Promise<KnnResult> {
  checkNumClasses(opts.numClasses);
  checkLabelled(query, bank.dim, opts.numClasses, 'query');
  const rare = new Uint8Array(opts.numClasses);
  for (const c of opts.rareClasses ?? []) {
    if (!Number.isInteger(c) || c < 0 || c >= opts.numClasses)
      throw new IsdError('BAD_INPUT', `rareClasses: ${c} is not a class in 0…${opts.numClasses - 1}`, {
        field: 'rareClasses',
      });
    rare[c] = 1;
  }
  const pred = await knnPredict(bank, query.features, opts);
  const C = opts.numClasses;
  const keys = KNN_KEYS;
  const total = new Float64Array(C);
  const hits = Object.fromEntries(keys.map((key) => [key, new Float64Array(C)])) as Record<
    (typeof keys)[number],
    Float64Array
  >;
  for (let i = 0; i < query.labels.length; i++) {
    const y = query.labels[i];
    total[y]++;
    for (const key of keys) if (pred[key][i] === y) hits[key][y]++;
  }
  const over = (inGroup: (c: number) => boolean): KnnAccuracy => {
    const acc = { knn1: 0, knn20: 0, knn20Weighted: 0, knn200Weighted: 0 };
    let count = 0;
    for (let c = 0; c < C; c++) {
      if (!inGroup(c)) continue;
      count += total[c];
      for (const key of keys) acc[key] += hits[key][c];
    }
    for (const key of keys) acc[key] = count > 0 ? acc[key] / count : NaN;
    return acc;
  };
  const perClass = Object.fromEntries(keys.map((key) => [key, [] as number[]])) as KnnResult['perClass'];
  for (let c = 0; c < C; c++) for (const key of keys) perClass[key].push(total[c] > 0 ? hits[key][c] / total[c] : NaN);
  const result: KnnResult = { ...over(() => true), ks: pred.ks, perClass };
  if (opts.rareClasses !== undefined) {
    result.rare = over((c) => rare[c] === 1);
    result.frequent = over((c) => rare[c] === 0);
  }
  return result;
}

/**
 * The k bank rows most similar (cosine, by dot product of L2-normalised features) to one feature,
 * most similar first. A query that is itself a bank row passes its index as `exclude`: it is not its
 * own neighbour.
 */
export function nearestNeighbours(
  bank: { features: Float32Array; dim: number },
  queryFeature: ArrayLike<number>,
  k = 8,
  exclude = -1,
): { index: number; similarity: number }[] {
  const { dim, features } = bank;
  if (queryFeature.length !== dim)
    throw new IsdError('BAD_INPUT', `queryFeature has ${queryFeature.length} dims, the bank ${dim}`, {
      field: 'queryFeature',
    });
  if (!Number.isInteger(k) || k < 1)
    throw new IsdError('BAD_INPUT', `k must be a whole number of at least 1, got ${k}`, { field: 'k' });
  const n = Math.floor(features.length / dim);
  const kk = Math.min(k, exclude >= 0 && exclude < n ? n - 1 : n);
  const best: { index: number; similarity: number }[] = []; // sorted, most similar first
  for (let i = 0; i < n; i++) {
    if (i === exclude) continue;
    let s = 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) s += features[o + d] * queryFeature[d];
    if (best.length === kk && s <= best[kk - 1].similarity) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].similarity < s) at--;
    best.splice(at, 0, { index: i, similarity: s });
    if (best.length > kk) best.pop();
  }
  return best;
}
