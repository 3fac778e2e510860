/**
 * The contract over WebSocket, for the renderer running in a browser against `isd serve`.
 * Requests carry ids and are matched to their answers; sends wait for the socket to open; the socket
 * reconnects with backoff and requests in flight when it drops are answered with an error (the host
 * may or may not have run them, so they are not re-sent).
 */
import type {
  Channel,
  ContractError,
  EventName,
  EventPayload,
  IsdApi,
  RequestInput,
  RequestOutput,
  Result,
  WireRequest,
} from '../../electron/contract';
import { Listeners } from './listeners';

/** The part of the WebSocket API this client uses (the browser's and the `ws` package's both fit). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface WsClientOptions {
  /** Defaults to the global WebSocket. */
  createSocket?: SocketFactory;
  /** First reconnection delay; doubles up to maxDelayMs. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export interface WsClient extends IsdApi {
  readonly state: ConnectionState;
  onConnection(listener: (state: ConnectionState, detail?: string) => void): () => void;
  /** Closes for good: pending requests fail, no reconnection. */
  close(): void;
}

const OPEN = 1;

/** ws(s)://<host>/ws?token=<token>, the token taken from the page's own query string. */
export function webSocketUrl(loc: { protocol: string; host: string; search: string }): string {
  const token = new URLSearchParams(loc.search).get('token') ?? '';
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${loc.host}/ws?token=${encodeURIComponent(token)}`;
}

function lostError(detail: string): ContractError {
  return { code: 'INTERNAL', message: `connection to the ISD host lost (${detail}); the request may not have run` };
}

export function createWsClient(url: string, options: WsClientOptions = {}): WsClient {
  const createSocket: SocketFactory = options.createSocket ?? ((u) => new WebSocket(u) as unknown as SocketLike);
  const minDelay = options.minDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5000;

  let nextId = 1;
  /** Sent, awaiting an answer. */
  const inFlight = new Map<number, (r: Result<unknown>) => void>();
  /** Not yet sent (socket not open). */
  const outbox: { request: WireRequest; resolve: (r: Result<unknown>) => void }[] = [];
  const listeners = new Listeners<string, [payload: unknown]>();
  const connectionListeners = new Listeners<'connection', [state: ConnectionState, detail?: string]>();

  let socket: SocketLike | null = null;
  let state: ConnectionState = 'connecting';
  let closedForGood = false;
  let delay = minDelay;
  let timer: ReturnType<typeof setTimeout> | null = null;

  function setState(s: ConnectionState, detail?: string): void {
    state = s;
    connectionListeners.emit('connection', s, detail);
  }

  function flush(): void {
    while (socket && socket.readyState === OPEN && outbox.length > 0) {
      const item = outbox.shift()!;
      inFlight.set(item.request.id, item.resolve);
      socket.send(JSON.stringify(item.request));
    }
  }

  function handleMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { id?: unknown; result?: unknown; event?: unknown; payload?: unknown };
    if (typeof m.id === 'number' && m.result !== undefined) {
      const resolve = inFlight.get(m.id);
      if (resolve) {
        inFlight.delete(m.id);
        resolve(m.result as Result<unknown>);
      } else if (m.id === -1) {
        console.warn('ISD host refused a malformed message', m.result);
      }
      return;
    }
    if (typeof m.event === 'string') listeners.emit(m.event, m.payload);
  }

  function connect(): void {
    if (closedForGood) return;
    setState('connecting');
    let s: SocketLike;
    try {
      s = createSocket(url);
    } catch (e) {
      scheduleReconnect(e instanceof Error ? e.message : String(e));
      return;
    }
    socket = s;
    s.onopen = () => {
      delay = minDelay;
      setState('open');
      flush();
    };
    s.onmessage = (ev) => handleMessage(ev.data);
    s.onerror = () => {
      /* onclose follows and handles it */
    };
    s.onclose = (ev) => {
      if (socket !== s) return;
      socket = null;
      const detail = ev.reason || `code ${ev.code}`;
      for (const [id, resolve] of inFlight) {
        inFlight.delete(id);
        resolve({ ok: false, error: lostError(detail) });
      }
      if (closedForGood) return;
      scheduleReconnect(detail);
    };
  }

  function scheduleReconnect(detail: string): void {
    setState('closed', detail);
    if (closedForGood || timer) return;
    timer = setTimeout(() => {
      timer = null;
      connect();
    }, delay);
    delay = Math.min(maxDelay, delay * 2);
  }

  connect();

  return {
    get state() {
      return state;
    },
    invoke<C extends Channel>(channel: C, input: RequestInput<C>): Promise<Result<RequestOutput<C>>> {
      if (closedForGood) return Promise.resolve({ ok: false, error: lostError('client closed') });
      return new Promise((resolve) => {
        const request: WireRequest = { id: nextId++, channel, input };
        outbox.push({ request, resolve: resolve as (r: Result<unknown>) => void });
        flush();
      });
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      return listeners.add(event, listener as (payload: unknown) => void);
    },
    onConnection(listener) {
      return connectionListeners.add('connection', listener);
    },
    close() {
      closedForGood = true;
      if (timer) clearTimeout(timer);
      timer = null;
      for (const [id, resolve] of inFlight) {
        inFlight.delete(id);
        resolve({ ok: false, error: lostError('client closed') });
      }
      for (const item of outbox.splice(0)) item.resolve({ ok: false, error: lostError('client closed') });
      socket?.close(1000, 'client closed');
      socket = null;
      setState('closed', 'client closed');
    },
  };
}
