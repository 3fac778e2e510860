// The Electron app itself (Playwright's _electron): start-up, the window's security settings as the
// main process sees them, and one tiny run through window.isd. Runs where the Electron binary exists;
// elsewhere (CI installs with ELECTRON_SKIP_BINARY_DOWNLOAD) every spec says so and is skipped.
// Needs the build: npx tsc -p tsconfig.node.json && npx vite build.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { _electron as electron, expect, test, type ElectronApplication, type Page } from '@playwright/test';
import type { IsdApi } from '../../electron/contract';

/** What the specs read of the page's window (the e2e TypeScript project has no DOM types). */
interface PageWindow {
  isd?: IsdApi;
  require?: unknown;
  process?: unknown;
  open(url: string): unknown;
  location: { href: string };
}

const ROOT = path.resolve(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'dist', 'electron', 'main.js');

function electronBinary(): string | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const p = require('electron') as unknown;
    return typeof p === 'string' && fs.existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

const SKIPPED = 'Electron binary not installed (ELECTRON_SKIP_BINARY_DOWNLOAD): electron specs skipped';
const binary = electronBinary();
if (binary === null) console.log(SKIPPED); // said plainly once, whatever the reporter
test.skip(binary === null, SKIPPED);

let home: string;
let app: ElectronApplication;
let page: Page;

test.beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-electron-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'ELECTRON_RUN_AS_NODE') env[k] = v;
  app = await electron.launch({ executablePath: binary!, args: [MAIN], env: { ...env, ISD_HOME: home }, cwd: ROOT });
  page = await app.firstWindow();
  await page.waitForLoadState('domcontentloaded');
});

test.afterAll(async () => {
  await app?.close();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

test('starts with one window showing the app from its own protocol', async () => {
  expect(app.windows()).toHaveLength(1);
  await expect(page).toHaveTitle('ISD Studio');
  expect(page.url()).toBe('isd://app/index.html');
  const bridge = await page.evaluate(() => {
    const w = globalThis as unknown as PageWindow;
    return {
      isd: typeof w.isd,
      methods: Object.keys(w.isd ?? {}).sort(),
      require: typeof w.require,
      process: typeof w.process,
    };
  });
  expect(bridge).toEqual({ isd: 'object', methods: ['invoke', 'on'], require: 'undefined', process: 'undefined' });
  const info = await page.evaluate(() => (globalThis as unknown as PageWindow).isd!.invoke('system.info', {}));
  expect(info).toMatchObject({ ok: true, value: { transport: 'electron', dbPath: path.join(home, 'history.db') } });
});

test('window security settings, as the main process sees them', async () => {
  const prefs = await app.evaluate(({ BrowserWindow }) => {
    const w = BrowserWindow.getAllWindows()[0];
    // Not in Electron's typings, but there at run time: the preferences the renderer really got.
    const p =
      (w.webContents as unknown as { getLastWebPreferences(): Record<string, unknown> }).getLastWebPreferences() ?? {};
    return {
      contextIsolation: p.contextIsolation,
      sandbox: p.sandbox,
      nodeIntegration: p.nodeIntegration,
      webSecurity: p.webSecurity,
      webviewTag: p.webviewTag,
      allowRunningInsecureContent: p.allowRunningInsecureContent,
    };
  });
  expect(prefs).toEqual({
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    webSecurity: true,
    webviewTag: false,
    allowRunningInsecureContent: false,
  });
  const csp = await page.evaluate(async () =>
    (await fetch('isd://app/index.html')).headers.get('content-security-policy'),
  );
  expect(csp?.startsWith("default-src 'none'")).toBe(true);
});

test('navigation and new windows are refused', async () => {
  const opened = await page.evaluate(() => (globalThis as unknown as PageWindow).open('https://example.com/') === null);
  expect(opened).toBe(true);
  await page.evaluate(() => {
    (globalThis as unknown as PageWindow).location.href = 'https://example.com/';
  });
  await page.waitForTimeout(500);
  expect(page.url()).toBe('isd://app/index.html');
  expect(app.windows()).toHaveLength(1);
});

test('one tiny run through window.isd trains to completion', async () => {
  test.setTimeout(180_000);
  const config = {
    dataset: 'sample',
    trainLimit: 64,
    batchSize: 16,
    queueSize: 64,
    epochs: 1,
    imageSize: 0,
    name: 'electron e2e',
  };
  const started = await page.evaluate(
    (c) => (globalThis as unknown as PageWindow).isd!.invoke('runs.start', { config: c }),
    config,
  );
  expect(started.ok).toBe(true);
  const id = (started as { ok: true; value: { id: string } }).value.id;
  await expect
    .poll(
      async () =>
        page.evaluate(async (runId) => {
          const r = await (globalThis as unknown as PageWindow).isd!.invoke('runs.get', { id: runId });
          return r.ok ? r.value.run.status : r.error.message;
        }, id),
      { timeout: 150_000, intervals: [500] },
    )
    .toBe('completed');
  const detail = await page.evaluate(
    (runId) => (globalThis as unknown as PageWindow).isd!.invoke('runs.get', { id: runId }),
    id,
  );
  expect(detail).toMatchObject({ ok: true, value: { run: { step: 4, totalSteps: 4 } } });
});
