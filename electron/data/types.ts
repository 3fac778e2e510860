/**
 * In-memory datasets: one typed array per split, never an object per image.
 * images: uint8, row-major [count, height, width, channels]; labels: int32 class index per image,
 * or null when the split is unlabeled.
 */
export type DatasetFormat = 'idx' | 'cifar10' | 'cifar100' | 'folder';

export interface ImageSplit {
  count: number;
  images: Uint8Array; // [count, height, width, channels]
  labels: Int32Array | null; // [count]
}

export interface LoadedDataset {
  format: DatasetFormat;
  /** The path the dataset was loaded from (file or folder). */
  path: string;
  name: string;
  height: number;
  width: number;
  channels: 1 | 3;
  /** Class names in label order; null when unlabeled. */
  classNames: string[] | null;
  train: ImageSplit;
  /** From the format where it has one, else a seeded stratified split; null when none. */
  test: ImageSplit | null;
  /** Images that could not be decoded and were skipped (folder datasets). */
  skipped: { path: string; reason: string }[];
  /** Image folders: the file each image of each split was decoded from, in the splits' order. */
  sources?: { train: string[]; test: string[] | null };
}

/** What `isd datasets inspect` prints (docs/cli.md). */
export interface DatasetSummary {
  format: DatasetFormat;
  path: string;
  name: string;
  shape: [number, number, number]; // [h, w, c]
  classes: number;
  classNames: string[] | null;
  splits: {
    train: { images: number; classCounts: number[] | null };
    test?: { images: number; classCounts: number[] | null };
  };
  /** How many images were skipped… */
  skipped: number;
  /** …and the first SKIPPED_LISTED of them, each with its file and why. */
  skippedFiles: { path: string; reason: string }[];
}

/** Skipped images a summary (and a training run's log) names one by one; the count covers the rest. */
export const SKIPPED_LISTED = 20;

/** One entry of `isd datasets list`. */
export interface DatasetEntry {
  id: string;
  name: string;
  format: DatasetFormat;
  path: string;
  source: 'bundled' | 'system' | 'user';
  /** Images in all splits (for image folders: image files found, before decoding). */
  images: number;
  classes: number;
  shape: [number, number, number];
  /** Set when the entry's files cannot be read or are malformed: why, naming the file (counts are then 0). */
  error?: string;
}

export interface LoadProgress {
  done: number;
  total: number;
  phase: string;
}
