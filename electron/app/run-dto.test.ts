// canResume on real SQLite rows and real checkpoint folders: a run is offered Resume when there is
// something to resume from (a checkpoint on disk) or when it never started (resuming starts it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { openRunStore, type RunStore } from '../store';
import { toRunDetail } from './run-dto';

let dir: string;
let store: RunStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-run-dto-'));
  store = openRunStore(path.join(dir, 'history.db'));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A run of this process: queued, then claimed (started) when `start`. */
function run(start: boolean): string {
  const { id } = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'sample' }, { status: 'queued' });
  if (start) expect(store.claimRun(id)).toEqual({ claimed: true });
  return id;
}
const canResume = (id: string) => toRunDetail(store, id, undefined).canResume;

describe('canResume', () => {
  it('is false for a stopped or failed run that started but has no checkpoint to resume from', () => {
    const failedAtStart = run(true);
    store.updateRun(failedAtStart, { status: 'failed', error: 'DATASET_INVALID: gone' });
    expect(canResume(failedAtStart)).toBe(false);
    const stoppedAtStart = run(true);
    store.updateRun(stoppedAtStart, { status: 'stopped' });
    expect(canResume(stoppedAtStart)).toBe(false);
    const failedLater = run(true);
    store.updateRun(failedLater, { status: 'failed', stepsDone: 12, error: 'DIVERGED: loss is NaN' });
    expect(canResume(failedLater)).toBe(false);
  });

  it('is true with a checkpoint folder on disk, and false once that folder is gone', () => {
    const id = run(true);
    const ck = path.join(dir, 'runs', id, 'step-000000008');
    fs.mkdirSync(ck, { recursive: true });
    store.addCheckpoint(id, { epoch: 0, step: 8, path: ck, kind: 'stop' });
    store.updateRun(id, { status: 'stopped', stepsDone: 8 });
    expect(canResume(id)).toBe(true);
    fs.rmSync(ck, { recursive: true });
    expect(canResume(id)).toBe(false);
  });

  it('is true for a run taken out of the queue before it started (resuming starts it), false once completed', () => {
    const waiting = run(false);
    store.updateRun(waiting, { status: 'stopped' });
    expect(store.getRunRecord(waiting).startedAt).toBeNull();
    expect(canResume(waiting)).toBe(true);
    const done = run(true);
    store.updateRun(done, { status: 'completed' });
    expect(canResume(done)).toBe(false);
  });
});
