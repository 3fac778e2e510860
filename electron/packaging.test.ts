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

const ROOT = path.resolve('.');
const CONFIG_FILE = path.join(ROOT, 'electron-builder.yml');

async function load(): Promise<BuilderConfig> {
  const c = await builderConfig.getConfig(ROOT, CONFIG_FILE, null);
  await builderConfig.validateConfiguration(c, new DebugLogger(false));
  return c;
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
    const patterns = (c.files ?? []).flatMap((f) => (typeof f === 'string' ? [f] : (f.filter ?? [])));
    for (const p of ['package.json', 'dist/**/*', 'dist-renderer/**/*', '!dist/**/*.map', '!dist/**/*.test.js'])
      expect(patterns).toContain(p);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string };
    expect(pkg.main).toBe('dist/electron/main.js'); // inside dist/**
    expect(c.extraResources).toContainEqual(expect.objectContaining({ from: 'resources', to: 'resources' }));
    expect(fs.existsSync(path.join(ROOT, 'resources', 'sample'))).toBe(true);
  });

  it('keeps native modules and wasm out of the asar and rebuilds them for Electron', async () => {
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
    expect(c.npmRebuild).toBe(true);
    expect(c.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
    });
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
