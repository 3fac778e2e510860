/**
 * The FIFO queue of K L2-normalised teacher keys (the anchors of ISD, the negatives of MoCo), with the
 * label of the image each key came from (−1 for the random initial keys and unlabeled data) for the
 * purity monitor, and that image's index in the dataset's training split (−1: unknown) for Run detail's
 * anchor thumbnails. The keys are the variable 'queue.keys' [K, D] of the run's ParamStore so checkpoints
 * carry them with every other variable; pointer and labels are plain JS state.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../rng';
import type { ParamStore } from '../models/param-store';
import { readAndDispose } from '../read-back';

export const QUEUE_KEYS_NAME = 'queue.keys';

export class TeacherQueue {
  readonly size: number;
  readonly dim: number;
  /** [K, D], row i the key in slot i. */
  readonly keys: tf.Variable;
  /** Label of the image behind each slot, −1 when unknown. */
  readonly labels: Int32Array;
  /** Index in the dataset's training split of the image behind each slot, −1 when unknown. */
  readonly sources: Int32Array;
  private ptr = 0;

  /** Fills the queue with random unit vectors drawn from `rng` (as the reference's normalised randn). */
  constructor(store: ParamStore, size: number, dim: number, rng: Rng) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`queue size must be a whole number ≥ 1, got ${size}`);
    this.size = size;
    this.dim = dim;
    const init = new Float32Array(size * dim);
    for (let r = 0; r < size; r++) {
      let norm = 0;
      for (let c = 0; c < dim; c++) {
        const v = rng.normal();
        init[r * dim + c] = v;
        norm += v * v;
      }
      const inv = 1 / Math.max(Math.sqrt(norm), 1e-12);
      for (let c = 0; c < dim; c++) init[r * dim + c] *= inv;
    }
    this.keys = store.add(QUEUE_KEYS_NAME, tf.tensor2d(init, [size, dim]), false);
    this.labels = new Int32Array(size).fill(-1);
    this.sources = new Int32Array(size).fill(-1);
  }

  /** Slot the next key goes to (the oldest key). */
  get pointer(): number {
    return this.ptr;
  }

  /**
   * Writes the B rows of k [B, D] into slots pointer … pointer+B−1 (wrapping past the end) and moves
   * the pointer: the oldest keys leave first.
   */
  enqueue(k: tf.Tensor2D, labels?: ArrayLike<number> | null, sources?: ArrayLike<number> | null): void {
    const b = k.shape[0];
    if (b > this.size) throw new Error(`cannot enqueue ${b} keys into a queue of ${this.size}`);
    if (k.shape[1] !== this.dim) throw new Error(`keys of width ${k.shape[1]} do not fit a queue of width ${this.dim}`);
    if (labels && labels.length !== b) throw new Error(`${labels.length} labels for ${b} keys`);
    if (sources && sources.length !== b) throw new Error(`${sources.length} image indices for ${b} keys`);
    const ptr = this.ptr;
    const first = Math.min(b, this.size - ptr); // rows that fit before the end
    tf.tidy(() => {
      const q = this.keys as tf.Tensor2D;
      const parts: tf.Tensor2D[] = [];
      const rows = (t: tf.Tensor2D, start: number, count: number) => {
        if (count > 0) parts.push(tf.slice(t, [start, 0], [count, -1]));
      };
      if (first === b) {
        rows(q, 0, ptr);
        parts.push(k);
        rows(q, ptr + b, this.size - ptr - b);
      } else {
        rows(k, first, b - first); // wrapped part lands in slots 0 … b−first−1
        rows(q, b - first, ptr - (b - first));
        rows(k, 0, first);
      }
      this.keys.assign(parts.length === 1 ? tf.clone(parts[0]) : tf.concat(parts, 0));
    });
    for (let i = 0; i < b; i++) {
      this.labels[(ptr + i) % this.size] = labels ? labels[i] : -1;
      this.sources[(ptr + i) % this.size] = sources ? sources[i] : -1;
    }
    this.ptr = (ptr + b) % this.size;
  }

  /**
   * Share of the top-`topK` queue neighbours (by teacher similarity simK [B, K]) whose label equals the
   * query's label; slots labelled −1 never match. One read (the neighbour indices).
   */
  async neighbourPurity(simK: tf.Tensor2D, queryLabels: ArrayLike<number>, topK = 5): Promise<number> {
    const b = simK.shape[0];
    const kk = Math.min(topK, this.size);
    const idx = await readAndDispose<'int32'>(tf.tidy(() => tf.topk(simK, kk, false).indices)); // [B, kk]
    let hits = 0;
    for (let i = 0; i < b; i++) {
      const y = queryLabels[i];
      for (let j = 0; j < kk; j++) if (this.labels[idx[i * kk + j]] === y && y >= 0) hits++;
    }
    return hits / (b * kk);
  }

  /**
   * Restores pointer, labels and image indices from a checkpoint (the keys come back with the other
   * variables); a checkpoint from before the indices were kept has none: every slot −1.
   */
  restore(pointer: number, labels: ArrayLike<number>, sources?: ArrayLike<number> | null): void {
    if (!Number.isInteger(pointer) || pointer < 0 || pointer >= this.size)
      throw new Error(`queue pointer ${pointer} outside 0…${this.size - 1}`);
    if (labels.length !== this.size) throw new Error(`${labels.length} queue labels for a queue of ${this.size}`);
    if (sources && sources.length !== this.size)
      throw new Error(`${sources.length} queue image indices for a queue of ${this.size}`);
    this.labels.set(labels);
    if (sources) this.sources.set(sources);
    else this.sources.fill(-1);
    this.ptr = pointer;
  }
}
