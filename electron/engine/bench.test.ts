import { describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { runBenchmark } from './bench';

describe('runBenchmark', () => {
  it('times the real training step and reports speed, shares and flat memory', async () => {
    const r = await runBenchmark({ steps: 3, warmup: 1, batch: 16, size: 16, queue: 64, backend: 'wasm', threads: 2 });
    expect(r).toMatchObject({
      backend: 'wasm',
      arch: 'resnet20',
      method: 'isd',
      batch: 16,
      size: 16,
      channels: 1,
      queue: 64,
      steps: 3,
      threads: 2,
    });
    expect(r.stepMs).toHaveLength(3);
    expect(r.imagesPerSec).toBeGreaterThan(0);
    expect(r.bestImagesPerSec).toBeGreaterThanOrEqual(r.imagesPerSec * 0.999);
    expect(r.numTensorsStable).toBe(true);
    expect(r.peakRssMB).toBeGreaterThan(10);
    const s = r.shares!;
    for (const v of Object.values(s)) expect(v).toBeGreaterThanOrEqual(0);
    expect(s.augment + s.forward + s.backward + s.update).toBeCloseTo(1, 5);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // JSON-friendly for `isd bench --json`
  });

  it('refuses bad sizes with an IsdError naming the field', async () => {
    await expect(runBenchmark({ steps: 0 })).rejects.toMatchObject({ code: 'BAD_INPUT', field: 'steps' });
    await expect(runBenchmark({ batch: 1.5 })).rejects.toBeInstanceOf(IsdError);
  });
});
