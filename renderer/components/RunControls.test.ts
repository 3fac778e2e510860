import { describe, expect, it } from 'vitest';
import { RUN_STATUSES } from '../../electron/contract';
import { actionsFor } from './RunControls';

describe('actionsFor', () => {
  it('offers only what each status allows', () => {
    const labels = (s: (typeof RUN_STATUSES)[number], canResume = true) => actionsFor(s, canResume).map((a) => a.label);
    expect(labels('running')).toEqual(['Pause', 'Stop']);
    expect(labels('paused')).toEqual(['Resume', 'Stop']);
    expect(labels('queued')).toEqual(['Cancel']);
    expect(labels('interrupted')).toEqual(['Resume']);
    expect(labels('interrupted', false)).toEqual([]);
    expect(labels('completed')).toEqual([]);
    expect(labels('failed')).toEqual([]);
    for (const s of RUN_STATUSES) expect(Array.isArray(actionsFor(s, true))).toBe(true);
  });
});
