/**
 * The main thread's side of analysis-worker.ts: starts the worker on first use, matches answers to
 * requests, and ends the worker after a quiet minute (it holds a model and a dataset in memory).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { IsdError } from '../errors';
import type { AnalysisRequest, AnalysisResponse } from './analysis-worker';
import type { TaskProgress } from './encoder-tasks';
import { appRoot } from './paths';

/** Beside this file in dist/, or in the project's dist/ when running from sources (tests). */
export function analysisWorkerPath(): string {
  const candidates = [
    path.join(__dirname, 'analysis-worker.js'),
    path.join(appRoot(__dirname), 'dist', 'electron', 'app', 'analysis-worker.js'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new IsdError(
      'INTERNAL',
      `analysis worker not found (looked for ${candidates.join(', ')}): build it with npx tsc -p tsconfig.node.json`,
    );
  return found;
}

type RequestBody = AnalysisRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class AnalysisClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void; onProgress?: (p: TaskProgress) => void }
  >();
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleMs: number;

  constructor(opts: { idleMs?: number } = {}) {
    this.idleMs = opts.idleMs ?? 60_000;
  }

  private start(): Worker {
    const w = new Worker(analysisWorkerPath());
    w.unref(); // never keeps the process alive by itself
    w.on('message', (m: AnalysisResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('progress' in m) return p.onProgress?.(m.progress);
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new IsdError(m.error.code, m.error.message, { field: m.error.field, path: m.error.path }));
      this.armIdle();
    });
    const fail = (why: string) => {
      if (this.worker === w) this.worker = null;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new IsdError('INTERNAL', `the analysis worker stopped: ${why}`));
      }
    };
    w.on('error', (err) => fail(err.message));
    w.on('exit', (code) => fail(`exit code ${code}`));
    return w;
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.pending.size > 0) return;
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  /** Sends one request; `onProgress` hears a long task's progress, `signal` stops it at its next batch. */
  request<T>(
    body: RequestBody,
    opts: { onProgress?: (p: TaskProgress) => void; signal?: AbortSignal } = {},
  ): Promise<T> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.worker ??= this.start();
    const id = this.nextId++;
    const w = this.worker;
    const stop = () => w.postMessage({ type: 'stop', target: id, id: this.nextId++ } satisfies AnalysisRequest);
    opts.signal?.addEventListener('abort', stop, { once: true });
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: opts.onProgress });
      w.postMessage({ ...body, id });
    }).finally(() => opts.signal?.removeEventListener('abort', stop));
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
