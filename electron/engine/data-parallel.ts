/**
 * Data parallelism over two replicas of the training step, each on its own thread with its own
 * tfjs backend (wasm: one thread each). The calling thread's replica (rank 0) keeps the first half
 * of every batch and sends the second half to a peer worker (rank 1, replica-worker.ts); both run
 * the same step on their half, then swap their shares (loss, gradients, teacher keys, labels) and
 * apply the same averaged gradients and enqueue the same keys in the same order, so their variables
 * stay bitwise equal. Why: on wasm only XNNPACK's convolutions and matmuls use a second thread,
 * while two replicas put every kernel and the engine's JS on both cores.
 *
 * BatchNorm statistics are per half (as MoCo/ISD on several GPUs without SyncBN). The BN running
 * statistics of rank 0 are the ones evaluated and checkpointed; rank 1's never leave its thread.
 *
 * The exchange is synchronous (a MessagePort read with receiveMessageOnPort, woken by Atomics on a
 * shared counter): it runs inside the step's update, after the loss is read, and the peer has nothing
 * else to do. Replicas are a CPU feature (wasm, cpu): the exchange reads gradients with dataSync.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type MessagePort, MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { IsdError } from '../errors';
import { cpuDevice, initBackend, type BackendName, type BackendOptions, type BackendReport } from './backend';
import {
  createTrainingStep,
  type ReplicaLink,
  type ReplicaShare,
  type StepResult,
  type TrainingStep,
  type TrainingStepOptions,
  type TrainingStepState,
  type VariableSnapshot,
} from './training-step';
import { shuffleForTeacher } from './methods/shuffle-bn';

/** How long a replica waits for the other before the step fails (a stuck or dead peer). */
const EXCHANGE_TIMEOUT_MS = 10 * 60_000;
const READY_TIMEOUT_MS = 2 * 60_000;

/**
 * One side of a blocking, ordered message link between two threads: a MessagePort that is never
 * started (messages are taken with receiveMessageOnPort) and a shared Int32Array of two counters,
 * one per receiving rank, bumped by the sender after each post so that the receiver can sleep.
 */
export class SyncEndpoint {
  constructor(
    private readonly port: MessagePort,
    private readonly counters: Int32Array,
    private readonly rank: 0 | 1,
  ) {}

  send(message: unknown): void {
    this.port.postMessage(message);
    const other = 1 - this.rank;
    Atomics.add(this.counters, other, 1);
    Atomics.notify(this.counters, other);
  }

  /** The next message; throws after timeoutMs without one. */
  receive(timeoutMs: number, what: string): unknown {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.counters, this.rank);
      const m = receiveMessageOnPort(this.port);
      if (m) return m.message;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new IsdError(
          'INTERNAL',
          `data-parallel replica ${this.rank}: no ${what} from the other replica within ${Math.round(timeoutMs / 1000)} s`,
        );
      Atomics.wait(this.counters, this.rank, seen, Math.min(left, 1000));
    }
  }

  close(): void {
    this.port.close();
  }
}

/** What crosses between the replicas: plain arrays only. */
interface SharePayload {
  type: 'share';
  loss: number;
  purity: number | null;
  labels: Int32Array | null;
  sources: Int32Array | null;
  keys: Float32Array;
  keyShape: [number, number];
  grads: Float32Array[];
}

interface PeerError {
  type: 'error';
  message: string;
}

function isPeerError(m: unknown): m is PeerError {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'error';
}

function expectMessage<T extends { type: string }>(m: unknown, type: T['type']): T {
  if (isPeerError(m)) throw new IsdError('INTERNAL', `data-parallel peer replica failed: ${m.message}`);
  if (typeof m !== 'object' || m === null || (m as { type?: unknown }).type !== type) {
    throw new IsdError('INTERNAL', `data-parallel replica expected '${type}', got ${JSON.stringify(m)?.slice(0, 100)}`);
  }
  return m as T;
}

/** Two replicas' per-image arrays (labels, image indices) in batch order; null when either lacks them. */
function concatPerImage(a: Int32Array | null, b: Int32Array | null): Int32Array | null {
  if (!a || !b) return null;
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

interface KeysPayload {
  type: 'keys';
  keys: Float32Array;
  keyShape: [number, number];
}

/**
 * What a replica's step calls on the other: `exchange`, between its backward pass and its update,
 * sends this replica's share, receives the other's, and returns the whole batch's (rank 0's rows
 * first). Gradients are averaged in JS on the arrays already read for sending, as (a + b) · 0.5: the
 * same bits on both sides since addition commutes, and one upload per variable instead of three
 * kernels. `gatherKeys`, with Shuffle BN, swaps the teacher keys before the loss (each replica's
 * images went partly through the other's teacher).
 */
export function replicaLink(endpoint: SyncEndpoint, rank: 0 | 1): ReplicaLink {
  const gatherKeys = (mine: tf.Tensor2D): tf.Tensor2D => {
    endpoint.send({ type: 'keys', keys: mine.dataSync() as Float32Array, keyShape: mine.shape } satisfies KeysPayload);
    const theirs = expectMessage<KeysPayload>(endpoint.receive(EXCHANGE_TIMEOUT_MS, 'teacher keys'), 'keys');
    const other = tf.tensor2d(theirs.keys, theirs.keyShape);
    return tf.concat(rank === 0 ? [mine, other] : [other, mine], 0) as tf.Tensor2D;
  };
  const exchange = (mine: ReplicaShare): ReplicaShare => {
    const payload: SharePayload = {
      type: 'share',
      loss: mine.loss,
      purity: mine.purity ?? null,
      labels: mine.labels ? Int32Array.from(mine.labels) : null,
      sources: mine.sources ? Int32Array.from(mine.sources) : null,
      keys: mine.keys.dataSync() as Float32Array,
      keyShape: mine.keys.shape,
      grads: mine.grads.map((g) => g.dataSync() as Float32Array),
    };
    endpoint.send(payload);
    const theirs = expectMessage<SharePayload>(endpoint.receive(EXCHANGE_TIMEOUT_MS, 'gradients'), 'share');
    if (theirs.grads.length !== mine.grads.length || theirs.grads.some((g, i) => g.length !== mine.grads[i].size)) {
      throw new IsdError('INTERNAL', 'data-parallel replicas hold different variables');
    }
    const theirKeys = tf.tensor2d(theirs.keys, theirs.keyShape);
    const [k0, k1] = rank === 0 ? [mine.keys, theirKeys] : [theirKeys, mine.keys];
    const grads = mine.grads.map((own, i) => {
      const [a, b] = [payload.grads[i], theirs.grads[i]];
      const mean = new Float32Array(a.length);
      for (let j = 0; j < a.length; j++) mean[j] = (a[j] + b[j]) * 0.5;
      return tf.tensor(mean, own.shape, 'float32');
    });
    const [first, second] = rank === 0 ? [payload, theirs] : [theirs, payload];
    const purity = first.purity !== null && second.purity !== null ? (first.purity + second.purity) / 2 : undefined;
    return {
      loss: (first.loss + second.loss) / 2,
      grads,
      keys: tf.concat([k0, k1], 0) as tf.Tensor2D,
      labels: concatPerImage(first.labels, second.labels),
      sources: concatPerImage(first.sources, second.sources),
      purity,
    };
  };
  return { rank, replicas: 2, exchange, gatherKeys };
}

/** Commands from rank 0 to the peer, in order on the same link as the shares. */
export type PeerCommand =
  | {
      type: 'step';
      xs: Float32Array;
      xt: Float32Array;
      shape: [number, number, number, number];
      lr: number;
      labels: Int32Array | null;
      sources: Int32Array | null;
    }
  | { type: 'load'; state: TrainingStepState }
  | { type: 'read' }
  | { type: 'dispose' };

/** workerData of replica-worker.js. */
export interface PeerWorkerData {
  options: TrainingStepOptions;
  backend: BackendName;
  port: MessagePort;
  counters: Int32Array;
}

/** Where the compiled peer entry is: beside this file in dist/, or in the project's dist/ from sources (tests). */
function peerScriptPath(): string {
  const candidates = [
    path.join(__dirname, 'replica-worker.js'),
    path.resolve(__dirname, '..', '..', 'dist', 'electron', 'engine', 'replica-worker.js'),
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found)
    throw new IsdError(
      'INTERNAL',
      `the data-parallel replica worker is not built (looked for ${candidates.join(', ')}): run npm run build`,
    );
  return found;
}

export class DataParallelTrainingStep implements TrainingStep {
  private readonly inner: TrainingStep;
  private readonly endpoint: SyncEndpoint;
  private readonly peer: Worker;
  private ready = false;
  private broken: string | null = null;
  /** The options of the whole batch (the replicas' own hold half of it). */
  private readonly whole: TrainingStepOptions;

  /** Call through createEngineTrainingStep, which checks that the batch splits evenly. */
  constructor(options: TrainingStepOptions, backend: BackendName) {
    this.whole = { ...options, inputShape: [...options.inputShape] };
    const half: TrainingStepOptions = {
      ...options,
      batchSize: options.batchSize / 2,
      bnGroups: Math.max(1, (options.bnGroups ?? 1) / 2),
    };
    const channel = new MessageChannel();
    const counters = new Int32Array(new SharedArrayBuffer(8));
    this.endpoint = new SyncEndpoint(channel.port1, counters, 0);
    this.inner = createTrainingStep(half, replicaLink(this.endpoint, 0));
    const data: PeerWorkerData = { options: half, backend, port: channel.port2, counters };
    try {
      this.peer = new Worker(peerScriptPath(), { workerData: data, transferList: [channel.port2] });
    } catch (e) {
      this.inner.dispose();
      throw e;
    }
    this.peer.unref(); // a stuck peer must not keep the process alive
  }

  get options(): Readonly<TrainingStepOptions> {
    return this.whole;
  }
  get spec() {
    return this.inner.spec;
  }
  get params() {
    return this.inner.params;
  }
  get queue() {
    return this.inner.queue;
  }
  get featureDim() {
    return this.inner.featureDim;
  }
  get stepsDone() {
    return this.inner.stepsDone;
  }

  /** Blocks until the peer has built its replica (first use only). */
  private ensureReady(): void {
    if (this.broken) throw new IsdError('INTERNAL', `data-parallel training cannot go on: ${this.broken}`);
    if (this.ready) return;
    try {
      expectMessage(this.endpoint.receive(READY_TIMEOUT_MS, 'ready message'), 'ready');
    } catch (e) {
      this.broken = e instanceof Error ? e.message : String(e);
      throw e;
    }
    this.ready = true;
  }

  async step(
    xStudent: tf.Tensor4D,
    xTeacher: tf.Tensor4D,
    lr: number,
    labels?: Int32Array | null,
    sources?: Int32Array | null,
  ): Promise<StepResult> {
    this.ensureReady();
    const b = xStudent.shape[0];
    if (b % 2 !== 0 || xTeacher.shape[0] !== b)
      throw new Error(`data-parallel step needs an even batch of equal views, got ${b} and ${xTeacher.shape[0]}`);
    const h = b / 2;
    const [xsA, xsB] = tf.split(xStudent, 2, 0) as tf.Tensor4D[];
    // Shuffle BN: the teacher's whole batch mixed across the BN groups, so that half of it crosses over.
    const shuffled = this.whole.shuffleBn ? shuffleForTeacher(xTeacher, this.whole.bnGroups ?? 2) : null;
    const [xtA, xtB] = tf.split(shuffled ?? xTeacher, 2, 0) as tf.Tensor4D[];
    shuffled?.dispose();
    try {
      const command: PeerCommand = {
        type: 'step',
        xs: xsB.dataSync() as Float32Array,
        xt: xtB.dataSync() as Float32Array,
        shape: xsB.shape,
        lr,
        labels: labels ? labels.slice(h) : null,
        sources: sources ? sources.slice(h) : null,
      };
      this.endpoint.send(command); // copied, not transferred: dataSync may hand out the backend's own storage (cpu)
      return await this.inner.step(
        xsA,
        xtA,
        lr,
        labels ? labels.subarray(0, h) : null,
        sources ? sources.subarray(0, h) : null,
      );
    } catch (e) {
      this.broken = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      tf.dispose([xsA, xsB, xtA, xtB]);
    }
  }

  studentEmbed(x: tf.Tensor4D): tf.Tensor2D {
    return this.inner.studentEmbed(x);
  }
  teacherEmbed(x: tf.Tensor4D): tf.Tensor2D {
    return this.inner.teacherEmbed(x);
  }
  teacherKeys(x: tf.Tensor4D): tf.Tensor2D {
    return this.inner.teacherKeys(x);
  }
  readState(): Promise<TrainingStepState> {
    return this.inner.readState();
  }

  loadState(state: TrainingStepState): void {
    this.ensureReady();
    this.inner.loadState(state);
    this.endpoint.send({ type: 'load', state } satisfies PeerCommand);
    expectMessage(this.endpoint.receive(READY_TIMEOUT_MS, 'confirmation of the loaded state'), 'loaded');
  }

  /** The peer's variables as they are now (to check that the replicas agree). */
  peerVariables(): VariableSnapshot[] {
    this.ensureReady();
    this.endpoint.send({ type: 'read' } satisfies PeerCommand);
    return expectMessage<{ type: 'state'; variables: VariableSnapshot[] }>(
      this.endpoint.receive(READY_TIMEOUT_MS, 'variables'),
      'state',
    ).variables;
  }

  dispose(): void {
    try {
      this.endpoint.send({ type: 'dispose' } satisfies PeerCommand);
    } catch {
      // the peer is gone already
    }
    void this.peer.terminate();
    this.endpoint.close();
    this.inner.dispose();
  }
}

/** Throws unless `replicas` is 1, or 2 with an even batch and BN groups that split evenly between them. */
function checkReplicas(replicas: number, batchSize: number, bnGroups = 1): void {
  if (replicas !== 1 && replicas !== 2)
    throw new IsdError('BAD_INPUT', `replicas must be 1 or 2, got ${replicas}`, { field: 'replicas' });
  if (replicas === 2 && batchSize % 2 !== 0)
    throw new IsdError('BAD_INPUT', `batch size ${batchSize} must be even to split it over two replicas`, {
      field: 'batchSize',
    });
  if (replicas === 2 && bnGroups > 1 && bnGroups % 2 !== 0)
    throw new IsdError('BAD_INPUT', `bnGroups ${bnGroups} must be even to split the groups over two replicas`, {
      field: 'bnGroups',
    });
}

/**
 * The training step the engine uses: one replica, or `replicas` = 2 (data parallel over two threads,
 * batch split in halves). The peer starts on `backend` (the one this thread runs).
 */
export function createEngineTrainingStep(
  options: TrainingStepOptions,
  replicas: number,
  backend: BackendName,
): TrainingStep {
  checkReplicas(replicas, options.batchSize, options.bnGroups);
  return replicas === 1 ? createTrainingStep(options) : new DataParallelTrainingStep(options, backend);
}

/**
 * Replicas a run trains with: the requested number, else ISD_REPLICAS, else 2 where the machine has
 * two or more cores and the batch and its BN groups split evenly. (tensorflow and webgpu always get 1: their kernels
 * use every core or the GPU themselves; initTrainingBackend decides that once the backend is known.)
 */
export function plannedReplicas(requested: number | undefined, cores: number, batchSize: number, bnGroups = 1): number {
  const env = process.env.ISD_REPLICAS?.trim();
  if (requested === undefined && env) {
    const n = Number(env);
    if (n !== 1 && n !== 2)
      throw new IsdError('BAD_INPUT', `ISD_REPLICAS: '${env}' must be 1 or 2`, { field: 'ISD_REPLICAS' });
    requested = n;
  }
  if (requested !== undefined) {
    checkReplicas(requested, batchSize, bnGroups);
    return requested;
  }
  return cores >= 2 && batchSize % 2 === 0 && (bnGroups === 1 || bnGroups % 2 === 0) ? 2 : 1;
}

/**
 * Starts the backend a training run (or the benchmark) uses and says with how many replicas: two
 * replicas get one wasm thread each, so that every kernel, not only XNNPACK's, runs on both cores.
 * The report's device names the replicas.
 */
export async function initTrainingBackend(
  opts: BackendOptions & { replicas?: number },
  batchSize: number,
  bnGroups = 1,
): Promise<{ backend: BackendReport; replicas: number }> {
  const planned = plannedReplicas(opts.replicas, os.cpus().length, batchSize, bnGroups);
  const started = await initBackend({ prefer: opts.prefer, threads: opts.threads ?? (planned > 1 ? 1 : undefined) });
  return describeTraining(started, planned, started.threads);
}

/**
 * What a run with an even batch trains on, worded as initTrainingBackend words it (system.info's probe),
 * while this thread's backend keeps its own threads for the analysis it does.
 */
export async function probeTrainingBackend(prefer?: BackendName): Promise<BackendReport> {
  const started = await initBackend({ prefer });
  const planned = plannedReplicas(undefined, os.cpus().length, 2);
  return describeTraining(started, planned, planned > 1 ? 1 : started.threads).backend;
}

/** The one wording of a run's device: with replicas, "…, 1 thread × 2 replicas (data parallel)". */
function describeTraining(
  started: BackendReport,
  planned: number,
  threadsPerReplica: number,
): { backend: BackendReport; replicas: number } {
  // replicas are a CPU feature: a GPU backend runs the whole batch on its device
  const replicas = started.backend === 'tensorflow' || started.backend === 'webgpu' ? 1 : planned;
  if (replicas === 1) return { backend: started, replicas };
  const device = `${cpuDevice(threadsPerReplica)} × ${replicas} replicas (data parallel)`;
  return { backend: { ...started, threads: threadsPerReplica, device }, replicas };
}
