// The soak of issue 11 (scripts/soak.ts) in short, so CI keeps proving it: 4 tiny runs from a real web
// host process and real `isd train` processes on one history file, random pauses, resumes, stops and
// Ctrl-C, one kill -9 of the host, then the end-state checks. No timing assertions: a loaded machine
// only makes the drain end at the budget, and the processes are then ended as a user would end them.
import { expect, it } from 'vitest';
import { runSoak } from './soak';

it('a web host and isd train on one history: nothing trained twice, every run settled with its reason, no row lost', async () => {
  const r = await runSoak({ runs: 4, budgetMs: 240_000, seed: 11 });
  expect(r.problems).toEqual([]);
  expect(r.runsFromHost + r.runsFromCli).toBe(4);
  expect(r.kills).toBe(1);
  expect(r.maxTraining).toBeLessThanOrEqual(1);
  expect(Object.values(r.statuses).reduce((a, b) => a + (b ?? 0), 0)).toBe(4);
}, 600_000);
