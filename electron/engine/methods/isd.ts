/**
 * ISD loss (docs/method.md): KL( softmax(k·Qᵀ / T_t) ‖ softmax(q·Qᵀ / T_s) ), summed over the K anchors
 * and averaged over the batch, as PyTorch's kl_div(log_softmax(s_q), softmax(s_k), reduction='batchmean').
 */
import * as tf from '@tensorflow/tfjs';

/** From similarities already taken: simQ, simK [B, K] (unit vectors · queue). */
export function isdLossFromSimilarities(
  simQ: tf.Tensor2D,
  simK: tf.Tensor2D,
  tempStudent: number,
  tempTeacher: number,
): tf.Scalar {
  return tf.tidy(() => {
    const logPq = tf.logSoftmax(tf.div(simQ, tempStudent)); // [B, K]
    const logPk = tf.logSoftmax(tf.div(simK, tempTeacher)); // [B, K]
    // p·(log p − log q): where p underflows to 0 the term is 0·finite = 0, as kl_div's convention.
    const kl = tf.sum(tf.mul(tf.exp(logPk), tf.sub(logPk, logPq)));
    return tf.div(kl, simQ.shape[0]) as tf.Scalar;
  });
}

/** q, k [B, D] L2-normalised (student prediction, teacher key), queue [K, D] → scalar loss. */
export function isdLoss(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  queue: tf.Tensor2D,
  tempStudent: number,
  tempTeacher: number,
): tf.Scalar {
  return tf.tidy(() => {
    const simQ = tf.matMul(q, queue, false, true) as tf.Tensor2D; // [B, K]
    const simK = tf.matMul(k, queue, false, true) as tf.Tensor2D; // [B, K]
    return isdLossFromSimilarities(simQ, simK, tempStudent, tempTeacher);
  });
}
