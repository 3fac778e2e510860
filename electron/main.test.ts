// main.ts against a test double of the 'electron' module (Electron cannot run on these machines; the
// Playwright specs in e2e/electron run the real thing where its binary exists). The services behind it
// are real, on a temporary ISD_HOME.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const fake = vi.hoisted(() => {
  // vi.hoisted runs before imports: only require() is available here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { EventEmitter: Emitter } = require('node:events') as typeof import('node:events');
  const order: string[] = [];
  const app = Object.assign(new Emitter(), {
    userData: '',
    isPackaged: false,
    setPath: (_name: string, p: string) => (app.userData = p),
    getPath: () => app.userData,
    getVersion: () => '0.1.0',
    whenReady: () => Promise.resolve(),
    requestSingleInstanceLock: () => true,
    quitCalls: 0,
    quit: () => {
      app.quitCalls++;
      const e = { defaultPrevented: false, preventDefault: () => (e.defaultPrevented = true) };
      app.emit('before-quit', e);
    },
    exit: (code: number) => {
      throw new Error(`app.exit(${code})`);
    },
  });
  class WebContents extends Emitter {
    static nextId = 1;
    id = WebContents.nextId++;
    openHandler: ((d: { url: string }) => { action: string }) | null = null;
    sent: unknown[][] = [];
    setWindowOpenHandler(h: (d: { url: string }) => { action: string }) {
      this.openHandler = h;
    }
    send(...args: unknown[]) {
      this.sent.push(args);
    }
    isDestroyed() {
      return false;
    }
  }
  class BrowserWindow extends Emitter {
    static all: BrowserWindow[] = [];
    webContents = new WebContents();
    url = '';
    constructor(readonly options: Record<string, unknown>) {
      super();
      order.push('window');
      BrowserWindow.all.push(this);
      app.emit('web-contents-created', {}, this.webContents);
    }
    loadURL(url: string) {
      this.url = url;
      return Promise.resolve();
    }
    maximize() {}
    show() {}
    isDestroyed() {
      return false;
    }
    isMinimized() {
      return false;
    }
    isMaximized() {
      return false;
    }
    getNormalBounds() {
      return { x: 10, y: 20, width: 1100, height: 750 };
    }
  }
  const handlers = new Map<string, (...a: unknown[]) => unknown>();
  const protocols = new Map<string, (req: { url: string }) => Response>();
  const opened: string[] = [];
  const electron = {
    app,
    BrowserWindow,
    ipcMain: {
      handle: (channel: string, h: (...a: unknown[]) => unknown) => {
        order.push(`handle ${channel}`);
        handlers.set(channel, h);
      },
      removeHandler: (channel: string) => handlers.delete(channel),
    },
    protocol: { registerSchemesAsPrivileged: (s: unknown) => order.push(`schemes ${JSON.stringify(s)}`) },
    session: {
      defaultSession: {
        protocol: { handle: (scheme: string, h: (req: { url: string }) => Response) => protocols.set(scheme, h) },
        webRequest: { onHeadersReceived: (h: unknown) => (electron.headersHook = h) },
        setPermissionRequestHandler: (h: unknown) => (electron.permissionHook = h),
        setPermissionCheckHandler: (h: unknown) => (electron.permissionCheck = h),
      },
    },
    headersHook: null as unknown,
    permissionHook: null as unknown,
    permissionCheck: null as unknown,
    menu: null as unknown,
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: (m: unknown) => (electron.menu = m) },
    screen: { getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }] },
    dialog: {
      showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
      showErrorBox: (t: string, m: string) => order.push(`error ${t} ${m}`),
    },
    shell: {
      openExternal: async (u: string) => void opened.push(u),
      openPath: async () => '',
      showItemInFolder: () => undefined,
    },
  };
  return { electron, order, handlers, protocols, opened, BrowserWindow };
});

vi.mock('electron', () => fake.electron);

let home: string;

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-main-'));
  process.env.ISD_HOME = home;
  await import('./main');
  for (let i = 0; i < 100 && fake.BrowserWindow.all.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
});

afterAll(() => {
  delete process.env.ISD_HOME;
  fs.rmSync(home, { recursive: true, force: true });
});

const win = () => fake.BrowserWindow.all[0];

describe('main process', () => {
  it('registers the IPC handler before the first window opens, and opens exactly one', () => {
    expect(fake.order.filter((o) => o === 'window' || o.startsWith('handle'))).toEqual([
      'handle isd:request',
      'window',
    ]);
    expect(fake.BrowserWindow.all).toHaveLength(1);
    expect(fake.electron.app.userData).toBe(home);
  });

  it('opens the window with the security settings and the app page', () => {
    const prefs = win().options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      allowRunningInsecureContent: false,
    });
    expect(prefs.preload).toBe(path.join(path.resolve('electron'), 'preload.js'));
    expect(win().url).toBe('isd://app/index.html');
  });

  it('serves only the renderer folder on isd://app/, with the CSP', async () => {
    const handle = fake.protocols.get('isd')!;
    const page = handle({ url: 'isd://app/index.html' });
    expect(page.headers.get('content-security-policy')?.startsWith("default-src 'none'")).toBe(true);
    expect([200, 404]).toContain(page.status); // 404 (with how to build it) when dist-renderer/ is absent
    for (const url of [
      'isd://app/%2e%2e/package.json',
      'isd://app/../package.json',
      'isd://app/assets%2F..%2F..%2Fpackage.json',
    ]) {
      const r = handle({ url });
      expect([url, r.status]).toEqual([url, expect.any(Number)]);
      expect(r.status === 400 || r.status === 404).toBe(true);
      expect(await r.text()).not.toContain('"isd-studio"');
    }
    expect(handle({ url: 'isd://elsewhere/index.html' }).status).toBe(404);
    const headers = await new Promise<Record<string, string[]>>((resolve) =>
      (
        fake.electron.headersHook as (
          d: unknown,
          cb: (r: { responseHeaders: Record<string, string[]> }) => void,
        ) => void
      )({ responseHeaders: {} }, (r) => resolve(r.responseHeaders)),
    );
    expect(headers['Content-Security-Policy'][0]).toMatch(/^default-src 'none'/);
  });

  it('refuses navigation and new windows; only http(s) links go to the browser', () => {
    const wc = win().webContents;
    const nav = (url: string) => {
      const e = { prevented: false, preventDefault: () => (e.prevented = true) };
      wc.emit('will-navigate', e, url);
      return e.prevented;
    };
    expect(nav('https://example.com/a')).toBe(true);
    expect(nav('file:///etc/passwd')).toBe(true);
    expect(wc.openHandler!({ url: 'http://example.org/' })).toEqual({ action: 'deny' });
    expect(wc.openHandler!({ url: 'javascript:alert(1)' })).toEqual({ action: 'deny' });
    expect(wc.openHandler!({ url: 'smb://server/share' })).toEqual({ action: 'deny' });
    expect(fake.opened).toEqual(['https://example.com/a', 'http://example.org/']);
    const denied = vi.fn();
    (fake.electron.permissionHook as (c: unknown, p: string, cb: (ok: boolean) => void) => void)(wc, 'media', denied);
    expect(denied).toHaveBeenCalledWith(false);
  });

  it('answers its own window over IPC and refuses other senders', async () => {
    const h = fake.handlers.get('isd:request')!;
    const ok = await h({ sender: win().webContents, senderFrame: { url: 'isd://app/index.html' } }, 'runs.list', {});
    expect(ok).toEqual({ ok: true, value: { runs: [], total: 0 } });
    const refused = await h({ sender: { id: 999 }, senderFrame: { url: 'isd://app/index.html' } }, 'runs.list', {});
    expect(refused).toMatchObject({ ok: false, error: { code: 'PERMISSION' } });
  });

  it('has the usual menu', () => {
    const labels = (fake.electron.menu as { label?: string; role?: string }[]).map((m) => m.label ?? m.role);
    expect(labels).toEqual(expect.arrayContaining(['File', 'editMenu', 'View', 'windowMenu', 'help']));
  });

  it('remembers the window position on close, and closes the services before quitting', async () => {
    win().emit('close');
    expect(JSON.parse(fs.readFileSync(path.join(home, 'window-state.json'), 'utf8'))).toEqual({
      x: 10,
      y: 20,
      width: 1100,
      height: 750,
      maximized: false,
    });
    const e = { defaultPrevented: false, preventDefault: () => (e.defaultPrevented = true) };
    fake.electron.app.emit('before-quit', e);
    expect(e.defaultPrevented).toBe(true); // held until the services have closed
    for (let i = 0; i < 100 && fake.electron.app.quitCalls === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(fake.electron.app.quitCalls).toBe(1);
    expect(fs.existsSync(path.join(home, 'history.db'))).toBe(true);
  });

  it('a second instance brings the first window forward (restored when minimised)', () => {
    const w = win() as unknown as { isMinimized(): boolean; restore(): void; focus(): void };
    const calls: string[] = [];
    w.isMinimized = () => true;
    w.restore = () => calls.push('restore');
    w.focus = () => calls.push('focus');
    fake.electron.app.emit('second-instance');
    expect(calls).toEqual(['restore', 'focus']);
  });

  it('an instance that does not get the single-instance lock quits at once: no window, no IPC', async () => {
    const windows = fake.BrowserWindow.all.length;
    const quits = fake.electron.app.quitCalls;
    const handled = fake.order.filter((o) => o.startsWith('handle ')).length;
    (fake.electron.app as { requestSingleInstanceLock: () => boolean }).requestSingleInstanceLock = () => false;
    vi.resetModules();
    await import('./main');
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.electron.app.quitCalls).toBe(quits + 1);
    expect(fake.BrowserWindow.all.length).toBe(windows);
    expect(fake.order.filter((o) => o.startsWith('handle ')).length).toBe(handled);
  });
});
