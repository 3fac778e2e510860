/**
 * How long a run will take on this machine: training images at the speed measured by the last
 * completed runs on the same backend and architecture (else a stated assumption), the kNN evaluations
 * at EVAL_SPEED_RATIO times that rate, and a run's fixed overhead (docs/study.md).
 */
import type { RunEstimate } from '../contract';
import type { EngineOptions } from '../engine/protocol';
import { imagesTrainedOn, type DatasetSizes, type RunConfig } from '../run-config';
import type { RunStore } from '../store';
import { EVAL_SPEED_RATIO, evaluationImages, RUN_OVERHEAD_SEC } from '../study/plan';

/** Stated rough speeds (images/s, resnet20, 28 px) when nothing has been measured on this machine yet. */
const ASSUMED_IMAGES_PER_SEC: Record<string, number> = { tensorflow: 400, wasm: 60, cpu: 5 };
/** resnet18 costs about this many times resnet20 per image at the same size. */
const RESNET18_COST = 8;

export interface MeasuredSpeed {
  imagesPerSec: number;
  basis: RunEstimate['basis'];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Images/s for an architecture on a backend: median of the last completed runs, else assumed. */
export function measuredSpeed(store: RunStore, backend: string, arch: RunConfig['arch']): MeasuredSpeed {
  const done = store.listRuns({ status: 'completed', sort: 'endedAt', order: 'desc', limit: 50 }).runs;
  const same = done
    .filter((r) => r.backend === backend && r.arch === arch && r.imagesPerSec !== null && r.imagesPerSec > 0)
    .slice(0, 5);
  if (same.length > 0) return { imagesPerSec: median(same.map((r) => r.imagesPerSec as number)), basis: 'measured' };
  const base = ASSUMED_IMAGES_PER_SEC[backend] ?? ASSUMED_IMAGES_PER_SEC.wasm;
  return { imagesPerSec: arch === 'resnet18' ? base / RESNET18_COST : base, basis: 'assumed' };
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
