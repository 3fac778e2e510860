import { describe, expect, it } from 'vitest';
import { canBecome, isResumable, RUN_STATUSES, type RunStatus } from '../../electron/run-status';
import { actionsFor } from './RunControls';

const labels = (s: RunStatus, canResume = true) => actionsFor(s, canResume).map((a) => a.label);

/** The status each control asks the run to move to. */
const TARGET = { 'runs.pause': 'paused', 'runs.resume': 'running', 'runs.stop': 'stopped' } as const;

describe('actionsFor', () => {
  it('offers only what each status allows', () => {
    expect(labels('running')).toEqual(['Pause', 'Stop']);
    expect(labels('paused')).toEqual(['Resume', 'Stop']);
    expect(labels('queued')).toEqual(['Cancel']);
    expect(labels('interrupted')).toEqual(['Resume']);
    expect(labels('interrupted', false)).toEqual([]);
    expect(labels('stopped')).toEqual(['Resume']);
    expect(labels('stopped', false)).toEqual([]);
    expect(labels('failed')).toEqual(['Resume']);
    expect(labels('failed', false)).toEqual([]);
    expect(labels('completed')).toEqual([]);
  });

  it('never offers a move the status rules forbid, and offers Resume exactly where a run is resumable', () => {
    for (const s of RUN_STATUSES) {
      for (const canResume of [true, false]) {
        for (const a of actionsFor(s, canResume))
          expect(canBecome(s, TARGET[a.action]), `${s} → ${a.action}`).toBe(true);
        const offersResume = actionsFor(s, canResume).some((a) => a.action === 'runs.resume');
        expect(offersResume, `${s}, canResume ${canResume}`).toBe(
          s === 'paused' || (canResume && isResumable(s, true)),
        );
      }
    }
  });
});
