// The speed an estimate trains at, read from completed runs in a real temporary SQLite file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../run-config';
import { openRunStore, type RunStore } from '../store';
import { writeRunReport } from './run-dto';
import { measuredSpeed, SPEED_SIDE } from './run-estimate';

let dir: string;
let store: RunStore;
let clock: number;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-estimate-'));
  clock = 1_700_000_000_000;
  store = openRunStore(path.join(dir, 'runs.sqlite'), { checkpointRoot: path.join(dir, 'ck'), now: () => clock });
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A run completed at `imagesPerSec`; `reportedSide` writes the run report the engine's ready event writes. */
function completed(imagesPerSec: number, over: Partial<RunConfig> = {}, reportedSide?: number): string {
  const checkpointDir = path.join(dir, 'ck', `run-${clock}`);
  const run = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'fashion-mnist', ...over }, { checkpointDir });
  if (reportedSide !== undefined)
    writeRunReport(checkpointDir, {
      classNames: null,
      trainClassCounts: null,
      trainImages: 1024,
      stepsPerEpoch: 8,
      totalSteps: 8,
      imageSize: reportedSide,
      parameters: 1,
      backend: 'wasm',
      device: 'CPU',
    });
  clock += 1000;
  store.updateRun(run.id, { status: 'running', backend: 'wasm', device: 'CPU' });
  clock += 1000;
  store.updateRun(run.id, { status: 'completed', imagesPerSec });
  return run.id;
}

describe('measuredSpeed', () => {
  it('scales a speed measured at 28 px to another side by side^1.5, as measured', () => {
    completed(50, { imageSize: 28 });
    const at16 = measuredSpeed(store, 'wasm', 'resnet20', 16);
    expect(at16.basis).toBe('measured');
    expect(at16.imagesPerSec).toBeCloseTo(50 * (28 / 16) ** 1.5, 9); // ≈ 116 images/s: ×2.32, measured ×2.1–2.9
    expect(measuredSpeed(store, 'wasm', 'resnet20', 32).imagesPerSec).toBeCloseTo(50 * (28 / 32) ** 1.5, 9);
    expect(measuredSpeed(store, 'wasm', 'resnet20', 28)).toEqual({ imagesPerSec: 50, basis: 'measured' });
  });

  it('prefers runs at the same side, reading the side of a dataset-sized run from its run report', () => {
    completed(40, { imageSize: 0 }, 28); // trained at the dataset's 28 px
    completed(60, { imageSize: 28 });
    expect(measuredSpeed(store, 'wasm', 'resnet20', 16).imagesPerSec).toBeCloseTo(50 * (28 / 16) ** 1.5, 9);
    completed(400, { imageSize: 16 });
    // a run measured at 16 px answers for 16 px alone; 28 px still comes from the 28 px runs
    expect(measuredSpeed(store, 'wasm', 'resnet20', 16)).toEqual({ imagesPerSec: 400, basis: 'measured' });
    expect(measuredSpeed(store, 'wasm', 'resnet20', 28).imagesPerSec).toBe(50);
    // other backends and architectures are not this one's measure
    expect(measuredSpeed(store, 'tensorflow', 'resnet20', 16).basis).toBe('assumed');
    expect(measuredSpeed(store, 'wasm', 'resnet18', 16).basis).toBe('assumed');
  });

  it('skips a run whose side is unknown (dataset-sized, no run report)', () => {
    completed(50, { imageSize: 0 });
    expect(measuredSpeed(store, 'wasm', 'resnet20', 28).basis).toBe('assumed');
  });

  it('scales the assumed speed, stated at 28 px, the same way', () => {
    const stated = measuredSpeed(store, 'wasm', 'resnet20', SPEED_SIDE);
    expect(stated).toEqual({ imagesPerSec: 120, basis: 'assumed' });
    const at16 = measuredSpeed(store, 'wasm', 'resnet20', 16);
    expect(at16).toEqual({ imagesPerSec: expect.closeTo(120 * (28 / 16) ** 1.5, 9), basis: 'assumed' });
    expect(measuredSpeed(store, 'wasm', 'resnet18', 16).imagesPerSec).toBeCloseTo(at16.imagesPerSec / 8, 9);
  });
});
