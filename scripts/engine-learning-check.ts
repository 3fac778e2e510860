/**
 * Does the engine learn? Trains ISD (or MoCo) on a slice of the real Fashion-MNIST through the engine
 * worker, exactly as the app does, and prints the student's kNN accuracy at step 0 (random init) and
 * after each epoch, the loss curve by epoch and the speed. Too slow for a unit test on the cpu backend.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/engine-learning-check.js [--method isd|moco]
 *       [--epochs 4] [--train-limit 2048] [--batch 64] [--queue 1024] [--lr 0.05] [--image-size 0]
 *       [--bank 5000] [--test 2000] [--backend wasm|cpu|tensorflow] [--width N] [--seed 0] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BackendName } from '../electron/engine/backend';
import type { EngineEvent } from '../electron/engine/protocol';
import { startEngineRun } from '../electron/engine/run-engine';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../electron/run-config';
import { runMain } from './run-main';

const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      method: { type: 'string', default: 'isd' },
      epochs: { type: 'string', default: '4' },
      'train-limit': { type: 'string', default: '2048' },
      batch: { type: 'string', default: '64' },
      queue: { type: 'string', default: '1024' },
      lr: { type: 'string', default: '0.05' },
      'image-size': { type: 'string', default: '0' },
      bank: { type: 'string', default: '5000' },
      test: { type: 'string', default: '2000' },
      backend: { type: 'string' },
      width: { type: 'string' },
      seed: { type: 'string', default: '0' },
      dataset: { type: 'string', default: FASHION_MNIST },
      json: { type: 'boolean', default: false },
    },
  });
  const log = (s: string) => (values.json ? process.stderr : process.stdout).write(`${s}\n`);
  const config: RunConfig = {
    ...DEFAULT_RUN_CONFIG,
    dataset: values.dataset!,
    method: values.method === 'moco' ? 'moco' : 'isd',
    augTeacher: values.method === 'moco' ? 'strong' : 'weak', // MoCo v2: strong on both branches
    epochs: Number(values.epochs),
    trainLimit: Number(values['train-limit']),
    batchSize: Number(values.batch),
    queueSize: Number(values.queue),
    lr: Number(values.lr),
    imageSize: Number(values['image-size']),
    seed: Number(values.seed),
  };
  const checkpointRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-learning-'));
  const evals: {
    epoch: number;
    step: number;
    knn1: number;
    knn20: number;
    knn20Weighted: number;
    meanLoss: number | null;
    evalSec: number;
  }[] = [];
  const epochLoss: number[] = [];
  let speed = 0;
  let backend = '';
  const t0 = Date.now();
  const run = startEngineRun(
    {
      runId: `learning-${config.method}`,
      config,
      datasetPath: values.dataset!,
      checkpointRoot,
      engine: {
        backend: values.backend as BackendName | undefined,
        baseWidth: values.width ? Number(values.width) : undefined,
        evalBankLimit: Number(values.bank),
        evalTestLimit: Number(values.test),
        progressEvery: 10,
      },
    },
    (e: EngineEvent) => {
      if (e.type === 'ready') {
        backend = `${e.backend.backend} (${e.backend.device}, ${e.backend.threads} thread(s))`;
        log(
          `${config.method} ${config.arch}: ${e.dataset.trainImages} training images, ${e.totalSteps} steps, image ${e.imageSize}, on ${backend}`,
        );
      }
      if (e.type === 'progress') {
        speed = e.imagesPerSec;
        log(
          `  step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} lr ${e.lr.toFixed(4)} purity ${e.purity?.toFixed(3) ?? '-'} ${e.imagesPerSec.toFixed(1)} img/s`,
        );
      }
      if (e.type === 'epochEval') {
        evals.push({
          epoch: e.epoch,
          step: e.step,
          knn1: e.knn1,
          knn20: e.knn20,
          knn20Weighted: e.knn20Weighted,
          meanLoss: e.meanLoss,
          evalSec: e.evalSec,
        });
        if (e.meanLoss !== null) epochLoss.push(e.meanLoss);
        log(
          `epoch ${e.epoch}: kNN-1 ${(100 * e.knn1).toFixed(2)}%  kNN-20 ${(100 * e.knn20).toFixed(2)}%  weighted ${(100 * e.knn20Weighted).toFixed(2)}%  mean loss ${e.meanLoss?.toFixed(4) ?? '-'} (eval ${e.evalSec.toFixed(1)} s)`,
        );
      }
      if (e.type === 'failed') log(`failed: ${e.code} ${e.message}`);
    },
  );
  const outcome = await run.done;
  fs.rmSync(checkpointRoot, { recursive: true, force: true });
  const summary = {
    method: config.method,
    backend,
    status: outcome.status,
    trainImages: config.trainLimit,
    epochs: config.epochs,
    batch: config.batchSize,
    queue: config.queueSize,
    baseline: evals[0] ?? null,
    final: evals[evals.length - 1] ?? null,
    epochMeanLoss: epochLoss,
    trainingSec: outcome.done?.durationSec ?? null,
    wallSec: (Date.now() - t0) / 1000,
    imagesPerSec: speed,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else log(JSON.stringify(summary, null, 1));
  return outcome.status === 'completed' ? 0 : 1;
}

runMain(main);
