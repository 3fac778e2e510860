import { describe, expect, it } from 'vitest';
import { parseImbalance } from '../../electron/run-config';
import { imbalanceFromInputs, trainedOn } from './ImbalanceOptions';

describe('imbalanceFromInputs', () => {
  it('builds spec text that run-config parses back', () => {
    for (const [kind, rho, large, perSmall, text] of [
      ['none', '', '', '', 'none'],
      ['longtail', '10', '', '', 'longtail:10'],
      ['longtail', '2.5', '', '', 'longtail:2.5'],
      ['dominant', '', '3', '100', 'dominant:3:100'],
    ] as const) {
      const r = imbalanceFromInputs(kind, rho, large, perSmall);
      expect(r).toEqual({ ok: true, text });
      if (r.ok) expect(() => parseImbalance(r.text)).not.toThrow();
    }
  });

  it('names the parameter at fault', () => {
    expect(imbalanceFromInputs('longtail', '0.5', '', '')).toMatchObject({ ok: false, field: 'rho' });
    expect(imbalanceFromInputs('longtail', '', '', '')).toMatchObject({ ok: false, field: 'rho' });
    expect(imbalanceFromInputs('dominant', '', '1.5', '100')).toMatchObject({ ok: false, field: 'large' });
    expect(imbalanceFromInputs('dominant', '', '2', '0')).toMatchObject({ ok: false, field: 'perSmall' });
  });
});

describe('trainedOn (the draw preview says what the run trains on)', () => {
  it('names Training images only when it keeps fewer than the draw gives', () => {
    expect(trainedOn(10_000, 5000)).toBe('; the run trains on the first 5,000 (Training images)');
    expect(trainedOn(10_000, 0)).toBe('');
    expect(trainedOn(4000, 5000)).toBe('');
    expect(trainedOn(5000, 5000)).toBe('');
    expect(trainedOn(10_000, Number.NaN)).toBe('');
  });
});
