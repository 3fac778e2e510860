// The analysis worker's own pieces (it takes a run's training images from engine/run-data.ts, as the engine does).
import { describe, expect, it } from 'vitest';
import { histogram } from './analysis-worker';

describe('analysis worker', () => {
  it('counts values into equal bins, the top edge included', () => {
    expect(histogram([-1, -0.5, 0, 0.49, 0.5, 1], -1, 1, 4)).toEqual({
      edges: [-1, -0.5, 0, 0.5, 1],
      counts: [1, 1, 2, 2],
    });
    expect(histogram([0, 0, 0], 0, 0, 3).counts).toEqual([3, 0, 0]);
  });
});
