/**
 * Opening the run-history file: the one place where pragmas are set and migrations run, and where
 * SQLite's failures to open become IsdErrors a user can act on.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { IsdError, isDiskFull } from '../errors';
import { diskFullError } from '../fs-errors';
import { sqliteBinding } from '../native/binding';
import { MIGRATIONS, type Migration } from './migrations';

export interface OpenDatabaseOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY (default 5000 ms). */
  busyTimeoutMs?: number;
  /** The migrations to apply (tests pass their own lists); default MIGRATIONS. */
  migrations?: readonly Migration[];
}

export interface OpenedDatabase {
  db: Database.Database;
  fromVersion: number;
  toVersion: number;
}

/** Opens (creating it and its folder if needed) and migrates the database at `file`. */
export function openDatabase(file: string, opts: OpenDatabaseOptions = {}): OpenedDatabase {
  const migrations = opts.migrations ?? MIGRATIONS;
  checkMigrationOrder(migrations);
  const inMemory = file === ':memory:';
  if (!inMemory) prepareLocation(file);

  const known = migrations.length ? migrations[migrations.length - 1].version : 0;
  if (!inMemory) refuseReadOnly(file, known);
  let db: Database.Database;
  try {
    // This runtime's own binding (native/binding.ts): Electron's and each Node's live side by side.
    db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000, nativeBinding: sqliteBinding() });
  } catch (err) {
    throw openError(err, file);
  }
  try {
    configure(db, opts.busyTimeoutMs ?? 5000);
    const { fromVersion, toVersion } = migrate(db, file, migrations);
    return { db, fromVersion, toVersion };
  } catch (err) {
    db.close();
    throw err instanceof IsdError ? err : openError(err, file);
  }
}

function configure(db: Database.Database, busyTimeoutMs: number): void {
  // Readers never block the writer: the app writes metrics while the CLI or history page reads.
  db.pragma('journal_mode = WAL');
  // Off by default in SQLite; the schema relies on ON DELETE CASCADE for deleting runs.
  db.pragma('foreign_keys = ON');
  // In WAL mode NORMAL cannot corrupt the file and survives an app crash; only a power cut may lose
  // the last few commits. FULL would fsync on every metric batch, for little gain in a run history.
  db.pragma('synchronous = NORMAL');
  // The app, the CLI and the web host may share one file; wait for a lock instead of failing at once.
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
}

/** Runs every pending migration in one IMMEDIATE transaction, so a second process waits rather than races. */
function migrate(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[],
): { fromVersion: number; toVersion: number } {
  const known = migrations.length ? migrations[migrations.length - 1].version : 0;
  const run = db.transaction(() => {
    const current = userVersion(db);
    const refused = refusal(db, file, known); // again inside the lock: another process may have written since
    if (refused) throw refused;
    for (const m of migrations) {
      if (m.version <= current) continue;
      try {
        m.up(db);
      } catch (err) {
        throw new IsdError('INTERNAL', `${file}: migration to schema ${m.version} failed: ${(err as Error).message}`, {
          path: file,
          cause: err,
        });
      }
    }
    // PRAGMA takes no bound parameters; `known` is an integer from our own list (checked above).
    if (known > current) db.pragma(`user_version = ${known}`);
    return { fromVersion: current, toVersion: Math.max(current, known) };
  });
  return run.immediate();
}

/**
 * Checks an existing file through a read-only connection before anything writes to it (the WAL
 * pragma rewrites header bytes 18–19): a history of a newer schema, or another program's database,
 * is refused and left byte for byte as it was.
 */
function refuseReadOnly(file: string, known: number): void {
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch {
    return; // not there yet: it will be created
  }
  if (size === 0) return;
  let ro: Database.Database;
  try {
    ro = new Database(file, { readonly: true, fileMustExist: true });
  } catch {
    return; // e.g. a WAL file whose -shm cannot be made read-only; the check inside migrate() still runs
  }
  try {
    const refused = refusal(ro, file, known);
    if (refused) throw refused;
  } catch (err) {
    if (err instanceof IsdError) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) throw openError(err, file);
    // Anything else (a hot journal only a writer may roll back): the read-write open decides.
  } finally {
    ro.close();
  }
}

/** Why this database must not be opened as a run history (a newer schema, another program's tables), or null. */
function refusal(db: Database.Database, file: string, known: number): IsdError | null {
  const current = userVersion(db);
  if (current > known) {
    return new IsdError(
      'DB_TOO_NEW',
      `${file} was written by a newer ISD Studio (schema ${current}, this version knows ${known}); update the app or use another --db`,
      { path: file, field: 'db' },
    );
  }
  if (current === 0) {
    const foreign = db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1",
      )
      .get();
    if (foreign) {
      return new IsdError(
        'BAD_INPUT',
        `${file} is a SQLite database of another program (it has a table "${foreign.name}"), not an ISD Studio run history; use another --db`,
        { path: file, field: 'db' },
      );
    }
  }
  return null;
}

export function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function checkMigrationOrder(migrations: readonly Migration[]): void {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= last) {
      throw new IsdError(
        'INTERNAL',
        `migration versions must be increasing whole numbers, got ${m.version} after ${last}`,
      );
    }
    last = m.version;
  }
}

/** The file must be a file (or not exist yet) and its folder must exist; we create the folder. */
function prepareLocation(file: string): void {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(err, file);
  }
  if (stat?.isDirectory())
    throw new IsdError('BAD_INPUT', `${file} is a folder; --db needs a file path`, { path: file, field: 'db' });
  const dir = path.dirname(path.resolve(file));
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw fileError(err, dir);
  }
}

function fileError(err: unknown, at: string): IsdError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new IsdError('PERMISSION', `${at}: permission denied (the run history needs to read and write here)`, {
      path: at,
      field: 'db',
      cause: err,
    });
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new IsdError('BAD_INPUT', `${at}: a part of this path is a file, not a folder`, {
      path: at,
      field: 'db',
      cause: err,
    });
  }
  return new IsdError('BAD_INPUT', `${at}: cannot be used as the run history: ${(err as Error).message}`, {
    path: at,
    field: 'db',
    cause: err,
  });
}

/** Maps SQLite's result codes on open to messages that name the file and say what to do. */
export function openError(err: unknown, file: string): IsdError {
  if (err instanceof IsdError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB') {
    return new IsdError(
      'BAD_INPUT',
      `${file} is not an ISD Studio run history (not a SQLite database); use another --db`,
      { path: file, field: 'db', cause: err },
    );
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new IsdError(
      'BAD_INPUT',
      `${file} is a damaged SQLite database (${(err as Error).message}); restore a copy or use another --db`,
      {
        path: file,
        field: 'db',
        cause: err,
      },
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code === 'SQLITE_AUTH') {
    return new IsdError(
      'PERMISSION',
      `${file}: permission denied (the run history needs to be writable, with its folder)`,
      { path: file, field: 'db', cause: err },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new IsdError(
      'PERMISSION',
      `${file}: cannot open the run history (check the folder exists and is writable)`,
      { path: file, field: 'db', cause: err },
    );
  }
  if (isDiskFull(err)) return diskFullError(err, file, 'opening the run history'); // crash recovery writes on open
  if (code.startsWith('SQLITE_BUSY')) {
    return new IsdError('CONFLICT', `${file} is locked by another program; close it or use another --db`, {
      path: file,
      field: 'db',
      cause: err,
    });
  }
  return new IsdError('INTERNAL', `${file}: ${(err as Error).message}`, { path: file, cause: err });
}
