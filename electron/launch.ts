/**
 * `npm start`: opens the Electron app (dist/electron/main.js) when Electron's binary is installed,
 * once better-sqlite3's binding for that Electron is in the cache (prepared here the first time:
 * native/prepare.ts); otherwise says why in one line and starts the web host instead, printing its URL.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { installLastResort } from './app/last-resort';
import { resolveDbPath } from './app/paths';
import { exitOnSignal, startWebHost } from './host';
import { prepareSqliteBinding } from './native/prepare';

/** The Electron executable, or null with the reason it cannot be used. */
export function electronBinary(): { path: string } | { path: null; reason: string } {
  let resolved: unknown;
  try {
    // The electron package exports the path of its downloaded binary, and throws when it was never downloaded.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    resolved = require('electron');
  } catch {
    // The package itself may be missing (an optional dependency whose download failed): a binary
    // named by ELECTRON_OVERRIDE_DIST_PATH still counts.
    const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH;
    const exe =
      process.platform === 'win32'
        ? 'electron.exe'
        : process.platform === 'darwin'
          ? 'Electron.app/Contents/MacOS/Electron'
          : 'electron';
    if (dist && fs.existsSync(path.join(dist, exe))) return { path: path.join(dist, exe) };
    return {
      path: null,
      reason:
        'Electron binary not installed (npm installed it with ELECTRON_SKIP_BINARY_DOWNLOAD, or its download failed)',
    };
  }
  if (typeof resolved !== 'string' || !fs.existsSync(resolved)) {
    return { path: null, reason: `Electron binary not installed (${String(resolved)} does not exist)` };
  }
  return { path: resolved };
}

/** The version of the Electron binary itself (it may not be the npm package's: ELECTRON_OVERRIDE_DIST_PATH). */
export function electronVersionOf(binary: string): string {
  const r = spawnSync(binary, ['-p', 'process.versions.electron'], {
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const v = r.stdout?.trim() ?? '';
  if (r.status !== 0 || !/^\d+\.\d+\.\d+/.test(v))
    throw new Error(
      `${binary} did not say its version (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`,
    );
  return v;
}

/**
 * better-sqlite3's binding for this Electron binary: from the cache, else prepared now (download, else
 * build, with progress); false after printing the one line that says what to run.
 */
export async function electronBindingReady(binary: string, log = (l: string) => console.log(l)): Promise<boolean> {
  try {
    const prepared = await prepareSqliteBinding({
      runtime: 'electron',
      target: electronVersionOf(binary),
      execPath: binary,
      log,
    });
    if (prepared.source !== 'cache') log(`better-sqlite3 is ready for Electron ${prepared.target.version}.`);
    return true;
  } catch (err) {
    log(
      `ISD Studio cannot open its run history in Electron: ${err instanceof Error ? err.message : String(err)}. Starting the web host instead.`,
    );
    return false;
  }
}

async function main(): Promise<void> {
  const bin = electronBinary();
  if (bin.path === null) console.log(`${bin.reason}: starting the web host instead.`);
  if (bin.path !== null && (await electronBindingReady(bin.path))) {
    const env = { ...process.env };
    delete env.ELECTRON_RUN_AS_NODE; // set, it would make the binary a plain Node
    const child = spawn(bin.path, [path.join(__dirname, 'main.js'), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env,
    });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    process.on('SIGINT', forward('SIGINT'));
    process.on('SIGTERM', forward('SIGTERM'));
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
    return;
  }
  const port = process.env.PORT ? Number(process.env.PORT) : 0;
  installLastResort(); // the fallback host trains runs, as host.ts's own main does
  const host = await startWebHost({
    dbPath: resolveDbPath(),
    port: Number.isInteger(port) && port >= 0 && port <= 65535 ? port : 0,
  });
  console.log(`ISD Studio: ${host.url}`);
  exitOnSignal(host);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`isd: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
