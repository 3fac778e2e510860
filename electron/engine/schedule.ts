/**
 * Learning rate per step: optional linear warm-up, then cosine to 0 over the rest of the run, or step
 * decay ×0.2 at 60% and 80% of the epochs (docs/method.md: cosine for ISD+, step decay for the first ISD).
 */
export type ScheduleKind = 'cosine' | 'step';

export interface ScheduleOptions {
  /** Peak learning rate (after warm-up). */
  lr: number;
  schedule: ScheduleKind;
  epochs: number;
  warmupEpochs: number;
  stepsPerEpoch: number;
}

export const STEP_DECAY_FACTOR = 0.2;
export const STEP_DECAY_AT = [0.6, 0.8] as const;

/** Learning rate for step `step` (0-based, counted over the whole run). */
export function learningRateAt(step: number, o: ScheduleOptions): number {
  const total = o.epochs * o.stepsPerEpoch;
  const warmup = Math.min(Math.round(o.warmupEpochs * o.stepsPerEpoch), total);
  if (step < warmup) return (o.lr * (step + 1)) / warmup; // reaches the peak on the last warm-up step
  if (o.schedule === 'cosine') {
    const span = Math.max(1, total - warmup);
    const progress = Math.min(1, (step - warmup) / span);
    return o.lr * 0.5 * (1 + Math.cos(Math.PI * progress));
  }
  const epochPos = step / o.stepsPerEpoch;
  let lr = o.lr;
  for (const at of STEP_DECAY_AT) if (epochPos >= at * o.epochs) lr *= STEP_DECAY_FACTOR;
  return lr;
}
