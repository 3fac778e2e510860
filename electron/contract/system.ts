/** What the app reports about its host and what a dataset looks like before a run (system.info, datasets.preview*). */

/** The WebGPU adapter the webgpu backend runs on (or saw, in its fallback entry). */
export interface GpuAdapter {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation of the GPU API (SwiftShader, lavapipe, llvmpipe, WARP): never chosen unless forced. */
  software: boolean;
}

export interface BackendFallback {
  backend: string;
  reason: string;
  /** webgpu: the adapter it saw (a software one, or one short of a limit). */
  adapter?: GpuAdapter;
}

/** `isd info` (docs/cli.md) plus what the UI needs to know about its host. */
export interface SystemInfo {
  backend: string;
  device: string;
  /** webgpu: the adapter it runs on; null on every other backend. */
  adapter: GpuAdapter | null;
  fallbacks: BackendFallback[];
  versions: Record<string, string>;
  appVersion: string;
  platform: string;
  /** electron: native dialogs exist (datasets.pick); web: the UI asks for a typed path instead. */
  transport: 'electron' | 'web';
  dbPath: string;
  /** Images/s measured on this backend for the default architecture, at 28 px (run-estimate.ts), when known. */
  measuredImagesPerSec: number | null;
}

/** A thumbnail: a PNG as a data: URL (the CSP allows img-src data:). */
export interface Thumbnail {
  /** Index of the image in its split. */
  index: number;
  label: number | null;
  dataUrl: string;
}

export interface DatasetPreview {
  datasetId: string;
  classNames: string[] | null;
  /** Training-split count per class (null when unlabeled). */
  classCounts: number[] | null;
  testClassCounts: number[] | null;
  /** Thumbnail side in pixels. */
  size: number;
  /** One group per class in label order (a single group with label null when unlabeled). */
  groups: { label: number | null; className: string; samples: Thumbnail[] }[];
}

export interface ImbalancePreview {
  datasetId: string;
  imbalance: string;
  classNames: string[] | null;
  /** Training-split counts per class before and after the draw. */
  before: number[];
  after: number[];
  total: number;
}
