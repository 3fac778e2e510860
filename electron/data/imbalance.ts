/**
 * Imbalance draws for the unlabelled training set, as the paper's unbalanced subsets.
 *   longtail:rho   class c (in label order, c = 0..C−1) keeps floor(nmax · rho^(−c/(C−1))) images,
 *                  nmax = the smallest class's size, so every class can supply its share and the
 *                  largest/smallest ratio is rho (up to flooring); a balanced set gives exactly that.
 *   dominant:L:s   the first L classes keep all their images, every other class keeps s.
 *   none           every image.
 * Which images a class keeps is a seeded random choice; the kept indices come back in a seeded
 * shuffled order, so the same (labels, spec, seed) always gives the same draw.
 */
import { IsdError } from '../errors';
import { Rng } from '../rng';
import type { ImbalanceSpec } from '../run-config';
import { countClasses, indicesByClass } from './split';

function badSpec(message: string): IsdError {
  return new IsdError('BAD_INPUT', message, { field: 'imbalance' });
}

/** Rare classes of a draw: those left with less than half the largest class's images (engine and study alike). */
export function rareClassesOf(classCounts: readonly number[]): number[] {
  const largest = Math.max(...classCounts);
  return classCounts.flatMap((n, c) => (n < largest / 2 ? [c] : []));
}

/** Images each class keeps under spec, from the available count per class. Cheap: for live previews. */
export function imbalanceCounts(available: number[], spec: ImbalanceSpec): number[] {
  const C = available.length;
  if (spec.kind === 'none') return available.slice();
  if (C === 0) throw badSpec('the dataset has no classes to draw from');
  if (spec.kind === 'longtail') {
    if (!(spec.rho >= 1)) throw badSpec(`longtail ratio must be at least 1, got ${spec.rho}`);
    const empty = available.findIndex((n) => n === 0);
    if (empty >= 0) throw badSpec(`longtail needs images in every class; class ${empty} has none`);
    if (C === 1) return available.slice();
    const nmax = Math.min(...available);
    // 1e-9 absorbs rounding such as 6000 · 10^−1 = 599.9999…; at least one image per class.
    return available.map((_, c) => Math.max(1, Math.floor(nmax * Math.pow(spec.rho, -c / (C - 1)) + 1e-9)));
  }
  if (spec.large >= C)
    throw badSpec(
      `dominant:${spec.large}:${spec.perSmall} needs more than ${spec.large} classes; the dataset has ${C}`,
    );
  return available.map((n, c) => {
    if (c < spec.large) return n;
    if (spec.perSmall > n)
      throw badSpec(
        `dominant:${spec.large}:${spec.perSmall} asks ${spec.perSmall} images of class ${c}, which has only ${n}`,
      );
    return spec.perSmall;
  });
}

/** Draws the imbalanced subset: indices into labels (seeded shuffled order) and the resulting count per class. */
export function drawImbalance(
  labels: Int32Array,
  numClasses: number,
  spec: ImbalanceSpec,
  seed: number,
): { indices: Int32Array; classCounts: number[] } {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= numClasses)
      throw badSpec(`label ${labels[i]} at index ${i} is outside the ${numClasses} classes`);
  }
  const available = countClasses(labels, numClasses);
  const classCounts = imbalanceCounts(available, spec);
  const rng = new Rng(seed);
  const total = classCounts.reduce((a, b) => a + b, 0);
  const indices = new Int32Array(total);
  let k = 0;
  const byClass = indicesByClass(labels, numClasses);
  for (let c = 0; c < numClasses; c++) {
    const members = byClass[c];
    const keep = classCounts[c];
    if (keep < members.length) {
      // Partial Fisher–Yates: the first `keep` entries become a uniform random subset.
      for (let i = 0; i < keep; i++) {
        const j = i + rng.int(members.length - i);
        const t = members[i];
        members[i] = members[j];
        members[j] = t;
      }
    }
    indices.set(members.subarray(0, keep), k);
    k += keep;
  }
  rng.shuffle(indices);
  return { indices, classCounts };
}
