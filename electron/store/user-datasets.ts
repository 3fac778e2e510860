/** The datasets_user table: dataset files and folders the user added, by absolute path. */
import path from 'node:path';
import { IsdError } from '../errors';
import { checkName } from './checks';
import type { StoreContext } from './context';
import type { UserDatasetRow } from './rows';

const SELECT = 'SELECT path, name, added_at AS addedAt FROM datasets_user';

/** Remembers a dataset file or folder (absolute path); adding it again renames it. */
export function addUserDataset(ctx: StoreContext, datasetPath: string, name: string): UserDatasetRow {
  if (typeof datasetPath !== 'string' || !path.isAbsolute(datasetPath)) {
    throw new IsdError('BAD_INPUT', `dataset path must be absolute, got "${String(datasetPath)}"`, { field: 'path' });
  }
  const clean = path.resolve(datasetPath);
  const label = checkName(typeof name === 'string' ? name.trim() : '');
  ctx.sc
    .get(
      'INSERT INTO datasets_user (path, name, added_at) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET name = excluded.name',
    )
    .run(clean, label, ctx.now());
  return ctx.sc.get<UserDatasetRow>(`${SELECT} WHERE path = ?`).get(clean)!;
}

export function removeUserDataset(ctx: StoreContext, datasetPath: string): void {
  const clean =
    typeof datasetPath === 'string' && path.isAbsolute(datasetPath) ? path.resolve(datasetPath) : datasetPath;
  if (ctx.sc.get('DELETE FROM datasets_user WHERE path = ?').run(clean).changes === 0) {
    throw new IsdError('NOT_FOUND', `dataset ${datasetPath} is not in the list of added datasets`, {
      path: String(datasetPath),
    });
  }
}

export function listUserDatasets(ctx: StoreContext): UserDatasetRow[] {
  return ctx.sc.get<UserDatasetRow>(`${SELECT} ORDER BY added_at, path`).all();
}
