/**
 * Frequent and rare classes of an imbalanced training set, for per-class accuracy shown apart.
 * A class is frequent when its count is at least the geometric mean of the largest and smallest
 * counts: for long-tail draws that halves the classes, for dominant-class draws it picks the large
 * ones. Counts within a factor of 1.5 of each other are treated as balanced (no rare classes).
 */
export interface ClassSplit {
  balanced: boolean;
  frequent: number[];
  rare: number[];
}

export function splitFrequentRare(counts: readonly number[]): ClassSplit {
  const all = counts.map((_, i) => i);
  const present = counts.filter((c) => c > 0);
  if (present.length === 0) return { balanced: true, frequent: all, rare: [] };
  const max = Math.max(...present);
  const min = Math.min(...present);
  if (max / min < 1.5) return { balanced: true, frequent: all, rare: [] };
  const threshold = Math.sqrt(max * min);
  const byCount = (a: number, b: number) => counts[b]! - counts[a]! || a - b;
  return {
    balanced: false,
    frequent: all.filter((i) => counts[i]! >= threshold).sort(byCount),
    rare: all.filter((i) => counts[i]! < threshold).sort(byCount),
  };
}

/** Mean of `values` over the class indices `classes` that have a value (null when none has). */
export function meanOver(values: readonly (number | null)[], classes: readonly number[]): number | null {
  const known = classes.flatMap((i) => (typeof values[i] === 'number' ? [values[i]] : []));
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0) / known.length;
}
