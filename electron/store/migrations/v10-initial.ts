/** Schema 10: the first schema. Frozen: a later change is a new migration, never an edit here. */
import type { Migration } from '../migrations';

const SQL = `
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
`;

export const v10Initial: Migration = {
  version: 10,
  up(db) {
    db.exec(SQL);
  },
};
