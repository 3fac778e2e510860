/**
 * Schema of the run history and the migrations that build it. PRAGMA user_version holds the
 * version of the last migration applied; all pending migrations run in one transaction.
 *
 * runs             one training run
 *   id TEXT PK               uuid (unique across machines and files; safe as a folder name)
 *   name, method, arch       display name; 'isd' | 'moco'; encoder
 *   dataset, dataset_name    registry id or path; human name
 *   imbalance                'none' | 'longtail:<rho>' | 'dominant:<large>:<perSmall>'
 *   config TEXT JSON         the full RunConfig as validated at creation
 *   status                   queued | running | paused | completed | failed | interrupted | stopped
 *   error                    why it failed or was interrupted
 *   backend, device          as chosen by the engine
 *   owner_pid                process driving a running/paused run (crash recovery checks it is alive)
 *   created_at, started_at, finished_at   ms since the epoch
 *   epochs, epochs_done, steps_done       planned epochs; progress
 *   knn1, knn20, knn20_weighted, linear, best_knn20, purity, images_per_sec   final metrics (REAL, nullable)
 *   notes, checkpoint_dir, study_id (→ studies, SET NULL on delete)
 * run_tags         (run_id → runs CASCADE, tag) PK; one row per tag
 * step_metrics     (run_id → runs CASCADE, step) PK, WITHOUT ROWID: epoch, loss, lr, purity,
 *                  images_per_sec, time. Clustered by (run_id, step) so a run's curve is one range scan.
 * epoch_evals      (run_id → runs CASCADE, epoch) PK: step, knn1, knn20, knn20_weighted, linear, purity,
 *                  per_class JSON [accuracy per class], frequent_acc, rare_acc, time
 * step_metric_blocks  (run_id → runs CASCADE, block) PK, WITHOUT ROWID: n, lo_step, lo_loss, hi_step,
 *                  hi_loss per BLOCK_STEPS (32) steps: a rollup so a long run's chart never scans every
 *                  step (metric-blocks.ts keeps it in step with step_metrics)  [schema 20]
 * checkpoints      id INTEGER PK, run_id → runs CASCADE, epoch, step, path, kind periodic|final|stop, created_at
 * datasets_user    path PK, name, added_at: dataset folders/files the user added
 * studies          id TEXT PK (uuid), name, spec JSON, created_at: a group of runs (runs.study_id)
 */
import type Database from 'better-sqlite3';
import { rebuildAllBlocks } from './metric-blocks';

export interface Migration {
  /** Strictly increasing; leave gaps of 10 so a fix can slot in between. */
  version: number;
  up(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 10,
    up(db) {
      db.exec(`
        CREATE TABLE studies (
          id TEXT PRIMARY KEY NOT NULL,
          name TEXT NOT NULL,
          spec TEXT NOT NULL CHECK (json_valid(spec)),
          created_at INTEGER NOT NULL
        );

        CREATE TABLE runs (
          id TEXT PRIMARY KEY NOT NULL,
          name TEXT NOT NULL,
          method TEXT NOT NULL,
          arch TEXT NOT NULL,
          dataset TEXT NOT NULL,
          dataset_name TEXT NOT NULL,
          imbalance TEXT NOT NULL DEFAULT 'none',
          config TEXT NOT NULL CHECK (json_valid(config)),
          status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'completed', 'failed', 'interrupted', 'stopped')),
          error TEXT,
          backend TEXT,
          device TEXT,
          owner_pid INTEGER,
          created_at INTEGER NOT NULL,
          started_at INTEGER,
          finished_at INTEGER,
          epochs INTEGER NOT NULL,
          epochs_done INTEGER NOT NULL DEFAULT 0,
          steps_done INTEGER NOT NULL DEFAULT 0,
          knn1 REAL,
          knn20 REAL,
          knn20_weighted REAL,
          linear REAL,
          best_knn20 REAL,
          purity REAL,
          images_per_sec REAL,
          notes TEXT NOT NULL DEFAULT '',
          checkpoint_dir TEXT,
          study_id TEXT REFERENCES studies(id) ON DELETE SET NULL
        );
        CREATE INDEX runs_by_created ON runs (created_at);
        CREATE INDEX runs_by_status ON runs (status, created_at);
        CREATE INDEX runs_by_method ON runs (method, created_at);
        CREATE INDEX runs_by_dataset ON runs (dataset, created_at);
        CREATE INDEX runs_by_study ON runs (study_id, created_at);

        CREATE TABLE run_tags (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          tag TEXT NOT NULL,
          PRIMARY KEY (run_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX run_tags_by_tag ON run_tags (tag);

        CREATE TABLE step_metrics (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          step INTEGER NOT NULL,
          epoch INTEGER NOT NULL,
          loss REAL,
          lr REAL,
          purity REAL,
          images_per_sec REAL,
          time INTEGER NOT NULL,
          PRIMARY KEY (run_id, step)
        ) WITHOUT ROWID;

        CREATE TABLE epoch_evals (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          step INTEGER NOT NULL,
          knn1 REAL,
          knn20 REAL,
          knn20_weighted REAL,
          linear REAL,
          purity REAL,
          per_class TEXT CHECK (per_class IS NULL OR json_valid(per_class)),
          frequent_acc REAL,
          rare_acc REAL,
          time INTEGER NOT NULL,
          PRIMARY KEY (run_id, epoch)
        ) WITHOUT ROWID;

        CREATE TABLE checkpoints (
          id INTEGER PRIMARY KEY,
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          step INTEGER NOT NULL,
          path TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('periodic', 'final', 'stop')),
          created_at INTEGER NOT NULL
        );
        CREATE INDEX checkpoints_by_run ON checkpoints (run_id, step);

        CREATE TABLE datasets_user (
          path TEXT PRIMARY KEY NOT NULL,
          name TEXT NOT NULL,
          added_at INTEGER NOT NULL
        );
      `);
    },
  },
  {
    version: 20,
    up(db) {
      db.exec(`
        CREATE TABLE step_metric_blocks (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          block INTEGER NOT NULL,
          n INTEGER NOT NULL,
          lo_step INTEGER NOT NULL,
          lo_loss REAL,
          hi_step INTEGER NOT NULL,
          hi_loss REAL,
          PRIMARY KEY (run_id, block)
        ) WITHOUT ROWID;
      `);
      rebuildAllBlocks(db);
    },
  },
];

/** The schema version this code writes: the last migration's. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
