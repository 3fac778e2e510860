import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listCheckpoints,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
  type WriteCheckpointInput,
} from './checkpoint';

let tmp: string;

function input(step: number): WriteCheckpointInput {
  return {
    kind: 'periodic',
    runId: 'r1',
    config: { run: { lr: 0.05 } },
    epoch: 1,
    step,
    stepInEpoch: 0,
    rng: { augment: [1, 2, 3, 4], shuffleEpochStart: [5, 6, 7, 4294967295] },
    state: {
      variables: [
        { name: 'a.w', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6.5]) },
        { name: 'b', shape: [1], values: Float32Array.from([-1e-30]) },
      ],
      queuePointer: 2,
      queueLabels: Int32Array.from([3, -1, 7, 2]),
      queueSources: Int32Array.from([41, -1, 9, 0]),
      stepsDone: step,
    },
  };
}

describe('checkpoints', () => {
  beforeAll(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'isd-ckpt-'));
  });
  afterAll(async () => {
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  it('round-trips variables, queue, position and Rng states exactly, leaving no temporary folder', async () => {
    const p = await writeCheckpoint(tmp, input(12));
    expect(path.basename(p)).toBe('step-000000012');
    expect((await fsp.readdir(tmp)).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    const ck = await readCheckpoint(p);
    expect(ck.state.variables.map((v) => [v.name, v.shape, Array.from(v.values)])).toEqual([
      ['a.w', [2, 3], [1, 2, 3, 4, 5, 6.5]],
      ['b', [1], [Math.fround(-1e-30)]],
    ]);
    expect(Array.from(ck.state.queueLabels)).toEqual([3, -1, 7, 2]);
    expect(Array.from(ck.state.queueSources!)).toEqual([41, -1, 9, 0]);
    expect(ck.state.queuePointer).toBe(2);
    expect(ck.manifest.rng.shuffleEpochStart).toEqual([5, 6, 7, 4294967295]);
    expect(ck.manifest).toMatchObject({ epoch: 1, step: 12, stepInEpoch: 0, runId: 'r1', kind: 'periodic' });
  });

  it('reads a checkpoint written before the queue kept image indices: none, so every slot is unknown', async () => {
    const p = await writeCheckpoint(path.join(tmp, 'old'), input(4));
    await fsp.rm(path.join(p, 'queue-sources.bin'));
    const ck = await readCheckpoint(p);
    expect(ck.state.queueSources).toBeUndefined();
    expect(Array.from(ck.state.queueLabels)).toEqual([3, -1, 7, 2]);
    await fsp.writeFile(path.join(p, 'queue-sources.bin'), Buffer.alloc(12));
    await expect(readCheckpoint(p)).rejects.toThrow(
      /queue-sources\.bin: not a usable checkpoint: holds 12 bytes for a queue of 4/,
    );
  });

  it('keeps the newest checkpoints when pruning', async () => {
    const dir = path.join(tmp, 'prune');
    for (const s of [3, 1, 20, 7]) await writeCheckpoint(dir, input(s));
    const removed = await pruneCheckpoints(dir, 2);
    expect(removed.map((p) => path.basename(p))).toEqual(['step-000000001', 'step-000000003']);
    expect((await listCheckpoints(dir)).map((p) => path.basename(p))).toEqual(['step-000000007', 'step-000000020']);
  });

  it('names the file and the reason when a checkpoint is unusable', async () => {
    await expect(readCheckpoint(path.join(tmp, 'nope'))).rejects.toThrow(/manifest\.json: no such checkpoint file/);
    const p = await writeCheckpoint(path.join(tmp, 'bad'), input(5));
    await fsp.writeFile(path.join(p, 'weights.bin'), Buffer.alloc(8));
    await expect(readCheckpoint(p)).rejects.toThrow(
      /weights\.bin: not a usable checkpoint: holds 8 bytes, the manifest describes 28/,
    );
    await fsp.writeFile(path.join(p, 'manifest.json'), '{"format": "other"');
    await expect(readCheckpoint(p)).rejects.toThrow(/manifest\.json: not a usable checkpoint: malformed JSON/);
  });
});
