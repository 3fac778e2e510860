/** Shared by the trainer tests (trainer.test.ts, webgpu.test.ts): a slice of a loaded split as the trainer's ImageSet. */
import type { LoadedDataset } from '../data/types';
import type { ImageSet } from './run-data';

/** Images start … start+count−1 of `split` (a split of `ds`), without copying. */
export function imageSlice(ds: LoadedDataset, split: LoadedDataset['train'], start: number, count: number): ImageSet {
  const px = ds.height * ds.width * ds.channels;
  return {
    images: split.images.subarray(start * px, (start + count) * px),
    labels: split.labels ? split.labels.subarray(start, start + count) : null,
    count,
    h: ds.height,
    w: ds.width,
    c: ds.channels,
  };
}
