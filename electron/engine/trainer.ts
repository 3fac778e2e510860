/**
 * The training loop: epochs over the (already drawn) training images in a seeded shuffled order,
 * two augmentations per batch, one TrainingStep per batch, the learning-rate schedule, kNN evaluation
 * (step 0, every evalEvery epochs, at the end), checkpoints (every checkpointEvery epochs, at stop,
 * at the end), divergence detection, and pause/resume/stop obeyed at step boundaries. Everything a
 * resumed run needs (variables, queue, position, every Rng state) goes into the checkpoints, so a run
 * stopped and resumed follows the same batches, augmentations and loss curve as one left alone.
 * Events go out through a callback; the worker forwards them to the main thread.
 */
import * as tf from '@tensorflow/tfjs';
import { asIsdError, IsdError } from '../errors';
import { Rng, type RngState } from '../rng';
import { trainedSide, type RunConfig } from '../run-config';
import { augmentBatch, computeChannelStats, REFERENCE_IMAGE_SIDE } from './augment';
import type { BackendName } from './backend';
import { pruneCheckpoints, readCheckpoint, writeCheckpoint } from './checkpoint';
import type { RunPhase } from '../contract';
import { gpuFailure } from './webgpu';
import type { CheckpointKind, EngineOptions, EngineStatus, EpochEvalEvent, TrainerEvent } from './protocol';
import { checkResumable, type CheckpointedRun } from './resume-check';
import type { EvaluationSets, ImageSet } from './run-data';
import { evaluateEncoder, knnOnly, pixelBaseline } from './run-evaluation';
import { learningRateAt } from './schedule';
import { createEngineTrainingStep } from './data-parallel';
import type { TrainingStep, TrainingStepOptions } from './training-step';

export interface TrainerOptions {
  runId: string;
  config: RunConfig;
  /** The images trained on, after the imbalance draw and trainLimit; labels only feed purity. */
  train: ImageSet;
  /** Absent or null: no kNN evaluation (unlabeled data). */
  evaluation?: EvaluationSets | null;
  /** This run's checkpoint folder (one sub-folder per checkpoint). */
  checkpointDir: string;
  /** A checkpoint folder of this same run to continue from. */
  resumeFrom?: string | null;
  engine?: Pick<EngineOptions, 'baseWidth' | 'replicas' | 'keepCheckpoints' | 'evalBatchSize' | 'progressEvery'>;
  onEvent: (event: TrainerEvent) => void;
}

export interface TrainerResult {
  status: 'completed' | 'stopped' | 'failed';
  epoch: number;
  step: number;
  checkpointPath: string | null;
  /** Loss of every step run in this session, in order. */
  losses: number[];
  evals: EpochEvalEvent[];
  error?: { code: string; message: string };
}

const DEFAULT_KEEP_CHECKPOINTS = 2;
const DEFAULT_EVAL_BATCH = 256;
/** Salt for the trainer's Rng stream, apart from the model initialisation's (same seed). */
const TRAINER_SEED_SALT = 0x5bd1e995;

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Trainer {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly imageSize: number;
  /** Factor on the strong view's blur σ (RunConfig.blur). */
  private readonly blurScale: number;
  readonly trainingStep: TrainingStep;
  private readonly opts: TrainerOptions;
  private readonly cfg: RunConfig;
  private readonly norm: { mean: number[]; std: number[] };
  private readonly shuffleRng: Rng;
  private readonly augmentRng: Rng;
  private epochShuffleState: RngState;
  private epoch = 0;
  private step = 0;
  private stepInEpoch = 0;
  private epochLoss = { sum: 0, count: 0 };
  private epochPurity = { sum: 0, count: 0 };
  private lastEval: EpochEvalEvent | null = null;
  private lastCheckpoint: string | null = null;
  private state: EngineStatus = 'loading';
  private pauseRequested = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private activeMs = 0;
  private speed = 0; // smoothed images/s
  private evalSecPerImage: number | null = null; // measured on this run's last kNN evaluation
  private phaseSentAt = 0;
  private readonly losses: number[] = [];
  private readonly evals: EpochEvalEvent[] = [];
  private used = false;

  constructor(opts: TrainerOptions) {
    this.opts = opts;
    this.cfg = opts.config;
    const { train } = opts;
    const { batchSize } = this.cfg;
    if (train.images.length !== train.count * train.h * train.w * train.c) {
      throw new IsdError(
        'BAD_INPUT',
        `training images: ${train.images.length} bytes for ${train.count} images of ${train.h}×${train.w}×${train.c}`,
        { field: 'train' },
      );
    }
    if (train.count < batchSize) {
      throw new IsdError(
        'BAD_INPUT',
        `batch size ${batchSize} is larger than the ${train.count} training images (after the imbalance draw and train limit)`,
        {
          field: 'batchSize',
        },
      );
    }
    this.stepsPerEpoch = Math.floor(train.count / batchSize); // the last partial batch is dropped
    this.totalSteps = this.stepsPerEpoch * this.cfg.epochs;
    this.imageSize = trainedSide(this.cfg.imageSize, { height: train.h, width: train.w });
    this.blurScale = { pixels: 1, relative: this.imageSize / REFERENCE_IMAGE_SIDE, off: 0 }[this.cfg.blur];
    this.norm = computeChannelStats(train.images, train.c);
    const root = new Rng((this.cfg.seed ^ TRAINER_SEED_SALT) >>> 0);
    this.shuffleRng = root.fork();
    this.augmentRng = root.fork();
    this.epochShuffleState = this.shuffleRng.getState();
    this.trainingStep = createEngineTrainingStep(
      this.stepOptions(),
      opts.engine?.replicas ?? 1,
      tf.getBackend() as BackendName,
    );
  }

  get status(): EngineStatus {
    return this.state;
  }

  /** Trainable values of the student (backbone and heads). */
  get parameterCount(): number {
    return this.trainingStep.params.list('student.').reduce((n, e) => n + (e.trainable ? e.variable.size : 0), 0);
  }

  stepOptions(): TrainingStepOptions {
    const c = this.cfg;
    return {
      method: c.method,
      arch: c.arch,
      inputShape: [this.imageSize, this.imageSize, this.opts.train.c],
      batchSize: c.batchSize,
      queueSize: c.queueSize,
      tempTeacher: c.tempTeacher,
      tempStudent: c.tempStudent,
      temperature: c.temperature,
      ema: c.ema,
      momentum: c.momentum,
      weightDecay: c.weightDecay,
      seed: c.seed,
      baseWidth: this.opts.engine?.baseWidth,
      projectionBn: c.projectionBn,
      bnGroups: c.bnGroups,
      shuffleBn: c.shuffleBn,
    };
  }

  /** Takes effect at the next step boundary. */
  pause(): void {
    if (this.state === 'completed' || this.state === 'stopped' || this.state === 'failed') return;
    this.pauseRequested = true;
  }

  resume(): void {
    this.pauseRequested = false;
    this.wake?.();
  }

  /** Takes effect at the next step boundary (also while paused): a checkpoint, then done('stopped'). */
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  private emit(e: TrainerEvent): void {
    this.opts.onEvent(e);
  }

  private setStatus(s: EngineStatus): void {
    if (this.state === s) return;
    this.state = s;
    this.emit({ type: 'status', status: s });
  }

  /** Yields to the event loop (control messages get in), then honours pause and stop. */
  private async boundary(): Promise<'go' | 'stop'> {
    await nextMacrotask();
    if (this.stopRequested) return 'stop';
    if (this.pauseRequested) {
      this.setStatus('paused');
      while (this.pauseRequested && !this.stopRequested) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
      if (this.stopRequested) return 'stop';
      this.setStatus('running');
    }
    return 'go';
  }

  /** Runs (or continues) the training to its end, a stop, or a failure; never rejects. */
  async run(): Promise<TrainerResult> {
    if (this.used) throw new Error('a Trainer runs once');
    this.used = true;
    try {
      return await this.train();
    } catch (err) {
      const e = asIsdError(err);
      this.setStatus('failed');
      this.emit({
        type: 'failed',
        code: e.code,
        message: e.message,
        field: e.field,
        path: e.path,
        step: this.step,
        lastCheckpoint: this.lastCheckpoint,
      });
      return this.result('failed', { code: e.code, message: e.message });
    } finally {
      this.trainingStep.dispose();
    }
  }

  private result(status: TrainerResult['status'], error?: TrainerResult['error']): TrainerResult {
    return {
      status,
      epoch: this.epoch,
      step: this.step,
      checkpointPath: this.lastCheckpoint,
      losses: this.losses,
      evals: this.evals,
      error,
    };
  }

  private async train(): Promise<TrainerResult> {
    const { train } = this.opts;
    const cfg = this.cfg;
    const ts = this.trainingStep;
    if (this.opts.resumeFrom) {
      await this.restore(this.opts.resumeFrom);
    } else {
      this.setStatus('running');
      await this.evaluate('baseline', false); // the random-init encoder, step 0
      if (this.opts.evaluation && this.lastEval) this.emit(await pixelBaseline(this.opts.evaluation, this.lastEval)); // once per run, on its first session
    }
    this.setStatus('running');
    this.phase('training', this.step, this.totalSteps, true);
    const src = { h: train.h, w: train.w, c: train.c };
    const B = cfg.batchSize;
    const progressEvery = Math.max(1, this.opts.engine?.progressEvery ?? 1);
    const idx = new Int32Array(B);
    const labels = train.labels ? new Int32Array(B) : null;
    const sources = new Int32Array(B); // each image's index in the dataset's training split, for the queue
    const view = (strength: RunConfig['augStudent']) =>
      augmentBatch(
        train.images,
        idx,
        src,
        { size: this.imageSize, strength, blurScale: this.blurScale, ...this.norm },
        this.augmentRng,
      );
    while (this.epoch < cfg.epochs) {
      this.epochShuffleState = this.shuffleRng.getState();
      const order = this.shuffleRng.shuffle(Int32Array.from({ length: train.count }, (_, i) => i));
      for (let s = this.stepInEpoch; s < this.stepsPerEpoch; s++) {
        if ((await this.boundary()) === 'stop') return this.finishStopped();
        const t0 = performance.now();
        idx.set(order.subarray(s * B, (s + 1) * B));
        if (labels && train.labels) for (let i = 0; i < B; i++) labels[i] = train.labels[idx[i]];
        for (let i = 0; i < B; i++) sources[i] = train.sources ? train.sources[idx[i]] : idx[i];
        const lr = learningRateAt(this.step, {
          lr: cfg.lr,
          schedule: cfg.schedule,
          epochs: cfg.epochs,
          warmupEpochs: cfg.warmupEpochs,
          stepsPerEpoch: this.stepsPerEpoch,
        });
        let xs: tf.Tensor4D | null = null;
        let xt: tf.Tensor4D | null = null;
        let result;
        try {
          xs = view(cfg.augStudent);
          xt = view(cfg.augTeacher);
          result = await ts.step(xs, xt, lr, labels, sources);
        } catch (err) {
          throw gpuFailure(this.step + 1, B) ?? err; // a lost device rejects its reads with no message
        } finally {
          xs?.dispose();
          xt?.dispose();
        }
        const gpu = gpuFailure(this.step + 1, B); // out of memory leaves the step's results unusable
        if (gpu) throw gpu;
        if (!Number.isFinite(result.loss)) {
          const message = `diverged at step ${this.step + 1}`;
          this.setStatus('failed');
          this.emit({
            type: 'failed',
            code: 'DIVERGED',
            message,
            step: this.step,
            lastCheckpoint: this.lastCheckpoint,
          });
          return this.result('failed', { code: 'DIVERGED', message });
        }
        const dt = performance.now() - t0;
        this.activeMs += dt;
        const instant = (B * 1000) / Math.max(dt, 1e-3);
        this.speed = this.speed === 0 ? instant : 0.9 * this.speed + 0.1 * instant;
        this.step++;
        this.stepInEpoch = s + 1;
        this.losses.push(result.loss);
        this.epochLoss.sum += result.loss;
        this.epochLoss.count++;
        if (result.purity !== undefined) {
          this.epochPurity.sum += result.purity;
          this.epochPurity.count++;
        }
        if (this.step % progressEvery === 0 || s === 0 || this.step === this.totalSteps) {
          this.emit({
            type: 'progress',
            step: this.step,
            totalSteps: this.totalSteps,
            epoch: this.epoch + 1,
            epochFraction: this.stepInEpoch / this.stepsPerEpoch,
            loss: result.loss,
            lr,
            ...(result.purity !== undefined ? { purity: result.purity } : {}),
            imagesPerSec: this.speed,
            etaSec: ((this.totalSteps - this.step) * B) / this.speed + this.evaluationSecondsLeft(),
          });
        }
      }
      this.epoch++;
      this.stepInEpoch = 0;
      const last = this.epoch === cfg.epochs;
      if (last || this.epoch % cfg.evalEvery === 0) {
        await this.evaluate(last ? 'final' : 'evaluating', last && cfg.linearEval);
        if (!last) this.phase('training', this.step, this.totalSteps, true);
      }
      this.epochLoss = { sum: 0, count: 0 };
      this.epochPurity = { sum: 0, count: 0 };
      if (last || this.epoch % cfg.checkpointEvery === 0) await this.checkpoint(last ? 'final' : 'periodic');
    }
    this.setStatus('completed');
    this.emit(this.doneEvent('completed'));
    return this.result('completed');
  }

  private async finishStopped(): Promise<TrainerResult> {
    this.setStatus('stopping');
    await this.checkpoint('stop');
    this.setStatus('stopped');
    this.emit(this.doneEvent('stopped'));
    return this.result('stopped');
  }

  private doneEvent(reason: 'completed' | 'stopped'): TrainerEvent {
    const ev = this.lastEval;
    const metrics = ev
      ? {
          ...knnOnly(ev),
          ...(ev.linear !== undefined ? { linear: ev.linear } : {}),
          ...(ev.rare ? { rare: ev.rare } : {}),
          ...(ev.frequent ? { frequent: ev.frequent } : {}),
        }
      : null;
    return {
      type: 'done',
      reason,
      epoch: this.epoch,
      step: this.step,
      totalSteps: this.totalSteps,
      loss: this.losses.length ? this.losses[this.losses.length - 1] : null,
      metrics,
      checkpointPath: this.lastCheckpoint,
      durationSec: this.activeMs / 1000,
    };
  }

  /** Tells main the phase (at its start, then at most 4 times a second). */
  private phase(phase: RunPhase, done: number, total: number, force = false): void {
    const now = performance.now();
    if (!force && now - this.phaseSentAt < 250) return;
    this.phaseSentAt = now;
    this.emit({ type: 'phase', phase, done, total });
  }

  /** Seconds of kNN evaluation still to come after this step, at the rate this run measured (0 before one). */
  private evaluationSecondsLeft(): number {
    const ev = this.opts.evaluation;
    if (!ev || this.evalSecPerImage === null) return 0;
    let left = 0;
    for (let e = this.epoch + 1; e <= this.cfg.epochs; e++)
      if (e % this.cfg.evalEvery === 0 || e === this.cfg.epochs) left++;
    return left * (ev.bank.count + ev.test.count) * this.evalSecPerImage;
  }

  /** kNN (and optionally the linear probe) on the student's backbone features; skipped without evaluation sets. */
  private async evaluate(phase: 'baseline' | 'evaluating' | 'final', withLinear: boolean): Promise<void> {
    const ev = this.opts.evaluation;
    if (!ev) return;
    this.setStatus('evaluating');
    const t0 = performance.now();
    const ts = this.trainingStep;
    const { metrics, knnSecPerImage } = await evaluateEncoder(ev, phase, {
      embed: (x) => ts.studentEmbed(x),
      featureDim: ts.featureDim,
      view: { size: this.imageSize, ...this.norm, batchSize: this.opts.engine?.evalBatchSize ?? DEFAULT_EVAL_BATCH },
      seed: this.cfg.seed,
      withLinear,
      onPhase: (p, done, total, force) => this.phase(p, done, total, force),
    });
    this.evalSecPerImage = knnSecPerImage;
    const event: EpochEvalEvent = {
      type: 'epochEval',
      epoch: this.epoch,
      step: this.step,
      ...metrics,
      meanLoss: this.epochLoss.count ? this.epochLoss.sum / this.epochLoss.count : null,
      meanPurity: this.epochPurity.count ? this.epochPurity.sum / this.epochPurity.count : null,
      evalSec: (performance.now() - t0) / 1000,
    };
    this.lastEval = event;
    this.evals.push(event);
    this.emit(event);
    this.setStatus('running');
  }

  /** What a checkpoint records about the run, compared on resume. */
  private checkpointConfig(): CheckpointedRun {
    return { run: this.cfg, step: this.stepOptions(), trainImages: this.opts.train.count, imageSize: this.imageSize };
  }

  private async checkpoint(kind: CheckpointKind): Promise<void> {
    const state = await this.trainingStep.readState();
    const shuffleEpochStart = this.stepInEpoch === 0 ? this.shuffleRng.getState() : this.epochShuffleState;
    const p = await writeCheckpoint(this.opts.checkpointDir, {
      kind,
      runId: this.opts.runId,
      config: { ...this.checkpointConfig() },
      epoch: this.epoch,
      step: this.step,
      stepInEpoch: this.stepInEpoch,
      rng: { shuffleEpochStart, augment: this.augmentRng.getState() },
      state,
      extra: { epochLoss: this.epochLoss, epochPurity: this.epochPurity, lastEval: this.lastEval },
    });
    this.lastCheckpoint = p;
    const keep = Math.max(1, this.opts.engine?.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS);
    const pruned = await pruneCheckpoints(this.opts.checkpointDir, keep, p);
    this.emit({ type: 'checkpoint', epoch: this.epoch, step: this.step, path: p, kind, pruned });
  }

  private async restore(checkpointPath: string): Promise<void> {
    const ck = await readCheckpoint(checkpointPath);
    const m = ck.manifest;
    checkResumable(m, this.opts.runId, this.checkpointConfig(), checkpointPath);
    try {
      this.trainingStep.loadState(ck.state);
    } catch (err) {
      throw new IsdError('BAD_INPUT', `${checkpointPath}: ${(err as Error).message}`, {
        path: checkpointPath,
        field: 'resume',
        cause: err,
      });
    }
    this.epoch = m.epoch;
    this.step = m.step;
    this.stepInEpoch = m.stepInEpoch;
    this.shuffleRng.setState(m.rng.shuffleEpochStart);
    this.augmentRng.setState(m.rng.augment);
    const extra = m.extra as {
      epochLoss?: { sum: number; count: number };
      epochPurity?: { sum: number; count: number };
      lastEval?: EpochEvalEvent | null;
    };
    if (extra.epochLoss) this.epochLoss = { ...extra.epochLoss };
    if (extra.epochPurity) this.epochPurity = { ...extra.epochPurity };
    this.lastEval = extra.lastEval ?? null;
    this.lastCheckpoint = checkpointPath;
  }
}
