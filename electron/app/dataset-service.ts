/**
 * The datasets behind the contract's datasets.* channels: the registry (bundled sample, detected
 * system datasets) plus the paths the user added (kept in the run store), inspection, thumbnails per
 * class, the class counts an imbalance draw would give, and the native picker (Electron only).
 *
 * Paths are checked: a path the renderer hands over must be one the user picked in the native dialog,
 * one already known (registry or added), or — in the web host, where typing a path is the only way —
 * any existing path (the host already required its token).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { DatasetEntry, DatasetPreview, DatasetSummary, ImbalancePreview, Thumbnail } from '../contract';
import {
  countClasses,
  listDatasets,
  loadDataset,
  probeDataset,
  resolveDataset,
  summarizeDataset,
  imbalanceCounts,
  type LoadedDataset,
} from '../data';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import { parseImbalance } from '../run-config';
import type { RunStore } from '../store';
import type { AppEvents } from './app-events';
import { thumbnailDataUrl } from './thumbnails';

/** The native open dialog (Electron main injects it); null when the user cancelled. */
export type PickPath = (kind: 'folder' | 'file') => Promise<string | null>;

export interface DatasetServiceOptions {
  store: RunStore;
  events: AppEvents;
  resourcesDir?: string;
  /** Folders searched for system datasets (default: the registry's). */
  systemRoots?: string[];
  pickPath?: PickPath;
  /** Accept typed paths (the web host); Electron accepts only picked or known paths. */
  allowTypedPaths: boolean;
  /** Loaded datasets kept in memory for previews and estimates (default 2). */
  cacheSize?: number;
}

export class DatasetService {
  private readonly opts: DatasetServiceOptions;
  /** Absolute paths the user chose in the native dialog during this session. */
  private readonly picked = new Set<string>();
  /** path → loading or loaded dataset, most recently used last. */
  private readonly cache = new Map<string, Promise<LoadedDataset>>();

  constructor(opts: DatasetServiceOptions) {
    this.opts = opts;
  }

  private registryOptions() {
    return {
      userPaths: this.opts.store.listUserDatasets().map((d) => d.path),
      resourcesDir: this.opts.resourcesDir,
      systemRoots: this.opts.systemRoots,
    };
  }

  /** Every dataset on offer, user-added ones named as the user named them. */
  async list(): Promise<DatasetEntry[]> {
    const names = new Map(this.opts.store.listUserDatasets().map((d) => [d.path, d.name]));
    const entries = await listDatasets(this.registryOptions());
    return entries.map((e) => (e.source === 'user' && names.has(e.path) ? { ...e, name: names.get(e.path)! } : e));
  }

  /** The path behind an id or a path given directly, refused when it is a path the user never chose. */
  async resolve(idOrPath: string, field = 'dataset'): Promise<{ path: string; entry: DatasetEntry | null }> {
    const entries = await this.list();
    const byId = entries.find((e) => e.id === idOrPath);
    if (byId) return { path: byId.path, entry: byId };
    const looksLikePath = idOrPath.includes('/') || idOrPath.includes(path.sep) || idOrPath.startsWith('.');
    if (!looksLikePath) {
      try {
        await resolveDataset(idOrPath, this.registryOptions()); // names the known ids in its NOT_FOUND error
      } catch (err) {
        if (err instanceof IsdError) throw new IsdError(err.code, err.message, { field, path: err.path, cause: err });
        throw err;
      }
    }
    const abs = path.resolve(idOrPath);
    const known = entries.find((e) => path.resolve(e.path) === abs);
    if (known) return { path: known.path, entry: known };
    if (!this.opts.allowTypedPaths && !this.picked.has(abs)) {
      throw new IsdError(
        'PERMISSION',
        `${abs}: choose this dataset with the Browse… button first (the app only opens paths you picked)`,
        { field, path: abs },
      );
    }
    try {
      await fsp.stat(abs);
    } catch (err) {
      const e = fsError(err, abs, 'file or folder');
      throw new IsdError(e.code, e.message, { field, path: abs });
    }
    return { path: abs, entry: null };
  }

  /** A loaded dataset from the small cache (loading it once however many callers ask at the same time). */
  async load(datasetPath: string): Promise<LoadedDataset> {
    const hit = this.cache.get(datasetPath);
    if (hit) {
      this.cache.delete(datasetPath);
      this.cache.set(datasetPath, hit);
      return hit;
    }
    const loading = loadDataset(datasetPath);
    this.cache.set(datasetPath, loading);
    loading.catch(() => this.cache.delete(datasetPath));
    const max = Math.max(1, this.opts.cacheSize ?? 2);
    while (this.cache.size > max) this.cache.delete(this.cache.keys().next().value as string);
    return loading;
  }

  async inspect(input: { id?: string; path?: string }): Promise<DatasetSummary> {
    const { path: p } = await this.resolve((input.id ?? input.path)!, input.id !== undefined ? 'id' : 'path');
    return summarizeDataset(await this.load(p));
  }

  async preview(input: { id: string; perClass: number; size: number }): Promise<DatasetPreview> {
    const { path: p } = await this.resolve(input.id, 'id');
    const ds = await this.load(p);
    const classes = ds.classNames?.length ?? 0;
    const src = { images: ds.train.images, height: ds.height, width: ds.width, channels: ds.channels };
    const groups: DatasetPreview['groups'] = [];
    const labels = ds.train.labels;
    if (labels && ds.classNames) {
      const chosen: number[][] = Array.from({ length: classes }, () => []);
      let missing = classes;
      for (let i = 0; i < ds.train.count && missing > 0; i++) {
        const list = chosen[labels[i]];
        if (list && list.length < input.perClass) {
          list.push(i);
          if (list.length === input.perClass) missing--;
        }
      }
      for (let c = 0; c < classes; c++) {
        const samples = await Promise.all(
          chosen[c].map(async (index): Promise<Thumbnail> => ({
            index,
            label: c,
            dataUrl: await thumbnailDataUrl(src, index, input.size),
          })),
        );
        groups.push({ label: c, className: ds.classNames[c], samples });
      }
    } else {
      const n = Math.min(ds.train.count, input.perClass * 4);
      const samples = await Promise.all(
        Array.from({ length: n }, async (_, index): Promise<Thumbnail> => ({
          index,
          label: null,
          dataUrl: await thumbnailDataUrl(src, index, input.size),
        })),
      );
      groups.push({ label: null, className: 'unlabeled', samples });
    }
    return {
      datasetId: input.id,
      classNames: ds.classNames,
      classCounts: labels ? countClasses(labels, classes) : null,
      testClassCounts: ds.test?.labels ? countClasses(ds.test.labels, classes) : null,
      size: input.size,
      groups,
    };
  }

  async imbalancePreview(input: { id: string; imbalance: string; seed: number }): Promise<ImbalancePreview> {
    const { path: p } = await this.resolve(input.id, 'id');
    const ds = await this.load(p);
    if (!ds.train.labels || !ds.classNames) {
      throw new IsdError('BAD_INPUT', `${p}: the dataset has no labels, so an imbalance draw cannot be made`, {
        field: 'imbalance',
        path: p,
      });
    }
    const before = countClasses(ds.train.labels, ds.classNames.length);
    let spec;
    try {
      spec = parseImbalance(input.imbalance);
    } catch (err) {
      throw new IsdError('BAD_INPUT', (err as Error).message, { field: 'imbalance' });
    }
    // The counts are fixed by the spec; the seed only chooses which images (drawImbalance).
    const after = imbalanceCounts(before, spec);
    return {
      datasetId: input.id,
      imbalance: input.imbalance,
      classNames: ds.classNames,
      before,
      after,
      total: after.reduce((a, b) => a + b, 0),
    };
  }

  /** Opens the native dialog; the chosen path is remembered as one the user picked. */
  async pick(kind: 'folder' | 'file'): Promise<{ path: string | null }> {
    if (!this.opts.pickPath) {
      throw new IsdError(
        'CONFLICT',
        'no file dialog in the browser: type the dataset path into the path field instead',
        { field: 'kind' },
      );
    }
    const chosen = await this.opts.pickPath(kind);
    if (chosen === null) return { path: null };
    const abs = path.resolve(chosen);
    this.picked.add(abs);
    return { path: abs };
  }

  /** Remembers a dataset file or folder after checking that it reads as a dataset. */
  async add(input: { path: string }): Promise<DatasetEntry> {
    const abs = path.resolve(input.path);
    if (!path.isAbsolute(input.path))
      throw new IsdError('BAD_INPUT', `path: give an absolute path, got "${input.path}"`, {
        field: 'path',
        path: input.path,
      });
    const { path: p } = await this.resolve(abs, 'path');
    await probeDataset(p); // throws an IsdError naming the file when it is not a dataset we read
    this.opts.store.addUserDataset(p, path.basename(p).replace(/\.gz$/i, ''));
    const entry = (await this.list()).find((e) => e.source === 'user' && path.resolve(e.path) === p);
    if (!entry) throw new IsdError('INTERNAL', `${p} was added but is not listed`);
    this.opts.events.emit('datasets.changed', { ids: [entry.id] });
    return entry;
  }

  async remove(input: { id: string }): Promise<{ removed: string }> {
    const entries = await this.list();
    const entry = entries.find((e) => e.id === input.id);
    if (!entry)
      throw new IsdError(
        'NOT_FOUND',
        `dataset ${input.id} not found (known: ${entries.map((e) => e.id).join(', ') || 'none'})`,
        { field: 'id' },
      );
    if (entry.source !== 'user')
      throw new IsdError(
        'CONFLICT',
        `dataset ${input.id} is ${entry.source === 'bundled' ? 'bundled with the app' : 'a system dataset'}; only datasets you added can be removed`,
        { field: 'id' },
      );
    this.opts.store.removeUserDataset(entry.path);
    this.cache.delete(entry.path);
    this.opts.events.emit('datasets.changed', { ids: [entry.id] });
    return { removed: entry.id };
  }
}
