/**
 * The run history: a SQLite file (better-sqlite3) holding runs, their step metrics, epoch
 * evaluations, checkpoints, tags, notes, user-added datasets and studies; one module per table.
 *
 *   const store = openRunStore(file, { checkpointRoot });
 *   store.openReport.interruptedRunIds   // runs a crash left running, now 'interrupted'
 */
export { openRunStore, RunStore, type RunStoreOptions } from './run-store';
export type { StoreContext } from './context';
export type { ClaimResult } from './run-claims';
export { writeEndNote, removeEndNote, type EndNote } from './crash-recovery';
export { openDatabase, userVersion, type OpenDatabaseOptions } from './database';
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';
export { configDiff } from './config-diff';
export * from './rows';
