/**
 * Schema of the run history and the migrations that build it. PRAGMA user_version holds the
 * version of the last migration applied; all pending migrations run in one transaction.
 *
 * runs             one training run
 *   id TEXT PK               uuid (unique across machines and files; safe as a folder name)
 *   name, method, arch       display name; 'isd' | 'moco'; encoder
 *   dataset, dataset_name    registry id or path; human name
 *   imbalance                'none' | 'longtail:<rho>' | 'dominant:<large>:<perSmall>'
 *   config TEXT JSON         the full RunConfig as validated at creation (schema 30 added the
 *                            method settings projectionBn, shuffleBn, bnGroups to older ones;
 *                            schema 50 their blur, 'pixels')
 *   status                   queued | running | paused | completed | failed | interrupted | stopped
 *   error                    why it failed or was interrupted
 *   backend, device          as chosen by the engine
 *   owner_pid                process driving a running/paused run (crash recovery checks it is alive)
 *   created_at, started_at, finished_at   ms since the epoch
 *   epochs, epochs_done, steps_done       planned epochs; progress
 *   knn1, knn20, knn20_weighted, linear, best_knn20, purity, images_per_sec   final metrics (REAL, nullable)
 *   knn200_weighted          final 200-NN weighted (T 0.1) [schema 40]
 *   notes, checkpoint_dir, study_id (→ studies, SET NULL on delete)
 * run_tags         (run_id → runs CASCADE, tag) PK; one row per tag
 * step_metrics     (run_id → runs CASCADE, step) PK, WITHOUT ROWID: epoch, loss, lr, purity,
 *                  images_per_sec, time. Clustered by (run_id, step) so a run's curve is one range scan.
 * epoch_evals      (run_id → runs CASCADE, epoch) PK: step, knn1, knn20, knn20_weighted, linear, purity,
 *                  per_class JSON [accuracy per class], frequent_acc, rare_acc, time; knn200_weighted [schema 40]
 * step_metric_blocks  (run_id → runs CASCADE, block) PK, WITHOUT ROWID: n, lo_step, lo_loss, hi_step,
 *                  hi_loss per BLOCK_STEPS (32) steps: a rollup so a long run's chart never scans every
 *                  step (metric-blocks.ts keeps it in step with step_metrics)  [schema 20]
 * run_baselines    run_id PK → runs CASCADE: pixel_knn1, pixel_knn20, pixel_knn20_weighted, pixel_knn200_weighted
 *                  (raw-pixel cosine kNN on the run's bank and queries), bank_images, test_images,
 *                  test_split_images, time  [schema 40]
 * checkpoints      id INTEGER PK, run_id → runs CASCADE, epoch, step, path, kind periodic|final|stop, created_at
 * datasets_user    path PK, name, added_at: dataset folders/files the user added
 * studies          id TEXT PK (uuid), name, spec JSON, created_at: a group of runs (runs.study_id)
 */
import type Database from 'better-sqlite3';
import { v10Initial } from './migrations/v10-initial';
import { v20StepMetricBlocks } from './migrations/v20-step-metric-blocks';
import { v30MethodSettings } from './migrations/v30-method-settings';
import { v40Readings } from './migrations/v40-readings';
import { v50BlurSetting } from './migrations/v50-blur-setting';

export interface Migration {
  /** Strictly increasing; leave gaps of 10 so a fix can slot in between. */
  version: number;
  up(db: Database.Database): void;
}

/** One file per version under migrations/, each with its SQL and code frozen. */
export const MIGRATIONS: readonly Migration[] = [
  v10Initial,
  v20StepMetricBlocks,
  v30MethodSettings,
  v40Readings,
  v50BlurSetting,
];

/** The schema version this code writes: the last migration's. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
