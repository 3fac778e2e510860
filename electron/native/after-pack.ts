/**
 * electron-builder's afterPack hook (electron-builder.yml): puts better-sqlite3's binding for the
 * packed Electron version, platform and arch into <resources>/native/<key>/, where binding.ts looks
 * first in a packaged app. It is prepared by prepare.ts into the cache (a prebuilt download, else a
 * build); node_modules is never rebuilt (npmRebuild: false), so Node's binding stays where npm put it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packagedBindingPath } from './binding';
import { prepareSqliteBinding } from './prepare';

/** The part of electron-builder's AfterPackContext this hook reads. */
export interface AfterPackContext {
  appOutDir: string;
  electronPlatformName: string;
  /** builder-util's Arch enum: 0 ia32, 1 x64, 2 armv7l, 3 arm64, 4 universal. */
  arch: number;
  packager: { appInfo: { productFilename: string }; config: { electronVersion?: string | null } };
}

const ARCH_NAMES = ['ia32', 'x64', 'arm', 'arm64'];

/** The resources folder of a packed app: beside the executable, or inside the .app bundle on macOS. */
export function resourcesDirOf(appOutDir: string, platform: string, productFilename: string): string {
  return platform === 'darwin' || platform === 'mas'
    ? path.join(appOutDir, `${productFilename}.app`, 'Contents', 'Resources')
    : path.join(appOutDir, 'resources');
}

export default async function afterPack(ctx: AfterPackContext): Promise<void> {
  const arch = ARCH_NAMES[ctx.arch];
  if (!arch) throw new Error(`afterPack: no better-sqlite3 binding for arch ${ctx.arch} (build x64 and arm64 apart)`);
  const version = ctx.packager.config.electronVersion;
  if (!version) throw new Error('afterPack: electron-builder.yml must set electronVersion');
  const platform = ctx.electronPlatformName === 'mas' ? 'darwin' : (ctx.electronPlatformName as NodeJS.Platform);
  const prepared = await prepareSqliteBinding({
    runtime: 'electron',
    target: version,
    platform,
    arch,
    log: (line) => console.log(`  • ${line}`),
  });
  const dest = packagedBindingPath(
    resourcesDirOf(ctx.appOutDir, ctx.electronPlatformName, ctx.packager.appInfo.productFilename),
    prepared.target,
  );
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(prepared.file, dest);
  console.log(`  • better-sqlite3 for Electron ${version} ${platform}-${arch}: ${dest}`);
}
