import { describe, expect, it } from 'vitest';
import { rememberedValues, rememberValues } from './remembered-settings';
import { DEFAULT_FORM_VALUES } from './run-config-form';

/** A Storage over a Map: the browser's interface, in Node. */
function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, v),
  };
}

describe('remembered New run settings', () => {
  it('gives back the last settings per dataset, and the last dataset by default, never the run name', () => {
    const s = memoryStorage();
    expect(rememberedValues(undefined, s)).toBeNull();
    rememberValues({ ...DEFAULT_FORM_VALUES, dataset: 'sample', batchSize: 32, name: 'one run' }, s);
    rememberValues({ ...DEFAULT_FORM_VALUES, dataset: 'folder-1', batchSize: 16, epochs: 7 }, s);
    expect(rememberedValues(undefined, s)).toMatchObject({ dataset: 'folder-1', batchSize: 16, epochs: 7 });
    expect(rememberedValues('sample', s)).toMatchObject({ dataset: 'sample', batchSize: 32, name: '' });
    expect(rememberedValues('other', s)).toBeNull();
  });

  it('ignores fields the form does not have, of the wrong type, and unreadable storage', () => {
    const s = memoryStorage();
    s.setItem(
      'isd.newRun.v1',
      JSON.stringify({ last: 'x', byDataset: { x: { batchSize: '64', removedField: 1, epochs: 3 } } }),
    );
    const v = rememberedValues(undefined, s)!;
    expect(v.batchSize).toBe(DEFAULT_FORM_VALUES.batchSize);
    expect(v.epochs).toBe(3);
    expect('removedField' in v).toBe(false);
    s.setItem('isd.newRun.v1', '{not json');
    expect(rememberedValues(undefined, s)).toBeNull();
  });
});
