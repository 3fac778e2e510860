/** The transports' framing: Electron IPC channel names, and the WebSocket request and message frames. */
import { z } from 'zod';
import type { EventName } from '../contract';
import { inputError, type ContractError, type Result } from './envelope';

/** Electron: preload calls ipcRenderer.invoke(IPC_REQUEST, channel, input); main sends IPC_EVENT (event, payload). */
export const IPC_REQUEST = 'isd:request';
export const IPC_EVENT = 'isd:event';

/** WebSocket client → host. */
export interface WireRequest {
  id: number;
  channel: string;
  input: unknown;
}
/** WebSocket host → client: the answer to request `id`, or a pushed event. */
export type WireMessage = { id: number; result: Result<unknown> } | { event: EventName; payload: unknown };

export const wireRequestSchema = z.strictObject({
  id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  channel: z.string().max(200),
  input: z.unknown(),
});

/** Parses one text frame from a client; a malformed frame answers with id -1 when no id can be read. */
export function parseWireRequest(
  text: string,
): { ok: true; request: WireRequest } | { ok: false; id: number; error: ContractError } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, id: -1, error: { code: 'BAD_INPUT', field: 'message', message: 'message: not valid JSON' } };
  }
  const parsed = wireRequestSchema.safeParse(data);
  if (parsed.success) return { ok: true, request: parsed.data as WireRequest };
  const id = typeof (data as { id?: unknown } | null)?.id === 'number' ? (data as { id: number }).id : -1;
  return { ok: false, id, error: inputError(parsed.error).error };
}
