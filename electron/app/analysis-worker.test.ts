// The analysis worker's own pieces: it rebuilds a run's training images itself (it cannot import the
// engine worker's module), so they must stay identical to the engine's; and its histogram.
import { describe, expect, it } from 'vitest';
import { loadDataset, RESOURCES_DIR } from '../data';
import { prepareRunData } from '../engine/worker';
import { DEFAULT_RUN_CONFIG } from '../run-config';
import { histogram, trainingImages } from './analysis-worker';
import path from 'node:path';

describe('analysis worker', () => {
  it('rebuilds exactly the images the engine trains on', async () => {
    const ds = await loadDataset(path.join(RESOURCES_DIR, 'sample'));
    for (const over of [{}, { trainLimit: 300 }, { imbalance: 'longtail:10', seed: 3 }, { imbalance: 'dominant:3:100', trainLimit: 900, seed: 7 }]) {
      const config = { ...DEFAULT_RUN_CONFIG, ...over };
      const mine = trainingImages(ds, config);
      const engine = prepareRunData(ds, config).train.images;
      expect([over, mine.length]).toEqual([over, engine.length]);
      expect(Buffer.compare(Buffer.from(mine.buffer, mine.byteOffset, mine.byteLength), Buffer.from(engine.buffer, engine.byteOffset, engine.byteLength))).toBe(0);
    }
  });

  it('counts values into equal bins, the top edge included', () => {
    expect(histogram([-1, -0.5, 0, 0.49, 0.5, 1], -1, 1, 4)).toEqual({ edges: [-1, -0.5, 0, 0.5, 1], counts: [1, 1, 2, 2] });
    expect(histogram([0, 0, 0], 0, 0, 3).counts).toEqual([3, 0, 0]);
  });
});
