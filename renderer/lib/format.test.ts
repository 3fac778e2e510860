import { describe, expect, it } from 'vitest';
import { formatMethod, formatPercent } from './format';

describe('formatMethod', () => {
  it('writes the methods as the papers do', () => {
    expect(formatMethod('isd')).toBe('ISD');
    expect(formatMethod('moco')).toBe('MoCo');
  });
});

describe('formatPercent', () => {
  it('one decimal by default, a dash for missing values', () => {
    expect(formatPercent(0.5348)).toBe('53.5%');
    expect(formatPercent(null)).toBe('—');
    expect(formatPercent(Number.NaN)).toBe('—');
  });
});
