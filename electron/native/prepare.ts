/**
 * Prepares better-sqlite3's binding for a runtime (binding.ts says where each runtime's lives):
 *   1. the cache already holds a whole binding of that ABI: done;
 *   2. else the prebuilt tarball better-sqlite3 publishes for that runtime/ABI/platform/arch (the URL
 *      prebuild-install would fetch), when it can be downloaded;
 *   3. else node-gyp builds better-sqlite3's sources, copied to a scratch folder, against the runtime's
 *      headers (--nodedir, or the headers node-gyp downloads for that runtime).
 * The result is checked (library format, arch, NODE_MODULE_VERSION; and, given the runtime's
 * executable, that it opens a database there) before it is moved into the cache in one rename.
 * `npm run native`, `npm start` (launch.ts) and the packager's hook (after-pack.ts) all call this.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { IsdError } from '../errors';
import {
  BINDING_FILE,
  bindingCacheDir,
  cachedBindingPath,
  inspectBinding,
  prepareCommand,
  sqlitePackageDir,
  sqliteVersion,
  type RuntimeName,
  type RuntimeTarget,
} from './binding';

export const PREBUILT_HOST = 'https://github.com/WiseLibs/better-sqlite3/releases/download';
const ELECTRON_HEADERS = 'https://electronjs.org/headers';
const DOWNLOAD_TIMEOUT_MS = 60_000;

export interface PrepareOptions {
  runtime: RuntimeName;
  /** The runtime's version, e.g. 38.8.6 for Electron, 22.23.5 for Node. */
  target: string;
  /** A folder with the runtime's headers (include/node), for an offline build. */
  nodedir?: string;
  platform?: NodeJS.Platform;
  arch?: string;
  cacheDir?: string;
  /** Try the prebuilt download first (default true). */
  download?: boolean;
  /** Where prebuilt tarballs are fetched from (default ISD_PREBUILT_HOST, else better-sqlite3's releases). */
  prebuiltHost?: string;
  /** The runtime's executable: when given, the binding must open a database there before it is kept. */
  execPath?: string;
  /** Environment of the build (PATH finds the compiler). */
  env?: NodeJS.ProcessEnv;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface PreparedBinding {
  file: string;
  target: RuntimeTarget;
  source: 'cache' | 'download' | 'build';
}

/** node-abi's NODE_MODULE_VERSION for a runtime version; NATIVE_MODULE when node-abi does not know it. */
export function abiFor(runtime: RuntimeName, version: string): string {
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version))
    throw new IsdError('BAD_INPUT', `--target must be a version like 38.8.6, got "${version}"`, { field: 'target' });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeAbi = require('node-abi') as { getAbi(target: string, runtime: string): string };
  try {
    return nodeAbi.getAbi(version, runtime);
  } catch {
    const pkg = path.join(path.dirname(require.resolve('node-abi')), 'package.json');
    const known = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
    throw new IsdError(
      'NATIVE_MODULE',
      `node-abi ${known} does not know ${runtime} ${version} (too new, or not a ${runtime} release): check the version, or update node-abi (npm update node-abi) and run \`${prepareCommand({ runtime, version })}\` again`,
      { field: 'target' },
    );
  }
}

/** The binding for `opts`' runtime, from the cache, a download or a build; NATIVE_MODULE when none works. */
export async function prepareSqliteBinding(opts: PrepareOptions): Promise<PreparedBinding> {
  const log = opts.log ?? (() => {});
  const target: RuntimeTarget = {
    runtime: opts.runtime,
    version: opts.target,
    abi: abiFor(opts.runtime, opts.target),
    platform: opts.platform ?? process.platform,
    arch: opts.arch ?? process.arch,
  };
  const env = opts.env ?? process.env;
  const file = cachedBindingPath(target, opts.cacheDir ?? bindingCacheDir(env));
  const what = `better-sqlite3 ${sqliteVersion()} for ${target.runtime} ${target.version} (ABI ${target.abi}, ${target.platform}-${target.arch})`;

  const cached = inspectBinding(file, target);
  if (cached.ok && cached.abi === target.abi) return { file, target, source: 'cache' };
  if (fs.existsSync(file)) log(`${file} ${cached.ok ? `is for ABI ${cached.abi}` : cached.reason}: replacing it`);

  fs.mkdirSync(path.dirname(file), { recursive: true });
  const scratch = fs.mkdtempSync(path.join(path.dirname(file), '.prepare-'));
  const host = opts.prebuiltHost ?? env.ISD_PREBUILT_HOST ?? PREBUILT_HOST;
  const sources: { source: 'download' | 'build'; doing: string; failed: string; get: () => Promise<string> }[] = [
    ...(opts.download !== false
      ? [
          {
            source: 'download' as const,
            doing: 'downloading the prebuilt binding',
            failed: 'no prebuilt',
            get: () => downloadPrebuilt(host, target, scratch, log),
          },
        ]
      : []),
    {
      source: 'build',
      doing: 'building it with node-gyp (minutes: sqlite3.c is one large file)',
      failed: 'no build',
      get: () => buildFromSource(target, scratch, opts.nodedir, env, log),
    },
  ];
  const failures: string[] = [];
  try {
    for (const s of sources) {
      try {
        log(`Preparing ${what}: ${s.doing}…`);
        const candidate = await s.get();
        checkCandidate(candidate, target, opts.execPath, env);
        install(candidate, file);
        log(`Prepared ${file} (${s.source})`);
        return { file, target, source: s.source };
      } catch (err) {
        failures.push(`${s.failed} (${(err as Error).message})`);
        log(`  ${s.failed}: ${(err as Error).message}`);
      }
    }
    throw new IsdError(
      'NATIVE_MODULE',
      `cannot prepare ${what}: ${failures.join('; ')}. Run \`${prepareCommand(target)}\` where a download or a C++ toolchain works`,
      { path: file },
    );
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** prebuild-install's tarball name: {name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz. */
export function prebuiltUrl(host: string, t: RuntimeTarget, env: NodeJS.ProcessEnv = process.env): string {
  const v = sqliteVersion();
  const libc = t.platform === 'linux' && env.LIBC === 'musl' ? 'musl' : '';
  return `${host.replace(/\/+$/, '')}/v${v}/better-sqlite3-v${v}-${t.runtime}-v${t.abi}-${t.platform}${libc}-${t.arch}.tar.gz`;
}

async function downloadPrebuilt(host: string, t: RuntimeTarget, dir: string, log: (l: string) => void) {
  const url = prebuiltUrl(host, t);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS), redirect: 'follow' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length')) || 0;
  const chunks: Buffer[] = [];
  let got = 0;
  let shown = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(Buffer.from(chunk));
    got += chunk.length;
    const pct = total ? Math.floor((got / total) * 4) * 25 : 0;
    if (pct > shown) {
      log(`  downloaded ${pct}% of ${(total / 1e6).toFixed(1)} MB`);
      shown = pct;
    }
  }
  const entry = tarEntry(zlib.gunzipSync(Buffer.concat(chunks)), `build/Release/${BINDING_FILE}`);
  if (!entry) throw new Error(`${url}: the tarball holds no build/Release/${BINDING_FILE}`);
  const out = path.join(dir, BINDING_FILE);
  fs.writeFileSync(out, entry);
  return out;
}

/** The contents of one regular file of a (ustar) tar archive, or null. */
export function tarEntry(tar: Buffer, wanted: string): Buffer | null {
  for (let at = 0; at + 512 <= tar.length;) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) return null; // end of archive
    const field = (from: number, len: number) =>
      header
        .subarray(from, from + len)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = (prefix ? `${prefix}/` : '') + field(0, 100);
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    if (type === '0' && name.replace(/^\.\//, '') === wanted) return tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return null;
}

/** The first of `names` on env.PATH, or null. */
function onPath(names: string[], env: NodeJS.ProcessEnv): string | null {
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const n of names)
    for (const d of dirs) for (const e of exts) if (fs.existsSync(path.join(d, n + e))) return path.join(d, n + e);
  return null;
}

/** node-gyp: npm's own copy (npm_config_node_gyp inside npm scripts), else a node_modules one, else beside npm. */
export function nodeGypScript(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = [env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package here
  }
  candidates.push(
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  return candidates.find((c): c is string => !!c && fs.existsSync(c)) ?? null;
}

async function buildFromSource(
  t: RuntimeTarget,
  dir: string,
  nodedir: string | undefined,
  env: NodeJS.ProcessEnv,
  log: (l: string) => void,
): Promise<string> {
  if (t.platform !== process.platform) throw new Error(`cannot build for ${t.platform} on ${process.platform}`);
  if (process.platform !== 'win32') {
    const missing = [
      onPath(env.CXX ? [env.CXX] : ['c++', 'g++', 'clang++'], env) ? null : 'a C++ compiler',
      onPath(['make'], env) ? null : 'make',
      onPath(['python3', 'python'], env) ? null : 'python3',
    ].filter(Boolean);
    if (missing.length)
      throw new Error(
        `${missing.join(', ')} not found on PATH (install ${process.platform === 'darwin' ? 'the Xcode command line tools' : 'build-essential and python3'})`,
      );
  }
  if (nodedir && !fs.existsSync(path.join(nodedir, 'include', 'node', 'node.h')))
    throw new Error(`--nodedir ${nodedir} holds no include/node/node.h`);
  const gyp = nodeGypScript(env);
  if (!gyp) throw new Error('node-gyp not found (it ships with npm: run this through npm)');
  // Built in a copy, so node_modules/better-sqlite3/build (npm's binding for its Node) is never touched.
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  for (const part of ['binding.gyp', 'package.json', 'src', 'deps'])
    fs.cpSync(path.join(sqlitePackageDir(), part), path.join(src, part), { recursive: true });
  const args = [
    gyp,
    'rebuild',
    '--release',
    `--target=${t.version}`,
    `--arch=${t.arch}`,
    `--jobs=${Math.max(1, os.availableParallelism())}`,
    ...(nodedir
      ? [`--nodedir=${path.resolve(nodedir)}`]
      : t.runtime === 'electron'
        ? [`--dist-url=${ELECTRON_HEADERS}`]
        : []),
  ];
  const started = Date.now();
  const tail: string[] = [];
  let quietSince = Date.now();
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`;
  // sqlite3.c alone takes minutes on a slow machine: say it is still going.
  const heartbeat = setInterval(() => {
    if (Date.now() - quietSince < 30_000) return;
    log(`  still compiling (${elapsed()})`);
    quietSince = Date.now();
  }, 5_000);
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: src, env: { ...gypEnv(env), npm_config_runtime: t.runtime } });
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > 12) tail.shift();
      // make's one line per step ("  CC(target) …sqlite3.o"): the progress a user can follow.
      const step = /^\s*(CC|CXX|SOLINK_MODULE|LINK|COPY)\(target\)\s+(\S+)/.exec(line);
      if (step) {
        log(`  ${step[1].toLowerCase()} ${path.basename(step[2])} (${elapsed()})`);
        quietSince = Date.now();
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.on('data', (d: Buffer) => {
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  }).finally(() => clearInterval(heartbeat));
  const out = path.join(src, 'build', 'Release', BINDING_FILE);
  if (code !== 0 || !fs.existsSync(out)) {
    const reason =
      tail
        .filter((l) => /error|ERR!/i.test(l))
        .slice(-2)
        .join(' | ') ||
      tail.slice(-1)[0] ||
      '';
    throw new Error(`node-gyp exited with ${code}: ${reason.trim()}`);
  }
  return out;
}

/**
 * node-gyp lets npm_config_* variables override its command line, and npm exports its config so (an npmrc
 * with `nodedir=/usr` builds for the running Node whatever --nodedir says): the build's own choices win.
 */
function gypEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const ours =
    /^npm_(config|package_config_node_gyp)_(nodedir|target|arch|dist_url|disturl|runtime|build_from_source)$/i;
  return Object.fromEntries(Object.entries(env).filter(([k]) => !ours.test(k)));
}

/** The candidate must be a whole library of the target's ABI, and open a database in the runtime when we have it. */
function checkCandidate(file: string, t: RuntimeTarget, execPath: string | undefined, env: NodeJS.ProcessEnv): void {
  const seen = inspectBinding(file, t);
  if (!seen.ok) throw new Error(`the binding ${seen.reason}`);
  if (seen.abi !== t.abi) throw new Error(`the binding is for ABI ${seen.abi}, not ${t.abi}`);
  if (!execPath) return;
  const probe = loadsIn(execPath, file, env);
  if (!probe.ok) throw new Error(`the binding does not load in ${execPath}: ${probe.reason}`);
}

/** Opens an in-memory database with `binding` in the runtime `execPath` (Electron runs as plain Node for this). */
export function loadsIn(
  execPath: string,
  binding: string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; sqlite: string } | { ok: false; reason: string } {
  const script =
    "const D = require(process.argv[1]); const db = new D(':memory:', { nativeBinding: process.argv[2] });" +
    "process.stdout.write(db.prepare('select sqlite_version() v').get().v);";
  const r = spawnSync(execPath, ['-e', script, sqlitePackageDir(), binding], {
    env: { ...env, ELECTRON_RUN_AS_NODE: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status === 0) return { ok: true, sqlite: r.stdout.trim() };
  const reason = (r.stderr || r.error?.message || `exit ${r.status}`).split('\n').find((l) => /Error/.test(l));
  return { ok: false, reason: (reason ?? r.stderr.split('\n')[0] ?? '').trim() };
}

/** Into the cache in one rename, so a reader never sees half a file. */
function install(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.tmp`;
  fs.copyFileSync(from, tmp);
  fs.renameSync(tmp, to);
}
