/**
 * better-sqlite3's native binding, one per runtime. better-sqlite3 is the one native module of the app
 * built against one runtime's ABI (NODE_MODULE_VERSION); the others (sharp, webgpu, tfjs-node-gpu)
 * use N-API and load in Node and Electron alike. npm builds node_modules/better-sqlite3 for the Node
 * that ran the install; every other runtime gets its own copy, keyed by runtime, ABI, platform and
 * arch, and handed to better-sqlite3 through its `nativeBinding` option:
 *
 *   packaged app:  <resources>/native/<key>/better_sqlite3.node   (written by after-pack.ts)
 *   a checkout:    node_modules/.cache/isd-native/better-sqlite3-<version>/<key>/better_sqlite3.node
 *                  (written by prepare.ts: `npm run native`, `npm start`)
 *   else:          node_modules/better-sqlite3/build/Release/better_sqlite3.node (npm's, for its Node)
 *
 * So the Electron main process, the CLI under Node 20 and a CLI under Node 22 each load theirs from the
 * same checkout at the same time, and nothing here ever writes into node_modules/better-sqlite3.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { IsdError } from '../errors';

export type RuntimeName = 'node' | 'electron';

/** A runtime a binding is built for. `abi` is its NODE_MODULE_VERSION. */
export interface RuntimeTarget {
  runtime: RuntimeName;
  version: string;
  abi: string;
  platform: NodeJS.Platform;
  arch: string;
}

export const BINDING_FILE = 'better_sqlite3.node';

/** The runtime this process is. */
export function currentTarget(): RuntimeTarget {
  const electron = process.versions.electron;
  return {
    runtime: electron ? 'electron' : 'node',
    version: electron ?? process.versions.node,
    abi: process.versions.modules,
    platform: process.platform,
    arch: process.arch,
  };
}

/** The folder name of a target's binding: <runtime>-v<abi>-<platform>-<arch> (prebuild-install's order). */
export function bindingKey(t: RuntimeTarget): string {
  return `${t.runtime}-v${t.abi}-${t.platform}-${t.arch}`;
}

/** node_modules/better-sqlite3 of this checkout (or of the packaged app, inside its asar). */
export function sqlitePackageDir(): string {
  return path.dirname(require.resolve('better-sqlite3/package.json'));
}

export function sqliteVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(sqlitePackageDir(), 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** Where prepared bindings are kept: ISD_NATIVE_CACHE, else node_modules/.cache/isd-native beside better-sqlite3. */
export function bindingCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ISD_NATIVE_CACHE) return path.resolve(env.ISD_NATIVE_CACHE);
  return path.join(path.dirname(sqlitePackageDir()), '.cache', 'isd-native');
}

/** The cache file of a target's binding, for this better-sqlite3 version. */
export function cachedBindingPath(t: RuntimeTarget, cacheDir = bindingCacheDir()): string {
  return path.join(cacheDir, `better-sqlite3-${sqliteVersion()}`, bindingKey(t), BINDING_FILE);
}

/** Where a packaged app keeps its binding, relative to its resources folder (after-pack.ts writes it). */
export function packagedBindingPath(resourcesDir: string, t: RuntimeTarget): string {
  return path.join(resourcesDir, 'native', bindingKey(t), BINDING_FILE);
}

/** npm's own build, for the Node that ran `npm install`. */
export function defaultBindingPath(): string {
  return path.join(sqlitePackageDir(), 'build', 'Release', BINDING_FILE);
}

/** The command that prepares a binding for a target (said in every error that needs it). */
export function prepareCommand(t: Pick<RuntimeTarget, 'runtime' | 'version'>): string {
  return `npm run native -- --runtime ${t.runtime} --target ${t.version}`;
}

export type BindingInspection = { ok: true; abi: string } | { ok: false; reason: string };

const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40 };

/**
 * Reads a binding file without loading it: is it a whole shared library for this platform and arch,
 * and which NODE_MODULE_VERSION does it register ('napi' for an N-API module)? An Electron binding can
 * be checked this way under Node, where loading it is impossible.
 */
export function inspectBinding(file: string, t: Pick<RuntimeTarget, 'platform' | 'arch'>): BindingInspection {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    return { ok: false, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  const format = libraryFormat(buf);
  const expected = t.platform === 'darwin' ? 'Mach-O' : t.platform === 'win32' ? 'PE' : 'ELF';
  if (format === null) return { ok: false, reason: `is not a shared library (${buf.length} bytes)` };
  if (format !== expected) return { ok: false, reason: `is a ${format} library, ${t.platform} needs ${expected}` };
  if (format === 'ELF') {
    const wide = buf[4] === 2;
    const le = buf[5] === 1;
    const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const machine = u16(18);
    if (ELF_MACHINE[t.arch] !== undefined && machine !== ELF_MACHINE[t.arch])
      return { ok: false, reason: `is built for another CPU (ELF machine ${machine}), this is ${t.arch}` };
    const shoff = wide ? Number(le ? buf.readBigUInt64LE(0x28) : buf.readBigUInt64BE(0x28)) : u32(0x20);
    const end = shoff + u16(wide ? 0x3a : 0x2e) * u16(wide ? 0x3c : 0x30);
    if (end > buf.length) return { ok: false, reason: `is truncated (${buf.length} bytes, its headers need ${end})` };
  }
  const text = buf.toString('latin1');
  const abi = /node_register_module_v(\d+)/.exec(text)?.[1];
  if (abi) return { ok: true, abi };
  if (text.includes('napi_register_module_v')) return { ok: true, abi: 'napi' };
  return { ok: false, reason: 'registers no Node module (neither node_register_module_v* nor N-API)' };
}

function libraryFormat(buf: Buffer): 'ELF' | 'Mach-O' | 'PE' | null {
  if (buf.length < 64) return null;
  if (buf.readUInt32BE(0) === 0x7f454c46) return 'ELF';
  const m = buf.readUInt32BE(0);
  if ([0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(m)) return 'Mach-O';
  if (buf[0] === 0x4d && buf[1] === 0x5a) return 'PE';
  return null;
}

/** The binding file this process should load: the packaged one, the cached one, else npm's. */
export function bindingFileFor(t: RuntimeTarget = currentTarget()): string {
  // Set by Electron only: its resources folder (in a checkout, node_modules/electron/dist/resources).
  const { resourcesPath } = process as { resourcesPath?: string };
  const candidates = [...(resourcesPath ? [packagedBindingPath(resourcesPath, t)] : []), cachedBindingPath(t)];
  return candidates.find((f) => fs.existsSync(f)) ?? defaultBindingPath();
}

/** What a user does about a bad binding: in a checkout, the command; in a packaged app, reinstall. */
function remedy(t: RuntimeTarget): string {
  return __dirname.includes(`app.asar${path.sep}`)
    ? 'reinstall ISD Studio (its resources/native folder is incomplete)'
    : `run \`${prepareCommand(t)}\``;
}

/** Why `file` cannot serve target `t`, as one IsdError that says what to do; null when it can. */
export function bindingProblem(file: string, t: RuntimeTarget): IsdError | null {
  const seen = inspectBinding(file, t);
  const fix = remedy(t);
  if (!seen.ok)
    return new IsdError('NATIVE_MODULE', `better-sqlite3's binding ${file} ${seen.reason}: ${fix}`, {
      path: file,
    });
  if (seen.abi !== t.abi)
    return new IsdError(
      'NATIVE_MODULE',
      `better-sqlite3's binding ${file} is built for NODE_MODULE_VERSION ${seen.abi}, but ${t.runtime} ${t.version} needs ${t.abi}: ${fix}`,
      { path: file },
    );
  return null;
}

let loaded: { key: string; file: string } | undefined;

/**
 * The binding file for better-sqlite3's `nativeBinding` option, loaded once per process here (so
 * better-sqlite3's own require of it hits Node's module cache); an IsdError (NATIVE_MODULE) that names
 * the file and the command to run when it is missing, damaged or built for another ABI.
 */
export function sqliteBinding(t: RuntimeTarget = currentTarget()): string {
  const key = bindingKey(t);
  if (loaded?.key === key) return loaded.file;
  const file = bindingFileFor(t);
  const problem = bindingProblem(file, t);
  if (problem) throw problem;
  try {
    createRequire(__filename)(file);
  } catch (err) {
    throw new IsdError(
      'NATIVE_MODULE',
      `better-sqlite3's binding ${file} does not load in ${t.runtime} ${t.version} (${(err as Error).message.split('\n')[0]}): ${remedy(t)}`,
      { path: file, cause: err },
    );
  }
  loaded = { key, file };
  return file;
}
