/**
 * Every variable of a training run in one ordered map with stable names ('student.backbone.stem.conv.w',
 * 'teacher.proj.bn1.runningMean', 'opt.momentum.student.pred.fc2.b', 'queue.keys'), so checkpoints,
 * the EMA update and the optimizer address variables by name and a fast path can swap the ops that
 * use them without touching the storage.
 */
import * as tf from '@tensorflow/tfjs';

export interface ParamEntry {
  name: string;
  variable: tf.Variable;
  /** Trained by SGD (weights, BN gamma/beta) versus state updated otherwise (BN running stats, teacher, buffers). */
  trainable: boolean;
}

export class ParamStore {
  private readonly entries = new Map<string, ParamEntry>();

  /** Registers `initial` (taken over: the store keeps its data, the caller must not dispose it) as variable `name`. */
  add(name: string, initial: tf.Tensor, trainable: boolean): tf.Variable {
    if (this.entries.has(name)) throw new Error(`parameter ${name} is already defined`);
    // No tf name: tf's global registry would refuse two runs (or two tests) in one process using the same names.
    const variable = tf.variable(initial, trainable);
    initial.dispose();
    this.entries.set(name, { name, variable, trainable });
    return variable;
  }

  get(name: string): tf.Variable {
    const e = this.entries.get(name);
    if (!e) throw new Error(`parameter ${name} is not defined`);
    return e.variable;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Entries in definition order, optionally only those whose name starts with `prefix`. */
  list(prefix = ''): ParamEntry[] {
    const out: ParamEntry[] = [];
    for (const e of this.entries.values()) if (e.name.startsWith(prefix)) out.push(e);
    return out;
  }

  get size(): number {
    return this.entries.size;
  }

  dispose(): void {
    for (const e of this.entries.values()) e.variable.dispose();
    this.entries.clear();
  }
}
