/** Public API of the dataset layer: readers, format detection, splits, imbalance draws, registry. */
export type { DatasetEntry, DatasetFormat, DatasetSummary, ImageSplit, LoadedDataset, LoadProgress } from './types';
export { SKIPPED_LISTED } from './types';
export { detectFormat, inspectDataset, loadDataset, summarizeDataset, type LoadOptions } from './load';
export { FASHION_MNIST_CLASSES, decodeIdx, encodeIdx, loadIdx, readIdxDims, readIdxFile, type IdxArray } from './idx';
export { CIFAR10_CLASSES, loadCifar } from './cifar';
export {
  DEFAULT_FOLDER_IMAGE_SIZE,
  DEFAULT_TEST_FRACTION,
  IMAGE_EXTENSIONS,
  loadImageFolder,
  scanImageFolder,
  type FolderLoadOptions,
} from './folder';
export { countClasses, indicesByClass, selectImages, stratifiedSplit } from './split';
export { drawImbalance, imbalanceCounts } from './imbalance';
export {
  RESOURCES_DIR,
  SAMPLE_ID,
  SYSTEM_DATASET_ROOTS,
  findProjectRoot,
  listDatasets,
  probeDataset,
  resolveDataset,
  userDatasetId,
  type RegistryOptions,
} from './registry';
