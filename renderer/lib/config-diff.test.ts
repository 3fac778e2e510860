import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG } from '../../electron/run-config';
import { configRows, NOT_USED } from './config-diff';
import { formatDuration, formatNumber, formatPercent } from './format';

describe('configRows', () => {
  const a = { ...DEFAULT_RUN_CONFIG, method: 'isd' as const, weightDecay: 1e-4, tags: ['x', 'y'] };
  const b = { ...DEFAULT_RUN_CONFIG, method: 'moco' as const, weightDecay: 1e-4, tags: ['x', 'y'] };
  const c = { ...DEFAULT_RUN_CONFIG, method: 'moco' as const, weightDecay: 5e-4, tags: [] };

  it('lists every field, in the given order first, with formatted values', () => {
    const rows = configRows([a, b], ['method', 'weightDecay'], false);
    expect(rows.map((r) => r.field).slice(0, 3)).toEqual(['method', 'weightDecay', 'dataset']);
    expect(rows).toHaveLength(Object.keys(DEFAULT_RUN_CONFIG).length);
    expect(rows[1]).toEqual({ field: 'weightDecay', values: ['1e-4', '1e-4'], differs: false });
  });

  it('keeps only differing fields when asked; arrays compare by content', () => {
    expect(configRows([a, b], [], true).map((r) => r.field)).toEqual(['method']);
    expect(configRows([a, b, c], ['method'], true)).toEqual([
      { field: 'method', values: ['isd', 'moco', 'moco'], differs: true },
      { field: 'weightDecay', values: ['1e-4', '1e-4', '5e-4'], differs: true },
      { field: 'tags', values: ['x, y', 'x, y', '—'], differs: true },
    ]);
    expect(configRows([], [], true)).toEqual([]);
  });

  it("marks a field the run's method does not read, and leaves out a row no run uses", () => {
    const only = { temperature: 'moco', tempTeacher: 'isd' } as const;
    // ISD beside MoCo: each temperature differs (a value against "not used"), so differences show it
    expect(configRows([a, b], [], true, only)).toEqual([
      { field: 'method', values: ['isd', 'moco'], differs: true },
      { field: 'tempTeacher', values: [String(DEFAULT_RUN_CONFIG.tempTeacher), NOT_USED], differs: true },
      { field: 'temperature', values: [NOT_USED, String(DEFAULT_RUN_CONFIG.temperature)], differs: true },
    ]);
    // one ISD run: MoCo's T is not listed at all
    const fields = configRows([a], [], false, only).map((r) => r.field);
    expect(fields).toContain('tempTeacher');
    expect(fields).not.toContain('temperature');
  });
});

describe('formats', () => {
  it('formats numbers, percentages and durations for people', () => {
    expect(formatNumber(0.05)).toBe('0.05');
    expect(formatNumber(1e-4)).toBe('1e-4');
    expect(formatNumber(4096)).toBe('4096');
    expect(formatNumber(3.926950444355675e-4)).toBe('3.927e-4');
    expect(formatPercent(0.8123)).toBe('81.2%');
    expect(formatPercent(null)).toBe('—');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3 h 02 min');
  });
});
