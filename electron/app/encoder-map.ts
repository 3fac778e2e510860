/**
 * The embedding map (PCA or UMAP of a split's features) and image search (nearest images to a
 * dataset image or an image file), on the features encoder-tasks.ts computes and caches.
 */
import { UMAP } from 'umap-js';
import { decodeImage } from '../data/folder';
import { convertChannels } from '../data/channels';
import { extractFeatures, nearestNeighbours } from '../engine/evaluate';
import { prepareRunData } from '../engine/run-data';
import { Rng } from '../rng';
import { IsdError } from '../errors';
import type { LoadedRun } from './analysis-worker';
import { embedSet, setFeatures, type EmbedSet, type FeatureModel, type TaskContext } from './encoder-tasks';

/** UMAP is offered up to this many points (umap-js in one worker thread); PCA for any number. */
export const UMAP_MAX_POINTS = 10_000;
const UMAP_EPOCHS = 200;

export interface MapTask {
  split: 'train' | 'test';
  method: 'pca' | 'umap';
  model: FeatureModel;
  maxPoints: number;
  seed: number;
}

export interface MapResult {
  /** [n, 2] row-major, each axis scaled to [0, 1]. */
  xy: Float32Array;
  /** Row i is image rowIndex[i] of the split (the split's first n images). */
  count: number;
  labels: Int32Array | null;
  classNames: string[] | null;
  /** Classes an imbalanced run saw rarely (its draw left them under half the largest class); null when balanced. */
  rareClasses: number[] | null;
  seconds: number;
}

/** Top-2 principal axes of centred rows [n, d] (power iteration with deflation on the d×d covariance). */
export function pca2(x: Float32Array, n: number, d: number): Float32Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = x[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[a * d + b] += row[a] * row[b];
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a];
  const axes: Float64Array[] = [];
  for (let k = 0; k < 2; k++) {
    let v = Float64Array.from({ length: d }, (_, j) => 1 / Math.sqrt(d) + (j % 7) * 1e-3);
    for (let it = 0; it < 200; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b] * v[b];
        w[a] = s;
      }
      for (const u of axes) {
        let dot = 0;
        for (let a = 0; a < d; a++) dot += w[a] * u[a];
        for (let a = 0; a < d; a++) w[a] -= dot * u[a];
      }
      const norm = Math.hypot(...w) || 1;
      v = w.map((t) => t / norm);
    }
    axes.push(v);
  }
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < 2; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * axes[k][j];
      out[i * 2 + k] = s;
    }
  return out;
}

/** Each axis of [n, 2] scaled to [0, 1] in place. */
function unitBox(xy: Float32Array): Float32Array {
  for (let k = 0; k < 2; k++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = k; i < xy.length; i += 2) {
      lo = Math.min(lo, xy[i]);
      hi = Math.max(hi, xy[i]);
    }
    const span = hi - lo || 1;
    for (let i = k; i < xy.length; i += 2) xy[i] = (xy[i] - lo) / span;
  }
  return xy;
}

export async function embeddingMap(run: LoadedRun, task: MapTask, ctx: TaskContext): Promise<MapResult> {
  const t0 = performance.now();
  const set = await embedSet(run, run.ds.path, task.split, task.seed);
  const n = Math.min(set.count, task.maxPoints);
  if (task.method === 'umap' && n > UMAP_MAX_POINTS)
    throw new IsdError('BAD_INPUT', `maxPoints: UMAP takes at most ${UMAP_MAX_POINTS} points; use PCA for more`, {
      field: 'maxPoints',
    });
  const rows = await setFeatures(run, set, task.model, n, ctx);
  let xy: Float32Array;
  if (task.method === 'pca') xy = pca2(rows.features, n, rows.dim);
  else {
    const rng = new Rng(task.seed);
    const umap = new UMAP({
      nComponents: 2,
      nNeighbors: 15,
      minDist: 0.1,
      nEpochs: UMAP_EPOCHS,
      random: () => rng.next(),
    });
    const data = Array.from({ length: n }, (_, i) =>
      Array.from(rows.features.subarray(i * rows.dim, (i + 1) * rows.dim)),
    );
    let stopped = false;
    const embedding = await umap.fitAsync(data, (epoch) => {
      ctx.progress({ phase: 'umap', done: epoch, total: UMAP_EPOCHS, imagesPerSec: null });
      try {
        ctx.checkStopped();
      } catch {
        stopped = true;
        return false;
      }
      return true;
    });
    if (stopped) throw new IsdError('CONFLICT', 'stopped: the map was not computed');
    xy = Float32Array.from(embedding.flat());
  }
  const rare = prepareRunData(run.ds, run.config).report.rareClasses;
  return {
    xy: unitBox(xy),
    count: n,
    labels: set.labels ? set.labels.slice(0, n) : null,
    classNames: set.classNames,
    rareClasses: rare && rare.length > 0 ? rare : null,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A query image: one of the run's dataset's, or an image file's bytes (any size, grey or colour). */
export type SearchQuery =
  { kind: 'dataset'; split: 'train' | 'test'; index: number } | { kind: 'file'; name: string; bytes: Uint8Array };

export interface SearchTask {
  query: SearchQuery;
  /** Searched among the first `limit` images of this split of the run's dataset. */
  among: 'train' | 'test';
  limit: number;
  k: number;
  seed: number;
}

export interface SearchPixels {
  index: number;
  label: number | null;
  pixels: Uint8Array;
}

export interface SearchResult {
  shape: [number, number, number];
  classNames: string[] | null;
  searched: number;
  query: SearchPixels;
  neighbours: (SearchPixels & { similarity: number })[];
}

function rowPixels(set: EmbedSet, i: number): SearchPixels {
  const px = set.h * set.w * set.c;
  return { index: i, label: set.labels?.[i] ?? null, pixels: set.images.slice(i * px, (i + 1) * px) };
}

export async function searchImages(run: LoadedRun, task: SearchTask, ctx: TaskContext): Promise<SearchResult> {
  const size = run.imageSize;
  const c = run.step.spec.backbone.channels as 1 | 3;
  let query: SearchPixels;
  let qShape: { h: number; w: number };
  if (task.query.kind === 'dataset') {
    const qs = await embedSet(run, run.ds.path, task.query.split, task.seed);
    if (task.query.index >= qs.count)
      throw new IsdError('BAD_INPUT', `index: must be below ${qs.count} (the ${task.query.split} images)`, {
        field: 'query.index',
      });
    query = rowPixels(qs, task.query.index);
    qShape = { h: qs.h, w: qs.w };
  } else {
    let decoded: { rgb: Uint8Array };
    try {
      decoded = await decodeImage(Buffer.from(task.query.bytes), size);
    } catch (err) {
      throw new IsdError('BAD_INPUT', `${task.query.name}: the image could not be read: ${(err as Error).message}`, {
        field: 'query.base64',
      });
    }
    query = { index: -1, label: null, pixels: convertChannels(decoded.rgb, size * size, 3, c) };
    qShape = { h: size, w: size };
  }
  const set = await embedSet(run, run.ds.path, task.among, task.seed);
  const n = Math.min(set.count, task.limit);
  const bank = await setFeatures(run, set, 'trained', n, ctx);
  const q = await setFeaturesOf(run, query.pixels, qShape);
  const best = nearestNeighbours({ features: bank.features, dim: bank.dim }, q, task.k);
  return {
    shape: [set.h, set.w, set.c],
    classNames: set.classNames,
    searched: n,
    query,
    neighbours: best.map((b) => ({ ...rowPixels(set, b.index), similarity: b.similarity })),
  };
}

/** L2-normalised features [D] of one image uint8 [h, w, c] (the run's channels). */
async function setFeaturesOf(
  run: LoadedRun,
  pixels: Uint8Array,
  shape: { h: number; w: number },
): Promise<Float32Array> {
  const c = run.step.spec.backbone.channels;
  return extractFeatures(
    (x) => run.step.studentEmbed(x),
    pixels,
    1,
    { h: shape.h, w: shape.w, c },
    { size: run.imageSize, ...run.norm, batchSize: 1 },
  );
}

/** Pixels of one row of a split (the map's hover thumbnail). */
export async function splitImage(
  run: LoadedRun,
  split: 'train' | 'test',
  index: number,
  seed: number,
): Promise<{ shape: [number, number, number]; image: SearchPixels; classNames: string[] | null }> {
  const set = await embedSet(run, run.ds.path, split, seed);
  if (index >= set.count) throw new IsdError('BAD_INPUT', `index: must be below ${set.count}`, { field: 'index' });
  return { shape: [set.h, set.w, set.c], image: rowPixels(set, index), classNames: set.classNames };
}
