/**
 * Shuffle BN: no key is normalised over its query's BatchNorm group. By construction (the
 * permutation), and observed in a real training step: the keys the step enqueues are the keys of
 * BatchNorm over the teacher's groups, not over the query's.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../rng';
import { initBackend } from '../backend';
import { randomArray, tinyStepOptions } from '../kernels/kernel-test-support';
import { encoderEmbedding } from '../models/encoder';
import { l2Normalize, ParamScope } from '../models/layers';
import { createTrainingStep, type Method, type TrainingStep } from '../training-step';
import { bnGroupOf, shuffleBnPermutation, shuffleForTeacher, unshuffleFromTeacher } from './shuffle-bn';

const SIZE = 16;

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', threads: 1 });
});

/** Student group of image i, and the images of the teacher group that normalises its key. */
function groups(batchSize: number, g: number) {
  const perm = shuffleBnPermutation(batchSize, g);
  const slotOf = new Int32Array(batchSize);
  perm.forEach((image, slot) => (slotOf[image] = slot));
  const teacherGroup = (i: number) => bnGroupOf(slotOf[i], batchSize, g);
  const membersOfTeacherGroup = (t: number) =>
    Array.from(perm.subarray((t * batchSize) / g, ((t + 1) * batchSize) / g));
  return { perm, teacherGroup, membersOfTeacherGroup };
}

describe('shuffleBnPermutation', () => {
  it.each([
    [8, 2],
    [128, 2],
    [128, 4],
    [12, 3],
    [12, 2],
    [64, 8],
  ])(
    'batch %i in %i groups: every key is normalised over another set than its query, sharing the fewest images',
    (b, g) => {
      const { perm, teacherGroup, membersOfTeacherGroup } = groups(b, g);
      expect([...perm].sort((x, y) => x - y)).toEqual(Array.from({ length: b }, (_, i) => i)); // a permutation
      const n = b / g;
      for (let i = 0; i < b; i++) {
        const query = bnGroupOf(i, b, g);
        const members = membersOfTeacherGroup(teacherGroup(i));
        const shared = members.filter((j) => bnGroupOf(j, b, g) === query).length;
        expect(shared, `image ${i}`).toBeLessThanOrEqual(Math.ceil(n / g)); // a random shuffle: n/g on average
        expect(shared, `image ${i}`).toBeLessThan(n); // never the query's own set of images
      }
    },
  );

  it('the tensor shuffle is that permutation, and the unshuffle its inverse', () => {
    const [b, g] = [12, 3];
    const x = tf.tensor2d(
      Float32Array.from({ length: b * 2 }, (_, i) => i),
      [b, 2],
    );
    const perm = shuffleBnPermutation(b, g);
    const shuffled = shuffleForTeacher(x, g);
    const gathered = tf.gather(x, perm);
    expect(shuffled.arraySync()).toEqual(gathered.arraySync());
    const back = unshuffleFromTeacher(shuffled, g);
    expect(back.arraySync()).toEqual(x.arraySync());
    tf.dispose([x, shuffled, gathered, back]);
  });
});

describe('Shuffle BN in a training step (real tfjs, wasm)', () => {
  const B = 8;
  const G = 2;
  const options = (method: Method, shuffleBn: boolean) => ({
    ...tinyStepOptions(method, B, SIZE, 11),
    queueSize: B,
    projectionBn: method === 'isd',
    bnGroups: G,
    shuffleBn,
  });

  /** Training-mode teacher keys of `images` [m, SIZE, SIZE, 1], BatchNorm over exactly those images. */
  function keysOver(step: TrainingStep, x: tf.Tensor4D, images: number[]): Float32Array {
    return tf.tidy(() => {
      const teacher = new ParamScope(step.params, 'teacher.', false);
      const sub = tf.gather(x, images) as tf.Tensor4D;
      return l2Normalize(
        encoderEmbedding(teacher, step.spec, sub, { training: true }, false),
      ).dataSync() as Float32Array;
    });
  }

  /** The keys a step enqueued (queue of B slots, pointer back at 0 after one step), row i for image i. */
  async function enqueuedKeys(method: Method, shuffleBn: boolean, xs: tf.Tensor4D, xt: tf.Tensor4D) {
    const step = createTrainingStep(options(method, shuffleBn));
    try {
      const r = await step.step(xs, xt, 0.05);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(step.queue.pointer).toBe(0);
      return { keys: step.queue.keys.arraySync() as number[][], loss: r.loss };
    } finally {
      step.dispose();
    }
  }

  it.each(['moco', 'isd'] as const)(
    '%s: each enqueued key is the key of BatchNorm over its teacher group, not over its query group',
    async (method) => {
      const rng = new Rng(5);
      // Each group its own brightness: statistics that differ between groups, as a batch's do.
      const v = randomArray(rng, B * SIZE * SIZE).map((a, i) => a + (i < (B / 2) * SIZE * SIZE ? 2 : -1));
      const xs = tf.tensor4d(v, [B, SIZE, SIZE, 1]);
      const xt = tf.tensor4d(
        v.map((a) => a * 0.9),
        [B, SIZE, SIZE, 1],
      );
      const { keys } = await enqueuedKeys(method, true, xs, xt);
      // The same initial weights (same seed): the teacher as the step saw it (EMA of equal copies).
      const ref = createTrainingStep(options(method, true));
      try {
        const { teacherGroup, membersOfTeacherGroup } = groups(B, G);
        const e = ref.spec.projection.outDim;
        for (let i = 0; i < B; i++) {
          const members = membersOfTeacherGroup(teacherGroup(i));
          const own = keysOver(ref, xt, members).subarray(members.indexOf(i) * e, (members.indexOf(i) + 1) * e);
          const queryGroup = Array.from({ length: B / G }, (_, j) => bnGroupOf(i, B, G) * (B / G) + j);
          const leaked = keysOver(ref, xt, queryGroup).subarray(
            queryGroup.indexOf(i) * e,
            (queryGroup.indexOf(i) + 1) * e,
          );
          const dist = (a: ArrayLike<number>) => Math.max(...keys[i].map((k, d) => Math.abs(k - a[d])));
          expect(dist(own), `image ${i}: its teacher group`).toBeLessThan(1e-5);
          expect(dist(leaked), `image ${i}: its query's group`).toBeGreaterThan(1e-3);
        }
      } finally {
        ref.dispose();
      }
      tf.dispose([xs, xt]);
    },
  );

  it('moving whole groups would change nothing: the keys of a group rotation are the keys of no shuffle', async () => {
    // Why the permutation mixes groups: BatchNorm statistics depend on which images, not on which slot.
    const rng = new Rng(6);
    const v = randomArray(rng, B * SIZE * SIZE);
    const xs = tf.tensor4d(v, [B, SIZE, SIZE, 1]);
    const xt = tf.tensor4d(
      v.map((a) => a + 0.1),
      [B, SIZE, SIZE, 1],
    );
    const plain = await enqueuedKeys('moco', false, xs, xt);
    const ref = createTrainingStep(options('moco', false));
    const n = B / G;
    // rotate: group g's images go to group g+1, keys rotated back
    const rotation = Array.from({ length: B }, (_, j) => (j - n + B) % B);
    const rotated = keysOver(ref, xt, rotation.slice(0, n));
    const rest = keysOver(ref, xt, rotation.slice(n));
    const e = ref.spec.projection.outDim;
    const all = new Float32Array(B * e);
    rotation.forEach((image, slot) =>
      all.set((slot < n ? rotated : rest).subarray((slot % n) * e, ((slot % n) + 1) * e), image * e),
    );
    for (let i = 0; i < B; i++)
      for (let d = 0; d < e; d++) expect(Math.abs(plain.keys[i][d] - all[i * e + d])).toBeLessThan(1e-5);
    const shuffled = await enqueuedKeys('moco', true, xs, xt);
    expect(shuffled.keys).not.toEqual(plain.keys);
    ref.dispose();
    tf.dispose([xs, xt]);
  });

  it('tensor memory stays flat over steps with Shuffle BN and grouped BatchNorm', async () => {
    const step = createTrainingStep({ ...options('moco', true), queueSize: 4 * B });
    const rng = new Rng(7);
    const xs = tf.tensor4d(randomArray(rng, B * SIZE * SIZE), [B, SIZE, SIZE, 1]);
    const xt = tf.tensor4d(randomArray(rng, B * SIZE * SIZE), [B, SIZE, SIZE, 1]);
    await step.step(xs, xt, 0.05);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      expect(Number.isFinite((await step.step(xs, xt, 0.05)).loss)).toBe(true);
      expect(tf.memory().numTensors).toBe(tensors);
    }
    step.dispose();
    tf.dispose([xs, xt]);
  });

  it('refuses a batch that does not split into its BatchNorm groups, and Shuffle BN on one group, naming the field', () => {
    expect(() => createTrainingStep({ ...options('moco', true), batchSize: 9, queueSize: 32 })).toThrow(
      expect.objectContaining({ field: 'batchSize', message: expect.stringMatching(/batch size 9 .*bnGroups 2/) }),
    );
    expect(() => createTrainingStep({ ...options('moco', true), bnGroups: 1 })).toThrow(
      expect.objectContaining({ field: 'bnGroups' }),
    );
  });
});
