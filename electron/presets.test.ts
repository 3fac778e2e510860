import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromFlags } from './cli-train-flags';
import { DEFAULT_RUN_CONFIG, METHOD_DEFAULTS, methodLabel, runConfigSchema } from './run-config';
import { findPreset, PRESETS } from './presets';
import { planStudy } from './study/plan';
import { DEFAULT_STUDY_SPEC } from './contract/study-spec';

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

  it('cpu-ten-minutes is the recipe docs/learning.md measured (a change needs a new sweep)', () => {
    const isd = configFromFlags({ preset: 'cpu-ten-minutes', dataset: 'fashion-mnist' });
    expect(isd).toMatchObject({
      method: 'isd',
      arch: 'resnet20',
      imageSize: 16,
      epochs: 9,
      trainLimit: 16384,
      batchSize: 128,
      queueSize: 4096,
      lr: 0.05,
      warmupEpochs: 0,
      ema: 0.99,
      tempTeacher: 0.01,
      tempStudent: 0.1,
      blur: 'pixels',
      shuffleBn: true,
    });
    expect(configFromFlags({ preset: 'cpu-ten-minutes', dataset: 'fashion-mnist', method: 'moco' })).toMatchObject({
      ...METHOD_DEFAULTS.moco,
      lr: 0.05,
      ema: 0.99,
      imageSize: 16,
      batchSize: 128,
    });
  });

  it("the imbalance study at the preset's budget trains the preset's own runs (docs/study.md's balanced rows are the goal's runs)", () => {
    const preset = configFromFlags({ preset: 'cpu-ten-minutes', dataset: 'fashion-mnist' });
    const budget = {
      arch: preset.arch,
      epochs: preset.epochs,
      trainLimit: preset.trainLimit,
      batchSize: preset.batchSize,
      queueSize: preset.queueSize,
      imageSize: preset.imageSize,
      evalEvery: preset.evalEvery,
      linearEval: preset.linearEval,
    };
    const runs = planStudy({ ...DEFAULT_STUDY_SPEC, dataset: 'fashion-mnist', profiles: ['none'], budget }, 'abcd1234');
    for (const r of runs) {
      const own = configFromFlags({
        preset: 'cpu-ten-minutes',
        dataset: 'fashion-mnist',
        method: r.method,
        seed: String(r.seed),
      });
      // Only what names the run and how often it is checkpointed may differ.
      const strip = ({ name: _n, tags: _t, checkpointEvery: _c, ...rest }: typeof own) => rest;
      expect(strip(r.config), `${r.method} seed ${r.seed}`).toEqual(strip(own));
    }
    expect(runs.map((r) => `${r.method}:${r.seed}`)).toEqual(['isd:0', 'moco:0', 'isd:1', 'moco:1']);
  });

  it('each preset resolves to the settings it had before they were written over a shared base', () => {
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
