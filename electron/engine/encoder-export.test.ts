import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { loadIdx } from '../data/idx';
import type { LoadedDataset } from '../data/types';
import { computeChannelStats, toEvalBatch } from './augment';
import { initBackend } from './backend';
import {
  buildLayersModel,
  encodeOnnxModel,
  ONNX_OPSET,
  readBackboneWeights,
  saveLayersModel,
  TFJS_MODEL_JSON,
  TFJS_WEIGHTS_BIN,
  type EncoderRole,
} from './encoder-export';
import { createTrainingStep, type TrainingStep } from './training-step';

const FASHION = '/usr/share/datasets/fashion-mnist';
const N = 48; // test images compared

let ds: LoadedDataset;
let step: TrainingStep;
let norm: { mean: number[]; std: number[] };
let tmp: string;

/** Pixels of the first N test images as float32 [N, 28, 28, 1] in [0, 1]: what the exported models take. */
function pixels01(): Float32Array {
  const px = 28 * 28;
  return Float32Array.from(ds.test!.images.subarray(0, N * px), (v) => v / 255);
}

/** The engine's own features of those images: [N, D], before L2 normalisation. */
async function engineFeatures(role: EncoderRole): Promise<Float32Array> {
  const x = toEvalBatch(
    ds.test!.images,
    Int32Array.from({ length: N }, (_, i) => i),
    { h: 28, w: 28, c: 1 },
    {
      size: 28,
      ...norm,
    },
  );
  const f = role === 'student' ? step.studentEmbed(x) : step.teacherEmbed(x);
  const out = (await f.data()) as Float32Array;
  tf.dispose([x, f]);
  return out;
}

/** max |a − b| / max |a|: the error relative to the features' scale. */
function relativeError(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return diff / scale;
}

beforeAll(async () => {
  await initBackend({ threads: 1 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-encoder-export-'));
  ds = await loadIdx(FASHION);
  step = createTrainingStep({
    method: 'isd',
    arch: 'resnet20',
    inputShape: [28, 28, 1],
    batchSize: 32,
    queueSize: 64,
    tempTeacher: 0.01,
    tempStudent: 0.1,
    temperature: 0.2,
    ema: 0.9,
    momentum: 0.9,
    weightDecay: 1e-4,
    seed: 3,
  });
  norm = computeChannelStats(ds.train.images.subarray(0, 2000 * 784), 1);
  // A few real steps, so the BN running statistics and the teacher are no longer their initial values.
  for (let s = 0; s < 3; s++) {
    const idx = Int32Array.from({ length: 32 }, (_, i) => s * 32 + i);
    const x = toEvalBatch(ds.train.images, idx, { h: 28, w: 28, c: 1 }, { size: 28, ...norm });
    const flipped = tf.reverse(x, 2) as tf.Tensor4D;
    await step.step(x, flipped, 0.05);
    tf.dispose([x, flipped]);
  }
}, 120_000);

afterAll(() => {
  step?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('ONNX export', () => {
  for (const role of ['student', 'teacher'] as const) {
    it(`ONNX Runtime reproduces the ${role}'s features on real Fashion-MNIST images within 1e-4 relative`, async () => {
      const bytes = encodeOnnxModel(
        { spec: step.spec.backbone, weights: await readBackboneWeights(step.params, role), size: 28, ...norm },
        'test export',
      );
      const decoded = onnx.ModelProto.decode(bytes);
      expect(Number(decoded.opsetImport[0].version)).toBe(ONNX_OPSET);
      expect(ONNX_OPSET).toBeGreaterThanOrEqual(13);
      const session = await ort.InferenceSession.create(bytes);
      try {
        const out = await session.run({ pixels: new ort.Tensor('float32', pixels01(), [N, 28, 28, 1]) });
        expect(out.features.dims).toEqual([N, 64]);
        const err = relativeError(await engineFeatures(role), out.features.data as Float32Array);
        expect(err).toBeLessThan(1e-4);
      } finally {
        await session.release();
      }
    });
  }
});

describe('TF.js export', () => {
  it('tf.loadLayersModel opens the saved files and reproduces the features within 1e-4 relative', async () => {
    const model = buildLayersModel({
      spec: step.spec.backbone,
      weights: await readBackboneWeights(step.params, 'student'),
      size: 28,
      ...norm,
    });
    const files = await saveLayersModel(model);
    model.dispose();
    const dir = path.join(tmp, 'tfjs');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, TFJS_MODEL_JSON), files.modelJson);
    fs.writeFileSync(path.join(dir, TFJS_WEIGHTS_BIN), files.weights);

    // Load it as a browser would: model.json, then the weight files its manifest names, beside it.
    const json = JSON.parse(fs.readFileSync(path.join(dir, TFJS_MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
    expect(json.format).toBe('layers-model');
    const loaded = await tf.loadLayersModel({
      load: () =>
        tf.io.getModelArtifactsForJSON(json, async (manifest) => {
          const bufs = manifest[0].paths.map((p) => new Uint8Array(fs.readFileSync(path.join(dir, p))));
          const all = new Uint8Array(bufs.reduce((n, b) => n + b.length, 0));
          let o = 0;
          for (const b of bufs) all.set(b, (o += b.length) - b.length);
          return [manifest[0].weights, all.buffer];
        }),
    });
    try {
      const x = tf.tensor4d(pixels01(), [N, 28, 28, 1]);
      const y = loaded.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([N, 64]);
      const err = relativeError(await engineFeatures('student'), (await y.data()) as Float32Array);
      tf.dispose([x, y]);
      expect(err).toBeLessThan(1e-4);
    } finally {
      loaded.dispose();
    }
  });
});
