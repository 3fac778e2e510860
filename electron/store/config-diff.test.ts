import { describe, expect, it } from 'vitest';
import { configDiff } from './config-diff';

describe('configDiff', () => {
  it('lists only the fields whose values differ, one value per config', () => {
    const a = { method: 'isd', lr: 0.05, epochs: 20, name: 'a', tags: ['x'], aug: { crop: 0.2 } };
    const b = { method: 'moco', lr: 0.05, epochs: 20, name: 'b', tags: [], aug: { crop: 0.2 } };
    const c = { method: 'isd', lr: 0.05, epochs: 40, name: 'c', tags: [], aug: { crop: 0.5 } };
    expect(configDiff([a, b, c])).toEqual({
      method: ['isd', 'moco', 'isd'],
      epochs: [20, 20, 40],
      aug: [{ crop: 0.2 }, { crop: 0.2 }, { crop: 0.5 }],
    });
    expect(configDiff([a, { ...a }])).toEqual({});
  });

  it('shows a field missing from an older config as null', () => {
    expect(configDiff([{ lr: 1, linearEval: true }, { lr: 1 }])).toEqual({ linearEval: [true, null] });
  });
});
