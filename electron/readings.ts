/**
 * How an accuracy is read: its standard error, its change against the run's step-0 evaluation, and
 * whether that change is beyond noise. Pure (no Node imports): the CLI and the renderer both read
 * every accuracy through this one module (docs/learning.md, "Reading the numbers").
 *
 * A kNN accuracy p over n test queries is a binomial proportion: its standard error is
 * sqrt(p(1−p)/n). The change against step 0 is a difference of two such proportions; its standard
 * error is taken as sqrt(se² + se0²), as for independent samples. The queries are the same ones
 * (paired), so this overstates the noise a little: a "learned" verdict errs on the safe side.
 */

/** learned: above step 0 by more than 2 SE; lost: below it by more than 2 SE; within noise otherwise. */
export type Verdict = 'learned' | 'lost' | 'within noise';

/** How many standard errors a change must pass to count. */
export const VERDICT_SE = 2;

export interface AccuracyReading {
  value: number;
  /** Binomial standard error over the n queries; null when n is not known. */
  se: number | null;
  /** value − the step-0 value; null without a step-0 evaluation. */
  change: number | null;
  /** Standard error of the change; null when n is not known. */
  changeSe: number | null;
  /** Null when the change or its standard error is not known. */
  verdict: Verdict | null;
}

/** sqrt(p(1−p)/n): the standard error of an accuracy p read from n queries; null when n is unknown or 0. */
export function standardError(p: number, n: number | null | undefined): number | null {
  if (n === null || n === undefined || !(n > 0) || !Number.isFinite(p)) return null;
  const q = Math.min(1, Math.max(0, p));
  return Math.sqrt((q * (1 - q)) / n);
}

/** An accuracy read against its step-0 value (init) over n queries. */
export function readAccuracy(
  value: number,
  init: number | null | undefined,
  n: number | null | undefined,
): AccuracyReading {
  const se = standardError(value, n);
  const hasInit = init !== null && init !== undefined && Number.isFinite(init);
  const change = hasInit ? value - init : null;
  const se0 = hasInit ? standardError(init, n) : null;
  const changeSe = se !== null && se0 !== null ? Math.sqrt(se * se + se0 * se0) : null;
  let verdict: Verdict | null = null;
  if (change !== null && changeSe !== null) {
    if (change > VERDICT_SE * changeSe) verdict = 'learned';
    else if (change < -VERDICT_SE * changeSe) verdict = 'lost';
    else verdict = 'within noise';
  }
  return { value, se, change, changeSe, verdict };
}

/** Percentage points with a sign: 0.0345 → "+3.5 pts". */
export function formatChange(change: number): string {
  const pts = change * 100;
  const sign = pts > 0.05 ? '+' : pts < -0.05 ? '−' : '±';
  return `${sign}${Math.abs(pts).toFixed(1)} pts`;
}

/** "72.4% ± 1.0" (the ± only when the standard error is known). */
export function formatAccuracy(r: Pick<AccuracyReading, 'value' | 'se'>): string {
  return `${(r.value * 100).toFixed(1)}%${r.se !== null ? ` ± ${(r.se * 100).toFixed(1)}` : ''}`;
}

/**
 * "+3.5 ± 1.4 pts vs step 0, learned" / "−4.1 ± 1.4 pts vs step 0, LOST" / "" without a step 0. The ±
 * is the change's own standard error (about √2 × the reading's), so the verdict can be checked by eye.
 */
export function describeChange(r: AccuracyReading): string {
  if (r.change === null) return '';
  const verdict = r.verdict === 'lost' ? 'LOST' : r.verdict;
  const pts = formatChange(r.change);
  // A zero change reads "0.0 ± 1.4 pts", not "±0.0 ± 1.4 pts".
  const withSe =
    r.changeSe !== null ? `${pts.replace(/^±/, '').replace(/ pts$/, '')} ± ${(r.changeSe * 100).toFixed(1)} pts` : pts;
  return `${withSe} vs step 0${verdict ? `, ${verdict}` : ''}`;
}

/** "from a subset: 2,000 of 10,000 test images" when the queries are not the whole test split; else "". */
export function describeQueries(testImages: number | null, testSplitImages: number | null): string {
  if (testImages === null || testSplitImages === null || testImages >= testSplitImages) return '';
  return `from a subset: ${testImages.toLocaleString('en')} of ${testSplitImages.toLocaleString('en')} test images`;
}
