import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../run-config';
import { openRunStore, type RunStore } from '../store';
import { exportMetricsCsv, exportRunJson } from './run-export';

let dir: string;
let store: RunStore;
let clock: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-export-'));
  clock = 1_700_000_000_000;
  store = openRunStore(path.join(dir, 'runs.sqlite'), { now: () => clock });
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const config = (over: Partial<RunConfig> = {}): RunConfig => ({
  ...DEFAULT_RUN_CONFIG,
  dataset: 'fashion-mnist',
  ...over,
});

function caught(fn: () => unknown): IsdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IsdError) return err;
    throw err;
  }
  throw new Error('expected an IsdError, nothing was thrown');
}

describe('exports', () => {
  it('exports a run as JSON with its metrics as columns', () => {
    const run = store.createRun(config({ seed: 3 }), { status: 'running' });
    store.appendStepMetrics(
      run.id,
      [1, 2, 3].map((step) => ({ step, epoch: 0, loss: 1 / step, lr: 0.05, time: step })),
    );
    store.addEpochEval(run.id, { epoch: 0, step: 3, knn1: 0.1, knn20: 0.2 });
    const data = JSON.parse(exportRunJson(store, run.id));
    expect(data.format).toBe('isd-studio-run');
    expect(data.exportedAt).toBe(clock);
    expect(data.config.seed).toBe(3);
    expect(data.run.id).toBe(run.id);
    expect(data.run.config).toBeUndefined();
    expect(data.stepMetrics.step).toEqual([1, 2, 3]);
    expect(data.stepMetrics.lr).toEqual([0.05, 0.05, 0.05]);
    expect(data.evals).toHaveLength(1);
  });

  it('exports metrics as CSV with proper quoting', () => {
    const run = store.createRun(config(), { status: 'running', name: 'ISD, "sharp" teacher' });
    store.appendStepMetrics(run.id, [
      { step: 1, epoch: 0, loss: 1.5, lr: 0.05, time: 10 },
      { step: 2, epoch: 0, loss: null, lr: 1e-7, purity: 0.25, imagesPerSec: 99.5, time: 20 },
    ]);
    store.addEpochEval(run.id, { epoch: 1, step: 2, knn1: 0.5, knn20: 0.55, perClass: [0.5, 0.6] });
    const name = '"ISD, ""sharp"" teacher"';
    expect(exportMetricsCsv(store, run.id)).toBe(
      'run_id,run_name,step,epoch,loss,lr,purity,images_per_sec,time\r\n' +
        `${run.id},${name},1,0,1.5,0.05,,,10\r\n` +
        `${run.id},${name},2,0,,1e-7,0.25,99.5,20\r\n`,
    );
    const evals = exportMetricsCsv(store, run.id, 'evals').split('\r\n');
    expect(evals[0]).toBe(
      'run_id,run_name,epoch,step,knn1,knn20,knn20_weighted,linear,purity,frequent_acc,rare_acc,per_class,time',
    );
    expect(evals[1]).toBe(`${run.id},${name},1,2,0.5,0.55,,,,,,"[0.5,0.6]",${clock}`);
    expect(caught(() => exportMetricsCsv(store, 'ghost')).code).toBe('NOT_FOUND');
  });
});
