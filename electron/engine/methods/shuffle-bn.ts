/**
 * Shuffle BN (MoCo §3.3; ISD's get_shuffle_ids, MoCo's _batch_shuffle_ddp): the teacher's batch is
 * reordered before its forward pass so that the BatchNorm statistics of a query and of its positive
 * key come from different subsets of the batch, then the keys are put back in the batch's order.
 *
 * The batch is G BatchNorm groups of n = B/G consecutive images (replicas, or groups inside one).
 * What a group's statistics depend on is the set of images in it, not where it runs: moving whole
 * groups (a swap of halves, a rotation) would normalise every key over the same images as its query
 * and change nothing (tested). So the teacher's batch is the batch seen as a [G, n] grid, transposed:
 * teacher slot p·G + g holds image g·n + p. Teacher group t then takes positions [t·n/G, (t+1)·n/G) of
 * every student group, and a key's group holds n/G images of its query's group (⌈n/G⌉ when G does not
 * divide n): the fewest any permutation can leave, where a random one leaves that many on average.
 */
import * as tf from '@tensorflow/tfjs';

/** Teacher slot j holds batch image perm[j] (B images, G groups; G divides B). */
export function shuffleBnPermutation(batchSize: number, groups: number): Int32Array {
  const n = batchSize / groups;
  return Int32Array.from({ length: batchSize }, (_, j) => (j % groups) * n + Math.floor(j / groups));
}

/** The BN group of batch slot `slot`. */
export function bnGroupOf(slot: number, batchSize: number, groups: number): number {
  return Math.floor(slot / (batchSize / groups));
}

/** [a, b, rest…] → [b, a, rest…] of x's rows seen as an [a, b] grid; x [a·b, …]. */
function transposeRows<T extends tf.Tensor>(x: T, a: number, b: number): T {
  return tf.tidy(() => {
    const rest = x.size / x.shape[0];
    const grid = tf.reshape(x, [a, b, rest]);
    return tf.reshape(tf.transpose(grid, [1, 0, 2]), x.shape);
  }) as T;
}

/** x [B, …] as the teacher sees it: x gathered by shuffleBnPermutation. */
export function shuffleForTeacher<T extends tf.Tensor>(x: T, groups: number): T {
  return transposeRows(x, groups, x.shape[0] / groups);
}

/** The teacher's outputs [B, …] back in the batch's order (the inverse of shuffleForTeacher). */
export function unshuffleFromTeacher<T extends tf.Tensor>(y: T, groups: number): T {
  return transposeRows(y, y.shape[0] / groups, groups);
}
