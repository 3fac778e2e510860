/** What the encoder channels answer: neighbours, the teacher's soft targets, export, embedding, map, search. */
import type { CheckpointInfo } from './runs';

export interface NeighbourImage {
  index: number;
  label: number | null;
  className: string | null;
  dataUrl: string;
}

export interface NeighbourGallery {
  runId: string;
  /** The checkpoint the features came from (the final one). */
  checkpoint: CheckpointInfo;
  testCount: number;
  /** Training images searched (the first ones); a training-image query may be any of the split's. */
  bankCount: number;
  query: NeighbourImage;
  /** Nearest training images, most similar first; similarity is cosine in [-1, 1]. */
  neighbours: (NeighbourImage & { similarity: number })[];
}

export interface TeacherSimilarity {
  runId: string;
  testIndex: number;
  checkpoint: CheckpointInfo;
  /** T_t for ISD, T for MoCo. */
  temperature: number;
  queueSize: number;
  query: NeighbourImage;
  /** Histogram of the soft targets softmax(k·Qᵀ / T) over the queue: counts[i] anchors in [edges[i], edges[i+1]). */
  probability: { edges: number[]; counts: number[] };
  /** Histogram of the raw cosine similarities k·Qᵀ. */
  cosine: { edges: number[]; counts: number[] };
  /** exp(entropy) of the soft targets: how many anchors carry the mass. */
  effectiveAnchors: number;
  /** Mean cosine between two different anchors of the queue; above KEYS_BARELY_DIFFER the ranking says little. */
  anchorMeanCosine: number;
  topAnchors: {
    queueIndex: number;
    /** Index in the training split of the image whose teacher key fills the slot; null when not known (a random initial key, an older checkpoint). */
    trainIndex: number | null;
    cosine: number;
    probability: number;
    label: number | null;
    className: string | null;
    dataUrl: string | null;
  }[];
}

/** encoder.export: the run's backbone as a model file (not runs.export, which exports a run's metrics). */
export interface EncoderExport {
  runId: string;
  format: 'onnx' | 'tfjs';
  encoder: 'student' | 'teacher';
  checkpoint: CheckpointInfo;
  /** Time the export took in the analysis worker (checkpoint and dataset statistics loaded, model built, written). */
  seconds: number;
  bytes: number;
  /** destination 'dialog': the file (ONNX) or folder (TF.js) written; null when the dialog was cancelled. */
  path: string | null;
  /** destination 'download': the files for the browser to save, base64. */
  downloads: { filename: string; mimeType: string; base64: string }[];
}

/** encoder.embed: features of every image of a dataset's split, written as .npy (+ .csv) or .csv, with a .json. */
export interface EncoderEmbedding {
  runId: string;
  checkpoint: CheckpointInfo;
  dataset: string;
  split: 'train' | 'test' | 'all';
  images: number;
  dim: number;
  seconds: number;
  imagesPerSec: number;
  /** How the images were fitted to the run's input (resized, grey/colour converted); also in the .json. */
  adapted: { from: [number, number, number]; resizedTo: number | null; channels: string | null };
  /** Images that could not be read, by file and reason (skipped, not embedded). */
  skipped: { path: string; reason: string }[];
  /** destination 'dialog': the file written (null: cancelled); 'download': the files, base64. */
  path: string | null;
  downloads: { filename: string; mimeType: string; base64: string }[];
}

/** encoder.map: a 2-D projection of a split's features, each axis scaled to [0, 1]. */
export interface EncoderMap {
  runId: string;
  /** The checkpoint the trained features came from; for model 'init' the random initialisation (step 0) of the same run. */
  checkpoint: CheckpointInfo;
  model: 'trained' | 'init';
  method: 'pca' | 'umap';
  split: 'train' | 'test';
  /** Point i is image i of the split (its first `count`). */
  count: number;
  /** [count × 2] flat: x0, y0, x1, y1, … */
  xy: number[];
  labels: number[] | null;
  classNames: string[] | null;
  /** Classes the run's imbalance draw left rare; null for a balanced run. */
  rareClasses: number[] | null;
  seconds: number;
}

/** encoder.search: the nearest images to a query among a split of the run's dataset (cosine of the trained features). */
export interface EncoderSearch {
  runId: string;
  checkpoint: CheckpointInfo;
  among: 'train' | 'test';
  searched: number;
  query: NeighbourImage;
  neighbours: (NeighbourImage & { similarity: number })[];
}

/**
 * The anchors' mean cosine to each other above which the teacher's ranking says little: two keys are
 * then on average within about 26° (collapsed features, or ones not yet spread out), and every anchor
 * gets about the same similarity to any query.
 */
export const KEYS_BARELY_DIFFER = 0.9;

/** The largest image file encoder.search takes (its base64 is 4/3 of this). */
export const SEARCH_IMAGE_MAX_BYTES = 20 * 1024 * 1024;
