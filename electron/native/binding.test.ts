// better-sqlite3's per-runtime binding under this Node: reading binding files without loading them,
// the errors that say what to run, the prebuilt download over a real local HTTP server, and the
// failures a machine without network or compiler gets. The stand-in runtime (Node 22) is stand-in.test.ts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IsdError } from '../errors';
import {
  bindingKey,
  cachedBindingPath,
  currentTarget,
  defaultBindingPath,
  inspectBinding,
  sqliteBinding,
  sqliteVersion,
} from './binding';
import { abiFor, loadsIn, prebuiltUrl, prepareSqliteBinding, type PrepareOptions } from './prepare';

let dir = '';
const here = currentTarget();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-native-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function copyOfDefault(name: string, edit?: (b: Buffer) => Buffer): string {
  const f = path.join(dir, name);
  const b = fs.readFileSync(defaultBindingPath());
  fs.writeFileSync(f, edit ? edit(b) : b);
  return f;
}

describe('inspectBinding', () => {
  it('reads the ABI of npm’s build for this Node, and N-API for sharp’s', () => {
    expect(inspectBinding(defaultBindingPath(), here)).toEqual({ ok: true, abi: process.versions.modules });
    const sharpNode = fs
      .readdirSync(path.resolve('node_modules/@img'))
      .map((d) => path.resolve('node_modules/@img', d, 'lib'))
      .filter((d) => fs.existsSync(d))
      .flatMap((d) => fs.readdirSync(d).map((f) => path.join(d, f)))
      .find((f) => f.endsWith('.node'));
    if (sharpNode) expect(inspectBinding(sharpNode, here)).toEqual({ ok: true, abi: 'napi' });
  });

  it('refuses a truncated file, a file that is not a library, and one for another CPU', () => {
    const half = copyOfDefault('half.node', (b) => b.subarray(0, Math.floor(b.length / 2)));
    expect(inspectBinding(half, here)).toMatchObject({ ok: false, reason: expect.stringMatching(/truncated/) });
    const junk = path.join(dir, 'junk.node');
    fs.writeFileSync(junk, 'not a shared library at all, just text that is long enough to be read as one');
    expect(inspectBinding(junk, here)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not a shared library/),
    });
    const other = copyOfDefault('arm.node', (b) => (b.writeUInt16LE(183, 18), b));
    expect(inspectBinding(other, { platform: 'linux', arch: 'x64' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/another CPU/),
    });
    expect(inspectBinding(path.join(dir, 'none.node'), here)).toMatchObject({ ok: false, reason: /ENOENT/ });
  });
});

describe('sqliteBinding', () => {
  it('hands this Node npm’s build when the cache has none for it', () => {
    expect(fs.existsSync(cachedBindingPath(here)) ? cachedBindingPath(here) : defaultBindingPath()).toBe(
      sqliteBinding(),
    );
  });

  it('names the file, both ABIs and the command when only another runtime’s binding exists', () => {
    const electron = { ...here, runtime: 'electron' as const, version: '38.8.6', abi: '139' };
    let err: unknown;
    try {
      sqliteBinding(electron);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IsdError);
    expect((err as IsdError).code).toBe('NATIVE_MODULE');
    expect((err as IsdError).message).toMatch(
      /built for NODE_MODULE_VERSION \d+, but electron 38\.8\.6 needs 139: run `npm run native -- --runtime electron --target 38\.8\.6`/,
    );
  });
});

describe('abiFor', () => {
  it('knows Node and Electron releases from node-abi, and says what to do with one it does not know', () => {
    expect(abiFor('node', process.versions.node)).toBe(process.versions.modules);
    expect(abiFor('electron', '38.8.6')).toBe('139');
    expect(() => abiFor('electron', '999.0.0')).toThrow(
      /node-abi [\d.]+ does not know electron 999\.0\.0.*npm update node-abi/,
    );
    expect(() => abiFor('electron', 'latest')).toThrow(/--target must be a version like/);
  });
});

describe('prepareSqliteBinding', () => {
  let server: http.Server;
  let host = '';
  const served = new Map<string, Buffer>();

  beforeAll(async () => {
    // A prebuilt tarball as better-sqlite3 publishes it (build/Release/better_sqlite3.node), made by tar.
    const stage = path.join(dir, 'stage');
    fs.mkdirSync(path.join(stage, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(defaultBindingPath(), path.join(stage, 'build', 'Release', 'better_sqlite3.node'));
    const tgz = path.join(dir, 'prebuilt.tar.gz');
    execFileSync('tar', ['czf', tgz, '-C', stage, 'build/Release/better_sqlite3.node']);
    server = http.createServer((req, res) => {
      const body = served.get(req.url ?? '');
      res.writeHead(body ? 200 : 404, { 'Content-Length': body ? body.length : 0 });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    served.set(new URL(prebuiltUrl(host, here)).pathname, fs.readFileSync(tgz));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Prepares this Node's binding into `cacheDir` from the local server. */
  const prepareHere = (cacheDir: string, more: Partial<PrepareOptions> = {}) =>
    prepareSqliteBinding({ runtime: 'node', target: process.versions.node, cacheDir, prebuiltHost: host, ...more });

  it('downloads the prebuilt tarball at prebuild-install’s URL, checks it opens a database, then serves it from the cache', async () => {
    const cacheDir = path.join(dir, 'cache-download');
    const lines: string[] = [];
    const got = await prepareHere(cacheDir, { execPath: process.execPath, log: (l) => lines.push(l) });
    expect(got.source).toBe('download');
    expect(got.file).toBe(
      path.join(cacheDir, `better-sqlite3-${sqliteVersion()}`, bindingKey(here), 'better_sqlite3.node'),
    );
    expect(lines.join('\n')).toMatch(/downloaded 100%/);
    expect(loadsIn(process.execPath, got.file)).toMatchObject({ ok: true, sqlite: expect.stringMatching(/^3\./) });
    const again = await prepareHere(cacheDir);
    expect(again).toMatchObject({ source: 'cache', file: got.file });
  });

  it('replaces a damaged cached binding', async () => {
    const cacheDir = path.join(dir, 'cache-damaged');
    const file = cachedBindingPath(here, cacheDir);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, fs.readFileSync(defaultBindingPath()).subarray(0, 4096));
    const lines: string[] = [];
    const got = await prepareHere(cacheDir, { log: (l) => lines.push(l) });
    expect(got.source).toBe('download');
    expect(lines[0]).toMatch(/is truncated .*: replacing it/);
    expect(inspectBinding(file, here)).toEqual({ ok: true, abi: here.abi });
  });

  it('with neither network nor compiler: one error naming both failures and the command, and the cache untouched', async () => {
    const cacheDir = path.join(dir, 'cache-offline');
    const emptyPath = fs.mkdtempSync(path.join(dir, 'bin-'));
    const closed = http.createServer(); // a port nothing listens on any more
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await prepareSqliteBinding({
      runtime: 'electron',
      target: '38.8.6',
      cacheDir,
      prebuiltHost: `http://127.0.0.1:${port}`,
      env: { PATH: emptyPath },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IsdError);
    expect((err as IsdError).code).toBe('NATIVE_MODULE');
    const msg = (err as IsdError).message;
    expect(msg).toMatch(/^cannot prepare better-sqlite3 [\d.]+ for electron 38\.8\.6 \(ABI 139, /);
    expect(msg).toMatch(new RegExp(`no prebuilt \\(http://127\\.0\\.0\\.1:${port}/.*: ECONNREFUSED\\)`));
    expect(msg).toMatch(/no build \(a C\+\+ compiler, make, python3 not found on PATH/);
    expect(msg).toMatch(/Run `npm run native -- --runtime electron --target 38\.8\.6`/);
    expect(msg).not.toMatch(/\n/);
    expect(
      fs.existsSync(cachedBindingPath({ ...here, runtime: 'electron', version: '38.8.6', abi: '139' }, cacheDir)),
    ).toBe(false);
  });

  it('a prebuilt of the wrong ABI is refused, not cached', async () => {
    const cacheDir = path.join(dir, 'cache-wrong-abi');
    const electron = { ...here, runtime: 'electron' as const, version: '38.8.6', abi: '139' };
    // The server hands Node's binding at Electron's URL.
    served.set(new URL(prebuiltUrl(host, electron)).pathname, served.get(new URL(prebuiltUrl(host, here)).pathname)!);
    const err = await prepareSqliteBinding({
      runtime: 'electron',
      target: '38.8.6',
      cacheDir,
      prebuiltHost: host,
      env: { PATH: '' },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(new RegExp(`no prebuilt \\(the binding is for ABI ${here.abi}, not 139\\)`));
    expect(fs.existsSync(cachedBindingPath(electron, cacheDir))).toBe(false);
  });
});

describe('the other native modules', () => {
  it('are N-API (one build loads in Node and Electron alike): better-sqlite3 is the only one built per ABI', () => {
    const root = path.resolve('node_modules');
    const perAbi: string[] = [];
    const napi: string[] = [];
    const walk = (d: string, depth: number): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.name === '.cache' || e.name === 'obj.target' || e.name === 'src') continue;
        const f = path.join(d, e.name);
        if (e.isDirectory() && depth < 8) walk(f, depth + 1);
        else if (e.isFile() && e.name.endsWith('.node')) {
          const abi = /node_register_module_v(\d+)|(napi_register_module_v)/.exec(
            fs.readFileSync(f).toString('latin1'),
          );
          if (abi?.[1]) perAbi.push(path.relative(root, f));
          else if (abi?.[2]) napi.push(path.relative(root, f));
        }
      }
    };
    walk(root, 0);
    expect(perAbi).toEqual(['better-sqlite3/build/Release/better_sqlite3.node']);
    expect(napi.some((f) => f.startsWith('@img/sharp-'))).toBe(true);
    for (const optional of ['webgpu', '@tensorflow/tfjs-node-gpu'])
      if (fs.existsSync(path.join(root, optional)))
        expect(
          napi.some((f) => f.startsWith(`${optional}/`)),
          optional,
        ).toBe(true);
  });
});
