/** system.info (and `isd info`): the training backend, its device and fallbacks, versions, the host. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SystemInfo } from '../contract';
import type { BackendReport } from '../engine/backend';

/** The app's version from package.json, where the build layout puts it (dist/electron/app or a packaged app). */
export function appVersionFallback(): string {
  for (const up of [
    ['..', '..'],
    ['..', '..', '..'],
  ]) {
    try {
      return (JSON.parse(fs.readFileSync(path.join(__dirname, ...up, 'package.json'), 'utf8')) as { version: string })
        .version;
    } catch {
      // Not in this layout: try the next.
    }
  }
  return 'unknown';
}

function requireVersion(pkg: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function systemInfo(
  b: BackendReport,
  host: {
    appVersion: string;
    transport: SystemInfo['transport'];
    dbPath: string;
    measuredImagesPerSec: number | null;
  },
): SystemInfo {
  return {
    backend: b.backend,
    device: b.device,
    adapter: b.adapter ?? null,
    fallbacks: b.fallbacks,
    versions: {
      ...b.versions,
      app: host.appVersion,
      'better-sqlite3': requireVersion('better-sqlite3'),
      sharp: requireVersion('sharp'),
    },
    appVersion: host.appVersion,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    transport: host.transport,
    dbPath: path.resolve(host.dbPath),
    measuredImagesPerSec: host.measuredImagesPerSec,
  };
}
