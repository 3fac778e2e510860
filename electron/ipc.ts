/**
 * The Electron transport of the contract: one ipcMain.handle(IPC_REQUEST) whose gatekeeper answers
 * only the app's own window (its webContents id and a frame loaded from the app's own origin), then
 * validates and dispatches like every other transport (app/dispatch.ts). Events go to the app's
 * windows as webContents.send(IPC_EVENT, { event, payload }).
 *
 * Electron is imported for its types only, so the binding is tested here with a test double of
 * ipcMain (Electron cannot run on CI machines).
 */
import type { IpcMainInvokeEvent, WebContents } from 'electron';
import { IPC_EVENT, IPC_REQUEST, type ContractError, type EventName, type Handlers, type Result } from './contract';
import type { AppEvents } from './app/app-events';
import { dispatchRequest } from './app/dispatch';

/** The part of ipcMain this module uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

/** The part of a webContents events are pushed to. */
export type EventTarget = Pick<WebContents, 'id' | 'send' | 'isDestroyed'>;

export interface IpcBindingOptions {
  ipcMain: IpcMainLike;
  handlers: Handlers;
  events: AppEvents;
  /** The app's own windows' webContents: the only senders answered and the only event targets. */
  windows: () => EventTarget[];
  /** The renderer's origin with a trailing slash, e.g. "isd://app/": frames from elsewhere are refused. */
  appOrigin: string;
  log?: (level: 'warn' | 'error', message: string, err?: unknown) => void;
}

export const REFUSED: ContractError = {
  code: 'PERMISSION',
  message: 'request refused: it did not come from the ISD Studio window',
};

/** Why a sender is refused, or null when it is the app's own window showing the app's own page. */
export function senderRefusal(
  event: Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>,
  windows: readonly EventTarget[],
  appOrigin: string,
): string | null {
  const sender = event.sender as Partial<EventTarget> | undefined;
  if (!sender || typeof sender.id !== 'number') return 'no sender';
  if (!windows.some((w) => w.id === sender.id && !w.isDestroyed()))
    return `webContents ${sender.id} is not an app window`;
  const frame = event.senderFrame;
  if (!frame) return 'the sending frame is gone';
  let url: URL;
  try {
    url = new URL(frame.url);
  } catch {
    return `frame URL "${String(frame.url).slice(0, 200)}" is not a URL`;
  }
  if (`${url.protocol}//${url.host}/` !== appOrigin)
    return `frame URL ${url.origin}${url.pathname} is not the app's page`;
  return null;
}

/** Registers the request handler and the event forwarding; returns the function that undoes both. */
export function bindIpc(opts: IpcBindingOptions): () => void {
  const log =
    opts.log ??
    ((level, message, err) => (level === 'warn' ? console.warn : console.error)(`[isd] ${message}`, err ?? ''));
  opts.ipcMain.handle(IPC_REQUEST, async (event, channel: unknown, input: unknown): Promise<Result<unknown>> => {
    const refusal = senderRefusal(event, opts.windows(), opts.appOrigin);
    if (refusal !== null) {
      log('warn', `ignored IPC request ${typeof channel === 'string' ? channel.slice(0, 100) : '?'}: ${refusal}`);
      return { ok: false, error: REFUSED };
    }
    return dispatchRequest(
      opts.handlers,
      typeof channel === 'string' ? channel : String(channel),
      input,
      (message, err) => log('error', message, err),
    );
  });
  const unsubscribe = opts.events.onAny((event: EventName, payload: unknown) => {
    for (const w of opts.windows()) {
      if (w.isDestroyed()) continue;
      try {
        w.send(IPC_EVENT, { event, payload });
      } catch (err) {
        log('warn', `could not send ${event} to window ${w.id}`, err);
      }
    }
  });
  return () => {
    unsubscribe();
    opts.ipcMain.removeHandler(IPC_REQUEST);
  };
}
