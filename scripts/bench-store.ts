/**
 * Speed of the run history on a real file in a temp folder, against the targets of issue 2:
 * appending 100,000 step metrics in batches of 100 (< 1 s), a first page of 50 runs with its total
 * among 10,000 runs (< 50 ms), one run's 100,000-point curve cut to 1,000 points (< 50 ms).
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-store.js [--json] [--check] [--runs N] [--rows N] [--keep]
 *
 * --check exits 1 when a target is missed. Times are medians of repeats (three appends into three
 * runs; 11 or 21 calls of each query), the first and slowest are reported too; the machine may be
 * shared, so quote numbers with that caveat.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor } from '../electron/errors';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../electron/run-config';
import { openRunStore, type RunListQuery, type RunStore, type StepMetricInput } from '../electron/store';
import { runMain } from './run-main';

interface Timing {
  name: string;
  /** Median of the repeats, in ms. */
  ms: number;
  firstMs: number;
  maxMs: number;
  repeats: number;
  targetMs: number;
  ok: boolean;
  detail: Record<string, number>;
}

const APPEND_TARGET_MS = 1000;
const LIST_TARGET_MS = 50;
const CURVE_TARGET_MS = 50;

function timeRepeated(name: string, targetMs: number, repeats: number, fn: () => Record<string, number>): Timing {
  const times: number[] = [];
  let detail: Record<string, number> = {};
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    detail = fn();
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const ms = sorted[Math.floor(sorted.length / 2)];
  return {
    name,
    ms,
    firstMs: times[0],
    maxMs: sorted[sorted.length - 1],
    repeats,
    targetMs,
    ok: ms < targetMs,
    detail,
  };
}

/** 10,000-ish runs with a realistic spread of methods, datasets, statuses, tags and metrics (not timed). */
function seedRuns(store: RunStore, count: number, clock: { t: number }): void {
  const datasets = [
    ['fashion-mnist', 'Fashion-MNIST'],
    ['cifar10', 'CIFAR-10'],
    ['cifar100', 'CIFAR-100'],
    ['/home/me/photos/flowers', 'flowers'],
  ] as const;
  const seedAll = store.db.transaction(() => {
    for (let i = 0; i < count; i++) {
      clock.t += 60_000;
      const [dataset, datasetName] = datasets[i % datasets.length];
      const config: RunConfig = {
        ...DEFAULT_RUN_CONFIG,
        dataset,
        method: i % 3 === 0 ? 'moco' : 'isd',
        epochs: 10 + (i % 5) * 10,
        tempTeacher: [0.01, 0.02, 0.04][i % 3],
        seed: i,
        tags: i % 10 === 0 ? ['baseline'] : i % 7 === 0 ? ['sweep', 'long-tail'] : [],
      };
      const run = store.createRun(config, { datasetName, name: `run ${i} ${datasetName}`, status: 'running' });
      const roll = i % 20;
      if (roll === 0) store.updateRun(run.id, { status: 'failed', error: 'loss is NaN' });
      else if (roll === 1) store.updateRun(run.id, { status: 'stopped', epochsDone: 3 });
      else if (roll !== 2) {
        const knn20 = 0.6 + ((i * 7919) % 300) / 1000;
        store.updateRun(run.id, {
          status: 'completed',
          epochsDone: config.epochs,
          knn1: knn20 - 0.03,
          knn20,
          bestKnn20: knn20,
          imagesPerSec: 300 + (i % 50),
        });
      }
    }
  });
  seedAll();
}

/** Appends `rows` steps in batches to each of `repeats` fresh runs; the median run is the result. */
function appendMetrics(store: RunStore, runIds: string[], rows: number, batch: number): Timing {
  const batches: StepMetricInput[][] = [];
  for (let start = 1; start <= rows; start += batch) {
    const b: StepMetricInput[] = [];
    for (let s = start; s < start + batch && s <= rows; s++) {
      b.push({
        step: s,
        epoch: Math.floor(s / 469),
        loss: 8 * Math.exp(-s / 20_000) + 0.3 * Math.sin(s / 37),
        lr: 0.05,
        imagesPerSec: 420 + (s % 13),
        time: 1_700_000_000_000 + s * 250,
      });
    }
    batches.push(b);
  }
  let i = 0;
  const t = timeRepeated(`append ${rows} step rows in batches of ${batch}`, APPEND_TARGET_MS, runIds.length, () => {
    const runId = runIds[i++];
    for (const b of batches) store.appendStepMetrics(runId, b);
    return { rows, batches: batches.length };
  });
  t.detail.rowsPerSec = Math.round(rows / (t.ms / 1000));
  return t;
}

function listQuery(store: RunStore, label: string, q: RunListQuery): Timing {
  return timeRepeated(`list runs: ${label}`, LIST_TARGET_MS, 21, () => {
    const page = store.listRuns(q);
    return { total: page.total, returned: page.runs.length };
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      runs: { type: 'string', default: '10000' },
      rows: { type: 'string', default: '100000' },
    },
  });
  const runCount = Number(values.runs);
  const rowCount = Number(values.rows);
  if (!Number.isInteger(runCount) || runCount < 1) throw new Error('--runs must be a whole number ≥ 1');
  if (!Number.isInteger(rowCount) || rowCount < 100) throw new Error('--rows must be a whole number ≥ 100');
  const log = (line: string) => (values.json ? process.stderr : process.stdout).write(line + '\n');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-bench-store-'));
  const file = path.join(dir, 'runs.sqlite');
  const clock = { t: 1_700_000_000_000 };
  const store = openRunStore(file, { now: () => clock.t });
  const timings: Timing[] = [];
  try {
    log(`store file: ${file}`);
    const t0 = performance.now();
    seedRuns(store, runCount, clock);
    log(`seeded ${runCount} runs in ${(performance.now() - t0).toFixed(0)} ms (not timed against a target)`);

    const runs = [1, 2, 3].map(() =>
      store.createRun(
        { ...DEFAULT_RUN_CONFIG, dataset: 'fashion-mnist' },
        { datasetName: 'Fashion-MNIST', status: 'running' },
      ),
    );
    timings.push(
      appendMetrics(
        store,
        runs.map((r) => r.id),
        rowCount,
        100,
      ),
    );
    const run = runs[1];

    timings.push(listQuery(store, 'newest first, page 1 of 50', { limit: 50 }));
    timings.push(
      listQuery(store, 'status=completed, method=isd, by kNN-20 desc', {
        status: 'completed',
        method: 'isd',
        sort: 'knn20',
        order: 'desc',
        limit: 50,
      }),
    );
    timings.push(
      listQuery(store, 'dataset=CIFAR-100, tag=baseline', { dataset: 'CIFAR-100', tag: 'baseline', limit: 50 }),
    );
    timings.push(
      listQuery(store, 'search "flowers", by name', { search: 'flowers', sort: 'name', order: 'asc', limit: 50 }),
    );

    timings.push(
      timeRepeated(`curves: ${rowCount} points down to 1000`, CURVE_TARGET_MS, 11, () => {
        const c = store.getCurves(run.id, { maxPoints: 1000 });
        return { totalPoints: c.totalPoints, points: c.points.length };
      }),
    );
  } finally {
    store.close();
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  }

  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
  const allOk = timings.every((t) => t.ok);
  if (values.json) {
    process.stdout.write(JSON.stringify({ machine, runs: runCount, rows: rowCount, timings, ok: allOk }) + '\n');
  } else {
    log(
      `machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node} (numbers vary when the machine is shared)`,
    );
    for (const t of timings) {
      const extra = Object.entries(t.detail)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      const spread =
        t.repeats > 1 ? ` (median of ${t.repeats}; first ${t.firstMs.toFixed(1)}, max ${t.maxMs.toFixed(1)})` : '';
      log(`${t.ok ? 'ok  ' : 'SLOW'} ${t.name}: ${t.ms.toFixed(1)} ms${spread}, target < ${t.targetMs} ms; ${extra}`);
    }
  }
  if (values.check && !allOk) process.exitCode = 1;
}

if (require.main === module) runMain(main, exitCodeFor);
