/**
 * The renderer's only door: window.isd, an IsdApi over ipcRenderer. A sandboxed preload can require
 * nothing but 'electron', so this file imports the contract for its types only and repeats the two
 * channel names (preload.test.ts checks they equal the contract's and that the compiled file
 * requires nothing else). ipcRenderer itself is never exposed.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { Channel, EventName, EventPayload, IsdApi, RequestInput, RequestOutput, Result } from './contract';

const IPC_REQUEST = 'isd:request';
const IPC_EVENT = 'isd:event';

const listeners = new Map<string, Set<(payload: unknown) => void>>();

ipcRenderer.on(IPC_EVENT, (_event: IpcRendererEvent, message: unknown) => {
  if (typeof message !== 'object' || message === null) return;
  const { event, payload } = message as { event?: unknown; payload?: unknown };
  if (typeof event !== 'string') return;
  for (const l of listeners.get(event) ?? []) {
    try {
      l(payload);
    } catch (err) {
      console.error(`listener for ${event} failed`, err);
    }
  }
});

const api: IsdApi = {
  invoke<C extends Channel>(channel: C, input: RequestInput<C>): Promise<Result<RequestOutput<C>>> {
    return ipcRenderer.invoke(IPC_REQUEST, channel, input) as Promise<Result<RequestOutput<C>>>;
  },
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    const l = listener as (payload: unknown) => void;
    set.add(l);
    return () => {
      set.delete(l);
    };
  },
};

contextBridge.exposeInMainWorld('isd', api);
