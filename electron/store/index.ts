/**
 * The run history: a SQLite file (better-sqlite3) holding runs, their step metrics, epoch
 * evaluations, checkpoints, tags, notes, user-added datasets and studies.
 *
 *   const store = openRunStore(file, { checkpointRoot });
 *   store.openReport.interruptedRunIds   // runs a crash left running, now 'interrupted'
 */
export { openRunStore, RunStore, type RunStoreOptions, type RunExport } from './run-store';
export { openDatabase, userVersion, type OpenDatabaseOptions } from './database';
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';
export { configDiff } from './config-diff';
export { csvField, csvText, type CsvValue } from './metrics-csv';
export * from './types';
