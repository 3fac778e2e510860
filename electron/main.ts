/**
 * The Electron main process: app lifecycle, the one window, its security settings, the menu, and
 * the services behind the contract (registered before the first window opens).
 *
 * Security: contextIsolation and sandbox on, nodeIntegration off, webSecurity on; the renderer is
 * served from the app's own protocol (isd://app/, files of dist-renderer/ only) with a CSP that starts
 * from default-src 'none' (also added to every response by onHeadersReceived); navigation, new
 * windows, webviews and permission requests refused; http(s) links open in the user's browser,
 * anything else is dropped. IPC answers only this window (ipc.ts).
 *
 * Quitting while a run trains: the run is stopped at its next step boundary with a checkpoint (status
 * stopped, resumable); if the worker does not finish within 20 s it is terminated and the run is left
 * for the next start-up to mark interrupted (it resumes from its last checkpoint either way).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  protocol,
  screen,
  session,
  shell,
  type MenuItemConstructorOptions,
} from 'electron';
import { contentSecurityPolicy, securityHeaders } from './app/content-security';
import { installLastResort } from './app/last-resort';
import { appRoot, checkpointRootFor, defaultUserDataDir, resolveDbPath } from './app/paths';
import { createAppServices, type AppServices } from './app/services';
import { resolveStaticFile } from './app/static-files';
import { bindIpc } from './ipc';
import { MIN_WINDOW_SIZE, readWindowState, writeWindowState } from './window-state';

const APP_SCHEME = 'isd';
const APP_HOST = 'app';
const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}/`;
const QUIT_STOP_TIMEOUT_MS = 20_000;

protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);
// One history for the app, the CLI and the web host (paths.ts computes the same folder without Electron).
app.setPath('userData', defaultUserDataDir());

const root = appRoot(__dirname);
const rendererDir = path.join(root, 'dist-renderer');
const resourcesDir = app.isPackaged ? path.join(process.resourcesPath, 'resources') : path.join(root, 'resources');
const csp = contentSecurityPolicy();

let services: AppServices | null = null;
let servicesClosed = false;
let closing: Promise<void> | null = null;
let mainWindow: BrowserWindow | null = null;

function openExternalIfWeb(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return;
  }
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') void shell.openExternal(parsed.toString());
  else console.warn(`[isd] refused to open ${parsed.protocol} link`);
}

/** Serves dist-renderer/ on isd://app/ with the security headers; nothing else. */
function registerAppProtocol(): void {
  session.defaultSession.protocol.handle(APP_SCHEME, (request) => {
    const url = new URL(request.url);
    if (url.host !== APP_HOST) return new Response('not found', { status: 404 });
    const found = resolveStaticFile(rendererDir, url.pathname);
    if (!found.ok) {
      const body =
        found.status === 404 && url.pathname.endsWith('index.html')
          ? `The renderer is not built (${rendererDir} is missing): run npm run build:renderer.`
          : found.reason;
      return new Response(body, {
        status: found.status,
        headers: { 'Content-Type': 'text/plain; charset=utf-8', ...securityHeaders(csp) },
      });
    }
    return new Response(fs.readFileSync(found.file), {
      status: 200,
      headers: { 'Content-Type': found.contentType, 'Cache-Control': 'no-cache', ...securityHeaders(csp) },
    });
  });
}

function hardenSession(): void {
  const s = session.defaultSession;
  s.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
  });
  s.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  s.setPermissionCheckHandler(() => false);
}

function guardWebContents(): void {
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      event.preventDefault();
      openExternalIfWeb(url);
    });
    contents.on('will-redirect', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      openExternalIfWeb(url);
      return { action: 'deny' };
    });
  });
}

async function pickPath(kind: 'folder' | 'file'): Promise<string | null> {
  const options: Electron.OpenDialogOptions = {
    title: kind === 'folder' ? 'Choose a dataset folder' : 'Choose a dataset file',
    properties: kind === 'folder' ? ['openDirectory'] : ['openFile'],
    filters:
      kind === 'file'
        ? [
            { name: 'IDX images (MNIST family)', extensions: ['gz', 'idx3-ubyte', 'ubyte'] },
            { name: 'All files', extensions: ['*'] },
          ]
        : undefined,
  };
  const result = mainWindow ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
  return result.canceled || result.filePaths.length === 0 ? null : result.filePaths[0];
}

/** encoder.export's save dialog: a .onnx file, or the name of the folder a TF.js export is written to. */
async function savePath(opts: { title: string; defaultName: string; kind: 'file' | 'folder' }): Promise<string | null> {
  const options: Electron.SaveDialogOptions = {
    title: opts.title,
    defaultPath: path.join(app.getPath('documents'), opts.defaultName),
    filters: opts.kind === 'file' ? [{ name: 'ONNX model', extensions: ['onnx'] }] : undefined,
    properties: ['createDirectory', 'showOverwriteConfirmation'],
  };
  const result = mainWindow ? await dialog.showSaveDialog(mainWindow, options) : await dialog.showSaveDialog(options);
  return result.canceled || !result.filePath ? null : result.filePath;
}

function buildMenu(): void {
  const isMac = process.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Data Folder', click: () => void shell.openPath(app.getPath('userData')) },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        { role: 'forceReload' },
        ...(app.isPackaged ? [] : [{ role: 'toggleDevTools' as const }]),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [
        { label: 'Show Run History File', click: () => shell.showItemInFolder(resolveDbPath()) },
        ...(isMac ? [] : [{ role: 'about' as const }]),
      ],
    },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function createWindow(): BrowserWindow {
  const userData = app.getPath('userData');
  const state = readWindowState(
    userData,
    screen.getAllDisplays().map((d) => d.workArea),
  );
  const win = new BrowserWindow({
    ...(state.x !== undefined && state.y !== undefined ? { x: state.x, y: state.y } : {}),
    width: state.width,
    height: state.height,
    minWidth: MIN_WINDOW_SIZE.width,
    minHeight: MIN_WINDOW_SIZE.height,
    show: false,
    title: 'ISD Studio',
    icon: path.join(root, 'build', 'icon.png'),
    webPreferences: {
      preload: path.join(__dirname, 'preload.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      disableBlinkFeatures: 'Auxclick', // middle-click would otherwise try to open links in new windows
      safeDialogs: true,
      spellcheck: false,
      devTools: !app.isPackaged || process.env.ISD_DEVTOOLS === '1',
    },
  });
  if (state.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  win.on('close', () => {
    const err = writeWindowState(userData, { ...win.getNormalBounds(), maximized: win.isMaximized() });
    if (err) console.warn(`[isd] could not save the window position: ${err.message}`);
  });
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  win.webContents.once('did-finish-load', () => {
    const interrupted = services?.store.openReport.interruptedRunIds ?? [];
    if (interrupted.length > 0) {
      services?.events.emit('app.log', {
        level: 'warn',
        message: `${interrupted.length} run${interrupted.length === 1 ? ' was' : 's were'} interrupted when the app last stopped; resume ${interrupted.length === 1 ? 'it' : 'them'} from the run history.`,
        at: Date.now(),
      });
    }
  });
  void win.loadURL(`${APP_ORIGIN}index.html`);
  return win;
}

async function start(): Promise<void> {
  installLastResort();
  await app.whenReady();
  hardenSession();
  registerAppProtocol();
  buildMenu();
  const dbPath = resolveDbPath();
  try {
    services = createAppServices({
      dbPath,
      checkpointRoot: checkpointRootFor(dbPath),
      resourcesDir,
      transport: 'electron',
      pickPath,
      savePath,
      appVersion: app.getVersion(),
    });
  } catch (err) {
    dialog.showErrorBox(
      'ISD Studio cannot open its run history',
      `${dbPath}\n\n${err instanceof Error ? err.message : String(err)}`,
    );
    servicesClosed = true;
    app.quit();
    return;
  }
  bindIpc({
    ipcMain,
    handlers: services.handlers,
    events: services.events,
    windows: () => (mainWindow && !mainWindow.isDestroyed() ? [mainWindow.webContents] : []),
    appOrigin: APP_ORIGIN,
  });
  mainWindow = createWindow();
  app.on('activate', () => {
    if (mainWindow === null) mainWindow = createWindow();
  });
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (mainWindow) {
      if (mainWindow.isMinimized()) mainWindow.restore();
      mainWindow.focus();
    }
  });
  guardWebContents();
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('before-quit', (event) => {
    if (!services || servicesClosed) return;
    event.preventDefault();
    if (closing) return; // a second Quit while the run is being stopped waits for the same close
    closing = services.close({ stopTimeoutMs: QUIT_STOP_TIMEOUT_MS }).finally(() => {
      servicesClosed = true;
      app.quit();
    });
  });
  start().catch((err) => {
    console.error('[isd] start-up failed', err);
    app.exit(1);
  });
}
