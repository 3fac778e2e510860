/**
 * One ISD (or MoCo v2) training step on tensors, the unit the trainer loops and `isd bench` times:
 * EMA update of the teacher from the student (first, as the reference's momentum update), teacher
 * forward (no gradient, training-mode BatchNorm as MoCo/ISD), similarities to the queue before this
 * batch is enqueued, student forward + backward (with the predictor for ISD), loss, SGD with momentum
 * and weight decay, enqueue of the teacher keys. Every variable (student, teacher, heads, BN running
 * statistics, momentum buffers, queue keys) lives in one ParamStore with stable names.
 */
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../errors';
import { Rng } from '../rng';
import { encoderEmbedding, encoderFeatures, encoderSpec, initEncoder, type EncoderSpec } from './models/encoder';
import { type ForwardMode, l2Normalize, ParamScope } from './models/layers';
import { ParamStore } from './models/param-store';
import { ARCHS, type Arch, checkInputSize } from './models/resnet';
import { isdLossFromSimilarities } from './methods/isd';
import { mocoLossFromSimilarities } from './methods/moco';
import { SgdMomentum } from './methods/sgd';
import { shuffleForTeacher, unshuffleFromTeacher } from './methods/shuffle-bn';
import { TeacherQueue } from './methods/teacher-queue';
import { createTeacherFromStudent, emaUpdate, teacherPairs, type TeacherPair } from './methods/teacher-update';

export type Method = 'isd' | 'moco';

export interface TrainingStepOptions {
  method: Method;
  arch: Arch;
  /** [h, w, c] of the tensors step() receives (after augmentation). */
  inputShape: [number, number, number];
  batchSize: number;
  /** K, number of teacher keys in the queue; at least the batch size. */
  queueSize: number;
  /** ISD teacher temperature T_t. */
  tempTeacher: number;
  /** ISD student temperature T_s. */
  tempStudent: number;
  /** MoCo temperature T. */
  temperature: number;
  /** Teacher EMA momentum m. */
  ema: number;
  /** SGD momentum. */
  momentum: number;
  weightDecay: number;
  seed: number;
  /** Overrides the encoder's base width (resnet20: 16, resnet18: 64); smaller only for fast tests. */
  baseWidth?: number;
  /** Width of the embeddings compared with the queue (default 128). */
  embedDim?: number;
  /**
   * BatchNorm in the projection head (ISD+'s head; false: MoCo v2's head, d → d → embedDim without
   * BN). Absent: true, as every model before checkpoint version 2.
   */
  projectionBn?: boolean;
  /**
   * BatchNorm groups of the batch (the reference's GPUs): training-mode statistics over B/G images,
   * in both encoders. With two replicas this is the whole batch's count (each replica holds G/2).
   * Absent: 1 (each replica's batch is one group).
   */
  bnGroups?: number;
  /** Shuffle BN (methods/shuffle-bn.ts): the teacher's batch mixed across the BN groups. Needs bnGroups ≥ 2. */
  shuffleBn?: boolean;
}

export interface StepResult {
  /** Loss of this step (NaN or ±Infinity when it diverged: then nothing was updated). */
  loss: number;
  /** Share of the teacher's top-5 queue neighbours carrying the query's label, when labels were given. */
  purity?: number;
}

/** One replica's share of a data-parallel step (data-parallel.ts), or, from the exchange, the whole batch's. */
export interface ReplicaShare {
  /** Mean loss over the share's images. */
  loss: number;
  /** d loss / d variable for every trainable student variable, in the optimizer's (the store's) order. */
  grads: tf.Tensor[];
  /** Teacher keys to enqueue [b, E], L2-normalised. */
  keys: tf.Tensor2D;
  labels: Int32Array | null;
  /** Index in the dataset's training split of each image behind the keys. */
  sources: Int32Array | null;
  purity?: number;
}

/** Called by a replica between its backward pass and its update; returns the whole batch's share. */
export type ReplicaExchange = (mine: ReplicaShare) => ReplicaShare;

/** What a replica of data-parallel training (data-parallel.ts) shares with the other. */
export interface ReplicaLink {
  rank: 0 | 1;
  replicas: 2;
  exchange: ReplicaExchange;
  /** Teacher keys of this replica's share [b, E] → the whole batch's [2b, E], rank 0's rows first. */
  gatherKeys(mine: tf.Tensor2D): tf.Tensor2D;
}

export interface VariableSnapshot {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Everything a checkpoint needs from the step to continue the same run. */
export interface TrainingStepState {
  variables: VariableSnapshot[];
  queuePointer: number;
  queueLabels: Int32Array;
  /** The queue's training-split image indices; absent in checkpoints written before they were kept. */
  queueSources?: Int32Array;
  stepsDone: number;
}

export interface TrainingStep {
  readonly options: Readonly<TrainingStepOptions>;
  readonly spec: EncoderSpec;
  /** Every variable of the run, in a stable order. */
  readonly params: ParamStore;
  readonly queue: TeacherQueue;
  /** Width of the backbone features (64 for resnet20, 512 for resnet18). */
  readonly featureDim: number;
  /** Steps applied so far (restored from checkpoints). */
  readonly stepsDone: number;
  /**
   * One training step. xStudent, xTeacher [B, h, w, c] float32 (two augmentations of the same B images);
   * labels [B] (optional, for purity and the queue's labels); sources [B] (optional: each image's index
   * in the dataset's training split, kept by the queue). Does not dispose its inputs. Async: it
   * reads the loss with data() (read-back.ts); the caller awaits one step before starting the next.
   */
  step(
    xStudent: tf.Tensor4D,
    xTeacher: tf.Tensor4D,
    lr: number,
    labels?: Int32Array | null,
    sources?: Int32Array | null,
  ): Promise<StepResult>;
  /** Student backbone features [B, featureDim], inference-mode BN, heads dropped (for kNN). Caller disposes. */
  studentEmbed(x: tf.Tensor4D): tf.Tensor2D;
  /** Teacher backbone features [B, featureDim], inference-mode BN. Caller disposes. */
  teacherEmbed(x: tf.Tensor4D): tf.Tensor2D;
  /** Teacher keys as enqueued [B, embedDim], L2-normalised, inference-mode BN. Caller disposes. */
  teacherKeys(x: tf.Tensor4D): tf.Tensor2D;
  readState(): Promise<TrainingStepState>;
  /** Overwrites every variable, the queue and the step count; names and shapes must match exactly. */
  loadState(state: TrainingStepState): void;
  dispose(): void;
}

const INFERENCE: ForwardMode = { training: false };

function badInput(field: string, message: string): IsdError {
  return new IsdError('BAD_INPUT', message, { field });
}

/** `replicas`: how many replicas share the batch (o.batchSize and o.bnGroups are this replica's share). */
function checkOptions(o: TrainingStepOptions, replicas: number): void {
  if (o.method !== 'isd' && o.method !== 'moco')
    throw badInput('method', `unknown method "${String(o.method)}": use isd or moco`);
  if (!ARCHS.includes(o.arch))
    throw badInput('arch', `unknown architecture "${String(o.arch)}": use resnet20 or resnet18`);
  const [h, w] = o.inputShape;
  checkInputSize(h, w);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 2)
    throw badInput(
      'batchSize',
      `batch size must be a whole number ≥ 2 (BatchNorm needs two images), got ${o.batchSize}`,
    );
  if (!Number.isInteger(o.queueSize) || o.queueSize < o.batchSize)
    throw badInput('queueSize', `queue size ${o.queueSize} must be a whole number ≥ the batch size ${o.batchSize}`);
  for (const f of ['tempTeacher', 'tempStudent', 'temperature'] as const) {
    if (!(o[f] > 0) || !Number.isFinite(o[f])) throw badInput(f, `${f} must be greater than 0, got ${o[f]}`);
  }
  if (!(o.ema >= 0 && o.ema < 1)) throw badInput('ema', `ema must be in [0, 1), got ${o.ema}`);
  if (!(o.momentum >= 0 && o.momentum < 1)) throw badInput('momentum', `momentum must be in [0, 1), got ${o.momentum}`);
  if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay))
    throw badInput('weightDecay', `weight decay must be 0 or more, got ${o.weightDecay}`);
  const groups = o.bnGroups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || o.batchSize % groups !== 0 || o.batchSize / groups < 2)
    throw badInput(
      'batchSize',
      `batch size ${o.batchSize} must split into bnGroups ${groups} BatchNorm groups of 2 or more images`,
    );
  if (o.shuffleBn && groups * replicas < 2)
    throw badInput('bnGroups', `Shuffle BN needs 2 or more BatchNorm groups, got bnGroups ${groups * replicas}`);
}

class ContrastiveTrainingStep implements TrainingStep {
  readonly options: Readonly<TrainingStepOptions>;
  readonly spec: EncoderSpec;
  readonly params = new ParamStore();
  readonly queue: TeacherQueue;
  readonly featureDim: number;
  private readonly student: ParamScope;
  private readonly teacher: ParamScope;
  private readonly usePredictor: boolean;
  private readonly sgd: SgdMomentum;
  private readonly pairs: TeacherPair[];
  /** Training-mode forward: BN statistics per group of this replica's batch. */
  private readonly trainingMode: ForwardMode;
  /** BN groups of the whole batch (over every replica): what Shuffle BN mixes. */
  private readonly wholeBatchGroups: number;
  private steps = 0;

  constructor(
    options: TrainingStepOptions,
    private readonly link: ReplicaLink | null = null,
  ) {
    checkOptions(options, link?.replicas ?? 1);
    this.options = { ...options, inputShape: [...options.inputShape] };
    const [, , c] = options.inputShape;
    this.spec = encoderSpec(options.arch, c, {
      baseWidth: options.baseWidth,
      embedDim: options.embedDim,
      projectionBn: options.projectionBn,
    });
    const groups = options.bnGroups ?? 1;
    this.trainingMode = { training: true, bnGroups: groups };
    this.wholeBatchGroups = groups * (link?.replicas ?? 1);
    this.featureDim = this.spec.backbone.featureDim;
    // MoCo v2 has no predictor: q is the student's projection; ISD+ puts the predictor on the student.
    this.usePredictor = options.method === 'isd';
    const rng = new Rng(options.seed);
    const initRng = rng.fork();
    const queueRng = rng.fork();
    try {
      this.student = new ParamScope(this.params, 'student.', true);
      this.teacher = new ParamScope(this.params, 'teacher.', false);
      initEncoder(this.student, this.spec, initRng, this.usePredictor);
      createTeacherFromStudent(this.params);
      this.pairs = teacherPairs(this.params);
      this.sgd = new SgdMomentum(
        this.params,
        this.params.list('student.').filter((e) => e.trainable),
        options.momentum,
        options.weightDecay,
      );
      this.queue = new TeacherQueue(this.params, options.queueSize, this.spec.projection.outDim, queueRng);
    } catch (e) {
      this.params.dispose();
      throw e;
    }
  }

  get stepsDone(): number {
    return this.steps;
  }

  private checkBatch(xs: tf.Tensor4D, xt: tf.Tensor4D, labels?: Int32Array | null, sources?: Int32Array | null): void {
    const [h, w, c] = this.options.inputShape;
    for (const [what, x] of [
      ['student', xs],
      ['teacher', xt],
    ] as const) {
      if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
        throw new Error(`${what} batch has shape [${x.shape}], expected [B, ${h}, ${w}, ${c}]`);
      }
    }
    if (xs.shape[0] !== xt.shape[0])
      throw new Error(`student batch of ${xs.shape[0]} and teacher batch of ${xt.shape[0]} differ`);
    if (xs.shape[0] < 2 || xs.shape[0] > this.queue.size)
      throw new Error(`batch of ${xs.shape[0]} outside 2…${this.queue.size}`);
    if (labels && labels.length !== xs.shape[0])
      throw new Error(`${labels.length} labels for a batch of ${xs.shape[0]}`);
    if (sources && sources.length !== xs.shape[0])
      throw new Error(`${sources.length} image indices for a batch of ${xs.shape[0]}`);
  }

  async step(
    xStudent: tf.Tensor4D,
    xTeacher: tf.Tensor4D,
    lr: number,
    labels?: Int32Array | null,
    sources?: Int32Array | null,
  ): Promise<StepResult> {
    this.checkBatch(xStudent, xTeacher, labels, sources);
    const o = this.options;
    emaUpdate(this.pairs, o.ema);
    const queueKeys = this.queue.keys as tf.Tensor2D; // [K, E], as before this batch
    // The forward and backward passes, kept (not disposed) across the loss read below.
    const { k, simK, value, grads } = tf.tidy(() => {
      // The teacher's activations go before the student's forward and backward start: the step's
      // high-water mark of memory is lower.
      const [keys, simKeys] = tf.tidy(() => {
        const kk = this.teacherKeysInBatchOrder(xTeacher); // [B, E]
        return [kk, tf.matMul(kk, queueKeys, false, true)]; // and simK [B, K]
      }) as [tf.Tensor2D, tf.Tensor2D];
      const vg = tf.variableGrads(() => {
        const q = l2Normalize(
          encoderEmbedding(this.student, this.spec, xStudent, this.trainingMode, this.usePredictor),
        ); // [B, E]
        const simQ = tf.matMul(q, queueKeys, false, true) as tf.Tensor2D; // [B, K]
        if (o.method === 'isd') return isdLossFromSimilarities(simQ, simKeys, o.tempStudent, o.tempTeacher);
        return mocoLossFromSimilarities(tf.sum(tf.mul(q, keys), 1, true) as tf.Tensor2D, simQ, o.temperature);
      }, this.sgd.variables);
      return { k: keys, simK: simKeys, value: vg.value, grads: vg.grads };
    });
    const result: StepResult = { loss: NaN };
    try {
      const vars = this.sgd.variables;
      const loss = (await value.data())[0]; // the step's one read (plus purity's, with labels)
      const purity = labels ? await this.queue.neighbourPurity(simK, labels) : undefined;
      tf.tidy(() => {
        let share: ReplicaShare = {
          loss,
          grads: vars.map((v) => grads[v.name]),
          keys: k,
          labels: labels ?? null,
          sources: sources ?? null,
          purity,
        };
        // every replica exchanges, whatever its own loss, so that none waits for ever
        if (this.link) share = this.link.exchange(share);
        result.loss = share.loss;
        if (Number.isFinite(share.loss)) {
          const combined: tf.NamedTensorMap = {};
          vars.forEach((v, i) => (combined[v.name] = share.grads[i]));
          this.sgd.apply(combined, lr);
          if (share.purity !== undefined) result.purity = share.purity;
          this.queue.enqueue(share.keys, share.labels, share.sources);
          this.steps++;
        }
      });
    } finally {
      tf.dispose([k, simK, value, ...Object.values(grads)]);
    }
    return result;
  }

  /**
   * The teacher's training-mode keys [B, E], L2-normalised, row i for batch image i. With Shuffle BN
   * the teacher ran on its batch mixed across the BN groups (one replica: shuffled here; two: rank 0
   * shuffled the whole batch before splitting it, so the keys of this replica's images were computed
   * partly by the other: gathered, put back in order, and this replica's rows taken).
   */
  private teacherKeysInBatchOrder(xTeacher: tf.Tensor4D): tf.Tensor2D {
    const shuffle = this.options.shuffleBn === true;
    const groups = this.wholeBatchGroups;
    const x = shuffle && !this.link ? shuffleForTeacher(xTeacher, groups) : xTeacher;
    const k = l2Normalize(encoderEmbedding(this.teacher, this.spec, x, this.trainingMode, false)); // [b, E]
    if (!shuffle) return k;
    if (!this.link) return unshuffleFromTeacher(k, groups);
    const b = k.shape[0];
    const whole = unshuffleFromTeacher(this.link.gatherKeys(k), groups); // [2b, E], batch order
    return tf.slice(whole, [this.link.rank * b, 0], [b, -1]);
  }

  studentEmbed(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => encoderFeatures(this.student, this.spec, x, INFERENCE));
  }

  teacherEmbed(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => encoderFeatures(this.teacher, this.spec, x, INFERENCE));
  }

  teacherKeys(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(encoderEmbedding(this.teacher, this.spec, x, INFERENCE, false)));
  }

  async readState(): Promise<TrainingStepState> {
    const variables: VariableSnapshot[] = [];
    for (const e of this.params.list()) {
      const data = (await e.variable.data()) as Float32Array;
      variables.push({ name: e.name, shape: [...e.variable.shape], values: new Float32Array(data) });
    }
    return {
      variables,
      queuePointer: this.queue.pointer,
      queueLabels: new Int32Array(this.queue.labels),
      queueSources: new Int32Array(this.queue.sources),
      stepsDone: this.steps,
    };
  }

  loadState(state: TrainingStepState): void {
    const entries = this.params.list();
    const byName = new Map(state.variables.map((v) => [v.name, v]));
    for (const e of entries) {
      const v = byName.get(e.name);
      if (!v) throw new Error(`checkpoint lacks ${e.name}`);
      if (v.shape.join() !== e.variable.shape.join())
        throw new Error(`checkpoint's ${e.name} has shape [${v.shape}], the model needs [${e.variable.shape}]`);
      if (v.values.length !== e.variable.size)
        throw new Error(`checkpoint's ${e.name} holds ${v.values.length} values, expected ${e.variable.size}`);
    }
    if (state.variables.length !== entries.length) {
      const known = new Set(entries.map((e) => e.name));
      const extra = state.variables.filter((v) => !known.has(v.name)).map((v) => v.name);
      throw new Error(`checkpoint holds variables this model lacks: ${extra.slice(0, 5).join(', ')}`);
    }
    tf.tidy(() => {
      for (const e of entries) {
        const v = byName.get(e.name)!;
        e.variable.assign(tf.tensor(v.values, v.shape, 'float32'));
      }
    });
    this.queue.restore(state.queuePointer, state.queueLabels, state.queueSources);
    this.steps = state.stepsDone;
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** Builds the student, teacher (a copy), heads, optimizer state and queue from the seed; `link` makes it one replica of data-parallel training. */
export function createTrainingStep(options: TrainingStepOptions, link: ReplicaLink | null = null): TrainingStep {
  return new ContrastiveTrainingStep(options, link);
}
