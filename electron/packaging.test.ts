// Packaging cannot run here (it needs the Electron download), so the configuration is checked instead:
// loaded and validated by electron-builder's own loader and schema, then held to what the app needs.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { renderIcon } from '../scripts/make-icon';

interface BuilderConfig {
  appId?: string;
  productName?: string;
  files?: { filter?: string[] }[] | string[];
  extraResources?: { from: string; to: string; filter?: string[] }[];
  asar?: boolean;
  asarUnpack?: string[];
  npmRebuild?: boolean;
  electronVersion?: string;
  afterPack?: string;
  icon?: string;
  electronFuses?: Record<string, boolean>;
  linux?: { target?: string[]; icon?: string };
  mac?: { target?: string[]; icon?: string };
  win?: { target?: string[]; icon?: string };
}

// electron-builder's internals (a dependency of the electron-builder devDependency, pinned ~26.17).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const builderConfig = require('app-builder-lib/out/util/config/config') as {
  getConfig(projectDir: string, configPath: string | null, fromOptions: null): Promise<BuilderConfig>;
  validateConfiguration(config: BuilderConfig, logger: unknown): Promise<void>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };

// The glob matcher electron-builder itself resolves (its files/asarUnpack patterns are minimatch globs).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { minimatch } = require(
  require.resolve('minimatch', { paths: [path.dirname(require.resolve('app-builder-lib/package.json'))] }),
) as { minimatch: (file: string, pattern: string, opts?: { dot?: boolean; matchBase?: boolean }) => boolean };

const ROOT = path.resolve('.');
const CONFIG_FILE = path.join(ROOT, 'electron-builder.yml');

async function load(): Promise<BuilderConfig> {
  const c = await builderConfig.getConfig(ROOT, CONFIG_FILE, null);
  await builderConfig.validateConfiguration(c, new DebugLogger(false));
  return c;
}

function filePatterns(c: BuilderConfig): string[] {
  return (c.files ?? []).flatMap((f) => (typeof f === 'string' ? [f] : (f.filter ?? [])));
}

describe('electron-builder configuration', () => {
  it('passes electron-builder’s own schema, which does refuse a wrong key', async () => {
    await expect(load()).resolves.toBeDefined();
    await expect(
      builderConfig.validateConfiguration({ appId: 'x', asarUnpacks: ['y'] } as BuilderConfig, new DebugLogger(false)),
    ).rejects.toThrow(/asarUnpacks/);
  });

  it('names the app and builds AppImage and deb, dmg, nsis', async () => {
    const c = await load();
    expect(c.productName).toBe('ISD Studio');
    expect(c.appId).toMatch(/^[a-z0-9.-]+$/);
    expect(c.linux?.target).toEqual(['AppImage', 'deb']);
    expect(c.mac?.target).toEqual(['dmg']);
    expect(c.win?.target).toEqual(['nsis']);
  });

  it('packs the compiled code and the built renderer, ships resources/ unpacked, leaves maps and tests out', async () => {
    const c = await load();
    const patterns = filePatterns(c);
    for (const p of ['package.json', 'dist/**/*', 'dist-renderer/**/*', '!dist/**/*.map', '!dist/**/*.test.js'])
      expect(patterns).toContain(p);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string };
    expect(pkg.main).toBe('dist/electron/main.js'); // inside dist/**
    expect(c.extraResources).toContainEqual(expect.objectContaining({ from: 'resources', to: 'resources' }));
    expect(fs.existsSync(path.join(ROOT, 'resources', 'sample'))).toBe(true);
  });

  it('keeps native modules and wasm out of the asar, and never rebuilds node_modules for Electron', async () => {
    const c = await load();
    expect(c.asar).toBe(true);
    for (const p of [
      'node_modules/better-sqlite3/**/*',
      'node_modules/@tensorflow/tfjs-node-gpu/**/*',
      'node_modules/sharp/**/*',
      '**/*.wasm',
      '**/*.node',
    ])
      expect(c.asarUnpack).toContain(p);
    // npmRebuild would leave Electron's better-sqlite3 binding where Node's was; afterPack copies the
    // binding prepared for Electron into resources/native instead (electron/native/after-pack.ts).
    expect(c.npmRebuild).toBe(false);
    expect(c.afterPack).toBe('dist/electron/native/after-pack.js');
    expect(fs.existsSync(path.join(ROOT, 'electron', 'native', 'after-pack.ts'))).toBe(true);
    const built = path.join(ROOT, c.afterPack!);
    if (fs.existsSync(built)) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      expect(typeof (require(built) as { default: unknown }).default).toBe('function');
    }
    expect(c.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
    });
  });

  it('installs without the Electron download: electron is optional, pinned, and its version given to electron-builder', async () => {
    const c = await load();
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    expect(pkg.optionalDependencies?.electron).toBe(c.electronVersion);
    expect(pkg.devDependencies?.electron).toBeUndefined();
    expect(pkg.dependencies?.electron).toBeUndefined();
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { optional?: boolean; version?: string }>;
    };
    expect(lock.packages['node_modules/electron']).toMatchObject({ optional: true, version: c.electronVersion });
    // An optional dependency is a production one to electron-builder: keep the runtime out of the app.
    const files = filePatterns(c);
    expect(files).toContain('!node_modules/electron{,/**/*}');
    expect(minimatch('node_modules/electron/dist/electron', '!node_modules/electron{,/**/*}')).toBe(false);
  });

  it('packs the worker scripts into the asar and leaves every wasm and native file outside it', async () => {
    const c = await load();
    const files = filePatterns(c);
    const packed = (rel: string) => {
      let inApp = rel.startsWith('node_modules/'); // production dependencies are collected, then filtered
      for (const p of files) {
        if (p.startsWith('!')) {
          if (minimatch(rel, p.slice(1), { dot: true })) inApp = false;
        } else if (minimatch(rel, p, { dot: true })) inApp = true;
      }
      return inApp;
    };
    const unpacked = (rel: string) =>
      (c.asarUnpack ?? []).some((p) => minimatch(rel, p, { dot: true, matchBase: !p.includes('/') }));
    // Worker threads start from these files inside app.asar (Electron reads asar in workers since electron/electron#33216).
    for (const w of [
      'dist/electron/engine/worker.js',
      'dist/electron/engine/replica-worker.js',
      'dist/electron/app/analysis-worker.js',
    ]) {
      expect(fs.existsSync(path.join(ROOT, w.replace(/^dist\//, '').replace(/\.js$/, '.ts'))), w).toBe(true);
      expect(packed(w), w).toBe(true);
      expect(unpacked(w), w).toBe(false);
    }
    expect(packed('dist-renderer/index.html')).toBe(true);
    expect(packed('dist/electron/main.js.map')).toBe(false);
    const wasmDir = 'node_modules/@tensorflow/tfjs-backend-wasm/wasm-out';
    const wasm = fs.readdirSync(path.join(ROOT, wasmDir)).filter((f) => f.endsWith('.wasm'));
    expect(wasm.length).toBeGreaterThanOrEqual(3);
    for (const f of wasm) expect(unpacked(`${wasmDir}/${f}`), f).toBe(true);
    // better-sqlite3's binding ships as resources/native (afterPack), not from node_modules.
    expect(packed('node_modules/better-sqlite3/build/Release/better_sqlite3.node')).toBe(false);
    expect(packed('node_modules/better-sqlite3/lib/index.js')).toBe(true);
    expect(unpacked('node_modules/sharp/lib/index.js')).toBe(true);
  });

  it('uses the project’s icon: a 512×512 RGBA PNG rendered from build/icon.svg', async () => {
    const c = await load();
    for (const icon of [c.icon, c.linux?.icon, c.mac?.icon, c.win?.icon]) expect(icon).toBe('build/icon.png');
    const committed = sharp(path.join(ROOT, 'build', 'icon.png'));
    const meta = await committed.metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 512, 512, 4]);
    // The committed PNG is what scripts/make-icon.ts makes from the SVG (up to rasteriser rounding).
    const a = await committed.raw().toBuffer();
    const b = await sharp(await renderIcon(path.join(ROOT, 'build', 'icon.svg')))
      .raw()
      .toBuffer();
    expect(b.length).toBe(a.length);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
    expect(diff / a.length).toBeLessThan(1);
  });
});
