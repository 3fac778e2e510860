/**
 * Exponential moving average with bias correction (TensorBoard's smoothing): weight 0 returns the
 * values unchanged, weight → 1 flattens them. Missing values (null, NaN) stay missing and do not
 * disturb the average.
 */
export function smoothEma(values: readonly (number | null)[], weight: number): (number | null)[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  if (w === 0) return values.map((v) => (v === null || Number.isNaN(v) ? null : v));
  let last = 0;
  let seen = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    last = last * w + (1 - w) * v;
    seen++;
    return last / (1 - Math.pow(w, seen)); // debias: the average starts at 0
  });
}
