/** Class names from a text file beside a dataset (IDX classes.txt, CIFAR batches.meta.txt). */
import { promises as fsp } from 'node:fs';
import { fsError } from '../fs-errors';

/** One name a line, trimmed, blank lines skipped; null when the file is absent (other read errors throw). */
export async function readNameList(file: string): Promise<string[] | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(err, file);
  }
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
