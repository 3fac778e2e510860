import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG, methodLabel, runConfigFields, switchMethod } from '../../electron/run-config';
import {
  DEFAULT_FORM_VALUES,
  FIELD_DOCS,
  FIELD_GROUPS,
  presetChanges,
  runFormSchema,
  toFormValues,
} from './run-config-form';
import { PRESETS } from '../../electron/presets';

describe('the hyperparameter form description', () => {
  it('documents and places every RunConfig field exactly once (dataset and imbalance live in the picker)', () => {
    const placed = FIELD_GROUPS.flatMap((g) => g.fields);
    expect(new Set(placed).size).toBe(placed.length);
    expect([...placed, 'dataset', 'imbalance'].sort()).toEqual(Object.keys(runConfigFields).sort());
    expect(Object.keys(FIELD_DOCS).sort()).toEqual(placed.sort());
    for (const doc of Object.values(FIELD_DOCS)) expect(doc.help.length).toBeLessThan(120); // one line
  });

  it('a setting of one method is a number field (the form shows it read-only under the other method)', () => {
    const methodOnly = Object.entries(FIELD_DOCS).filter(([, d]) => d.method);
    expect(methodOnly.map(([k]) => k).sort()).toEqual(['tempStudent', 'tempTeacher', 'temperature']);
    for (const [, d] of methodOnly) expect(d.widget.kind).toBe('number');
  });

  it('presetChanges lists the fields edited away from a preset, in the form’s order', () => {
    const quick = PRESETS.find((p) => p.id === 'quick')!;
    const values = { ...DEFAULT_FORM_VALUES, ...quick.values };
    expect(presetChanges(values, quick)).toEqual([]);
    expect(presetChanges({ ...values, trainLimit: 256, epochs: 1, name: 'x' }, quick)).toEqual([
      { field: 'epochs', value: 1, preset: 2 },
      { field: 'trainLimit', value: 256, preset: 5000 },
    ]);
  });

  it('the form schema turns tag text into tags and refuses what the contract refuses', () => {
    const ok = runFormSchema.safeParse({ ...DEFAULT_FORM_VALUES, tags: ' a, b ,, c ' });
    expect(ok.success && ok.data.tags).toEqual(['a', 'b', 'c']);
    const bad = runFormSchema.safeParse({ ...toFormValues(DEFAULT_RUN_CONFIG), batchSize: 100 });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['queueSize']);
    const nan = runFormSchema.safeParse({ ...DEFAULT_FORM_VALUES, lr: Number.NaN });
    expect(nan.error?.issues[0]?.path).toEqual(['lr']);
  });
});

describe('switchMethod ("Same settings, other method")', () => {
  it('switches the method and its own settings and keeps the budget', () => {
    const isd = {
      ...DEFAULT_FORM_VALUES,
      arch: 'resnet18' as const,
      batchSize: 32,
      epochs: 7,
      trainLimit: 999,
      seed: 5,
    };
    const moco = switchMethod(isd, 'moco');
    expect(moco).toMatchObject({ method: 'moco', augTeacher: 'strong', augStudent: 'strong', temperature: 0.2 });
    expect(methodLabel(moco)).toBe('MoCo v2'); // its head too: no BatchNorm
    // Shuffle BN and the BatchNorm groups are shared by both methods: kept, as the budget
    const budget = [
      'arch',
      'batchSize',
      'epochs',
      'trainLimit',
      'imageSize',
      'seed',
      'queueSize',
      'lr',
      'shuffleBn',
      'bnGroups',
    ] as const;
    for (const f of budget) expect([f, moco[f]]).toEqual([f, isd[f]]);
    const back = switchMethod(moco, 'isd');
    expect(back).toMatchObject({ method: 'isd', augTeacher: 'weak', tempTeacher: 0.01, tempStudent: 0.1 });
    expect(back.projectionBn).toBe(true);
    for (const f of budget) expect([f, back[f]]).toEqual([f, isd[f]]);
  });
});
