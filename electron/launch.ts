/**
 * `npm start`: opens the Electron app (dist/electron/main.js) when Electron's binary is installed;
 * otherwise says so in one line and starts the web host instead, printing its URL.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { resolveDbPath } from './app/paths';
import { startWebHost } from './host';

/** The Electron executable, or null with the reason it cannot be used. */
export function electronBinary(): { path: string } | { path: null; reason: string } {
  let resolved: unknown;
  try {
    // The electron package exports the path of its downloaded binary, and throws when it was never downloaded.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    resolved = require('electron');
  } catch {
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

async function main(): Promise<void> {
  const bin = electronBinary();
  if (bin.path !== null) {
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
  console.log(`${bin.reason}: starting the web host instead.`);
  const port = process.env.PORT ? Number(process.env.PORT) : 0;
  const host = await startWebHost({
    dbPath: resolveDbPath(),
    port: Number.isInteger(port) && port >= 0 && port <= 65535 ? port : 0,
  });
  console.log(`ISD Studio: ${host.url}`);
  const shutdown = () => {
    void host.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`isd: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
