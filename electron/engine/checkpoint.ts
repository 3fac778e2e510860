/**
 * Checkpoints: one folder per checkpoint under the run's checkpoint folder, holding
 *   weights.bin        every variable (student, teacher, heads, BN running stats, momentum buffers,
 *                      queue keys) as little-endian float32, one after another;
 *   queue-labels.bin   the queue's labels, int32;
 *   queue-sources.bin  the training-split index of the image behind each queue slot, int32 (absent in
 *                      checkpoints written before it: read as unknown, −1);
 *   manifest.json      names/shapes/offsets of the variables, queue pointer, epoch, step, every Rng
 *                      state and whatever else the trainer needs to continue the same run.
 * Written to a temporary folder and renamed into place, so a crash never leaves half a checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import type { RngState } from '../rng';
import type { CheckpointKind } from './protocol';
import {
  createTrainingStep,
  type TrainingStep,
  type TrainingStepOptions,
  type TrainingStepState,
  type VariableSnapshot,
} from './training-step';

export const CHECKPOINT_FORMAT = 'isd-studio-checkpoint';
/**
 * 2: the run config and model options say projectionBn, shuffleBn and bnGroups (MoCo v2's head has no
 * 'proj.bn1.*' and a d-wide fc1). 1: before them; every such model had ISD+'s BN head, no Shuffle BN
 * and one BN group per replica, and is read as saying so.
 */
export const CHECKPOINT_VERSION = 2;
/** What a version-1 checkpoint trained with, in the settings version 2 added. */
export const VERSION_1_SETTINGS = { projectionBn: true, shuffleBn: false, bnGroups: 1 } as const;
const MANIFEST = 'manifest.json';
const WEIGHTS = 'weights.bin';
const QUEUE_LABELS = 'queue-labels.bin';
const QUEUE_SOURCES = 'queue-sources.bin';

export interface CheckpointVariable {
  name: string;
  shape: number[];
  /** Offset in float32 values from the start of weights.bin. */
  offset: number;
  length: number;
}

/** Trainer position and randomness: with the variables, everything needed to continue identically. */
export interface CheckpointProgress {
  /** Epochs fully completed. */
  epoch: number;
  /** Optimizer steps completed over the whole run. */
  step: number;
  /** Steps completed inside the current (unfinished) epoch; 0 at an epoch boundary. */
  stepInEpoch: number;
  /** Every Rng's state by purpose ('augment', 'shuffleEpochStart', …). */
  rng: Record<string, RngState>;
}

export interface CheckpointManifest extends CheckpointProgress {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  kind: CheckpointKind;
  createdAt: string;
  runId: string;
  /** The run's configuration (RunConfig and engine options), to refuse resuming into another model. */
  config: Record<string, unknown>;
  variables: CheckpointVariable[];
  queue: { pointer: number; size: number };
  /** Free-form extras the trainer keeps (e.g. the last evaluation, loss history length). */
  extra: Record<string, unknown>;
}

export interface CheckpointContents {
  path: string;
  manifest: CheckpointManifest;
  state: TrainingStepState;
}

/** Folder name of the checkpoint after `step` steps: sorts in step order. */
export function checkpointFolderName(step: number): string {
  return `step-${String(step).padStart(9, '0')}`;
}

function checkLittleEndian(): void {
  if (os.endianness() !== 'LE')
    throw new IsdError('INTERNAL', 'checkpoints are little-endian float32; this machine is big-endian');
}

export interface WriteCheckpointInput extends CheckpointProgress {
  kind: CheckpointKind;
  runId: string;
  config: Record<string, unknown>;
  state: TrainingStepState;
  extra?: Record<string, unknown>;
}

/** Writes a checkpoint folder under `dir` (created when missing) atomically; returns its path. */
export async function writeCheckpoint(dir: string, input: WriteCheckpointInput): Promise<string> {
  checkLittleEndian();
  const finalPath = path.join(dir, checkpointFolderName(input.step));
  const tmpPath = path.join(
    dir,
    `.tmp-${checkpointFolderName(input.step)}-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  try {
    await fsp.mkdir(tmpPath, { recursive: true });
    const variables: CheckpointVariable[] = [];
    let offset = 0;
    for (const v of input.state.variables) {
      variables.push({ name: v.name, shape: v.shape, offset, length: v.values.length });
      offset += v.values.length;
    }
    const weights = new Float32Array(offset);
    input.state.variables.forEach((v, i) => weights.set(v.values, variables[i].offset));
    await fsp.writeFile(
      path.join(tmpPath, WEIGHTS),
      new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength),
    );
    const labels = input.state.queueLabels;
    await fsp.writeFile(
      path.join(tmpPath, QUEUE_LABELS),
      new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength),
    );
    const sources = input.state.queueSources ?? new Int32Array(labels.length).fill(-1);
    await fsp.writeFile(
      path.join(tmpPath, QUEUE_SOURCES),
      new Uint8Array(sources.buffer, sources.byteOffset, sources.byteLength),
    );
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      kind: input.kind,
      createdAt: new Date().toISOString(),
      runId: input.runId,
      epoch: input.epoch,
      step: input.step,
      stepInEpoch: input.stepInEpoch,
      rng: input.rng,
      config: input.config,
      variables,
      queue: { pointer: input.state.queuePointer, size: labels.length },
      extra: { ...input.extra, stepsDone: input.state.stepsDone },
    };
    await fsp.writeFile(path.join(tmpPath, MANIFEST), JSON.stringify(manifest, null, 1));
    // A checkpoint of the same step (e.g. stop right after an epoch's) is replaced by the newer one.
    await fsp.rm(finalPath, { recursive: true, force: true });
    await fsp.rename(tmpPath, finalPath);
  } catch (err) {
    await fsp.rm(tmpPath, { recursive: true, force: true }).catch(() => undefined);
    if (err instanceof IsdError) throw err;
    throw fsError(err, finalPath, 'checkpoint folder');
  }
  return finalPath;
}

function invalid(p: string, reason: string): IsdError {
  return new IsdError('BAD_INPUT', `${p}: not a usable checkpoint: ${reason}`, { path: p, field: 'resume' });
}

async function readBytes(file: string): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    throw fsError(err, file, 'checkpoint file');
  }
}

/** A version-1 manifest in version 2's terms: its run config and model options say what it trained with. */
function upgradeVersion1(m: CheckpointManifest): CheckpointManifest {
  const config = { ...m.config } as { run?: Record<string, unknown>; step?: Record<string, unknown> };
  if (config.run && typeof config.run === 'object') config.run = { ...VERSION_1_SETTINGS, ...config.run };
  if (config.step && typeof config.step === 'object') config.step = { ...VERSION_1_SETTINGS, ...config.step };
  return { ...m, config, extra: { ...m.extra, upgradedFromVersion: 1 } };
}

/** Reads and checks a checkpoint folder written by writeCheckpoint (version 1 read as version 2). */
export async function readCheckpoint(checkpointPath: string): Promise<CheckpointContents> {
  checkLittleEndian();
  const manifestFile = path.join(checkpointPath, MANIFEST);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse((await readBytes(manifestFile)).toString('utf8')) as CheckpointManifest;
  } catch (err) {
    if (err instanceof IsdError) throw err;
    throw invalid(manifestFile, `malformed JSON (${(err as Error).message})`);
  }
  if (manifest.format !== CHECKPOINT_FORMAT)
    throw invalid(manifestFile, `format is "${String(manifest.format)}", expected ${CHECKPOINT_FORMAT}`);
  if (manifest.version === 1) manifest = upgradeVersion1(manifest);
  else if (manifest.version !== CHECKPOINT_VERSION)
    throw invalid(
      manifestFile,
      `version ${manifest.version} is not ${CHECKPOINT_VERSION}: written by another app version`,
    );
  if (!Array.isArray(manifest.variables)) throw invalid(manifestFile, 'variables missing');
  const weightsBytes = await readBytes(path.join(checkpointPath, WEIGHTS));
  const total = manifest.variables.reduce((n, v) => Math.max(n, v.offset + v.length), 0);
  if (weightsBytes.byteLength !== total * 4)
    throw invalid(
      path.join(checkpointPath, WEIGHTS),
      `holds ${weightsBytes.byteLength} bytes, the manifest describes ${total * 4}`,
    );
  // Copy into an aligned buffer: Buffer's pool offsets are not always multiples of 4.
  const weights = new Float32Array(total);
  new Uint8Array(weights.buffer).set(weightsBytes);
  const variables: VariableSnapshot[] = manifest.variables.map((v) => {
    const count = v.shape.reduce((a, b) => a * b, 1);
    if (count !== v.length) throw invalid(manifestFile, `${v.name} has shape [${v.shape}] but ${v.length} values`);
    return { name: v.name, shape: v.shape, values: weights.subarray(v.offset, v.offset + v.length) };
  });
  const labelBytes = await readBytes(path.join(checkpointPath, QUEUE_LABELS));
  if (labelBytes.byteLength !== manifest.queue.size * 4)
    throw invalid(
      path.join(checkpointPath, QUEUE_LABELS),
      `holds ${labelBytes.byteLength} bytes for a queue of ${manifest.queue.size}`,
    );
  const queueLabels = new Int32Array(manifest.queue.size);
  new Uint8Array(queueLabels.buffer).set(labelBytes);
  const queueSources = await readQueueSources(path.join(checkpointPath, QUEUE_SOURCES), manifest.queue.size);
  const stepsDone = typeof manifest.extra?.stepsDone === 'number' ? manifest.extra.stepsDone : manifest.step;
  return {
    path: checkpointPath,
    manifest,
    state: {
      variables,
      queuePointer: manifest.queue.pointer,
      queueLabels,
      ...(queueSources ? { queueSources } : {}),
      stepsDone,
    },
  };
}

/** The queue's image indices, or undefined for a checkpoint written before they were kept. */
async function readQueueSources(file: string, size: number): Promise<Int32Array | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, file, 'checkpoint file');
  }
  if (bytes.byteLength !== size * 4) throw invalid(file, `holds ${bytes.byteLength} bytes for a queue of ${size}`);
  const sources = new Int32Array(size);
  new Uint8Array(sources.buffer).set(bytes);
  return sources;
}

/** Checkpoint folders under `dir`, oldest step first ([] when the folder does not exist). */
export async function listCheckpoints(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError(err, dir, 'folder');
  }
  return names
    .filter((n) => /^step-\d{9}$/.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}

/** Removes all but the newest `keep` checkpoints under `dir`, never `protect`; returns the removed paths. */
export async function pruneCheckpoints(dir: string, keep: number, protect?: string): Promise<string[]> {
  const all = await listCheckpoints(dir);
  const removed: string[] = [];
  for (const p of all.slice(0, Math.max(0, all.length - keep))) {
    if (protect && path.resolve(p) === path.resolve(protect)) continue;
    await fsp.rm(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

/**
 * Rebuilds the model a checkpoint holds (student, teacher, heads, queue), for evaluation or
 * inspection after a run (`isd eval`, neighbour galleries). The caller disposes the step.
 */
export async function restoreTrainingStep(
  checkpointPath: string,
): Promise<{ step: TrainingStep; manifest: CheckpointManifest }> {
  const ck = await readCheckpoint(checkpointPath);
  const options = (ck.manifest.config as { step?: TrainingStepOptions }).step;
  if (!options) throw invalid(path.join(checkpointPath, MANIFEST), 'config.step (the model options) missing');
  const step = createTrainingStep(options);
  try {
    step.loadState(ck.state);
  } catch (err) {
    step.dispose();
    throw invalid(checkpointPath, (err as Error).message);
  }
  return { step, manifest: ck.manifest };
}
