/** What every store module's functions work over: the open database, its statement cache and the clock. */
import type Database from 'better-sqlite3';
import type { StatementCache } from './statement-cache';

export interface StoreContext {
  readonly db: Database.Database;
  readonly sc: StatementCache;
  /** Clock in ms since the epoch (tests pin it). */
  readonly now: () => number;
  /** The folder under which run checkpoint folders live; deleteRun removes files only inside it. */
  readonly checkpointRoot: string | null;
}
