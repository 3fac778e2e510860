// The sandboxed preload: the compiled file may require nothing but 'electron', its channel names must
// equal the contract's, and window.isd must carry invokes and events. Electron cannot run here, so the
// compiled preload runs in a vm context with a test double of the 'electron' module.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { IPC_EVENT, IPC_REQUEST, type IsdApi } from './contract';

let compiledText = '';

beforeAll(() => {
  // The emit of tsconfig.node.json for this file (isolatedModules: a file's emit needs no other file).
  const config = ts.readConfigFile(path.resolve('tsconfig.node.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, path.resolve('.'));
  compiledText = ts.transpileModule(fs.readFileSync(path.resolve('electron/preload.ts'), 'utf8'), {
    compilerOptions: { ...options, sourceMap: false },
    fileName: 'preload.ts',
  }).outputText;
});

function loadPreload() {
  const exposed: Record<string, unknown> = {};
  const invokes: unknown[][] = [];
  const rendererListeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
    ipcRenderer: {
      invoke: (...args: unknown[]) => {
        invokes.push(args);
        return Promise.resolve({ ok: true, value: 'answer' });
      },
      on: (channel: string, l: (event: unknown, ...args: unknown[]) => void) => rendererListeners.set(channel, l),
    },
  };
  const required: string[] = [];
  const module = { exports: {} };
  const sandboxRequire = (name: string) => {
    required.push(name);
    if (name !== 'electron') throw new Error(`a sandboxed preload cannot require ${name}`);
    return electron;
  };
  vm.runInNewContext(compiledText, { require: sandboxRequire, module, exports: module.exports, console });
  return { api: exposed.isd as IsdApi, invokes, rendererListeners, required, exposed };
}

describe('preload', () => {
  it('requires only electron (checked in the compiled file)', () => {
    const text = compiledText;
    const requires = [...text.matchAll(/require\(\s*["'`]([^"'`]+)["'`]\s*\)/g)].map((m) => m[1]);
    expect(requires).toEqual(['electron']);
    expect(text).not.toMatch(/require\(\s*[^"'`\s]/); // no computed require either
    const built = path.resolve('dist/electron/preload.js'); // what the app loads, when built
    if (fs.existsSync(built))
      expect([...fs.readFileSync(built, 'utf8').matchAll(/require\(([^)]*)\)/g)].map((m) => m[1])).toEqual([
        '"electron"',
      ]);
  });

  it('uses the contract channel names', () => {
    const text = compiledText;
    expect(text).toContain(`'${IPC_REQUEST}'`);
    expect(text).toContain(`'${IPC_EVENT}'`);
  });

  it('exposes only window.isd, which invokes through IPC_REQUEST', async () => {
    const { api, invokes, required, exposed } = loadPreload();
    expect(Object.keys(exposed)).toEqual(['isd']);
    expect(Object.keys(api).sort()).toEqual(['invoke', 'on']);
    expect(required).toEqual(['electron']);
    const r = await api.invoke('runs.get', { id: 'abc' });
    expect(r).toEqual({ ok: true, value: 'answer' });
    expect(invokes).toEqual([[IPC_REQUEST, 'runs.get', { id: 'abc' }]]);
  });

  it('delivers pushed events to the listeners of that event until they unsubscribe', () => {
    const { api, rendererListeners } = loadPreload();
    const push = rendererListeners.get(IPC_EVENT);
    expect(push).toBeTypeOf('function');
    const got: unknown[] = [];
    const off = api.on('run.status', (p) => got.push(p));
    api.on('run.eval', () => got.push('wrong event'));
    push!({}, { event: 'run.status', payload: { runId: 'r', status: 'running' } });
    push!({}, 'garbage');
    push!({}, { event: 42 });
    off();
    push!({}, { event: 'run.status', payload: { runId: 'r', status: 'paused' } });
    expect(got).toEqual([{ runId: 'r', status: 'running' }]);
  });
});
