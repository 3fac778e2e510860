/**
 * Training-mode BatchNorm (optionally followed by ReLU) as one op with a hand-written gradient.
 *
 * Written as plain ops, BatchNorm's forward and its autodiff backward take about twenty passes
 * over the activation and keep several activation-sized intermediates alive for the backward pass.
 * This op takes five passes forward (mean, centred square, variance, and one fused
 * scale-shift-ReLU as a 1×1 depthwise convolution) and eight backward, and saves only its input and
 * output. It runs on every backend (plain tf ops); on wasm each pass is an XNNPACK kernel.
 *
 *   y = relu?(γ·(x − μ)/√(σ² + ε) + β), μ and σ² (biased) over every axis but the last.
 *   With z the pre-ReLU output, dz = dy·[z > 0], x̂ = (x − μ)/√(σ² + ε), n values per channel:
 *   dβ = Σ dz;  dγ = Σ dz·x̂;  dx = γ/√(σ² + ε) · (dz − dβ/n − x̂·dγ/n).
 */
import * as tf from '@tensorflow/tfjs';

export interface BatchNormTrainingOptions {
  /** Added to the variance (PyTorch's default 1e-5). */
  epsilon?: number;
  /** Apply ReLU to the output (fused into the same pass, and into the gradient). */
  relu?: boolean;
  /**
   * Split the batch into this many equal groups of consecutive images, each normalised with its own
   * statistics (the MoCo CIFAR demo's SplitBatchNorm: one GPU's share per group). Default 1.
   */
  groups?: number;
}

interface BatchStats {
  /** Batch mean [C] (with groups: the mean of the groups' means, as SplitBatchNorm's running statistics). */
  mean: tf.Tensor1D;
  /** Batch variance [C], biased (divided by n), as used to normalise (with groups: the groups' mean). */
  variance: tf.Tensor1D;
}

export interface BatchNormTrainingResult<T extends tf.Tensor> extends BatchStats {
  /** Normalised output, same shape as x. */
  y: T;
  /** Values per channel each statistic was taken over (n, or n / groups). */
  count: number;
}

/** x [..., C] viewed as the [A, B, 1, C] image the depthwise convolution runs on (A·B = n). */
function asImage(x: tf.Tensor): tf.Tensor4D {
  const c = x.shape[x.shape.length - 1];
  const a = x.rank > 1 ? x.shape[0] : 1;
  return tf.reshape(x, [a, x.size / c / a, 1, c]);
}

/** x·scale + shift per channel, then ReLU when asked: one pass. */
function channelAffine(x: tf.Tensor, scale: tf.Tensor1D, shift: tf.Tensor1D | null, relu: boolean): tf.Tensor {
  const c = scale.shape[0];
  const y = tf.fused.depthwiseConv2d({
    x: asImage(x),
    filter: tf.reshape(scale, [1, 1, c, 1]),
    strides: 1,
    pad: 'valid',
    bias: shift ?? undefined,
    activation: relu ? 'relu' : 'linear',
  });
  return tf.reshape(y, x.shape);
}

/**
 * BatchNorm with batch statistics over every axis but the last of x ([B, H, W, C] or [B, C]).
 * gamma, beta [C]. Gradients reach x, gamma and beta; mean and variance carry none (use them for
 * the running statistics). Call inside tf.tidy.
 */
export function batchNormTraining<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  opts: BatchNormTrainingOptions = {},
): BatchNormTrainingResult<T> {
  const epsilon = opts.epsilon ?? 1e-5;
  const relu = opts.relu ?? false;
  const groups = opts.groups ?? 1;
  const c = x.shape[x.shape.length - 1];
  if (x.rank < 2) throw new Error(`batchNormTraining needs [B, ..., C], got shape [${x.shape}]`);
  if (gamma.size !== c || beta.size !== c)
    throw new Error(`gamma and beta must have ${c} values, got ${gamma.size} and ${beta.size}`);
  if (!Number.isInteger(groups) || groups < 1 || x.shape[0] % groups !== 0 || x.shape[0] / groups < 2)
    throw new Error(`cannot split a batch of ${x.shape[0]} into ${groups} BatchNorm groups of 2 or more`);
  if (groups > 1) return groupedBatchNormTraining(x, gamma, beta, groups, epsilon, relu);
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const n = x.size / c;
  // The statistics leave customGrad's inner tidy through keep(); they are re-owned below.
  let stats = null as BatchStats | null;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const gamma1 = tf.reshape(g, [c]) as tf.Tensor1D;
    const mean = tf.mean(xIn, axes) as tf.Tensor1D; // [C]
    const variance = tf.mean(tf.square(tf.sub(xIn, mean)), axes) as tf.Tensor1D; // [C]
    const invStd = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D; // [C]
    const scale = tf.mul(gamma1, invStd) as tf.Tensor1D; // [C]
    const shift = tf.sub(tf.reshape(b, [c]), tf.mul(mean, scale)) as tf.Tensor1D; // [C]
    const y = channelAffine(xIn, scale, shift, relu);
    stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
    save([xIn, y, mean, invStd, scale]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, mu, inv, a] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        // ReLU's gradient: y > 0 exactly where the pre-ReLU output is.
        const dz = relu ? tf.mul(dy, tf.step(ys)) : dy;
        const dBeta = tf.sum(dz, axes) as tf.Tensor1D; // [C]
        const sumDzX = tf.sum(tf.mul(dz, xs), axes) as tf.Tensor1D; // [C]
        const dGamma = tf.mul(inv, tf.sub(sumDzX, tf.mul(mu, dBeta))) as tf.Tensor1D; // Σ dz·x̂ [C]
        // dx = a·dz + bx·x + cx per channel, a = γ/√(σ²+ε), bx = −a·dγ/(n·√(σ²+ε)), cx = −a·dβ/n − bx·μ.
        const bx = tf.neg(tf.div(tf.mul(a, tf.mul(dGamma, inv)), n)) as tf.Tensor1D;
        const cx = tf.sub(tf.neg(tf.div(tf.mul(a, dBeta), n)), tf.mul(bx, mu)) as tf.Tensor1D;
        const dx = tf.add(channelAffine(dz, a, null, false), channelAffine(xs, bx, cx, false));
        return [dx, tf.reshape(dGamma, g.shape), tf.reshape(dBeta, b.shape)];
      },
    };
  });

  const y = op(x, gamma, beta) as T;
  return { y, ...ownedStats(stats), count: n };
}

/**
 * batchNormTraining with G groups, as one op over x viewed as [G, m, 1, C] (m = n/G values per
 * channel and group): the statistics [G, 1, 1, C] are spatial means (one average pool on wasm), the
 * scale and shift per group broadcast over each group's rows (kernels/broadcast-binary.ts's grouped
 * path on wasm). Not G calls: that costs G times the small ops and a slice and a concat per layer.
 *   Per group g: dβ_g = Σ_g dz, dγ_g = Σ_g dz·x̂, dx = a_g·(dz − dβ_g/m − x̂·dγ_g/m), a_g = γ/√(σ_g² + ε);
 *   dγ = Σ_g dγ_g, dβ = Σ_g dβ_g.
 */
function groupedBatchNormTraining<T extends tf.Tensor>(
  x: T,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  epsilon: number,
  relu: boolean,
): BatchNormTrainingResult<T> {
  const c = x.shape[x.shape.length - 1];
  const m = x.size / c / groups;
  const grouped: [number, number, number, number] = [groups, m, 1, c];
  const spatial = [1, 2];
  let stats = null as BatchStats | null;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const x4 = tf.reshape(xIn, grouped) as tf.Tensor4D; // [G, m, 1, C]
    const mean = tf.mean(x4, spatial, true); // [G, 1, 1, C]
    const variance = tf.mean(tf.square(tf.sub(x4, mean)), spatial, true); // [G, 1, 1, C], biased
    const invStd = tf.rsqrt(tf.add(variance, epsilon)); // [G, 1, 1, C]
    const scale = tf.mul(tf.reshape(g, [c]), invStd); // [G, 1, 1, C]
    const shift = tf.sub(tf.reshape(b, [c]), tf.mul(mean, scale)); // [G, 1, 1, C]
    const z = tf.add(tf.mul(x4, scale), shift);
    const y4 = relu ? tf.relu(z) : z; // [G, m, 1, C]
    stats = {
      mean: tf.keep(tf.reshape(tf.mean(mean, 0), [c]) as tf.Tensor1D),
      variance: tf.keep(tf.reshape(tf.mean(variance, 0), [c]) as tf.Tensor1D),
    };
    save([x4, y4, mean, invStd, scale]);
    return {
      value: tf.reshape(y4, xIn.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, mu, inv, a] = saved;
        const dy4 = tf.reshape(dy, grouped);
        const dz = relu ? tf.mul(dy4, tf.step(ys)) : dy4; // [G, m, 1, C]
        const dBeta = tf.sum(dz, spatial, true); // [G, 1, 1, C]
        const sumDzX = tf.sum(tf.mul(dz, xs), spatial, true); // [G, 1, 1, C]
        const dGamma = tf.mul(inv, tf.sub(sumDzX, tf.mul(mu, dBeta))); // Σ_g dz·x̂ [G, 1, 1, C]
        const bx = tf.neg(tf.div(tf.mul(a, tf.mul(dGamma, inv)), m));
        const cx = tf.sub(tf.neg(tf.div(tf.mul(a, dBeta), m)), tf.mul(bx, mu));
        const dx = tf.add(tf.add(tf.mul(dz, a), tf.mul(xs, bx)), cx); // [G, m, 1, C]
        return [
          tf.reshape(dx, xIn.shape),
          tf.reshape(tf.sum(dGamma, [0, 1, 2]), g.shape),
          tf.reshape(tf.sum(dBeta, [0, 1, 2]), b.shape),
        ];
      },
    };
  });

  const y = op(x, gamma, beta) as T;
  return { y, ...ownedStats(stats), count: m };
}

/** The batch statistics the op kept, owned by the caller's scope from here (a clone shares the data on wasm and cpu). */
function ownedStats(kept: BatchStats | null): BatchStats {
  if (kept === null) throw new Error('batchNormTraining: statistics were not computed');
  const mean = tf.clone(kept.mean);
  const variance = tf.clone(kept.variance);
  kept.mean.dispose();
  kept.variance.dispose();
  return { mean, variance };
}
