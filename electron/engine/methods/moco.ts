/**
 * MoCo v2 InfoNCE (the hard-label baseline): cross-entropy over [q·k, q·Qᵀ] / T with the positive at
 * index 0, averaged over the batch.
 */
import * as tf from '@tensorflow/tfjs';

/** From similarities already taken: positive [B, 1] = q·k, negatives [B, K] = q·Qᵀ. */
export function mocoLossFromSimilarities(
  positive: tf.Tensor2D,
  negatives: tf.Tensor2D,
  temperature: number,
): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.div(tf.concat([positive, negatives], 1), temperature); // [B, 1 + K]
    const logProb = tf.logSoftmax(logits); // [B, 1 + K]
    return tf.neg(tf.mean(tf.slice(logProb, [0, 0], [-1, 1]))) as tf.Scalar;
  });
}

/** q, k [B, D] L2-normalised (student projection, teacher key), queue [K, D] → scalar loss. */
export function mocoLoss(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const positive = tf.sum(tf.mul(q, k), 1, true) as tf.Tensor2D; // [B, 1]
    const negatives = tf.matMul(q, queue, false, true) as tf.Tensor2D; // [B, K]
    return mocoLossFromSimilarities(positive, negatives, temperature);
  });
}
