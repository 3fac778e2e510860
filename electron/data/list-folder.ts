import { promises as fsp } from 'node:fs';
import { fsError } from '../fs-errors';

/** The names in a folder; a missing or unreadable folder is an IsdError naming it. */
export async function listFolder(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (err) {
    throw fsError(err, dir, 'folder');
  }
}
