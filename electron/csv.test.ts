import { describe, expect, it } from 'vitest';
import { csvField, csvText } from './csv';

describe('csvField', () => {
  it('leaves plain values bare and quotes what RFC 4180 requires', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField(0.125)).toBe('0.125');
    expect(csvField(1e-7)).toBe('1e-7');
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(true)).toBe('true');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField(' padded ')).toBe('" padded "');
    expect(csvField('')).toBe('');
  });

  it('defuses text a spreadsheet would run as a formula, but not negative numbers', () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(-0.5)).toBe('-0.5');
  });

  it('joins rows with CRLF and ends with a line break', () => {
    expect(
      csvText(
        ['a', 'b'],
        [
          [1, 'x,y'],
          [null, 2],
        ],
      ),
    ).toBe('a,b\r\n1,"x,y"\r\n,2\r\n');
    expect(csvText(['only'], [])).toBe('only\r\n');
  });
});
