/**
 * The datasets a user can pick: the bundled sample (id 'sample'), IDX and CIFAR datasets found under
 * the system roots (/usr/share/datasets/<name> → id <name>, e.g. 'fashion-mnist'), and paths the
 * user added (id: folder name + a hash of the absolute path, stable across sessions).
 * Listing reads headers and file sizes only, never whole datasets; an entry whose files are broken
 * is still listed, with `error` saying why, so the user sees it rather than losing it.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { IsdError } from '../errors';
import { fsError } from '../fs-errors';
import { findCifarFiles, probeCifar } from './cifar';
import { probeImageFolder } from './folder';
import { findIdxFiles, probeIdx } from './idx';
import { detectFormat } from './load';
import type { DatasetEntry, DatasetFormat } from './types';

export const SAMPLE_ID = 'sample';
export const SYSTEM_DATASET_ROOTS = ['/usr/share/datasets'];

/** The folder holding package.json, found by walking up from start (works from electron/ sources and from dist/). */
export function findProjectRoot(start: string): string | null {
  let dir = path.resolve(start);
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** resources/ of the app: ISD_RESOURCES_DIR when set, else beside the package.json above this file. */
export const RESOURCES_DIR: string =
  process.env.ISD_RESOURCES_DIR ?? path.join(findProjectRoot(__dirname) ?? process.cwd(), 'resources');

export interface RegistryOptions {
  /** Dataset files or folders the user added. */
  userPaths?: string[];
  /** Where resources/sample lives (default RESOURCES_DIR). */
  resourcesDir?: string;
  /** Folders whose sub-folders are searched for IDX and CIFAR datasets (default SYSTEM_DATASET_ROOTS). */
  systemRoots?: string[];
}

const KNOWN_NAMES: Record<string, string> = {
  'fashion-mnist': 'Fashion-MNIST',
  mnist: 'MNIST',
  kmnist: 'Kuzushiji-MNIST',
  emnist: 'EMNIST',
  'cifar-10': 'CIFAR-10',
  cifar10: 'CIFAR-10',
  'cifar-100': 'CIFAR-100',
  cifar100: 'CIFAR-100',
};

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'dataset'
  );
}

/** Stable id for a user-added path: its name plus the first 8 hex digits of the absolute path's SHA-256. */
export function userDatasetId(p: string): string {
  const abs = path.resolve(p);
  const hash = createHash('sha256').update(abs).digest('hex').slice(0, 8);
  return `${slug(path.basename(abs).replace(/\.gz$/i, ''))}-${hash}`;
}

/** Format, image count (all splits), classes and shape from headers only. */
export async function probeDataset(
  source: string,
): Promise<{ format: DatasetFormat; images: number; classes: number; shape: [number, number, number] }> {
  const format = await detectFormat(source);
  if (format === 'idx') return { format, ...(await probeIdx(source)) };
  if (format === 'folder') return { format, ...(await probeImageFolder(source)) };
  return probeCifar(source);
}

async function entryFor(
  id: string,
  name: string,
  source: DatasetEntry['source'],
  p: string,
  knownFormat?: DatasetFormat,
): Promise<DatasetEntry> {
  try {
    const probe = await probeDataset(p);
    return { id, name, source, path: p, ...probe };
  } catch (err) {
    const message = err instanceof IsdError ? err.message : `${p}: ${(err as Error).message}`;
    return {
      id,
      name,
      source,
      path: p,
      format: knownFormat ?? 'folder',
      images: 0,
      classes: 0,
      shape: [0, 0, 0],
      error: message,
    };
  }
}

async function systemCandidates(roots: string[]): Promise<{ dir: string; format: DatasetFormat }[]> {
  const found: { dir: string; format: DatasetFormat }[] = [];
  for (const root of roots) {
    let names: string[];
    try {
      names = (await fsp.readdir(root, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
    } catch {
      continue; // a system root that does not exist here: nothing to list
    }
    for (const name of names) {
      const dir = path.join(root, name);
      try {
        if (await findIdxFiles(dir)) found.push({ dir, format: 'idx' });
        else {
          const cifar = await findCifarFiles(dir);
          if (cifar) found.push({ dir, format: cifar.kind });
        }
      } catch (err) {
        // Looks like a dataset but is malformed: list it with the reason.
        if (err instanceof IsdError && err.code === 'DATASET_INVALID') found.push({ dir, format: 'idx' });
      }
    }
  }
  return found;
}

/** Every dataset the app can offer, sample first, then system datasets, then the user's. */
export async function listDatasets(opts: RegistryOptions = {}): Promise<DatasetEntry[]> {
  const resourcesDir = opts.resourcesDir ?? RESOURCES_DIR;
  const taken = new Set<string>();
  const claim = (wanted: string): string => {
    let id = wanted;
    for (let k = 2; taken.has(id); k++) id = `${wanted}-${k}`;
    taken.add(id);
    return id;
  };
  const pending: Promise<DatasetEntry>[] = [];

  const samplePath = path.join(resourcesDir, 'sample');
  if (existsSync(samplePath))
    pending.push(entryFor(claim(SAMPLE_ID), 'Fashion-MNIST sample', 'bundled', samplePath, 'idx'));

  for (const { dir, format } of await systemCandidates(opts.systemRoots ?? SYSTEM_DATASET_ROOTS)) {
    const base = path.basename(dir);
    const id = claim(slug(base));
    pending.push(entryFor(id, KNOWN_NAMES[slug(base)] ?? base, 'system', dir, format));
  }

  const seen = new Set<string>();
  for (const p of opts.userPaths ?? []) {
    const abs = path.resolve(p);
    if (seen.has(abs)) continue;
    seen.add(abs);
    pending.push(entryFor(claim(userDatasetId(abs)), path.basename(abs), 'user', abs));
  }
  return Promise.all(pending);
}

/** The path behind a dataset id from listDatasets, or an existing path given directly. */
export async function resolveDataset(idOrPath: string, opts: RegistryOptions = {}): Promise<string> {
  const looksLikePath = idOrPath.includes('/') || idOrPath.includes(path.sep) || idOrPath.startsWith('.');
  const byPath = async (): Promise<string | null> => {
    try {
      await fsp.stat(idOrPath);
      return path.resolve(idOrPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      throw fsError(err, idOrPath, 'file or folder');
    }
  };
  if (looksLikePath) {
    const p = await byPath();
    if (p) return p;
  }
  const entries = await listDatasets(opts);
  const entry = entries.find((e) => e.id === idOrPath);
  if (entry) return entry.path;
  if (idOrPath === SAMPLE_ID) {
    const dir = path.join(opts.resourcesDir ?? RESOURCES_DIR, 'sample');
    throw new IsdError(
      'NOT_FOUND',
      `${dir}: the bundled sample is missing; build it with \`node dist/scripts/make-sample.js\``,
      { path: dir, field: 'dataset' },
    );
  }
  if (!looksLikePath) {
    const p = await byPath();
    if (p) return p;
  }
  const ids = entries.map((e) => e.id).join(', ') || 'none';
  throw new IsdError('NOT_FOUND', `${idOrPath}: no dataset with this id (known: ${ids}) and no such file or folder`, {
    path: idOrPath,
    field: 'dataset',
  });
}
