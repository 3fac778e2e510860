/**
 * How long a run will take on this machine: training images at the speed measured by the last
 * completed runs on the same backend and architecture, compared per pixel at the side the run trains
 * at (else a stated assumption), the kNN evaluations at EVAL_SPEED_RATIO times that rate, and a run's
 * fixed overhead (docs/study.md).
 */
import type { RunEstimate } from '../contract';
import type { EngineOptions } from '../engine/protocol';
import { imagesTrainedOn, type DatasetSizes, type RunConfig } from '../run-config';
import type { RunStore, RunSummaryRow } from '../store';
import { EVAL_SPEED_RATIO, evaluationImages, RUN_OVERHEAD_SEC } from '../study/plan';
import { median } from '../study/results';
import { readRunReport } from './run-dto';

/** The image side (px) the assumed speeds are stated at, and system.info's measured speed is given at. */
export const SPEED_SIDE = 28;
/**
 * Stated rough speeds (images/s, resnet20, SPEED_SIDE px) when nothing has been measured on this machine yet.
 * wasm: 153–157 measured on an idle 2-core machine (2026-12-02, docs/study.md), rounded down for a busier one.
 */
const ASSUMED_IMAGES_PER_SEC: Record<string, number> = { tensorflow: 400, wasm: 120, cpu: 5 };
/** resnet18 costs about this many times resnet20 per image at the same size. */
const RESNET18_COST = 8;
/** The speed is the median of at most this many of the last completed runs. */
const SPEED_RUNS = 5;

export interface MeasuredSpeed {
  imagesPerSec: number;
  basis: RunEstimate['basis'];
}

/**
 * A run's cost per image grows about as side^SIDE_COST_EXPONENT: less than the convolutions' side²,
 * since the work that does not scale with pixels (the queue, the head, the update) weighs more at
 * small sides. On wasm, 2 cores, 28 → 16 px was measured ×2.08–2.11 by scripts/bench-sides.ts (the step
 * alone; fitted exponents 1.31 and 1.48 over 16–32 px) and ×2.3–2.9 by whole runs (docs/learning.md,
 * docs/study.md); 1.5 gives ×2.32, where side² gave ×3.06 (docs/perf.md).
 */
export const SIDE_COST_EXPONENT = 1.5;

/** Images/s at side `to` for a speed measured at side `from`. */
function atSide(imagesPerSec: number, from: number, to: number): number {
  return imagesPerSec * (from / to) ** SIDE_COST_EXPONENT;
}

/** The side a stored run trained at: its config's, else its run report's; null when neither says. */
function sideOf(run: RunSummaryRow): number | null {
  return run.imageSize > 0 ? run.imageSize : (readRunReport(run.checkpointDir)?.imageSize ?? null);
}

/**
 * Images/s for an architecture on a backend at `side` px: the median of the last completed runs at
 * that side, else of the last ones at any side compared per pixel, else assumed.
 */
export function measuredSpeed(store: RunStore, backend: string, arch: RunConfig['arch'], side: number): MeasuredSpeed {
  const done = store.listRuns({ status: 'completed', sort: 'endedAt', order: 'desc', limit: 50 }).runs;
  const known = done.flatMap((r) => {
    if (r.backend !== backend || r.arch !== arch || r.imagesPerSec === null || !(r.imagesPerSec > 0)) return [];
    const from = sideOf(r);
    return from === null ? [] : [{ imagesPerSec: r.imagesPerSec, side: from }];
  });
  const sameSide = known.filter((r) => r.side === side);
  const basis = (sameSide.length > 0 ? sameSide : known).slice(0, SPEED_RUNS);
  if (basis.length > 0)
    return { imagesPerSec: median(basis.map((r) => atSide(r.imagesPerSec, r.side, side))), basis: 'measured' };
  const base = ASSUMED_IMAGES_PER_SEC[backend] ?? ASSUMED_IMAGES_PER_SEC.wasm;
  return {
    imagesPerSec: atSide(arch === 'resnet18' ? base / RESNET18_COST : base, SPEED_SIDE, side),
    basis: 'assumed',
  };
}

/** The estimate of one checked config on the dataset's sizes, at `speed` on `backend`. */
export function estimateRun(
  config: RunConfig,
  sizes: DatasetSizes,
  speed: MeasuredSpeed,
  backend: string,
  engine: EngineOptions = {},
): RunEstimate {
  const steps = Math.floor(imagesTrainedOn(config, sizes) / config.batchSize) * config.epochs;
  const trainSeconds = (steps * config.batchSize) / speed.imagesPerSec;
  // Evaluation embeds without a backward pass: EVAL_SPEED_RATIO times the training rate (measured, docs/study.md).
  const evalImages = sizes.testImages ? evaluationImages(config, sizes.bankImages, sizes.testImages, engine) : 0;
  const evalSeconds = evalImages / (speed.imagesPerSec * EVAL_SPEED_RATIO);
  return {
    seconds: trainSeconds + evalSeconds + RUN_OVERHEAD_SEC,
    trainSeconds,
    evalSeconds,
    steps,
    imagesPerSec: speed.imagesPerSec,
    basis: speed.basis,
    backend,
  };
}
