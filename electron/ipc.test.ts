// The Electron transport with a test double of ipcMain and of the window's webContents (Electron
// cannot run here); the handlers are real services on a real temporary SQLite file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IpcMainInvokeEvent } from 'electron';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IPC_EVENT, IPC_REQUEST, type Result } from './contract';
import { createAppServices, type AppServices } from './app/services';
import { bindIpc, REFUSED, senderRefusal, type EventTarget, type IpcMainLike } from './ipc';

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown;

class FakeIpcMain implements IpcMainLike {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`second handler for ${channel}`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  invoke(event: Partial<IpcMainInvokeEvent>, ...args: unknown[]): Promise<Result<unknown>> {
    const h = this.handlers.get(IPC_REQUEST);
    if (!h) throw new Error('no handler');
    return Promise.resolve(h(event as IpcMainInvokeEvent, ...args)) as Promise<Result<unknown>>;
  }
}

class FakeWebContents implements EventTarget {
  readonly sent: { channel: string; args: unknown[] }[] = [];
  destroyed = false;
  constructor(readonly id: number) {}
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
}

const ORIGIN = 'isd://app/';
const eventFrom = (sender: FakeWebContents | { id: number }, url: string | null): Partial<IpcMainInvokeEvent> =>
  ({ sender, senderFrame: url === null ? null : { url } }) as unknown as Partial<IpcMainInvokeEvent>;

let dir: string;
let services: AppServices;
let ipc: FakeIpcMain;
let win: FakeWebContents;
let unbind: () => void;
const warnings: string[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-ipc-'));
  services = createAppServices({ dbPath: path.join(dir, 'history.db'), transport: 'electron', systemRoots: [] });
  ipc = new FakeIpcMain();
  win = new FakeWebContents(7);
  unbind = bindIpc({
    ipcMain: ipc,
    handlers: services.handlers,
    events: services.events,
    windows: () => [win],
    appOrigin: ORIGIN,
    log: (level, m) => level === 'warn' && warnings.push(m),
  });
});

afterAll(async () => {
  unbind();
  await services.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ipc gatekeeper', () => {
  it('answers the app window showing the app page', async () => {
    const r = await ipc.invoke(eventFrom(win, `${ORIGIN}index.html#/history`), 'runs.list', {});
    expect(r).toEqual({ ok: true, value: { runs: [], total: 0 } });
  });

  it('refuses another webContents, a foreign frame URL, and a missing frame, without running the handler', async () => {
    const before = services.store.listUserDatasets().length;
    const other = new FakeWebContents(8);
    const samplePath = path.resolve('resources/sample');
    for (const ev of [
      eventFrom(other, `${ORIGIN}index.html`),
      eventFrom(win, 'https://evil.example/index.html'),
      eventFrom(win, 'file:///etc/passwd'),
      eventFrom(win, 'isd://other/index.html'),
      eventFrom(win, null),
      { sender: undefined, senderFrame: undefined } as unknown as Partial<IpcMainInvokeEvent>,
    ]) {
      const r = await ipc.invoke(ev, 'datasets.add', { path: samplePath });
      expect(r).toEqual({ ok: false, error: REFUSED });
    }
    expect(services.store.listUserDatasets().length).toBe(before);
    expect(warnings.length).toBeGreaterThanOrEqual(6);
    expect(warnings.every((w) => w.startsWith('ignored IPC request datasets.add'))).toBe(true);
  });

  it('refuses a destroyed window', async () => {
    win.destroyed = true;
    try {
      expect(await ipc.invoke(eventFrom(win, `${ORIGIN}index.html`), 'runs.list', {})).toEqual({
        ok: false,
        error: REFUSED,
      });
    } finally {
      win.destroyed = false;
    }
  });

  it('validates every input and names the field, never a stack trace', async () => {
    const ev = eventFrom(win, `${ORIGIN}index.html`);
    const bad = await ipc.invoke(ev, 'runs.start', { config: { lr: -1 } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'config.lr' } });
    const unknown = await ipc.invoke(ev, 'runs.explode', {});
    expect(unknown).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'channel' } });
    const extra = await ipc.invoke(ev, 'runs.get', { id: 'x', sneaky: 1 });
    expect(extra).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'sneaky' } });
    const missing = await ipc.invoke(ev, 'runs.get', { id: 'no-such-run' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    for (const r of [bad, unknown, extra, missing]) expect(JSON.stringify(r)).not.toMatch(/\n\s+at /);
    expect(services.store.listRuns().total).toBe(0);
  });

  it('answers datasets.pick with CONFLICT when no native dialog was given', async () => {
    const r = await ipc.invoke(eventFrom(win, `${ORIGIN}index.html`), 'datasets.pick', { kind: 'folder' });
    expect(r).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
  });

  it('pushes events to the app windows only, as { event, payload }', () => {
    win.sent.length = 0;
    const gone = new FakeWebContents(9);
    gone.destroyed = true;
    services.events.emit('app.log', { level: 'info', message: 'hello', at: 1 });
    expect(win.sent).toEqual([
      { channel: IPC_EVENT, args: [{ event: 'app.log', payload: { level: 'info', message: 'hello', at: 1 } }] },
    ]);
    expect(gone.sent).toEqual([]);
  });

  it('senderRefusal explains each refusal', () => {
    expect(senderRefusal(eventFrom(win, `${ORIGIN}x`) as IpcMainInvokeEvent, [win], ORIGIN)).toBeNull();
    expect(senderRefusal(eventFrom({ id: 3 }, `${ORIGIN}x`) as IpcMainInvokeEvent, [win], ORIGIN)).toMatch(
      /not an app window/,
    );
    expect(senderRefusal(eventFrom(win, 'not a url') as IpcMainInvokeEvent, [win], ORIGIN)).toMatch(/not a URL/);
  });

  it('unbinding removes the handler and stops the events', () => {
    const other = new FakeIpcMain();
    const w = new FakeWebContents(11);
    const off = bindIpc({
      ipcMain: other,
      handlers: services.handlers,
      events: services.events,
      windows: () => [w],
      appOrigin: ORIGIN,
    });
    off();
    services.events.emit('app.log', { level: 'info', message: 'after', at: 2 });
    expect(other.handlers.size).toBe(0);
    expect(w.sent).toEqual([]);
  });
});
