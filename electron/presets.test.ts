import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromFlags } from './cli-train-flags';
import { DEFAULT_RUN_CONFIG, METHOD_DEFAULTS, methodLabel, runConfigSchema } from './run-config';
import { findPreset, PRESETS } from './presets';

describe('presets', () => {
  it('every preset gives a valid config over the defaults, and ids are unique', () => {
    for (const p of PRESETS)
      expect(runConfigSchema.safeParse({ ...DEFAULT_RUN_CONFIG, ...p.values }).success, p.id).toBe(true);
    expect(new Set(PRESETS.map((p) => p.id)).size).toBe(PRESETS.length);
  });

  it('isd train: the preset, then --config, then flags, each overriding the one before', () => {
    const preset = findPreset('cpu-ten-minutes')!.values;
    const fromPreset = configFromFlags({ preset: 'cpu-ten-minutes', dataset: 'sample' });
    expect(fromPreset).toMatchObject(preset);

    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'isd-preset-')), 'config.json');
    fs.writeFileSync(file, JSON.stringify({ epochs: 3, lr: 0.02 }));
    const layered = configFromFlags({ preset: 'cpu-ten-minutes', config: file, lr: '0.01', dataset: 'sample' });
    expect(layered).toMatchObject({ ...preset, epochs: 3, lr: 0.01 });
  });

  it("isd train: --method over an ISD preset brings MoCo v2's own settings and keeps the budget; a flag still wins", () => {
    const preset = findPreset('cpu-ten-minutes')!.values;
    const moco = configFromFlags({ preset: 'cpu-ten-minutes', method: 'moco', dataset: 'sample' });
    expect(moco).toMatchObject({
      ...METHOD_DEFAULTS.moco,
      method: 'moco',
      epochs: preset.epochs,
      trainLimit: preset.trainLimit,
    });
    expect(methodLabel(moco)).toBe('MoCo v2');
    const ablation = configFromFlags({
      preset: 'cpu-ten-minutes',
      method: 'moco',
      augTeacher: 'weak',
      projectionBn: 'true',
      dataset: 'sample',
    });
    expect(methodLabel(ablation)).toBe('MoCo with ISD+ views');
    // A config file's own method settings outlive --method; only a file naming the other method loses them.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-preset-'));
    fs.writeFileSync(path.join(dir, 'plain.json'), JSON.stringify({ temperature: 0.1 }));
    fs.writeFileSync(path.join(dir, 'isd.json'), JSON.stringify({ method: 'isd', augStudent: 'weak' }));
    const withFile = (file: string) =>
      configFromFlags({ preset: 'cpu-ten-minutes', config: path.join(dir, file), method: 'moco', dataset: 'sample' });
    expect(withFile('plain.json')).toMatchObject({ ...METHOD_DEFAULTS.moco, method: 'moco', temperature: 0.1 });
    expect(withFile('isd.json')).toMatchObject({ ...METHOD_DEFAULTS.moco, method: 'moco' });
  });

  it('an unknown preset id names --preset and lists the ids', () => {
    expect(() => configFromFlags({ preset: 'fast' })).toThrow(
      /no preset "fast"; the presets are quick, cpu-ten-minutes/,
    );
  });

  it('each preset resolves to the settings it had before they were written over a shared base (cpu-ten-minutes is being re-tuned)', () => {
    const resolved = Object.fromEntries(
      ['quick', 'isd-plus', 'moco-v2'].map((id) => [id, configFromFlags({ preset: id, dataset: 'sample' })]),
    );
    expect(resolved).toMatchInlineSnapshot(`
      {
        "isd-plus": {
          "arch": "resnet18",
          "augStudent": "strong",
          "augTeacher": "weak",
          "batchSize": 256,
          "blur": "pixels",
          "bnGroups": 2,
          "checkpointEvery": 10,
          "dataset": "sample",
          "ema": 0.99,
          "epochs": 200,
          "evalEvery": 10,
          "evalFullTest": false,
          "imageSize": 0,
          "imbalance": "none",
          "linearEval": true,
          "lr": 0.05,
          "method": "isd",
          "momentum": 0.9,
          "name": "",
          "projectionBn": true,
          "queueSize": 4096,
          "schedule": "cosine",
          "seed": 0,
          "shuffleBn": true,
          "tags": [],
          "tempStudent": 0.1,
          "tempTeacher": 0.01,
          "temperature": 0.2,
          "trainLimit": 0,
          "warmupEpochs": 0,
          "weightDecay": 0.0001,
        },
        "moco-v2": {
          "arch": "resnet18",
          "augStudent": "strong",
          "augTeacher": "strong",
          "batchSize": 256,
          "blur": "pixels",
          "bnGroups": 2,
          "checkpointEvery": 10,
          "dataset": "sample",
          "ema": 0.999,
          "epochs": 200,
          "evalEvery": 10,
          "evalFullTest": false,
          "imageSize": 0,
          "imbalance": "none",
          "linearEval": true,
          "lr": 0.03,
          "method": "moco",
          "momentum": 0.9,
          "name": "",
          "projectionBn": false,
          "queueSize": 4096,
          "schedule": "cosine",
          "seed": 0,
          "shuffleBn": true,
          "tags": [],
          "tempStudent": 0.1,
          "tempTeacher": 0.01,
          "temperature": 0.2,
          "trainLimit": 0,
          "warmupEpochs": 0,
          "weightDecay": 0.0001,
        },
        "quick": {
          "arch": "resnet20",
          "augStudent": "strong",
          "augTeacher": "weak",
          "batchSize": 64,
          "blur": "pixels",
          "bnGroups": 2,
          "checkpointEvery": 1,
          "dataset": "sample",
          "ema": 0.99,
          "epochs": 2,
          "evalEvery": 1,
          "evalFullTest": false,
          "imageSize": 0,
          "imbalance": "none",
          "linearEval": false,
          "lr": 0.05,
          "method": "isd",
          "momentum": 0.9,
          "name": "",
          "projectionBn": true,
          "queueSize": 1024,
          "schedule": "cosine",
          "seed": 0,
          "shuffleBn": true,
          "tags": [],
          "tempStudent": 0.1,
          "tempTeacher": 0.01,
          "temperature": 0.2,
          "trainLimit": 5000,
          "warmupEpochs": 0,
          "weightDecay": 0.0001,
        },
      }
    `);
  });
});
