import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_CONFIG, methodLabel, runConfigFields } from '../../electron/run-config';
import {
  DEFAULT_FORM_VALUES,
  FIELD_DOCS,
  FIELD_GROUPS,
  runFormSchema,
  switchMethod,
  toFormValues,
} from './run-config-form';

describe('the hyperparameter form description', () => {
  it('documents and places every RunConfig field exactly once (dataset and imbalance live in the picker)', () => {
    const placed = FIELD_GROUPS.flatMap((g) => g.fields);
    expect(new Set(placed).size).toBe(placed.length);
    expect([...placed, 'dataset', 'imbalance'].sort()).toEqual(Object.keys(runConfigFields).sort());
    expect(Object.keys(FIELD_DOCS).sort()).toEqual(placed.sort());
    for (const doc of Object.values(FIELD_DOCS)) expect(doc.help.length).toBeLessThan(120); // one line
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
