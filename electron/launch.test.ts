// `npm start` (dist/electron/launch.js) as its own process when the Electron binary it finds cannot
// be used: one line saying why, then the web host, which answers. ELECTRON_OVERRIDE_DIST_PATH names a
// folder whose `electron` is plain Node (no process.versions.electron), so its version cannot be had.
// Also `npm run native` (dist/scripts/native.js) on an Electron version node-abi does not know.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve('.');
let dir = '';

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-launch-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('npm start', () => {
  it('with an Electron binary it cannot prepare better-sqlite3 for: one line, then the web host serves and outlives an uncaught exception', async () => {
    const dist = path.join(dir, 'electron-dist');
    fs.mkdirSync(dist);
    fs.symlinkSync(process.execPath, path.join(dist, 'electron'));
    const thrower = path.join(dir, 'throw-on-usr2.js');
    fs.writeFileSync(
      thrower,
      "process.on('SIGUSR2', () => setTimeout(() => { throw new Error('escaped on SIGUSR2'); }));\n",
    );
    const child = spawn(process.execPath, ['--require', thrower, path.join(ROOT, 'dist', 'electron', 'launch.js')], {
      cwd: ROOT,
      env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: dist, ISD_HOME: path.join(dir, 'home'), PORT: '0' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL within 60 s:\n${out}`)), 60_000);
        child.stdout.on('data', () => {
          const m = /ISD Studio: (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out);
          if (!m) return;
          clearTimeout(timer);
          resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
      });
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(
        /^ISD Studio cannot open its run history in Electron: .*electron did not say its version.*\. Starting the web host instead\.$/,
      );
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
      // An exception nobody catches (thrown on SIGUSR2 by the preload) is logged, and the host lives on.
      child.kill('SIGUSR2');
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no last-resort line within 10 s:\n${out}`)), 10_000);
        const check = () => {
          if (!/uncaught error \(the process carries on\): Error: escaped on SIGUSR2/.test(out)) return;
          clearTimeout(timer);
          resolve();
        };
        child.stderr.on('data', check);
        check();
      });
      expect((await fetch(url)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('npm run native', () => {
  it('on an Electron version node-abi does not know: exit 2 and one line saying what to do', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'dist', 'scripts', 'native.js'), '--runtime', 'electron', '--target', '999.0.0'],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ISD_NATIVE_CACHE: path.join(dir, 'cache') } },
    );
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^native: node-abi [\d.]+ does not know electron 999\.0\.0 .*npm update node-abi/),
    ]);
    expect(fs.existsSync(path.join(dir, 'cache'))).toBe(false);
  });

  it('refuses a runtime it does not know', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'dist', 'scripts', 'native.js'), '--runtime', 'deno', '--target', '2.0.0'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--runtime.*deno.*(electron, node|Allowed choices)/s);
  });
});
