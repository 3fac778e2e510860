import { describe, expect, it } from 'vitest';
import {
  CHANNELS,
  ERROR_CODES,
  EVENT_NAMES,
  parseWireRequest,
  validateRequest,
  type Channel,
  type RequestInput,
} from './contract';
import { DEFAULT_RUN_CONFIG } from './run-config';
import { DEFAULT_STUDY_SPEC } from './contract/study-spec';

/** One valid input per channel; every channel must appear (checked below). */
const valid: { [C in Channel]: RequestInput<C> } = {
  'system.info': {},
  'datasets.list': {},
  'datasets.inspect': { id: 'fashion-mnist' },
  'datasets.preview': { id: 'sample', perClass: 4, size: 32 },
  'datasets.imbalancePreview': { id: 'sample', imbalance: 'longtail:10', seed: 3 },
  'datasets.pick': { kind: 'folder' },
  'datasets.add': { path: '/home/u/images' },
  'datasets.remove': { id: 'user-1' },
  'runs.start': { config: { dataset: 'sample', epochs: 2, batchSize: 64, queueSize: 1024 } },
  'runs.pause': { id: 'r1' },
  'runs.resume': { id: 'r1' },
  'runs.stop': { id: 'r1' },
  'runs.list': { search: 'isd', sort: 'knn20', dir: 'asc', limit: 50, offset: 0, status: ['queued', 'interrupted'] },
  'runs.get': { id: 'r1' },
  'runs.curves': { id: 'r1', maxPoints: 500 },
  'runs.compare': { ids: ['r1', 'r2'] },
  'runs.rename': { id: 'r1', name: 'long tail ρ=10' },
  'runs.tag': { id: 'r1', tags: ['ablation', 'cpu'] },
  'runs.notes': { id: 'r1', notes: '' },
  'runs.delete': { id: 'r1' },
  'runs.export': { id: 'r1', format: 'csv' },
  'runs.neighbours': { id: 'r1', testIndex: 12 },
  'runs.teacherSimilarity': { id: 'r1', testIndex: 0, bins: 20 },
  'runs.estimate': { config: { method: 'moco' } },
  'encoder.export': { id: 'r1', format: 'onnx', destination: 'download' },
  'encoder.embed': { id: 'r1', jobId: 'j1', dataset: 'fashion-mnist', format: 'npy', destination: 'download' },
  'encoder.stop': { jobId: 'j1' },
  'encoder.map': { id: 'r1', method: 'umap' },
  'encoder.image': { id: 'r1', split: 'test', index: 3 },
  'encoder.search': { id: 'r1', query: { kind: 'file', name: 'a.png', base64: 'iVBORw0KGgo=' } },
  'study.estimate': { spec: { profiles: ['none', 'longtail:10'], budget: { epochs: 2 } } },
  'study.start': {
    spec: {
      dataset: 'sample',
      profiles: ['none', 'dominant:3:100'],
      seeds: 2,
      budget: { trainLimit: 128, batchSize: 32, queueSize: 64, epochs: 1 },
    },
  },
  'study.list': {},
  'study.get': { id: 'abcd1234' },
  'study.stop': { id: 'abcd' },
  'study.resume': { id: 'abcd1234-0000-0000-0000-000000000000' },
  'study.export': { id: 'abcd1234', format: 'md' },
};

/** Malformed inputs per channel, each with the field the error must name. */
const invalid: { [C in Channel]: [input: unknown, field: string][] } = {
  'system.info': [
    [{ extra: 1 }, 'extra'],
    [null, 'input'],
  ],
  'datasets.list': [[[], 'input']],
  'datasets.inspect': [
    [{}, 'id'],
    [{ id: 'a', path: '/b' }, 'id'],
    [{ path: '' }, 'path'],
    [{ path: 7 }, 'path'],
  ],
  'datasets.preview': [
    [{ perClass: 4 }, 'id'],
    [{ id: 'sample', perClass: 0 }, 'perClass'],
    [{ id: 'sample', size: 1000 }, 'size'],
    [{ id: 'sample', perClass: 2.5 }, 'perClass'],
  ],
  'datasets.imbalancePreview': [
    [{ id: 'sample', imbalance: 'longtail:0.5' }, 'imbalance'],
    [{ id: 'sample', imbalance: 'weird' }, 'imbalance'],
    [{ id: 'sample', imbalance: 'none', seed: -1 }, 'seed'],
    [{ imbalance: 'none' }, 'id'],
  ],
  'datasets.pick': [
    [{ kind: 'anything' }, 'kind'],
    [{}, 'kind'],
  ],
  'datasets.add': [
    [{ path: '' }, 'path'],
    [{ path: ['/a'] }, 'path'],
  ],
  'datasets.remove': [[{ id: 5 }, 'id']],
  'runs.start': [
    [{}, 'config'],
    [{ config: { lr: -1 } }, 'config.lr'],
    [{ config: { method: 'simclr' } }, 'config.method'],
    [{ config: { epochs: 1.5 } }, 'config.epochs'],
    [{ config: { imbalance: 'longtail:x' } }, 'config.imbalance'],
    [{ config: { learningRate: 0.1 } }, 'config.learningRate'],
    [{ config: { batchSize: 100, queueSize: 4096 } }, 'config.queueSize'],
    [{ config: { tempTeacher: 0.5, tempStudent: 0.1 } }, 'config.tempTeacher'],
    [{ config: { tags: ['ok', ''] } }, 'config.tags.1'],
  ],
  'runs.pause': [[{}, 'id']],
  'runs.resume': [[{ id: '' }, 'id']],
  'runs.stop': [[{ id: 'x'.repeat(65) }, 'id']],
  'runs.list': [
    [{ limit: 0 }, 'limit'],
    [{ sort: 'password' }, 'sort'],
    [{ status: ['done'] }, 'status.0'],
    [{ dir: 'up' }, 'dir'],
    [{ offset: -1 }, 'offset'],
  ],
  'runs.get': [[{ id: null }, 'id']],
  'runs.curves': [
    [{ id: 'r1', maxPoints: 1 }, 'maxPoints'],
    [{ id: 'r1', maxPoints: 1e9 }, 'maxPoints'],
  ],
  'runs.compare': [
    [{ ids: ['r1'] }, 'ids'],
    [{ ids: ['1', '2', '3', '4', '5', '6', '7', '8', '9'] }, 'ids'],
    [{ ids: ['r1', 'r1'] }, 'ids'],
    [{ ids: ['r1', ''] }, 'ids.1'],
  ],
  'runs.rename': [
    [{ id: 'r1', name: '' }, 'name'],
    [{ id: 'r1', name: 'n'.repeat(201) }, 'name'],
  ],
  'runs.tag': [
    [{ id: 'r1', tags: 'a,b' }, 'tags'],
    [{ id: 'r1', tags: ['t'.repeat(51)] }, 'tags.0'],
  ],
  'runs.notes': [[{ id: 'r1', notes: 'n'.repeat(10_001) }, 'notes']],
  'runs.delete': [[{ ids: ['r1'] }, 'id']],
  'runs.export': [[{ id: 'r1', format: 'xml' }, 'format']],
  'runs.neighbours': [
    [{ id: 'r1', testIndex: -1 }, 'testIndex'],
    [{ id: 'r1', testIndex: 0, k: 0 }, 'k'],
    [{ id: 'r1', testIndex: 0, k: 33 }, 'k'],
    [{ id: 'r1', testIndex: 0, split: 'all' }, 'split'],
  ],
  'runs.teacherSimilarity': [
    [{ id: 'r1' }, 'testIndex'],
    [{ id: 'r1', testIndex: 0, bins: 1 }, 'bins'],
    [{ id: 'r1', testIndex: 0, split: 'bank' }, 'split'],
  ],
  'runs.estimate': [[{ config: { batchSize: 0 } }, 'config.batchSize']],
  'encoder.export': [
    [{ id: 'r1', format: 'keras', destination: 'download' }, 'format'],
    [{ id: 'r1', format: 'onnx', destination: 'download', checkpointStep: -1 }, 'checkpointStep'],
    [{ id: 'r1', format: 'onnx' }, 'destination'],
  ],
  'encoder.embed': [
    [{ id: 'r1', jobId: 'j1', dataset: 'd', split: 'val', format: 'npy', destination: 'download' }, 'split'],
    [{ id: 'r1', dataset: 'd', format: 'npy', destination: 'download' }, 'jobId'],
  ],
  'encoder.stop': [[{}, 'jobId']],
  'encoder.map': [[{ id: 'r1', maxPoints: 5 }, 'maxPoints']],
  'encoder.image': [[{ id: 'r1', split: 'val', index: 0 }, 'split']],
  'encoder.search': [
    [{ id: 'r1', query: { kind: 'file', name: 'a.png', base64: 'not base64!' } }, 'query.base64'],
    [{ id: 'r1', query: { kind: 'file', name: 'a.png', base64: 'A'.repeat(28_000_000) } }, 'query.base64'],
    [{ id: 'r1', query: { kind: 'dataset', split: 'test', index: -1 } }, 'query.index'],
  ],
  'study.estimate': [
    [{ spec: { seeds: 1 } }, 'spec.seeds'],
    [{ spec: { budget: { epochs: 0 } } }, 'spec.budget.epochs'],
  ],
  'study.start': [
    [{}, 'spec'],
    [{ spec: { profiles: ['none', 'longtail:0.5'] } }, 'spec.profiles.1'],
    [{ spec: { profiles: ['none', 'none'] } }, 'spec.profiles'],
    [{ spec: { methods: ['isd', 'byol'] } }, 'spec.methods.1'],
    [{ spec: { budget: { batchSize: 100, queueSize: 1024 } } }, 'spec.budget.queueSize'],
    [{ spec: { budget: { lr: 0.1 } } }, 'spec.budget.lr'],
    [{ spec: { seed: 3 } }, 'spec.seed'],
  ],
  'study.list': [[{ all: true }, 'all']],
  'study.get': [[{ id: 'ab' }, 'id']],
  'study.stop': [[{}, 'id']],
  'study.resume': [[{ id: 7 }, 'id']],
  'study.export': [
    [{ id: 'abcd1234', format: 'xlsx' }, 'format'],
    [{ id: 'abcd1234' }, 'format'],
  ],
};

describe('validateRequest', () => {
  it('has a valid and an invalid case for every channel', () => {
    expect(Object.keys(valid).sort()).toEqual([...CHANNELS].sort());
    expect(Object.keys(invalid).sort()).toEqual([...CHANNELS].sort());
  });

  for (const channel of CHANNELS) {
    it(`${channel} accepts a valid input`, () => {
      const r = validateRequest(channel, valid[channel]);
      expect(r).toMatchObject({ ok: true });
    });

    for (const [input, field] of invalid[channel]) {
      it(`${channel} refuses ${JSON.stringify(input).slice(0, 60)} naming ${field}`, () => {
        const r = validateRequest(channel, input);
        expect(r.ok).toBe(false);
        if (r.ok) return;
        expect(r.error.code).toBe('BAD_INPUT');
        expect(r.error.field).toBe(field);
        // The field is in `field`; the message does not repeat it (configError's rule, for every input).
        expect(r.error.message.startsWith(`${field}: `)).toBe(false);
        expect(r.error.message.length).toBeGreaterThan(0);
        expect(r.error.message).not.toMatch(/\n\s+at /); // never a stack trace
      });
    }
  }

  it('refuses unknown channels, including prototype names', () => {
    for (const name of ['runs.launch', '__proto__', 'constructor', 'toString', '']) {
      const r = validateRequest(name, {});
      expect(r).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'channel' } });
    }
  });

  it('fills defaults and completes runs.start config over DEFAULT_RUN_CONFIG', () => {
    const r = validateRequest('runs.start', { config: { lr: 0.1, name: 'quick' } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.config).toEqual({ ...DEFAULT_RUN_CONFIG, lr: 0.1, name: 'quick' });

    const list = validateRequest('runs.list', {});
    expect(list).toEqual({ ok: true, value: { sort: 'createdAt', dir: 'desc', limit: 200, offset: 0 } });
    const n = validateRequest('runs.neighbours', { id: 'r', testIndex: 3 });
    expect(n).toEqual({ ok: true, value: { id: 'r', testIndex: 3, split: 'test', k: 8 } });
  });

  it('completes a study spec over the default study, budget field by field, profiles canonical', () => {
    const r = validateRequest('study.start', { spec: { profiles: ['none', 'longtail:10.0'], budget: { epochs: 2 } } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.spec).toEqual({
      ...DEFAULT_STUDY_SPEC,
      profiles: ['none', 'longtail:10'],
      budget: { ...DEFAULT_STUDY_SPEC.budget, epochs: 2 },
    });
    expect(validateRequest('study.estimate', { spec: {} })).toEqual({ ok: true, value: { spec: DEFAULT_STUDY_SPEC } });
  });

  it('says "required" for a missing field', () => {
    const r = validateRequest('runs.get', {});
    expect(r).toEqual({ ok: false, error: { code: 'BAD_INPUT', field: 'id', message: 'required' } });
  });
});

describe('wire messages', () => {
  it('parses a request frame and refuses malformed ones with their id', () => {
    expect(parseWireRequest('{"id":3,"channel":"system.info","input":{}}')).toEqual({
      ok: true,
      request: { id: 3, channel: 'system.info', input: {} },
    });
    expect(parseWireRequest('not json')).toMatchObject({ ok: false, id: -1, error: { field: 'message' } });
    expect(parseWireRequest('{"id":4,"input":{}}')).toMatchObject({ ok: false, id: 4, error: { field: 'channel' } });
    expect(parseWireRequest('{"id":-2,"channel":"x","input":{}}')).toMatchObject({
      ok: false,
      id: -2,
      error: { field: 'id' },
    });
  });
});

describe('tables', () => {
  it('error codes are listed once each', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('channel and event names are dotted and unique', () => {
    for (const name of [...CHANNELS, ...EVENT_NAMES]) expect(name).toMatch(/^[a-z]+\.[a-zA-Z]+$/);
    expect(new Set(EVENT_NAMES)).toEqual(
      new Set([
        'run.progress',
        'run.status',
        'run.eval',
        'run.baseline',
        'run.phase',
        'datasets.changed',
        'app.log',
        'study.progress',
        'encoder.progress',
      ]),
    );
  });
});
