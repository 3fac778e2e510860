/**
 * The webgpu backend, on whatever adapter Dawn finds: in CI and on machines without a GPU that is
 * Chromium's SwiftShader (a software Vulkan driver; .ci/run installs chromium and libvulkan1), slow,
 * so every shape here is tiny. Skipped, with the reason, only when no adapter exists at all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadDataset } from '../data';
import type { LoadedDataset } from '../data/types';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../run-config';
import { Rng } from '../rng';
import { initBackend } from './backend';
import { knnPredict, linearProbe } from './evaluate';
import { expectStepsMatchCpu, maxRelativeError, randomArray, tinyStepOptions } from './kernels/kernel-test-support';
import type { TrainerEvent } from './protocol';
import { createTrainingStep } from './training-step';
import { Trainer } from './trainer';
import { imageSlice } from './trainer-test-support';
import { isSoftwareAdapter, loseDeviceForTest, probeWebgpu } from './webgpu';
import { jsonLines, runIsd } from '../cli-test-support';
import type { RunDetail } from '../contract';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
process.env.XDG_RUNTIME_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'isd-xdg-')); // Dawn warns without one

let probe: Awaited<ReturnType<typeof probeWebgpu>>;
let noAdapter = false;
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

// SwiftShader: seconds a tiny step on an idle 2-core machine, several times that on a busy one
describe('webgpu backend', { timeout: 900_000 }, () => {
  beforeAll(async () => {
    probe = await probeWebgpu();
    noAdapter = !probe.ok && probe.adapter === undefined;
    if (noAdapter)
      console.warn(`webgpu tests skipped: no WebGPU adapter on this machine (${probe.ok ? '' : probe.reason})`);
  });
  beforeEach((ctx) => {
    if (noAdapter) ctx.skip();
  });
  afterAll(() => {
    delete process.env.ISD_BACKEND;
  });

  it('the default choice never takes a software adapter; ISD_BACKEND=webgpu does, naming it', async () => {
    expect(
      isSoftwareAdapter({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }, false),
    ).toBe(true);
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: '', description: 'lavapipe' }, false)).toBe(true);
    expect(
      isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ada', description: 'NVIDIA GeForce RTX 4090' }, false),
    ).toBe(false);
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3', description: 'Apple M2' }, true)).toBe(true);
    if (!probe.ok || probe.adapter.software) {
      const auto = await initBackend({ threads: 1 });
      expect(auto.backend).not.toBe('webgpu');
      expect(auto.adapter).toBeNull();
      const entry = auto.fallbacks.find((f) => f.backend === 'webgpu');
      expect(entry?.reason).toMatch(/software one .*ISD_BACKEND=webgpu/);
      expect(entry?.adapter).toMatchObject({ software: true, description: expect.any(String) });
    }
    process.env.ISD_BACKEND = 'webgpu';
    const forced = await initBackend();
    delete process.env.ISD_BACKEND;
    expect(forced).toMatchObject({ backend: 'webgpu', forcedBy: 'ISD_BACKEND', fallbacks: [] });
    expect(forced.adapter).toMatchObject({
      vendor: expect.any(String),
      architecture: expect.any(String),
      description: expect.any(String),
      software: expect.any(Boolean),
    });
    expect(tf.getBackend()).toBe('webgpu');
  });

  it('every kernel a training step dispatches gives the cpu backend its result', async () => {
    await initBackend({ prefer: 'webgpu' });
    type Recorded = {
      name: string;
      attrs: unknown;
      list: boolean;
      inputs: [string, tf.Tensor][];
      outputs: tf.Tensor[];
    };
    const engine = tf.engine() as unknown as {
      runKernel(
        name: string,
        inputs: Record<string, tf.Tensor> | tf.Tensor[],
        attrs?: unknown,
      ): tf.Tensor | tf.Tensor[];
    };
    const runKernel = engine.runKernel;
    const seen = new Map<string, Recorded>();
    let recording = false;
    // Every op, forward and backward, reaches the backend through engine.runKernel: record the first
    // call of each (kernel, input shapes, attributes), keeping copies of its inputs and outputs.
    engine.runKernel = function (name, inputs, attrs) {
      const out = runKernel.call(this, name, inputs, attrs);
      if (recording) return out;
      const given = Object.entries(inputs).filter((e): e is [string, tf.Tensor] => e[1] instanceof tf.Tensor);
      const key = `${name} ${JSON.stringify(given.map(([k, t]) => [k, t.shape, t.dtype]))} ${JSON.stringify(attrs ?? {})}`;
      if (!seen.has(key)) {
        recording = true;
        try {
          seen.set(key, {
            name,
            attrs,
            list: Array.isArray(inputs), // Concat, AddN…: the inputs are a list
            inputs: given.map(([k, t]) => [k, tf.keep(t.clone())]),
            outputs: (Array.isArray(out) ? out : [out]).map((t) => tf.keep(t.clone())),
          });
        } finally {
          recording = false;
        }
      }
      return out;
    };
    const options = tinyStepOptions('isd', 8, 16, 3);
    const step = createTrainingStep(options);
    const rng = new Rng(2);
    const [xs, xt] = [0, 1].map(() => tf.tensor4d(randomArray(rng, 8 * 16 * 16), [8, 16, 16, 1]));
    try {
      await step.step(
        xs,
        xt,
        0.05,
        Int32Array.from({ length: 8 }, (_, i) => i % 3),
      ); // labels: the purity's TopK too
    } finally {
      engine.runKernel = runKernel;
      tf.dispose([xs, xt]);
      step.dispose();
    }
    const names = new Set([...seen.values()].map((r) => r.name));
    for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', 'TopK'])
      expect(names, [...names].join(' ')).toContain(k);
    const bad: string[] = [];
    for (const r of seen.values()) {
      const inputs = await Promise.all(r.inputs.map(async ([k, t]) => [k, await t.data(), t.shape, t.dtype] as const));
      const outputs = await Promise.all(r.outputs.map((t) => t.data()));
      tf.dispose([...r.inputs.map(([, t]) => t), ...r.outputs]);
      await tf.setBackend('cpu');
      try {
        const want = tf.tidy(() => {
          const given = inputs.map(([k, v, shape, dtype]) => [k, tf.tensor(v, shape, dtype)] as const);
          const o = engine.runKernel(r.name, r.list ? given.map(([, t]) => t) : Object.fromEntries(given), r.attrs);
          return (Array.isArray(o) ? o : [o]).map((t) => t.dataSync());
        });
        if (r.name === 'TopK' && (r.attrs as { sorted?: boolean }).sorted === false) {
          // unsorted TopK (the purity's) may list a row's k best in any order: compare them sorted by index
          const k = (r.attrs as { k: number }).k;
          const byIndex = (values: ArrayLike<number>, indices: ArrayLike<number>) => {
            const v = new Float32Array(values.length);
            const ix = new Float32Array(indices.length);
            for (let row = 0; row < values.length / k; row++) {
              const order = Array.from({ length: k }, (_, j) => row * k + j).sort((p, q) => indices[p] - indices[q]);
              order.forEach((from, j) => ((v[row * k + j] = values[from]), (ix[row * k + j] = indices[from])));
            }
            return [v, ix];
          };
          [outputs[0], outputs[1]] = byIndex(outputs[0], outputs[1]);
          [want[0], want[1]] = byIndex(want[0], want[1]);
        }
        want.forEach((w, i) => {
          const exact = !(w instanceof Float32Array);
          const err = maxRelativeError(outputs[i], w);
          if (exact ? err !== 0 : !(err < 1e-4))
            bad.push(`${r.name} [${inputs.map(([k, , s]) => `${k} ${s}`).join(', ')}] output ${i}: ${err}`);
        });
      } finally {
        await tf.setBackend('webgpu');
      }
    }
    expect(bad, `${seen.size} kernel calls compared`).toEqual([]);
  });

  it.each([
    ['isd', 5, true],
    ['moco', 11, false],
  ] as const)('%s, data %i: whole steps from a shared state match cpu', async (method, seed, labels) => {
    await initBackend({ prefer: 'webgpu' });
    await expectStepsMatchCpu(method, seed, method === 'isd' ? 2 : 1, labels);
  });

  it('kNN and the linear probe predict as on cpu', async () => {
    const rng = new Rng(9);
    const dim = 16;
    const unit = (n: number) => {
      const a = randomArray(rng, n * dim);
      for (let i = 0; i < n; i++) {
        const row = a.subarray(i * dim, (i + 1) * dim);
        const norm = Math.hypot(...row);
        for (let d = 0; d < dim; d++) row[d] /= norm;
      }
      return a;
    };
    const bank = { features: unit(300), labels: Int32Array.from({ length: 300 }, (_, i) => i % 4), dim };
    const query = { features: unit(60), labels: Int32Array.from({ length: 60 }, (_, i) => i % 4) };
    const run = async () => ({
      knn: await knnPredict(bank, query.features, { numClasses: 4 }),
      probe: await linearProbe(bank, query, { numClasses: 4, epochs: 3, batchSize: 100, seed: 1 }),
    });
    await initBackend({ prefer: 'webgpu' });
    const onGpu = await run();
    await tf.setBackend('cpu');
    const onCpu = await run();
    await tf.setBackend('webgpu');
    for (const key of ['knn1', 'knn20', 'knn20Weighted'] as const)
      expect(Array.from(onGpu.knn[key]), key).toEqual(Array.from(onCpu.knn[key]));
    expect(Math.abs(onGpu.probe.top1 - onCpu.probe.top1)).toBeLessThanOrEqual(1 / 60);
  });

  it('ISD_BACKEND=webgpu isd train: a tiny run trains in the engine worker on the adapter and lands in the history', async () => {
    const db = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'isd-webgpu-cli-')), 'history.db');
    process.env.ISD_BACKEND = 'webgpu'; // the engine worker thread inherits it
    const tiny = { baseWidth: 2, evalBankLimit: 32, evalTestLimit: 16 };
    // 16 images at 16 px, two steps of 8: the shapes SwiftShader runs in seconds
    const flags = ['--dataset', 'sample', '--train-limit', '16', '--batch-size', '8', '--queue-size', '16'];
    const r = await runIsd(db, tiny, ['train', ...flags, '--image-size', '16', '--epochs', '1', '--json']);
    delete process.env.ISD_BACKEND;
    expect(r.code, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const done = jsonLines(r.stdout).at(-1)!;
    expect(done).toMatchObject({ type: 'done', status: 'completed' });
    const shown = await runIsd(db, tiny, ['runs', 'show', String(done.runId), '--json']);
    const { run, baseline, evals, perClass } = JSON.parse(shown.stdout) as RunDetail;
    expect(run).toMatchObject({ backend: 'webgpu', step: 2 });
    // 16 queries leave some classes without one: their accuracy is null and the evaluation is still kept
    expect(baseline?.epoch).toBe(0);
    expect(evals.map((e) => e.epoch)).toEqual([1]);
    expect(perClass?.knn20).toContain(null);
    expect(run.device).toContain(probe.adapter!.description || probe.adapter!.vendor);
  });

  describe('runs', () => {
    let fm: LoadedDataset;
    let tmp: string;
    beforeAll(async () => {
      fm = await loadDataset(FASHION_MNIST);
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-webgpu-'));
    });
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const slice = (split: LoadedDataset['train'], start: number, count: number) => imageSlice(fm, split, start, count);
    const config: RunConfig = {
      ...DEFAULT_RUN_CONFIG,
      dataset: FASHION_MNIST,
      batchSize: 8,
      queueSize: 32,
      imageSize: 16,
      epochs: 3,
      evalEvery: 1,
      checkpointEvery: 1,
      seed: 3,
    };
    const train = async (
      dir: string,
      resumeFrom: string | undefined,
      onEvent: (e: TrainerEvent) => void,
      runId = 'run-gpu',
    ) => {
      const b = slice(fm.train, 10_000, 32);
      const t = slice(fm.test!, 0, 16);
      const trainer = new Trainer({
        runId,
        config,
        train: slice(fm.train, 0, 16), // two steps an epoch
        evaluation: { bank: { ...b, labels: b.labels! }, test: { ...t, labels: t.labels! }, numClasses: 10 },
        checkpointDir: dir,
        resumeFrom,
        engine: { baseWidth: 2 },
        onEvent,
      });
      return trainer.run();
    };

    it.skipIf(!fs.existsSync(path.join(FASHION_MNIST, 'train-images-idx3-ubyte.gz')))(
      'a run on webgpu evaluates there with flat tensors; a lost device fails it with its step; it resumes on cpu, and a cpu run resumes on webgpu',
      async () => {
        await initBackend({ prefer: 'webgpu' });
        const dir = path.join(tmp, 'gpu');
        const tensors: number[] = [];
        const events: TrainerEvent[] = [];
        const first = await train(dir, undefined, (e) => {
          events.push(e);
          if (e.type === 'progress') tensors.push(tf.memory().numTensors);
          if (e.type === 'checkpoint' && e.step === 4) loseDeviceForTest(); // after epoch 2's checkpoint
        });
        expect(first.status).toBe('failed');
        expect(tensors).toHaveLength(4);
        expect(new Set(tensors.slice(1)).size, tensors.join(' ')).toBe(1); // flat after the first step
        expect(
          events.filter((e) => e.type === 'epochEval').map((e) => (e.type === 'epochEval' ? e.epoch : -1)),
        ).toEqual([0, 1, 2]);
        const failed = events.find((e) => e.type === 'failed');
        expect(failed).toMatchObject({
          step: 4,
          message: expect.stringMatching(/GPU device was lost.*at step 5: resume/),
        });
        const checkpoint = (failed as { lastCheckpoint: string }).lastCheckpoint;
        expect(checkpoint).toContain(dir);

        await initBackend({ prefer: 'cpu' });
        const onCpu = await train(`${dir}-cpu`, checkpoint, () => {});
        expect(onCpu.status, onCpu.error?.message).toBe('completed');
        expect(onCpu.losses).toHaveLength(2); // steps 5 and 6
        expect(onCpu.losses.every(Number.isFinite)).toBe(true);

        // the other way round: a cpu run stopped at step 4, resumed on webgpu (a new device) and on cpu
        const cpuDir = path.join(tmp, 'cpu');
        let stopCheckpoint = '';
        const stopped = await new Promise<string>((resolve, reject) => {
          const b = slice(fm.train, 10_000, 32);
          const t = slice(fm.test!, 0, 16);
          const trainer: Trainer = new Trainer({
            runId: 'run-cpu',
            config,
            train: slice(fm.train, 0, 16),
            evaluation: { bank: { ...b, labels: b.labels! }, test: { ...t, labels: t.labels! }, numClasses: 10 },
            checkpointDir: cpuDir,
            engine: { baseWidth: 2 },
            onEvent: (e) => {
              if (e.type === 'progress' && e.step === 4) trainer.stop();
              if (e.type === 'checkpoint' && e.kind === 'stop') stopCheckpoint = e.path;
            },
          });
          trainer.run().then((r) => resolve(r.status), reject);
        });
        expect(stopped).toBe('stopped');
        const onCpuAgain = await train(`${cpuDir}-cpu`, stopCheckpoint, () => {}, 'run-cpu');
        expect(onCpuAgain.status, onCpuAgain.error?.message).toBe('completed');
        const cpuLosses = onCpuAgain.losses;
        expect(cpuLosses).toHaveLength(2); // steps 5 and 6
        await initBackend({ prefer: 'webgpu' });
        const gpuResumed = await train(`${cpuDir}-gpu`, stopCheckpoint, () => {}, 'run-cpu');
        expect(gpuResumed.status, gpuResumed.error?.message).toBe('completed');
        expect(gpuResumed.losses).toHaveLength(cpuLosses.length);
        gpuResumed.losses.forEach((l, i) =>
          expect(Math.abs(l - cpuLosses[i]) / Math.abs(cpuLosses[i])).toBeLessThan(1e-3),
        );
      },
    );
  });
});
