/**
 * Linear probe on frozen features, as the reference (UMBCvision/ISD eval_linear.py): features
 * L2-normalised, then standardised by the training set's per-dimension mean and (unbiased) variance
 * (+1e-5), one linear layer trained by SGD with momentum 0.9 and weight decay 1e-4 on cross-entropy,
 * lr 0.01 divided by 10 at 15/40 and 30/40 of the epochs, batch 256, 40 epochs; top-1 on the test set.
 *
 * The gradient of softmax cross-entropy through one linear layer has a closed form,
 * ∂L/∂logits = (softmax − onehot) / B, so each step is a few forward ops and no autodiff tape.
 */
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../errors';
import { Rng } from '../rng';
import { checkLabels, type LabelledFeatures } from './labelled-features';
import { readAndDispose } from './read-back';

export interface LinearProbeOptions {
  numClasses: number;
  /** Default 40. */
  epochs?: number;
  /** Initial learning rate; default 0.01. */
  lr?: number;
  /** Default 0.9. */
  momentum?: number;
  /** L2 penalty on weights and bias, as torch's SGD weight_decay; default 1e-4. */
  weightDecay?: number;
  /** Default 256. */
  batchSize?: number;
  /** Seeds the initial weights and the shuffling. */
  seed: number;
}

export interface LinearProbeResult {
  /** Test accuracy in [0, 1]. */
  top1: number;
  /** Test accuracy per class (NaN for a class with no test image). */
  perClass: number[];
  /** Accuracy on the training features after training (a check against underfitting). */
  trainTop1: number;
}

function checkSplit(split: LabelledFeatures, numClasses: number, field: string): number {
  const n = split.labels.length;
  if (n < 1 || split.features.length % n !== 0) {
    throw new IsdError('BAD_INPUT', `${field}: ${split.features.length} feature values do not split into ${n} rows`, {
      field: `${field}.features`,
    });
  }
  checkLabels(split.labels, numClasses, field);
  return split.features.length / n;
}

/** L2-normalises each row, then (x − mean) / sqrt(var + 1e-5) with the given statistics. */
function standardise(features: Float32Array, dim: number, mean: Float64Array, invStd: Float64Array): Float32Array {
  const out = new Float32Array(features.length);
  for (let o = 0; o < features.length; o += dim) {
    let ss = 0;
    for (let d = 0; d < dim; d++) ss += features[o + d] * features[o + d];
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let d = 0; d < dim; d++) out[o + d] = (features[o + d] * inv - mean[d]) * invStd[d];
  }
  return out;
}

/** Per-dimension mean and 1/sqrt(unbiased var + 1e-5) of the L2-normalised rows. */
function featureStatistics(features: Float32Array, dim: number): { mean: Float64Array; invStd: Float64Array } {
  const n = features.length / dim;
  const unit = standardise(features, dim, new Float64Array(dim), new Float64Array(dim).fill(1));
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let o = 0; o < unit.length; o += dim) for (let d = 0; d < dim; d++) mean[d] += unit[o + d];
  for (let d = 0; d < dim; d++) mean[d] /= n;
  for (let o = 0; o < unit.length; o += dim) for (let d = 0; d < dim; d++) sq[d] += (unit[o + d] - mean[d]) ** 2;
  const invStd = new Float64Array(dim);
  for (let d = 0; d < dim; d++) invStd[d] = 1 / Math.sqrt(sq[d] / Math.max(1, n - 1) + 1e-5);
  return { mean, invStd };
}

/** Learning rate at an epoch: ×0.1 at 15/40 and 30/40 of the run, as the reference's MultiStepLR. */
export function probeLearningRate(lr: number, epoch: number, epochs: number): number {
  const milestones = [Math.round((epochs * 15) / 40), Math.round((epochs * 30) / 40)];
  return lr * 0.1 ** milestones.filter((m) => epoch >= m).length;
}

/** Trains a linear classifier on train's features and returns its accuracy on test's. */
export async function linearProbe(
  train: LabelledFeatures,
  test: LabelledFeatures,
  opts: LinearProbeOptions,
): Promise<LinearProbeResult> {
  const C = opts.numClasses;
  if (!Number.isInteger(C) || C < 1)
    throw new IsdError('BAD_INPUT', `numClasses must be a whole number of at least 1, got ${C}`, {
      field: 'numClasses',
    });
  const epochs = opts.epochs ?? 40;
  const lr = opts.lr ?? 0.01;
  const momentum = opts.momentum ?? 0.9;
  const weightDecay = opts.weightDecay ?? 1e-4;
  const batchSize = opts.batchSize ?? 256;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new IsdError('BAD_INPUT', `epochs must be a whole number of at least 1, got ${epochs}`, { field: 'epochs' });
  if (!(lr > 0)) throw new IsdError('BAD_INPUT', `lr must be greater than 0, got ${lr}`, { field: 'lr' });
  if (!(momentum >= 0 && momentum < 1))
    throw new IsdError('BAD_INPUT', `momentum must be in [0, 1), got ${momentum}`, { field: 'momentum' });
  if (!(weightDecay >= 0))
    throw new IsdError('BAD_INPUT', `weightDecay must be 0 or more, got ${weightDecay}`, { field: 'weightDecay' });
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new IsdError('BAD_INPUT', `batchSize must be a whole number of at least 1, got ${batchSize}`, {
      field: 'batchSize',
    });
  const D = checkSplit(train, C, 'train');
  const testDim = checkSplit(test, C, 'test');
  if (testDim !== D)
    throw new IsdError('BAD_INPUT', `test features have ${testDim} dims, training features ${D}`, {
      field: 'test.features',
    });

  const N = train.labels.length;
  const { mean, invStd } = featureStatistics(train.features, D);
  const rng = new Rng(opts.seed);
  const bound = 1 / Math.sqrt(D); // torch nn.Linear's default init: U(−1/√D, 1/√D)
  const w0 = Float32Array.from({ length: D * C }, () => rng.uniform(-bound, bound));
  const b0 = Float32Array.from({ length: C }, () => rng.uniform(-bound, bound));
  const order = Int32Array.from({ length: N }, (_, i) => i);

  const held: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    held.push(t);
    return t;
  };
  try {
    const xTrain = standardise(train.features, D, mean, invStd); // [N, D], batches copied from it in JS (wasm's Gather is slow)
    const w = keep(tf.tidy(() => tf.variable(tf.tensor2d(w0, [D, C]), false)));
    const b = keep(tf.tidy(() => tf.variable(tf.tensor1d(b0), false)));
    const vw = keep(tf.tidy(() => tf.variable(tf.zeros([D, C]), false)));
    const vb = keep(tf.tidy(() => tf.variable(tf.zeros([C]), false)));
    const xBatch = new Float32Array(batchSize * D);
    const yBatch = new Float32Array(batchSize * C);

    for (let epoch = 0; epoch < epochs; epoch++) {
      const rate = probeLearningRate(lr, epoch, epochs);
      rng.shuffle(order);
      for (let start = 0; start < N; start += batchSize) {
        const B = Math.min(batchSize, N - start);
        yBatch.fill(0);
        for (let i = 0; i < B; i++) {
          const row = order[start + i];
          xBatch.set(xTrain.subarray(row * D, (row + 1) * D), i * D);
          yBatch[i * C + train.labels[row]] = 1;
        }
        tf.tidy(() => {
          const x = tf.tensor2d(xBatch.subarray(0, B * D), [B, D]);
          const y = tf.tensor2d(yBatch.subarray(0, B * C), [B, C]); // one-hot
          const dLogits = tf.div(tf.sub(tf.softmax(tf.add(tf.matMul(x, w), b)), y), B); // [B, C]
          // an explicit transpose: matMul's transposeA path is ~10× slower on wasm
          const gw = tf.add(tf.matMul(tf.transpose(x), dLogits), tf.mul(w, weightDecay)); // [D, C]
          const gb = tf.add(tf.sum(dLogits, 0), tf.mul(b, weightDecay)); // [C]
          // torch's SGD: v ← μ·v + g; p ← p − lr·v
          const nvw = tf.add(tf.mul(vw, momentum), gw);
          const nvb = tf.add(tf.mul(vb, momentum), gb);
          vw.assign(nvw);
          vb.assign(nvb);
          w.assign(tf.sub(w, tf.mul(nvw, rate)));
          b.assign(tf.sub(b, tf.mul(nvb, rate)));
        });
      }
    }

    const predict = async (features: Float32Array, standardised?: Float32Array): Promise<Int32Array> => {
      const n = features.length / D;
      const x = standardised ?? standardise(features, D, mean, invStd);
      const out = new Int32Array(n);
      const chunk = 8192;
      for (let start = 0; start < n; start += chunk) {
        const m = Math.min(chunk, n - start);
        const p = await readAndDispose<'int32'>(
          tf.tidy(() =>
            tf.argMax(tf.add(tf.matMul(tf.tensor2d(x.subarray(start * D, (start + m) * D), [m, D]), w), b), 1),
          ),
        );
        out.set(p, start);
      }
      return out;
    };
    const testPred = await predict(test.features);
    const trainPred = await predict(train.features, xTrain);

    const total = new Float64Array(C);
    const hits = new Float64Array(C);
    for (let i = 0; i < test.labels.length; i++) {
      total[test.labels[i]]++;
      if (testPred[i] === test.labels[i]) hits[test.labels[i]]++;
    }
    let trainHits = 0;
    for (let i = 0; i < N; i++) if (trainPred[i] === train.labels[i]) trainHits++;
    return {
      top1: hits.reduce((a, v) => a + v, 0) / test.labels.length,
      perClass: Array.from(total, (t, c) => (t > 0 ? hits[c] / t : NaN)),
      trainTop1: trainHits / N,
    };
  } finally {
    tf.dispose(held);
  }
}
