import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import { DEFAULT_RUN_CONFIG, methodLabel, validateRunConfig } from '../run-config';
import { openDatabase, userVersion } from './database';
import { BLOCK_STEPS, blocksOf } from './metric-blocks';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';
import { openRunStore } from './run-store';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-store-db-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tables(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .all()
    .map((r) => r.name);
}

function schemaSql(file: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return db
      .prepare<[], { sql: string }>('SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name')
      .all()
      .map((r) => r.sql);
  } finally {
    db.close();
  }
}

function caught(fn: () => unknown): IsdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IsdError) return err;
    throw err;
  }
  throw new Error('expected an IsdError, nothing was thrown');
}

describe('openDatabase', () => {
  it('builds the schema on an empty file, creating its folder, and sets the pragmas', () => {
    const file = path.join(dir, 'nested', 'deeper', 'runs.sqlite');
    const { db, fromVersion, toVersion } = openDatabase(file);
    try {
      expect(fromVersion).toBe(0);
      expect(toVersion).toBe(SCHEMA_VERSION);
      expect(userVersion(db)).toBe(SCHEMA_VERSION);
      expect(tables(db)).toEqual([
        'checkpoints',
        'datasets_user',
        'epoch_evals',
        'run_baselines',
        'run_tags',
        'runs',
        'step_metric_blocks',
        'step_metrics',
        'studies',
      ]);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      const indexes = db
        .prepare<[], { name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'",
        )
        .all()
        .map((r) => r.name);
      expect(indexes).toEqual(
        expect.arrayContaining([
          'runs_by_created',
          'runs_by_status',
          'runs_by_method',
          'runs_by_dataset',
          'checkpoints_by_run',
        ]),
      );
    } finally {
      db.close();
    }
    expect(fs.existsSync(file)).toBe(true);
  });

  it('reopens an up-to-date file without changing its schema or data', () => {
    const file = path.join(dir, 'runs.sqlite');
    const store = openRunStore(file);
    const run = store.createRun({ ...DEFAULT_RUN_CONFIG, dataset: 'fashion-mnist' });
    store.close();
    const before = schemaSql(file);

    const again = openRunStore(file);
    try {
      expect(again.openReport).toEqual({
        fromVersion: SCHEMA_VERSION,
        toVersion: SCHEMA_VERSION,
        interruptedRunIds: [],
      });
      expect(again.getRunRecord(run.id).dataset).toBe('fashion-mnist');
    } finally {
      again.close();
    }
    expect(schemaSql(file)).toEqual(before);
  });

  it('upgrades a schema-10 file with metrics: schema 20 builds the block rollup from the stored rows', () => {
    const file = path.join(dir, 'old.sqlite');
    const { db } = openDatabase(file, { migrations: MIGRATIONS.filter((m) => m.version === 10) });
    db.prepare(
      `INSERT INTO runs (id, name, method, arch, dataset, dataset_name, config, status, created_at, epochs) VALUES ('r1', 'old run', 'isd', 'resnet20', 'd', 'd', '{}', 'completed', 1, 1)`,
    ).run();
    const insert = db.prepare(
      'INSERT INTO step_metrics (run_id, step, epoch, loss, lr, time) VALUES (?, ?, 0, ?, 0.1, 0)',
    );
    const rows = Array.from({ length: 1000 }, (_, i) => ({ step: i + 1, loss: i === 500 ? null : Math.cos(i) }));
    for (const r of rows) insert.run('r1', r.step, r.loss);
    expect(userVersion(db)).toBe(10);
    db.close();

    const store = openRunStore(file);
    try {
      expect(store.openReport).toMatchObject({ fromVersion: 10, toVersion: SCHEMA_VERSION });
      const stored = store.db
        .prepare(
          'SELECT block, n, lo_step AS loStep, lo_loss AS loLoss, hi_step AS hiStep, hi_loss AS hiLoss FROM step_metric_blocks ORDER BY block',
        )
        .all();
      expect(stored).toEqual([...blocksOf(rows).values()].sort((a, b) => a.block - b.block));
      expect(stored).toHaveLength(Math.floor(1000 / BLOCK_STEPS) + 1);
      expect(store.getCurves('r1', { maxPoints: 10 }).totalPoints).toBe(1000);
    } finally {
      store.close();
    }
  });

  it('upgrades a schema-20 history: old runs say what they ran (ISD+ head, no Shuffle BN, blur in pixels; MoCo with ISD+ views)', () => {
    const file = path.join(dir, 'before-shuffle-bn.sqlite');
    const { db } = openDatabase(file, { migrations: MIGRATIONS.filter((m) => m.version <= 20) });
    // The configs as the app stored them before schema 30: the full RunConfig of the time, without the new fields.
    const { projectionBn, shuffleBn, bnGroups, blur, ...before } = DEFAULT_RUN_CONFIG;
    expect([projectionBn, shuffleBn, bnGroups, blur]).toBeDefined();
    const old = {
      isd: { ...before, method: 'isd', augTeacher: 'weak', augStudent: 'strong' },
      moco: { ...before, method: 'moco', augTeacher: 'weak', augStudent: 'strong', temperature: 0.2 },
    };
    const insert = db.prepare(
      `INSERT INTO runs (id, name, method, arch, dataset, dataset_name, config, status, created_at, epochs) VALUES (?, ?, ?, 'resnet20', 'd', 'd', ?, 'completed', 1, 1)`,
    );
    for (const [method, config] of Object.entries(old))
      insert.run(method, `old ${method}`, method, JSON.stringify(config));
    expect(userVersion(db)).toBe(20);
    db.close();

    const store = openRunStore(file);
    try {
      expect(store.openReport).toMatchObject({ fromVersion: 20, toVersion: SCHEMA_VERSION });
      const moco = store.getRunRecord('moco').config;
      expect(moco).toEqual({ ...old.moco, projectionBn: true, shuffleBn: false, bnGroups: 1, blur: 'pixels' });
      expect(methodLabel(moco)).toBe('MoCo with ISD+ views, no Shuffle BN');
      const isd = store.getRunRecord('isd').config;
      expect(isd).toEqual({ ...old.isd, projectionBn: true, shuffleBn: false, bnGroups: 1, blur: 'pixels' });
      expect(methodLabel(isd)).toBe('ISD+, no Shuffle BN');
      // "Run again" keeps the meaning: the stored config validates to itself, not to today's defaults.
      for (const c of [moco, isd]) expect(validateRunConfig(c)).toEqual({ ok: true, config: c });
    } finally {
      store.close();
    }
    // A new MoCo run is MoCo v2.
    expect(methodLabel((validateRunConfig({ method: 'moco' }) as { config: typeof DEFAULT_RUN_CONFIG }).config)).toBe(
      'MoCo v2',
    );
  });

  it('says the file is locked when another program holds the write lock past the busy timeout', () => {
    const file = path.join(dir, 'locked.sqlite');
    openRunStore(file).close();
    const other = new Database(file);
    other.prepare('BEGIN IMMEDIATE').run();
    try {
      const err = caught(() => openRunStore(file, { busyTimeoutMs: 50 }));
      expect(err.code).toBe('CONFLICT');
      expect(err.message).toBe(`${file} is locked by another program; close it or use another --db`);
    } finally {
      other.prepare('ROLLBACK').run();
      other.close();
    }
    openRunStore(file).close();
  });

  it('numbers the migrations in increasing steps of 10', () => {
    MIGRATIONS.forEach((m, i) => {
      expect(m.version % 10).toBe(0);
      if (i > 0) expect(m.version).toBeGreaterThan(MIGRATIONS[i - 1].version);
    });
  });

  it('refuses a database written by a newer version and leaves it untouched', () => {
    const file = path.join(dir, 'future.sqlite');
    openRunStore(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 10}`);
    raw.close();

    const err = caught(() => openRunStore(file));
    expect(err.code).toBe('DB_TOO_NEW');
    expect(err.message).toBe(
      `${file} was written by a newer ISD Studio (schema ${SCHEMA_VERSION + 10}, this version knows ${SCHEMA_VERSION}); update the app or use another --db`,
    );
    const check = new Database(file, { readonly: true });
    expect(userVersion(check)).toBe(SCHEMA_VERSION + 10);
    check.close();
  });

  it('opens a refused database read-only and leaves it byte for byte as it was (newer schema, another program)', () => {
    const newer = path.join(dir, 'newer.sqlite');
    const raw = new Database(newer); // rollback journal, as another SQLite program leaves it: header bytes 18–19 are 1
    raw.exec('CREATE TABLE runs (id TEXT)');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 10}`);
    raw.close();
    const foreign = path.join(dir, 'contacts.sqlite');
    const other = new Database(foreign);
    other.exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('ada')");
    other.close();
    for (const [file, code] of [
      [newer, 'DB_TOO_NEW'],
      [foreign, 'BAD_INPUT'],
    ] as const) {
      const before = fs.readFileSync(file);
      expect([before[18], before[19]]).toEqual([1, 1]);
      expect(caught(() => openRunStore(file)).code).toBe(code);
      // The same through a real `isd` process.
      const cli = spawnSync(process.execPath, [path.resolve('bin/isd.js'), 'runs', 'list', '--db', file], {
        encoding: 'utf8',
      });
      expect(cli.status).toBe(2);
      expect(cli.stderr.trim().split('\n')).toHaveLength(1);
      expect(cli.stderr).toContain(file);
      expect(fs.readFileSync(file).equals(before), `${file} changed`).toBe(true);
      expect(fs.existsSync(`${file}-wal`) || fs.existsSync(`${file}-shm`)).toBe(false);
    }
  });

  it('refuses a file that is not a SQLite database, without changing it', () => {
    const file = path.join(dir, 'notes.txt');
    const text = 'these are my notes, not a database\n'.repeat(200);
    fs.writeFileSync(file, text);
    const err = caught(() => openRunStore(file));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.path).toBe(file);
    expect(err.message).toBe(`${file} is not an ISD Studio run history (not a SQLite database); use another --db`);
    expect(fs.readFileSync(file, 'utf8')).toBe(text);
  });

  it("refuses another program's SQLite database", () => {
    const file = path.join(dir, 'other.sqlite');
    const raw = new Database(file);
    raw.exec('CREATE TABLE contacts (name TEXT)');
    raw.close();
    const err = caught(() => openRunStore(file));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toContain('another program');
    expect(err.message).toContain('"contacts"');
  });

  it('refuses a folder given as the file', () => {
    const err = caught(() => openRunStore(dir));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toBe(`${dir} is a folder; --db needs a file path`);
  });

  it('refuses a path whose parent is a file', () => {
    const blocker = path.join(dir, 'plain-file');
    fs.writeFileSync(blocker, 'x');
    const err = caught(() => openRunStore(path.join(blocker, 'runs.sqlite')));
    expect(err.code).toBe('BAD_INPUT');
    expect(err.message).toBe(`${path.join(blocker, 'runs.sqlite')}: a part of this path is a file, not a folder`);
  });

  it('runs all pending migrations in one transaction: a failing one leaves nothing behind', () => {
    const file = path.join(dir, 'atomic.sqlite');
    const broken: Migration[] = [
      { version: 10, up: (db) => db.exec('CREATE TABLE first_table (x INTEGER)') },
      {
        version: 20,
        up: () => {
          throw new Error('boom');
        },
      },
    ];
    const err = caught(() => openDatabase(file, { migrations: broken }));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toContain('migration to schema 20 failed: boom');
    const check = new Database(file, { readonly: true });
    expect(userVersion(check)).toBe(0);
    expect(tables(check)).toEqual([]);
    check.close();
  });

  it('applies only the pending migrations, in order, and records the last version', () => {
    const file = path.join(dir, 'steps.sqlite');
    const applied: number[] = [];
    const step = (version: number): Migration => ({
      version,
      up: (db) => {
        applied.push(version);
        db.exec(`CREATE TABLE t${version} (x INTEGER)`);
      },
    });
    openDatabase(file, { migrations: [step(10)] }).db.close();
    const { db, fromVersion, toVersion } = openDatabase(file, { migrations: [step(10), step(20), step(30)] });
    expect([fromVersion, toVersion]).toEqual([10, 30]);
    expect(applied).toEqual([10, 20, 30]);
    expect(userVersion(db)).toBe(30);
    expect(tables(db)).toEqual(['t10', 't20', 't30']);
    db.close();
  });

  it('rejects a migration list that is out of order', () => {
    const noop = () => undefined;
    const err = caught(() =>
      openDatabase(path.join(dir, 'x.sqlite'), {
        migrations: [
          { version: 20, up: noop },
          { version: 10, up: noop },
        ],
      }),
    );
    expect(err.code).toBe('INTERNAL');
  });
});
