/** Overlaid curves of several runs on one x axis, each smoothed on its own. */
import type { Curves, EvalPoint, ProgressPoint } from '../../electron/contract';
import { smoothEma } from './smoothing';

export type CompareMetric =
  'loss' | 'lr' | 'purity' | 'imagesPerSec' | 'knn20' | 'knn1' | 'knn20Weighted' | 'knn200Weighted' | 'linear';
export const PROGRESS_METRICS: readonly CompareMetric[] = ['loss', 'lr', 'purity', 'imagesPerSec'];

/** Row of the merged chart data: x, and a value under `run<i>` for the run it came from. */
export type MergedRow = { x: number } & Record<string, number | null>;

export function seriesKey(i: number): string {
  return `run${i}`;
}

/**
 * Merges each run's points into rows sorted by x (step or fractional epoch). Progress metrics are
 * smoothed with `smoothing`; evaluations are few and stay raw (the step-0 baseline leads when known).
 */
export function mergeCurves(
  curves: readonly Curves[],
  metric: CompareMetric,
  x: 'step' | 'epoch',
  smoothing: number,
): MergedRow[] {
  // One row per x, holding every run that has a point there: one hover reads all runs at once.
  const byX = new Map<number, MergedRow>();
  const put = (x: number, values: Record<string, number>) => {
    const row = byX.get(x) ?? ({ x } as MergedRow);
    Object.assign(row, values);
    byX.set(x, row);
  };
  curves.forEach((c, i) => {
    const key = seriesKey(i);
    const stepsPerEpoch = epochLength(c);
    const xOf = (p: { step: number; epoch: number }) =>
      x === 'step' ? p.step : stepsPerEpoch ? p.step / stepsPerEpoch : p.epoch;
    if (PROGRESS_METRICS.includes(metric)) {
      const m = metric as keyof Omit<ProgressPoint, 'step' | 'epoch'>;
      const raw = c.points.map((p) => p[m]);
      const smoothed = smoothEma(raw, smoothing);
      c.points.forEach((p, j) => {
        if (smoothed[j] !== null) put(xOf(p), { [key]: smoothed[j]!, [rawKey(i)]: raw[j]! });
      });
    } else {
      const m = metric as keyof Pick<EvalPoint, 'knn1' | 'knn20' | 'knn20Weighted' | 'knn200Weighted' | 'linear'>;
      const evals =
        c.baseline && !c.evals.some((e) => e.step === c.baseline!.step) ? [c.baseline, ...c.evals] : c.evals;
      for (const e of evals) {
        const v = e[m];
        if (v !== null) put(xOf(e), { [key]: v });
      }
    }
  });
  return [...byX.values()].sort((a, b) => a.x - b.x);
}

/** The key of run i's unsmoothed values in a merged row (drawn faint behind the smoothed curve). */
export function rawKey(i: number): string {
  return `${seriesKey(i)}Raw`;
}

/** Steps per epoch: evaluations fall at the end of an epoch, so they give it exactly; else the latest progress point. */
function epochLength(c: Curves): number | null {
  const byStep = (a: { step: number }, b: { step: number }) => b.step - a.step;
  const last =
    c.evals.filter((e) => e.epoch > 0).sort(byStep)[0] ?? c.points.filter((p) => p.epoch > 0).sort(byStep)[0];
  return last ? last.step / last.epoch : null;
}

/** The kNN metrics that have a step-0 and a raw-pixel value to read them against. */
const KNN_METRICS = {
  knn1: 'pixelKnn1',
  knn20: 'pixelKnn20',
  knn20Weighted: 'pixelKnn20Weighted',
  knn200Weighted: 'pixelKnn200Weighted',
} as const;

/**
 * Reference lines for a kNN metric: each run's step-0 value, and the raw-pixel value (once when the
 * runs share it, as runs on the same bank and queries do). Values are fractions; labels name the run.
 */
export function compareReferences(
  curves: readonly Curves[],
  metric: CompareMetric,
  names: readonly string[],
): { y: number; label: string; run: number | null }[] {
  if (!(metric in KNN_METRICS)) return [];
  const m = metric as keyof typeof KNN_METRICS;
  const out: { y: number; label: string; run: number | null }[] = [];
  curves.forEach((c, i) => {
    const v = c.baseline?.[m];
    if (v !== null && v !== undefined) out.push({ y: v, label: `${names[i]}: step 0`, run: i });
  });
  const pixels = curves.map((c) => c.pixel?.[KNN_METRICS[m]] ?? null);
  const distinct = [...new Set(pixels.filter((v): v is number => v !== null))];
  if (distinct.length === 1) out.push({ y: distinct[0]!, label: 'raw pixels', run: null });
  else pixels.forEach((v, i) => v !== null && out.push({ y: v, label: `${names[i]}: raw pixels`, run: i }));
  return out;
}
