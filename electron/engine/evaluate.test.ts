import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadIdx } from '../data/idx';
import { Rng } from '../rng';
import { IsdError } from '../errors';
import { spawnSync } from 'node:child_process';
import {
  extractFeatures,
  knnEvaluate,
  knnPredict,
  linearProbe,
  nearestNeighbours,
  pixelFeatures,
  type FeatureBank,
} from './evaluate';
import { probeLearningRate } from './linear-probe';

const FASHION = '/usr/share/datasets/fashion-mnist';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

function unitRows(n: number, dim: number, rng: Rng): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let d = 0; d < dim; d++) {
      const v = rng.normal();
      out[i * dim + d] = v;
      ss += v * v;
    }
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(ss);
  }
  return out;
}

function randomLabels(n: number, classes: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: n }, () => rng.int(classes));
}

/** Brute-force float64 kNN: sort by similarity (ties by index), majority (tie → nearest) and weighted votes. */
function referenceKnn(
  bank: FeatureBank,
  queries: Float32Array,
  numClasses: number,
  ks: [number, number, number],
  temperature: number,
  temperature200 = 0.1,
) {
  const n = bank.labels.length;
  const q = queries.length / bank.dim;
  const out = {
    knn1: [] as number[],
    knn20: [] as number[],
    knn20Weighted: [] as number[],
    knn200Weighted: [] as number[],
  };
  for (let i = 0; i < q; i++) {
    const sims: { j: number; s: number }[] = [];
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let d = 0; d < bank.dim; d++) s += queries[i * bank.dim + d] * bank.features[j * bank.dim + d];
      sims.push({ j, s });
    }
    sims.sort((a, b) => b.s - a.s || a.j - b.j);
    const decide = (k: number, weight: (s: number) => number) => {
      const score = new Array<number>(numClasses).fill(0);
      for (let r = 0; r < k; r++) score[bank.labels[sims[r].j]] += weight(sims[r].s);
      const best = Math.max(...score);
      for (let r = 0; r < k; r++) if (score[bank.labels[sims[r].j]] === best) return bank.labels[sims[r].j];
      throw new Error('unreachable');
    };
    out.knn1.push(decide(ks[0], () => 1));
    out.knn20.push(decide(ks[1], () => 1));
    out.knn20Weighted.push(decide(ks[1], (s) => Math.exp(s / temperature)));
    out.knn200Weighted.push(decide(Math.min(ks[2], n), (s) => Math.exp(s / temperature200)));
  }
  return out;
}

describe('knnPredict / knnEvaluate', () => {
  const rng = new Rng(1);
  const dim = 16;
  const classes = 5;
  const bank: FeatureBank = { features: unitRows(600, dim, rng), labels: randomLabels(600, classes, rng), dim };
  const query = { features: unitRows(150, dim, rng), labels: randomLabels(150, classes, rng) };

  it('matches a brute-force float64 reference exactly (predictions and accuracies)', async () => {
    for (const ks of [
      [1, 20, 200],
      [3, 7, 50],
    ] as [number, number, number][]) {
      const ref = referenceKnn(bank, query.features, classes, ks, 0.07);
      const got = await knnPredict(bank, query.features, { numClasses: classes, ks });
      expect(Array.from(got.knn1)).toEqual(ref.knn1);
      expect(Array.from(got.knn20)).toEqual(ref.knn20);
      expect(Array.from(got.knn20Weighted)).toEqual(ref.knn20Weighted);
      expect(Array.from(got.knn200Weighted)).toEqual(ref.knn200Weighted);
      const acc = (p: number[]) => p.filter((y, i) => y === query.labels[i]).length / p.length;
      const res = await knnEvaluate(bank, query, { numClasses: classes, ks });
      expect(res.knn1).toBeCloseTo(acc(ref.knn1), 12);
      expect(res.knn20).toBeCloseTo(acc(ref.knn20), 12);
      expect(res.knn20Weighted).toBeCloseTo(acc(ref.knn20Weighted), 12);
      expect(res.knn200Weighted).toBeCloseTo(acc(ref.knn200Weighted), 12);
      expect(res.ks).toEqual(ks);
    }
  });

  it('gives the same predictions chunked and unchunked, and on the cpu backend', async () => {
    const whole = await knnPredict(bank, query.features, { numClasses: classes });
    const chunked = await knnPredict(bank, query.features, { numClasses: classes, chunk: 7 });
    await tf.setBackend('cpu');
    const onCpu = await knnPredict(bank, query.features, { numClasses: classes, chunk: 64 });
    await tf.setBackend('wasm');
    for (const key of ['knn1', 'knn20', 'knn20Weighted', 'knn200Weighted'] as const) {
      expect(Array.from(chunked[key])).toEqual(Array.from(whole[key]));
      expect(Array.from(onCpu[key])).toEqual(Array.from(whole[key]));
    }
  });

  it('votes as worked out by hand: weighted exp(s/0.07) against majority, ties to the nearest', async () => {
    // Unit vectors at cosine s from the query (1, 0).
    const at = (s: number) => [s, Math.sqrt(1 - s * s)];
    const tiny = (sims: number[], labels: number[]): FeatureBank => ({
      features: Float32Array.from(sims.flatMap(at)),
      labels: Int32Array.from(labels),
      dim: 2,
    });
    const q = Float32Array.from([1, 0]);
    // 0.9 → class 0; 0.8 and 0.75 → class 1. Majority of 3: class 1. Weighted: e^(0.9/0.07) ≈ 383,000
    // beats e^(0.8/0.07) + e^(0.75/0.07) ≈ 91,800 + 45,000: class 0.
    const a = await knnPredict(tiny([0.8, 0.9, 0.75], [1, 0, 1]), q, { numClasses: 2, ks: [1, 3] });
    expect([a.knn1[0], a.knn20[0], a.knn20Weighted[0]]).toEqual([0, 1, 0]);
    // With T = 1 the weights are nearly equal: e^0.9 = 2.46 < e^0.8 + e^0.75 = 4.34: class 1.
    expect(
      (await knnPredict(tiny([0.8, 0.9, 0.75], [1, 0, 1]), q, { numClasses: 2, ks: [1, 3], temperature: 1 }))
        .knn20Weighted[0],
    ).toBe(1);
    // Four neighbours, two votes each for classes 2 and 1: the tie goes to the nearest (class 2).
    const t = await knnPredict(tiny([0.5, 0.95, 0.9, 0.85], [2, 2, 1, 1]), q, { numClasses: 3, ks: [1, 4] });
    expect(t.knn20[0]).toBe(2);
    const t2 = await knnPredict(tiny([0.5, 0.95, 0.9, 0.85], [1, 1, 2, 2]), q, { numClasses: 3, ks: [1, 4] });
    expect(t2.knn20[0]).toBe(1);
    // k larger than the bank: capped, 200-NN included.
    expect((await knnPredict(tiny([0.5, 0.9], [1, 0]), q, { numClasses: 2 })).ks).toEqual([1, 2, 2]);
    // 200-NN weighted on a 3-image bank (k capped at 3), T 0.1: e^9 = 8,103 beats e^8 + e^7.5 = 2,981 + 1,808: class 0.
    const wide = await knnPredict(tiny([0.8, 0.9, 0.75], [1, 0, 1]), q, { numClasses: 2 });
    expect([wide.ks[2], wide.knn200Weighted[0]]).toEqual([3, 0]);
    // Same bank, T 1: e^0.9 = 2.46 < e^0.8 + e^0.75 = 4.34, class 1.
    expect(
      (await knnPredict(tiny([0.8, 0.9, 0.75], [1, 0, 1]), q, { numClasses: 2, temperature200: 1 })).knn200Weighted[0],
    ).toBe(1);
  });

  it('splits accuracy into rare and frequent classes and per class', async () => {
    // Classes 0–3 as one-hot directions; queries of class 3 (rare) carry class 2's direction half the time.
    const onehot = (c: number) => [0, 1, 2, 3].map((d) => (d === c ? 1 : 0));
    const bankLabels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3];
    const bank4: FeatureBank = {
      features: Float32Array.from(bankLabels.flatMap(onehot)),
      labels: Int32Array.from(bankLabels),
      dim: 4,
    };
    const qLabels = [0, 0, 1, 1, 2, 2, 3, 3, 3, 3];
    const qDirs = [0, 0, 1, 1, 2, 2, 3, 3, 2, 2];
    const res = await knnEvaluate(
      bank4,
      { features: Float32Array.from(qDirs.flatMap(onehot)), labels: Int32Array.from(qLabels) },
      { numClasses: 5, ks: [1, 3], rareClasses: [3] },
    );
    expect(res.knn1).toBeCloseTo(8 / 10, 12);
    expect(res.knn20).toBeCloseTo(8 / 10, 12);
    // 200-NN over all 12 (capped): e^(1/0.1) per same-direction image outweighs the rest, as the others vote.
    expect(res.rare).toEqual({ knn1: 0.5, knn20: 0.5, knn20Weighted: 0.5, knn200Weighted: 0.5 });
    expect(res.frequent).toEqual({ knn1: 1, knn20: 1, knn20Weighted: 1, knn200Weighted: 1 });
    expect(res.perClass.knn20.slice(0, 4)).toEqual([1, 1, 1, 0.5]);
    expect(res.perClass.knn20[4]).toBeNaN(); // no query of class 4
    expect(
      (
        await knnEvaluate(
          bank4,
          { features: Float32Array.from(qDirs.flatMap(onehot)), labels: Int32Array.from(qLabels) },
          { numClasses: 5 },
        )
      ).rare,
    ).toBeUndefined();
  });

  it('does not leak tensors and refuses bad input with the field named', async () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await knnEvaluate(bank, query, { numClasses: classes, chunk: 40 });
    expect(tf.memory().numTensors).toBe(before);
    const field = async (pending: Promise<unknown>) => {
      try {
        await pending;
      } catch (e) {
        expect(e).toBeInstanceOf(IsdError);
        return (e as IsdError).field;
      }
      return 'no error';
    };
    expect(
      await field(knnEvaluate(bank, { ...query, labels: query.labels.map(() => 9) }, { numClasses: classes })),
    ).toBe('query.labels');
    expect(await field(knnEvaluate({ ...bank, dim: 15 }, query, { numClasses: classes }))).toBe('query.features');
    expect(await field(knnEvaluate(bank, query, { numClasses: classes, temperature: 0 }))).toBe('temperature');
    expect(await field(knnEvaluate(bank, query, { numClasses: classes, rareClasses: [7] }))).toBe('rareClasses');
    expect(await field(knnEvaluate(bank, query, { numClasses: 0 }))).toBe('numClasses');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('nearestNeighbours', () => {
  it('returns the k most similar bank rows, most similar first', () => {
    const rng = new Rng(4);
    const dim = 8;
    const features = unitRows(300, dim, rng);
    const queryFeature = features.slice(17 * dim, 18 * dim);
    const got = nearestNeighbours({ features, dim }, queryFeature, 8);
    const all = Array.from({ length: 300 }, (_, j) => {
      let s = 0;
      for (let d = 0; d < dim; d++) s += features[j * dim + d] * queryFeature[d];
      return { index: j, similarity: s };
    }).sort((a, b) => b.similarity - a.similarity);
    expect(got.map((g) => g.index)).toEqual(all.slice(0, 8).map((a) => a.index));
    expect(got[0].index).toBe(17);
    got.forEach((g, i) => expect(g.similarity).toBeCloseTo(all[i].similarity, 6));
    expect(nearestNeighbours({ features: features.subarray(0, 3 * dim), dim }, queryFeature, 8)).toHaveLength(3);
    // The query's own row excluded: the next 8, and never more than the other rows.
    const others = nearestNeighbours({ features, dim }, queryFeature, 8, 17);
    expect(others.map((g) => g.index)).toEqual(all.slice(1, 9).map((a) => a.index));
    expect(nearestNeighbours({ features: features.subarray(0, 3 * dim), dim }, queryFeature, 8, 1)).toHaveLength(2);
  });
});

describe('extractFeatures', () => {
  it('embeds every image batch by batch, L2-normalised, without leaking', async () => {
    const src = { h: 6, w: 6, c: 1 };
    const rng = new Rng(5);
    const images = Uint8Array.from({ length: 23 * 36 }, () => rng.int(256));
    const proj = Float32Array.from({ length: 36 * 5 }, () => rng.normal());
    const projT = tf.tensor2d(proj, [36, 5]);
    const embed = (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [x.shape[0], 36]), projT) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const feats = await extractFeatures(embed, images, 20, src, { size: 6, mean: [0.5], std: [0.25], batchSize: 7 });
    expect(tf.memory().numTensors).toBe(before);
    projT.dispose();
    expect(feats.length).toBe(20 * 5);
    for (let i = 0; i < 20; i++) {
      const raw = Array.from({ length: 5 }, (_, d) => {
        let s = 0;
        for (let p = 0; p < 36; p++) s += ((images[i * 36 + p] / 255 - 0.5) / 0.25) * proj[p * 5 + d];
        return s;
      });
      const norm = Math.hypot(...raw);
      for (let d = 0; d < 5; d++) expect(feats[i * 5 + d]).toBeCloseTo(raw[d] / norm, 4);
    }
    await expect(
      extractFeatures(embed, images, 24, src, { size: 6, mean: [0.5], std: [0.25], batchSize: 7 }),
    ).rejects.toThrow(/count 24/);
  });
});

describe('linearProbe', () => {
  it('reaches > 95% on linearly separable data, without leaking', async () => {
    const rng = new Rng(7);
    const dim = 12;
    const classes = 4;
    const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => rng.normal() * 2));
    const make = (n: number) => {
      const labels = randomLabels(n, classes, rng);
      const features = new Float32Array(n * dim);
      for (let i = 0; i < n; i++)
        for (let d = 0; d < dim; d++) features[i * dim + d] = centres[labels[i]][d] + 0.3 * rng.normal();
      return { features, labels };
    };
    const train = make(800);
    const test = make(400);
    const before = tf.memory().numTensors;
    const res = await linearProbe(train, test, { numClasses: classes, epochs: 20, batchSize: 64, seed: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(res.top1).toBeGreaterThan(0.95);
    expect(res.trainTop1).toBeGreaterThan(0.95);
    expect(res.perClass).toHaveLength(classes);
    for (const a of res.perClass) expect(a).toBeGreaterThan(0.85);
    // Same seed, same result; a useless learning rate does far worse (the training really trains).
    expect((await linearProbe(train, test, { numClasses: classes, epochs: 20, batchSize: 64, seed: 1 })).top1).toBe(
      res.top1,
    );
    expect(
      (await linearProbe(train, test, { numClasses: classes, epochs: 1, lr: 1e-7, batchSize: 64, seed: 2 })).top1,
    ).toBeLessThan(0.8);
  });

  it('divides the learning rate by 10 at 15/40 and 30/40 of the epochs', () => {
    const want = [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001];
    [0, 14, 15, 29, 30, 39].forEach((e, i) => expect(probeLearningRate(0.01, e, 40)).toBeCloseTo(want[i], 12));
    expect(probeLearningRate(0.01, 3, 8)).toBeCloseTo(0.001, 12); // milestones scale with the epochs: 3 and 6 of 8
  });

  it('refuses mismatched features', async () => {
    const train = { features: new Float32Array(12), labels: Int32Array.from([0, 1, 0]) };
    await expect(
      linearProbe(
        train,
        { features: new Float32Array(6), labels: Int32Array.from([0, 1]) },
        { numClasses: 2, seed: 1 },
      ),
    ).rejects.toThrow(/3 dims, training features 4/);
    await expect(linearProbe(train, train, { numClasses: 1, seed: 1 })).rejects.toThrow(IsdError);
  });
});

/** Raw-pixel cosine kNN in float64 by numpy and torch (this numpy has no BLAS: torch does the matmul), independent of tfjs and evaluate.ts. */
const NUMPY_PIXEL_KNN = `
import gzip, json, sys, numpy as np, torch
d, nb, nq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def images(f, n):
    with gzip.open(f) as g: return np.frombuffer(g.read(), np.uint8, offset=16)[: n * 784].reshape(n, 784).astype(np.float64)
def labels(f, n):
    with gzip.open(f) as g: return np.frombuffer(g.read(), np.uint8, offset=8)[:n].astype(np.int64)
xb, yb = images(d + '/train-images-idx3-ubyte.gz', nb), labels(d + '/train-labels-idx1-ubyte.gz', nb)
xq, yq = images(d + '/t10k-images-idx3-ubyte.gz', nq), labels(d + '/t10k-labels-idx1-ubyte.gz', nq)
xb /= np.linalg.norm(xb, axis=1, keepdims=True); xq /= np.linalg.norm(xq, axis=1, keepdims=True)
sim = (torch.from_numpy(xq) @ torch.from_numpy(xb).T).numpy()
k200 = min(200, nb)
top = np.argpartition(-sim, k200 - 1, axis=1)[:, :k200] if k200 < nb else np.tile(np.arange(nb), (nq, 1))
order = np.array([t[np.lexsort((t, -sim[i, t]))] for i, t in enumerate(top)])  # by similarity, ties by index
def vote(k, w):
    out = []
    for i in range(nq):
        nn = order[i, :k]; s = sim[i, nn]; score = np.zeros(10)
        np.add.at(score, yb[nn], w(s))
        best = score.max(); out.append(next(yb[j] for j in nn if score[yb[j]] == best))
    return float(np.mean(np.array(out) == yq))
print(json.dumps({'knn1': vote(1, np.ones_like), 'knn20': vote(20, np.ones_like),
  'knn20Weighted': vote(20, lambda s: np.exp(s / 0.07)), 'knn200Weighted': vote(k200, lambda s: np.exp(s / 0.1))}))
`;

describe.skipIf(!existsSync(path.join(FASHION, 'train-images-idx3-ubyte.gz')))('on real Fashion-MNIST', () => {
  it('pixelFeatures + knnEvaluate give the raw-pixel kNN numpy/torch compute (5,000-image bank, 500 queries)', async () => {
    const ds = await loadIdx(FASHION);
    const test = ds.test as NonNullable<typeof ds.test>;
    const shape = { h: 28, w: 28, c: 1 };
    const t0 = performance.now();
    const res = await knnEvaluate(
      { features: pixelFeatures(ds.train.images, 5000, shape), labels: ds.train.labels!.slice(0, 5000), dim: 784 },
      { features: pixelFeatures(test.images, 500, shape), labels: test.labels!.slice(0, 500) },
      { numClasses: 10 },
    );
    const ms = performance.now() - t0;
    const py = spawnSync('/usr/bin/python3', ['-c', NUMPY_PIXEL_KNN, FASHION, '5000', '500'], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const ref = JSON.parse(py.stdout) as Record<'knn1' | 'knn20' | 'knn20Weighted' | 'knn200Weighted', number>;
    console.log(
      `raw pixels, 5k bank / 500 queries: ours ${JSON.stringify(res, ['knn1', 'knn20', 'knn20Weighted', 'knn200Weighted'])} in ${ms.toFixed(0)} ms; numpy ${py.stdout.trim()}`,
    );
    // float32 similarities against float64: a near-tie may order two neighbours apart, one query in 500 at most.
    for (const key of ['knn1', 'knn20', 'knn20Weighted', 'knn200Weighted'] as const)
      expect(Math.abs(res[key] - ref[key]), key).toBeLessThanOrEqual(1 / 500 + 1e-12);
    expect(res.ks).toEqual([1, 20, 200]);
  });

  it('caps knn200Weighted at a bank of 150 and still matches numpy/torch', async () => {
    const ds = await loadIdx(FASHION);
    const test = ds.test as NonNullable<typeof ds.test>;
    const shape = { h: 28, w: 28, c: 1 };
    const res = await knnEvaluate(
      { features: pixelFeatures(ds.train.images, 150, shape), labels: ds.train.labels!.slice(0, 150), dim: 784 },
      { features: pixelFeatures(test.images, 300, shape), labels: test.labels!.slice(0, 300) },
      { numClasses: 10 },
    );
    expect(res.ks).toEqual([1, 20, 150]);
    const py = spawnSync('/usr/bin/python3', ['-c', NUMPY_PIXEL_KNN, FASHION, '150', '300'], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const ref = JSON.parse(py.stdout) as Record<string, number>;
    expect(Math.abs(res.knn200Weighted - ref.knn200Weighted)).toBeLessThanOrEqual(1 / 300 + 1e-12);
    expect(Math.abs(res.knn1 - ref.knn1)).toBeLessThanOrEqual(1 / 300 + 1e-12);
  });

  it('raw-pixel kNN (10,000-image bank, 1,000 queries) and linear probe land in the known range', async () => {
    const ds = await loadIdx(FASHION);
    expect([ds.train.count, ds.height, ds.width, ds.channels]).toEqual([60000, 28, 28, 1]);
    const test = ds.test as NonNullable<typeof ds.test>;
    const pixels = (images: Uint8Array, n: number) => pixelFeatures(images, n, { h: 28, w: 28, c: 1 });
    const bank: FeatureBank = {
      features: pixels(ds.train.images, 10000),
      labels: (ds.train.labels as Int32Array).slice(0, 10000),
      dim: 784,
    };
    const query = { features: pixels(test.images, 1000), labels: (test.labels as Int32Array).slice(0, 1000) };
    const t0 = performance.now();
    const res = await knnEvaluate(bank, query, { numClasses: 10, rareClasses: [0, 2, 4, 6] });
    const knnMs = performance.now() - t0;
    const t1 = performance.now();
    const probe = await linearProbe(bank, query, { numClasses: 10, epochs: 10, seed: 3 });
    const probeMs = performance.now() - t1;
    console.log(
      `Fashion-MNIST raw pixels (shared machine, wasm): 1-NN ${res.knn1.toFixed(3)}, 20-NN ${res.knn20.toFixed(3)}, 20-NN weighted ${res.knn20Weighted.toFixed(3)} ` +
        `(tops/shirts/coats/pullovers ${res.rare?.knn20.toFixed(3)}, others ${res.frequent?.knn20.toFixed(3)}) in ${knnMs.toFixed(0)} ms; ` +
        `linear probe 10 epochs ${probe.top1.toFixed(3)} in ${probeMs.toFixed(0)} ms`,
    );
    expect(res.knn20).toBeGreaterThan(0.78);
    expect(res.knn20).toBeLessThan(0.88);
    expect(res.knn1).toBeGreaterThan(0.75);
    expect(res.knn20Weighted).toBeGreaterThan(0.78);
    // Upper-body garments are the hard classes of Fashion-MNIST.
    expect(res.rare?.knn20 ?? 1).toBeLessThan(res.frequent?.knn20 ?? 0);
    expect(probe.top1).toBeGreaterThan(0.75);
    expect(probe.top1).toBeLessThan(0.9);
  });
});
