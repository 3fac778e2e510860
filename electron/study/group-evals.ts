/**
 * The engine reports 1-NN, 20-NN and weighted 20-NN accuracy on the frequent and the rare classes
 * apart, but the run store keeps only the 20-NN pair (epoch_evals.frequent_acc / rare_acc). This tap
 * on the engine's events keeps all of them in <checkpointDir>/group-evals.json, one entry per epoch
 * evaluation, so the study can report 1-NN on frequent and rare classes too. Wire it where the app
 * services are created: createAppServices({ …, startEngine: recordGroupEvals(startEngineRun) }).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { EngineRunHandle, EngineRunRequest } from '../engine/run-engine';
import type { EpochEvalEvent, KnnMetrics, WorkerToMain } from '../engine/protocol';

export const GROUP_EVALS_FILE = 'group-evals.json';

export interface GroupEval {
  epoch: number;
  step: number;
  all: KnnMetrics;
  frequent: KnnMetrics | null;
  rare: KnnMetrics | null;
}

type Starter = (request: EngineRunRequest, onEvent: (event: WorkerToMain) => void) => EngineRunHandle;

const knn = (m: KnnMetrics): KnnMetrics => ({
  knn1: m.knn1,
  knn20: m.knn20,
  knn20Weighted: m.knn20Weighted,
  knn200Weighted: m.knn200Weighted,
});

/** Reads a run's group evaluations, ordered by epoch; [] when the file is missing or unreadable. */
export function readGroupEvals(checkpointDir: string | null): GroupEval[] {
  if (!checkpointDir) return [];
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(checkpointDir, GROUP_EVALS_FILE), 'utf8')) as {
      evals?: GroupEval[];
    };
    return Array.isArray(parsed.evals)
      ? parsed.evals.filter((e) => Number.isInteger(e?.epoch)).sort((a, b) => a.epoch - b.epoch)
      : [];
  } catch {
    return [];
  }
}

/** Adds (or, after a resume replays an epoch, replaces) one evaluation; written atomically. */
export function writeGroupEval(checkpointDir: string, e: EpochEvalEvent): void {
  const evals = readGroupEvals(checkpointDir).filter((x) => x.epoch !== e.epoch);
  evals.push({
    epoch: e.epoch,
    step: e.step,
    all: knn(e),
    frequent: e.frequent ? knn(e.frequent) : null,
    rare: e.rare ? knn(e.rare) : null,
  });
  evals.sort((a, b) => a.epoch - b.epoch);
  fs.mkdirSync(checkpointDir, { recursive: true });
  const file = path.join(checkpointDir, GROUP_EVALS_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ evals }));
  fs.renameSync(`${file}.tmp`, file);
}

/** Wraps an engine starter so every evaluation with frequent/rare classes is also written to group-evals.json. */
export function recordGroupEvals(start: Starter): Starter {
  return (request, onEvent) =>
    start(request, (event) => {
      if (event.type === 'epochEval' && (event.frequent || event.rare)) {
        try {
          writeGroupEval(path.join(request.checkpointRoot, request.runId), event);
        } catch {
          // Only the 1-NN frequent/rare cells of a study depend on this file; the run itself goes on.
        }
      }
      onEvent(event);
    });
}
