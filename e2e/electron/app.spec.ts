// The Electron app itself (Playwright's _electron): start-up, the window's security settings as the
// main process sees them, the history listing a run trained from the CLI, and one tiny run through
// window.isd. Runs wherever the Electron binary exists (downloaded by npm, or named by
// ELECTRON_OVERRIDE_DIST_PATH); elsewhere it says so once and every spec is skipped. On Linux without a
// display it starts its own X server (Xvfb, the server xvfb-run starts). better-sqlite3's binding for
// that Electron is prepared first, by the code `npm start` runs (electron/launch.ts).
// Needs the build: npx tsc -p tsconfig.node.json && npx vite build.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { _electron as electron, expect, test, type ElectronApplication, type Page } from '@playwright/test';
import type { IsdApi } from '../../electron/contract';
import { electronBinary, electronBindingReady } from '../../electron/launch';

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
const CLI_RUN = 'trained from the CLI';

const found = electronBinary();
const binary = found.path;
const SKIPPED = `${found.path === null ? found.reason : ''}: electron specs skipped`;
if (binary === null) console.log(SKIPPED); // said plainly once, whatever the reporter
test.skip(binary === null, SKIPPED);

/** An X server on a free display for Electron on a headless Linux (Xvfb -displayfd says which). */
async function startXvfb(): Promise<{ display: string; server: ChildProcess }> {
  const server = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x900x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'], // fd 3: where -displayfd writes the display number
  });
  const display = await new Promise<string>((resolve, reject) => {
    let text = '';
    server.stdio[3]!.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
    server.on('error', (e) =>
      reject(new Error(`Xvfb could not start (${e.message}): install xvfb, or run with a DISPLAY`)),
    );
    server.on('exit', (code) => reject(new Error(`Xvfb exited with ${code}`)));
  });
  return { display, server };
}

let home: string;
let app: ElectronApplication;
let page: Page;
let xvfb: ChildProcess | undefined;

test.beforeAll(async () => {
  test.setTimeout(600_000); // the first start may build better-sqlite3 for Electron
  const lines: string[] = [];
  if (!(await electronBindingReady(binary!, (l) => lines.push(l)))) throw new Error(lines.join('\n'));
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-electron-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'ELECTRON_RUN_AS_NODE') env[k] = v;
  // A run in the history before the app opens, trained by the CLI under Node on the same file.
  const cli = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'isd.js'),
      'train',
      ...['--dataset', 'sample', '--train-limit', '32', '--batch-size', '16', '--queue-size', '32'],
      ...['--epochs', '1', '--image-size', '16', '--name', CLI_RUN, '--db', path.join(home, 'history.db')],
    ],
    { cwd: ROOT, encoding: 'utf8', env: { ...env, ISD_REPLICAS: '1' }, timeout: 300_000 },
  );
  expect(cli.status, cli.stderr).toBe(0);
  if (process.platform === 'linux' && !env.DISPLAY && !env.WAYLAND_DISPLAY) {
    const x = await startXvfb();
    xvfb = x.server;
    env.DISPLAY = x.display;
  }
  app = await electron.launch({ executablePath: binary!, args: [MAIN], env: { ...env, ISD_HOME: home }, cwd: ROOT });
  page = await app.firstWindow();
  await page.waitForLoadState('domcontentloaded');
});

test.afterAll(async () => {
  await app?.close();
  xvfb?.kill();
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

// eslint-disable-next-line no-empty-pattern
test('the history lists the run trained from the CLI; a screenshot of the window is saved', async ({}, testInfo) => {
  await page.evaluate(() => {
    (globalThis as unknown as PageWindow).location.href = 'isd://app/index.html#/history';
  });
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByText(CLI_RUN)).toBeVisible({ timeout: 30_000 });
  const shot = testInfo.outputPath('electron-history.png');
  await page.screenshot({ path: shot });
  await testInfo.attach('electron-history', { path: shot, contentType: 'image/png' });
  expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
});
