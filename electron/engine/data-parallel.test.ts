/**
 * Data-parallel training over two replicas (data-parallel.ts, replica-worker.ts): the peer thread
 * runs the compiled dist/electron/engine/replica-worker.js (npm run build first).
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { initBackend } from './backend';
import {
  createEngineTrainingStep,
  DataParallelTrainingStep,
  initTrainingBackend,
  plannedReplicas,
  probeTrainingBackend,
} from './data-parallel';
import { randomArray, tinyStepOptions } from './kernels/kernel-test-support';
import { createTrainingStep, type Method, type TrainingStep, type TrainingStepOptions } from './training-step';

const SIZE = 16;

function tfjsNodeGpuInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node-gpu');
    return true;
  } catch {
    return false;
  }
}
const B = 8; // 4 images a replica

const options = (method: Method, batchSize: number): TrainingStepOptions => tinyStepOptions(method, batchSize, SIZE, 7);

const batch = (a: Float32Array, n: number) => tf.tensor4d(a, [n, SIZE, SIZE, 1]);

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function studentValues(step: TrainingStep): Map<string, Float32Array> {
  return new Map(step.params.list('student.').map((e) => [e.name, e.variable.dataSync() as Float32Array]));
}

const open: TrainingStep[] = [];
function track<T extends TrainingStep>(s: T): T {
  open.push(s);
  return s;
}

describe('data-parallel training over two replicas (wasm, one thread each)', () => {
  beforeAll(async () => {
    await initBackend({ prefer: 'wasm', threads: 1 });
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.dispose();
  });

  it.each(['isd', 'moco'] as const)(
    '%s: two identical halves step exactly like one replica on one half',
    async (method) => {
      const rng = new Rng(1);
      const [s, t] = [randomArray(rng, (B / 2) * SIZE * SIZE), randomArray(rng, (B / 2) * SIZE * SIZE)];
      const single = track(createTrainingStep(options(method, B / 2)));
      const dp = track(createEngineTrainingStep(options(method, B), 2, 'wasm'));
      const [xs1, xt1, xs2, xt2] = [batch(s, B / 2), batch(t, B / 2), batch(concat(s, s), B), batch(concat(t, t), B)];
      const one = (await single.step(xs1, xt1, 0.05)).loss;
      const two = (await dp.step(xs2, xt2, 0.05)).loss;
      tf.dispose([xs1, xt1, xs2, xt2]);
      expect(Number.isFinite(one)).toBe(true);
      expect(two).toBe(one);
      const a = studentValues(single);
      const b = studentValues(dp);
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [name, v] of a) expect(Array.from(b.get(name)!), name).toEqual(Array.from(v));
      expect(dp.stepsDone).toBe(1);
    },
  );

  it('on different halves the replicas stay bitwise equal, the loss is the mean of the halves, and tensors stay flat', async () => {
    const rng = new Rng(2);
    const dp = track(createEngineTrainingStep(options('isd', B), 2, 'wasm')) as DataParallelTrainingStep;
    const halves = [track(createTrainingStep(options('isd', B / 2))), track(createTrainingStep(options('isd', B / 2)))];
    const labels = Int32Array.from({ length: B }, (_, i) => i % 3);
    let tensors = -1;
    for (let i = 0; i < 4; i++) {
      const [s, t] = [randomArray(rng, B * SIZE * SIZE), randomArray(rng, B * SIZE * SIZE)];
      const [xs, xt] = [batch(s, B), batch(t, B)];
      const r = await dp.step(xs, xt, 0.05, labels);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.purity! >= 0 && r.purity! <= 1).toBe(true);
      if (i === 0) {
        // step 1 from the same weights and queue: the mean of each half's loss on its own replica
        const n = (B / 2) * SIZE * SIZE;
        const own: number[] = [];
        for (const [j, h] of halves.entries()) {
          const [a, c] = [batch(s.subarray(j * n, (j + 1) * n), B / 2), batch(t.subarray(j * n, (j + 1) * n), B / 2)];
          own.push((await h.step(a, c, 0.05)).loss);
          tf.dispose([a, c]);
        }
        expect(Math.abs(r.loss - (own[0] + own[1]) / 2)).toBeLessThan(1e-6);
        tensors = tf.memory().numTensors;
      } else {
        expect(tf.memory().numTensors).toBe(tensors);
      }
      tf.dispose([xs, xt]);
    }
    expect(dp.queue.pointer).toBe((4 * B) % 32);
    const peer = new Map(dp.peerVariables().map((v) => [v.name, v.values]));
    // every variable but the BatchNorm running statistics (each replica's own halves) is the same
    const shared = dp.params.list().filter((e) => !/running(Mean|Var)$/.test(e.name));
    expect(shared.length).toBeGreaterThan(20);
    for (const e of shared) expect(Array.from(peer.get(e.name)!), e.name).toEqual(Array.from(e.variable.dataSync()));
  });

  it.each(['moco', 'isd'] as const)(
    '%s with Shuffle BN: the teacher batch crosses between the replicas and the keys come back in order, as on one replica of two BN groups',
    async (method) => {
      const rng = new Rng(4);
      const shuffled = (b: number): TrainingStepOptions => ({ ...options(method, b), bnGroups: 2, shuffleBn: true });
      const single = track(createTrainingStep(shuffled(B)));
      const dp = track(createEngineTrainingStep(shuffled(B), 2, 'wasm'));
      const v = randomArray(rng, B * SIZE * SIZE).map((a, i) => a + (i < (B / 2) * SIZE * SIZE ? 1 : -1));
      const [xs, xt] = [
        batch(v, B),
        batch(
          v.map((a) => 0.8 * a + 0.1),
          B,
        ),
      ];
      const one = (await single.step(xs, xt, 0.05)).loss;
      const two = (await dp.step(xs, xt, 0.05)).loss;
      tf.dispose([xs, xt]);
      expect(Math.abs(two - one)).toBeLessThan(1e-5);
      // the keys each enqueued, row for row (the last B slots of the queue)
      const keys = (s: TrainingStep) => (s.queue.keys.arraySync() as number[][]).slice(0, B).flat();
      const [k1, k2] = [keys(single), keys(dp)];
      expect(Math.max(...k1.map((k, i) => Math.abs(k - k2[i])))).toBeLessThan(1e-5);
      // and they differ from what the replicas' own halves would give without the shuffle
      const plain = track(createEngineTrainingStep({ ...shuffled(B), shuffleBn: false }, 2, 'wasm'));
      const [xs2, xt2] = [
        batch(v, B),
        batch(
          v.map((a) => 0.8 * a + 0.1),
          B,
        ),
      ];
      await plain.step(xs2, xt2, 0.05);
      tf.dispose([xs2, xt2]);
      const k3 = keys(plain);
      expect(Math.max(...k1.map((k, i) => Math.abs(k - k3[i])))).toBeGreaterThan(1e-3);
    },
  );

  it('a resumed state reaches the peer: both replicas continue from it', async () => {
    const rng = new Rng(3);
    const xs = Array.from({ length: 4 }, () => batch(randomArray(rng, B * SIZE * SIZE), B));
    const whole = track(createEngineTrainingStep(options('moco', B), 2, 'wasm'));
    const losses: number[] = [];
    for (const [i, x] of xs.entries()) losses.push((await whole.step(x, xs[(i + 1) % 4], 0.05)).loss);
    const first = track(createEngineTrainingStep(options('moco', B), 2, 'wasm'));
    await first.step(xs[0], xs[1], 0.05);
    await first.step(xs[1], xs[2], 0.05);
    const state = await first.readState();
    const resumed = track(createEngineTrainingStep(options('moco', B), 2, 'wasm'));
    resumed.loadState(state);
    const after = [(await resumed.step(xs[2], xs[3], 0.05)).loss, (await resumed.step(xs[3], xs[0], 0.05)).loss];
    tf.dispose(xs);
    expect(after).toEqual(losses.slice(2));
  });

  // Where tfjs-node-gpu is installed, the peer's forced tensorflow backend would start: nothing to test there.
  it.skipIf(tfjsNodeGpuInstalled())(
    'a peer that cannot start fails the step with its reason, and every later call at once',
    async () => {
      const dp = track(createEngineTrainingStep(options('isd', B), 2, 'tensorflow'));
      const x = batch(new Float32Array(B * SIZE * SIZE), B);
      await expect(dp.step(x, x, 0.05)).rejects.toThrow(
        /data-parallel peer replica failed: backend: 'tensorflow' cannot be used/,
      );
      await expect(dp.step(x, x, 0.05)).rejects.toThrow(/data-parallel training cannot go on/);
      tf.dispose(x);
    },
  );

  it('refuses an odd batch and a bad replica count, naming the field', () => {
    expect(() => createEngineTrainingStep(options('isd', 7), 2, 'wasm')).toThrow(/batch size 7 must be even/);
    expect(() => createEngineTrainingStep(options('isd', 8), 3, 'wasm')).toThrow(/replicas must be 1 or 2/);
    expect(plannedReplicas(undefined, 1, 128)).toBe(1);
    expect(plannedReplicas(undefined, 2, 127)).toBe(1);
    expect(plannedReplicas(1, 8, 128)).toBe(1);
    expect(() => plannedReplicas(2, 8, 127)).toThrow(/batch size 127 must be even/);
    expect(() => plannedReplicas(4, 8, 128)).toThrow(/replicas must be 1 or 2/);
    // BatchNorm groups split between the replicas: an odd count trains on one
    expect(plannedReplicas(undefined, 2, 120, 3)).toBe(1);
    expect(plannedReplicas(undefined, 2, 128, 4)).toBe(2);
    expect(() => plannedReplicas(2, 8, 120, 3)).toThrow(/bnGroups 3 must be even/);
  });
});

describe('the device a run trains on, in one wording', () => {
  it('the probe (system.info) names it as a training run does, and leaves this thread’s wasm threads alone', async () => {
    const analysis = await initBackend({ prefer: 'wasm', threads: 2 });
    const probed = await probeTrainingBackend('wasm');
    expect((await initBackend({ prefer: 'wasm' })).threads).toBe(analysis.threads);
    const training = await initTrainingBackend({ prefer: 'wasm' }, 2);
    expect(probed.device).toBe(training.backend.device);
    expect(probed.threads).toBe(training.backend.threads);
    if (training.replicas > 1) expect(probed.device).toMatch(/, 1 thread × 2 replicas \(data parallel\)$/);
  });
});
