/**
 * The engine through its worker thread, as the app runs it: dist/electron/engine/worker.js (built by
 * `npx tsc -p tsconfig.node.json`, which `npm test` runs first) on a tiny slice of the real
 * Fashion-MNIST, resnet20 at base width 1 so that the cpu backend keeps this fast.
 */
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../run-config';
import type { BackendName } from './backend';
import type { EngineEvent } from './protocol';
import { startEngineRun, workerScriptPath, type EngineRunRequest } from './run-engine';

const BACKEND = (process.env.ISD_TEST_BACKEND ?? 'cpu') as BackendName;
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

let tmp: string;

function request(runId: string, over: Partial<RunConfig>, extra: Partial<EngineRunRequest> = {}): EngineRunRequest {
  return {
    runId,
    config: {
      ...DEFAULT_RUN_CONFIG,
      dataset: FASHION_MNIST,
      batchSize: 8,
      queueSize: 32,
      imageSize: 16,
      epochs: 1,
      trainLimit: 32,
      ...over,
    },
    datasetPath: FASHION_MNIST,
    checkpointRoot: tmp,
    engine: { backend: BACKEND, baseWidth: 1, evalBankLimit: 100, evalTestLimit: 50, evalBatchSize: 50 },
    ...extra,
  };
}

const progressSteps = (events: EngineEvent[]) => events.flatMap((e) => (e.type === 'progress' ? [e.step] : []));

describe(`engine worker (${BACKEND})`, () => {
  beforeAll(async () => {
    expect(existsSync(workerScriptPath()), 'run npx tsc -p tsconfig.node.json first').toBe(true);
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'isd-worker-'));
  });
  afterAll(async () => {
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('start → ready → baseline eval → progress → eval → final checkpoint → done', async () => {
    const events: EngineEvent[] = [];
    const run = startEngineRun(request('w1', {}), (e) => events.push(e));
    const outcome = await run.done;
    const failed = events.find((e) => e.type === 'failed');
    expect(failed, JSON.stringify(failed)).toBeUndefined();
    expect(outcome.status).toBe('completed');
    const ready = events.find((e) => e.type === 'ready');
    expect(ready).toMatchObject({
      type: 'ready',
      imageSize: 16,
      stepsPerEpoch: 4,
      totalSteps: 4,
      dataset: { shape: [28, 28, 1], trainImages: 32, evalBankImages: 100, evalTestImages: 50 },
    });
    expect(ready?.type === 'ready' && ready.backend.backend).toBe(BACKEND);
    expect(progressSteps(events)).toEqual([1, 2, 3, 4]);
    const evals = events.flatMap((e) => (e.type === 'epochEval' ? [[e.epoch, e.step]] : []));
    expect(evals).toEqual([
      [0, 0],
      [1, 4],
    ]);
    const ck = events.find((e) => e.type === 'checkpoint');
    expect(ck).toMatchObject({ kind: 'final', step: 4, path: path.join(tmp, 'w1', 'step-000000004') });
    expect(outcome.done).toMatchObject({ reason: 'completed', step: 4, epoch: 1 });
    expect(outcome.done?.metrics?.knn20).toBeGreaterThan(0);
    // the order the host relies on: ready first, done last
    expect(events.findIndex((e) => e.type === 'ready')).toBeLessThan(events.findIndex((e) => e.type === 'progress'));
    expect(events[events.length - 1].type).toBe('done');
  });

  it('obeys pause, resume and stop; a new worker resumes the stopped run from its checkpoint', async () => {
    const events: EngineEvent[] = [];
    let progressWhilePaused = -1;
    const run = startEngineRun(request('w2', { trainLimit: 80 }), (e) => {
      events.push(e);
      if (e.type === 'progress' && e.step === 2) run.pause();
      if (e.type === 'status' && e.status === 'paused') {
        const at = progressSteps(events).length;
        setTimeout(() => {
          progressWhilePaused = progressSteps(events).length - at;
          run.resume();
        }, 300);
      }
      if (e.type === 'progress' && e.step === 5) run.stop();
    });
    const first = await run.done;
    expect(first.status).toBe('stopped');
    expect(progressWhilePaused).toBe(0);
    // the stop crosses threads: the worker may finish the step it is in before it sees it
    const stoppedAt = first.done!.step;
    expect(stoppedAt).toBeGreaterThanOrEqual(5);
    expect(stoppedAt).toBeLessThan(10);
    expect(progressSteps(events)).toEqual(Array.from({ length: stoppedAt }, (_, i) => i + 1));
    expect(first.done).toMatchObject({ reason: 'stopped' });
    const stopCk = first.done!.checkpointPath!;
    expect(path.basename(stopCk)).toBe(`step-${String(stoppedAt).padStart(9, '0')}`);
    expect(events.find((e) => e.type === 'checkpoint')).toMatchObject({ kind: 'stop', step: stoppedAt, path: stopCk });

    const more: EngineEvent[] = [];
    const second = await startEngineRun(
      request('w2', { trainLimit: 80 }, { resume: { checkpointPath: stopCk } }),
      (e) => more.push(e),
    ).done;
    expect(second.status).toBe('completed');
    expect(progressSteps(more)).toEqual(Array.from({ length: 10 - stoppedAt }, (_, i) => stoppedAt + i + 1));
    expect(more.find((e) => e.type === 'ready')).toMatchObject({ resumedFrom: stopCk });
  });

  it('a bad config comes back as a failed event naming the field', async () => {
    const events: EngineEvent[] = [];
    const outcome = await startEngineRun(request('w3', { queueSize: 36 }), (e) => events.push(e)).done;
    expect(outcome.status).toBe('failed');
    expect(outcome.failed).toMatchObject({ code: 'BAD_INPUT', field: 'config.queueSize' });
    expect(outcome.failed?.message).toMatch(/multiple of the batch size/);
  });

  it('a worker that dies without finishing becomes a failed event with its exit code', async () => {
    const script = path.join(tmp, 'dies.js');
    await fsp.writeFile(script, 'process.exit(7);\n');
    const events: EngineEvent[] = [];
    const outcome = await startEngineRun(request('w4', {}, { workerPath: script }), (e) => events.push(e)).done;
    expect(outcome).toMatchObject({ status: 'failed', exitCode: 7 });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'failed',
        code: 'INTERNAL',
        message: expect.stringMatching(/exited with code 7/),
      }),
    ]);
  });
});
