/**
 * Seeded splits and subsets of in-memory datasets. Everything works on index arrays and copies pixel
 * rows in one pass, so a split of 60,000 images costs one allocation per output array.
 */
import { Rng } from '../rng';
import type { ImageSplit } from './types';

/** Number of images per class; labels must lie in [0, numClasses). */
export function countClasses(labels: Int32Array, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

/** Indices of each class, in ascending order: [class][k]. */
export function indicesByClass(labels: Int32Array, numClasses: number): Int32Array[] {
  const counts = countClasses(labels, numClasses);
  const out = counts.map((n) => new Int32Array(n));
  const fill = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    out[c][fill[c]++] = i;
  }
  return out;
}

/**
 * Seeded stratified split: each class sends round(n_c × fraction) of its images to test (at most n_c − 1,
 * so every class keeps at least one training image). Both index lists come back in ascending order.
 */
export function stratifiedSplit(
  labels: Int32Array,
  fraction: number,
  seed: number,
): { train: Int32Array; test: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`test fraction must be in [0, 1), got ${fraction}`);
  let numClasses = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] + 1 > numClasses) numClasses = labels[i] + 1;
  const rng = new Rng(seed);
  const isTest = new Uint8Array(labels.length);
  let testCount = 0;
  for (const members of indicesByClass(labels, numClasses)) {
    const n = members.length;
    const take = Math.min(Math.round(n * fraction), Math.max(0, n - 1));
    if (take === 0) continue;
    const shuffled = rng.shuffle(Int32Array.from(members));
    for (let k = 0; k < take; k++) isTest[shuffled[k]] = 1;
    testCount += take;
  }
  const train = new Int32Array(labels.length - testCount);
  const test = new Int32Array(testCount);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (isTest[i]) test[b++] = i;
    else train[a++] = i;
  }
  return { train, test };
}

/** A new split holding the given images in the given order; imageBytes = height × width × channels. */
export function selectImages(split: ImageSplit, indices: Int32Array, imageBytes: number): ImageSplit {
  const images = new Uint8Array(indices.length * imageBytes);
  const labels = split.labels ? new Int32Array(indices.length) : null;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (i < 0 || i >= split.count) throw new RangeError(`image index ${i} outside [0, ${split.count})`);
    images.set(split.images.subarray(i * imageBytes, (i + 1) * imageBytes), k * imageBytes);
    if (labels && split.labels) labels[k] = split.labels[i];
  }
  return { count: indices.length, images, labels };
}
