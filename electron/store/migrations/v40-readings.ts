/**
 * Schema 40: what a run's accuracies are read against. The 200-NN weighted vote (T 0.1) beside the
 * other kNN columns, and run_baselines: raw-pixel kNN on the run's own bank and queries, with the
 * sizes of both (the queries' count gives an accuracy its standard error). Runs stored before this
 * have none: their columns stay NULL and their pages show no pixel line. Frozen: plain SQL.
 */
import type { Migration } from '../migrations';

const SQL = `
ALTER TABLE runs ADD COLUMN knn200_weighted REAL;
ALTER TABLE epoch_evals ADD COLUMN knn200_weighted REAL;

CREATE TABLE run_baselines (
  run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  pixel_knn1 REAL,
  pixel_knn20 REAL,
  pixel_knn20_weighted REAL,
  pixel_knn200_weighted REAL,
  bank_images INTEGER NOT NULL,
  test_images INTEGER NOT NULL,
  test_split_images INTEGER NOT NULL,
  time INTEGER NOT NULL
);
`;

export const v40Readings: Migration = {
  version: 40,
  up(db) {
    db.exec(SQL);
  },
};
