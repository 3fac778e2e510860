/**
 * SGD with momentum and weight decay in PyTorch's semantics, written as tf ops on variables so the
 * momentum buffers are variables of the run's ParamStore ('opt.momentum.<param>'): checkpointable and
 * the same on every backend.  d_p = g + wd·p;  buf = m·buf + d_p;  p −= lr·buf.
 */
import * as tf from '@tensorflow/tfjs';
import type { ParamEntry, ParamStore } from '../models/param-store';

export const MOMENTUM_PREFIX = 'opt.momentum.';

export class SgdMomentum {
  private readonly slots: { param: tf.Variable; buffer: tf.Variable; name: string }[];

  constructor(
    store: ParamStore,
    params: ParamEntry[],
    readonly momentum: number,
    readonly weightDecay: number,
  ) {
    this.slots = params.map((p) => ({
      param: p.variable,
      buffer: store.add(MOMENTUM_PREFIX + p.name, tf.zerosLike(p.variable), false),
      name: p.name,
    }));
  }

  /** The variables this optimizer updates, in order (the varList for tf.variableGrads). */
  get variables(): tf.Variable[] {
    return this.slots.map((s) => s.param);
  }

  /** grads: tf.variableGrads' map (keyed by tf variable name); every parameter must have one. */
  apply(grads: tf.NamedTensorMap, lr: number): void {
    tf.tidy(() => {
      for (const s of this.slots) {
        const g = grads[s.param.name];
        if (!g) throw new Error(`no gradient for ${s.name}`);
        const d = this.weightDecay !== 0 ? tf.add(g, tf.mul(s.param, this.weightDecay)) : g;
        const buf = this.momentum !== 0 ? tf.add(tf.mul(s.buffer, this.momentum), d) : d;
        if (this.momentum !== 0) s.buffer.assign(buf);
        s.param.assign(tf.sub(s.param, tf.mul(buf, lr)));
      }
    });
  }
}
