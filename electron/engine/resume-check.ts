/**
 * What a checkpoint records about the run that wrote it, and the check that a resume continues the
 * same run: the same run id, every setting that changes what a step computes, the same training
 * images and the same model. A mismatch is a CONFLICT naming the setting, before any weight is loaded.
 */
import { IsdError } from '../errors';
import type { RunConfig } from '../run-config';
import type { CheckpointManifest } from './checkpoint';
import type { TrainingStepOptions } from './training-step';

/** The RunConfig fields that change what a step computes: a resume must not change them. */
export const RESUME_FIXED_FIELDS = [
  'method',
  'arch',
  'epochs',
  'batchSize',
  'lr',
  'schedule',
  'warmupEpochs',
  'momentum',
  'weightDecay',
  'ema',
  'queueSize',
  'tempTeacher',
  'tempStudent',
  'temperature',
  'augTeacher',
  'augStudent',
  'blur',
  'projectionBn',
  'shuffleBn',
  'bnGroups',
  'imbalance',
  'trainLimit',
  'seed',
] as const satisfies readonly (keyof RunConfig)[];

/** The run as a checkpoint records it (its manifest's `config`). */
export interface CheckpointedRun {
  run: RunConfig;
  step: TrainingStepOptions;
  trainImages: number;
  imageSize: number;
}

/** Throws CONFLICT unless the checkpoint at `checkpointPath` was written by this same run, unchanged. */
export function checkResumable(
  manifest: CheckpointManifest,
  runId: string,
  current: CheckpointedRun,
  checkpointPath: string,
): void {
  if (manifest.runId !== runId) {
    throw new IsdError('CONFLICT', `${checkpointPath}: checkpoint of run ${manifest.runId}, not of run ${runId}`, {
      path: checkpointPath,
      field: 'resume',
    });
  }
  const saved = manifest.config as Partial<Omit<CheckpointedRun, 'run' | 'step'>> & {
    run?: Partial<RunConfig>;
    step?: { baseWidth?: number };
  };
  const cfg = current.run;
  const old = manifest.extra?.upgradedFromVersion === 1 ? ' (a version-1 checkpoint: ISD+ head, no Shuffle BN)' : '';
  // A checkpoint written before the blur setting existed blurred in pixels.
  const savedRun: Partial<RunConfig> = { blur: 'pixels', ...saved.run };
  for (const f of RESUME_FIXED_FIELDS) {
    if (savedRun[f] !== cfg[f]) {
      throw new IsdError(
        'CONFLICT',
        `cannot resume: the checkpoint${old} was written with ${f} ${JSON.stringify(savedRun[f])}, this run has ${JSON.stringify(cfg[f])}`,
        { field: f, path: checkpointPath },
      );
    }
  }
  if (saved.trainImages !== current.trainImages) {
    throw new IsdError(
      'CONFLICT',
      `cannot resume: the checkpoint was trained on ${saved.trainImages} images, this dataset gives ${current.trainImages}`,
      { field: 'dataset', path: checkpointPath },
    );
  }
  const baseWidth = current.step.baseWidth;
  if (saved.imageSize !== current.imageSize || saved.step?.baseWidth !== baseWidth) {
    throw new IsdError(
      'CONFLICT',
      `cannot resume: the checkpoint's model takes ${saved.imageSize}-pixel images (width ${saved.step?.baseWidth ?? 'default'}), this run ${current.imageSize} (width ${baseWidth ?? 'default'})`,
      { field: 'imageSize', path: checkpointPath },
    );
  }
}
