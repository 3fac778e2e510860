/** Overlaid curves of several runs on one x axis, each smoothed on its own. */
import type { Curves, EvalPoint, ProgressPoint } from '../../electron/contract';
import { smoothEma } from './smoothing';

export type CompareMetric = 'loss' | 'lr' | 'purity' | 'imagesPerSec' | 'knn20' | 'knn1' | 'knn20Weighted' | 'linear';
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
      const m = metric as keyof Pick<EvalPoint, 'knn1' | 'knn20' | 'knn20Weighted' | 'linear'>;
      const evals =
        c.baseline && !c.evals.some((e) => e.step === c.baseline!.step) ? [c.baseline, ...c.evals] : c.evals;
      for (const e of evals) if (e[m] !== null) put(xOf(e), { [key]: e[m] });
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
