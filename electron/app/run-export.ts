/** A run's history as files to take away: everything as one JSON document, or its metrics as CSV. */
import { IsdError } from '../errors';
import { csvText, type CsvValue } from '../csv';
import type { RunConfig } from '../run-config';
import type { CheckpointRow, EpochEvalRow, RunRow, RunStore } from '../store';

/** The JSON export: step metrics as columns (ready for a data frame). */
export interface RunExportDocument {
  format: 'isd-studio-run';
  formatVersion: 1;
  exportedAt: number;
  run: Omit<RunRow, 'config'>;
  config: RunConfig;
  evals: EpochEvalRow[];
  checkpoints: CheckpointRow[];
  stepMetrics: {
    step: number[];
    epoch: number[];
    loss: (number | null)[];
    lr: (number | null)[];
    purity: (number | null)[];
    imagesPerSec: (number | null)[];
    time: number[];
  };
}

/** Everything stored about a run as one object. */
export function exportRun(store: RunStore, id: string): RunExportDocument {
  // One read transaction, so the run row and its metrics come from the same moment.
  const read = store.db.transaction((): RunExportDocument => {
    const detail = store.getRun(id);
    const cols: RunExportDocument['stepMetrics'] = {
      step: [],
      epoch: [],
      loss: [],
      lr: [],
      purity: [],
      imagesPerSec: [],
      time: [],
    };
    for (const r of store.iterateStepMetrics(id)) {
      cols.step.push(r.step);
      cols.epoch.push(r.epoch);
      cols.loss.push(r.loss);
      cols.lr.push(r.lr);
      cols.purity.push(r.purity);
      cols.imagesPerSec.push(r.imagesPerSec);
      cols.time.push(r.time);
    }
    const { config, ...run } = detail.run;
    return {
      format: 'isd-studio-run',
      formatVersion: 1,
      exportedAt: store.ctx.now(),
      run,
      config,
      evals: detail.evals,
      checkpoints: detail.checkpoints,
      stepMetrics: cols,
    };
  });
  return read();
}

/** exportRun as compact JSON text. */
export function exportRunJson(store: RunStore, id: string): string {
  return JSON.stringify(exportRun(store, id));
}

/** A run's step metrics (default) or epoch evaluations as CSV, one row per step / epoch. */
export function exportMetricsCsv(store: RunStore, id: string, which: 'steps' | 'evals' = 'steps'): string {
  if (which === 'evals') {
    const { run, evals } = store.getRun(id);
    const header = [
      'run_id',
      'run_name',
      'epoch',
      'step',
      'knn1',
      'knn20',
      'knn20_weighted',
      'linear',
      'purity',
      'frequent_acc',
      'rare_acc',
      'per_class',
      'time',
    ];
    const rows = evals.map((e): CsvValue[] => [
      run.id,
      run.name,
      e.epoch,
      e.step,
      e.knn1,
      e.knn20,
      e.knn20Weighted,
      e.linear,
      e.purity,
      e.frequentAcc,
      e.rareAcc,
      e.perClass === null ? null : JSON.stringify(e.perClass),
      e.time,
    ]);
    return csvText(header, rows);
  }
  if (which !== 'steps')
    throw new IsdError('BAD_INPUT', `export steps or evals, not ${String(which)}`, { field: 'which' });
  const run = store.getRunRecord(id);
  const header = ['run_id', 'run_name', 'step', 'epoch', 'loss', 'lr', 'purity', 'images_per_sec', 'time'];
  function* rows(): Generator<CsvValue[]> {
    for (const r of store.iterateStepMetrics(id))
      yield [run.id, run.name, r.step, r.epoch, r.loss, r.lr, r.purity, r.imagesPerSec, r.time];
  }
  return csvText(header, rows());
}
