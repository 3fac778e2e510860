/**
 * The renderer's one door to the app: window.isd in Electron (preload), else the WebSocket client to
 * the web host. `call` unwraps the result envelope into a value or a thrown ApiError (what TanStack
 * Query expects).
 */
import type { Channel, ContractError, IsdApi, RequestInput, RequestOutput } from '../../electron/contract';
import { createWsClient, webSocketUrl, type ConnectionState } from './ws-client';

declare global {
  interface Window {
    isd?: IsdApi;
  }
}

export class ApiError extends Error {
  readonly code: ContractError['code'];
  readonly field?: string;
  constructor(error: ContractError) {
    super(error.message);
    this.name = 'ApiError';
    this.code = error.code;
    this.field = error.field;
  }
}

/** Whether asking again may help: a dropped connection or an internal error, not a refused input or a missing thing. */
export const retryable = (error: unknown) => !(error instanceof ApiError) || error.code === 'INTERNAL';

export interface RendererApi extends IsdApi {
  transport: 'electron' | 'web';
  /** Connection state changes (the WebSocket only; Electron's IPC is always open). */
  onConnection(listener: (state: ConnectionState, detail?: string) => void): () => void;
}

let api: RendererApi | null = null;

export function getApi(): RendererApi {
  if (api) return api;
  const bridge = window.isd;
  if (bridge) {
    api = {
      transport: 'electron',
      invoke: bridge.invoke.bind(bridge),
      on: bridge.on.bind(bridge),
      onConnection: () => () => {},
    };
  } else {
    const client = createWsClient(webSocketUrl(window.location));
    api = { transport: 'web', invoke: client.invoke, on: client.on, onConnection: client.onConnection };
  }
  return api;
}

export async function call<C extends Channel>(channel: C, input: RequestInput<C>): Promise<RequestOutput<C>> {
  const r = await getApi().invoke(channel, input);
  if (!r.ok) throw new ApiError(r.error);
  return r.value;
}

/** An error as one line; the field it names comes first (error messages never repeat it). */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError && e.field) return `${e.field}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}
