/**
 * The one path every request takes, whatever the transport: validate the input against the
 * channel's schema, call the handler, wrap the answer in the Result envelope. A user-caused
 * IsdError comes back as itself; anything else is logged here and answered as INTERNAL with a short
 * message, never a stack trace.
 */
import { validateRequest, type Channel, type ContractError, type Handlers, type Result } from '../contract';
import { isIsdError } from '../errors';

export type RequestLogger = (message: string, err: unknown) => void;

const defaultLogger: RequestLogger = (message, err) => console.error(`[isd] ${message}`, err);

/** The envelope's error for a thrown value. */
export function contractErrorOf(err: unknown): ContractError {
  if (isIsdError(err)) {
    const e: ContractError = { code: err.code, message: err.message };
    if (err.field !== undefined) e.field = err.field;
    if (err.path !== undefined) e.path = err.path;
    return e;
  }
  return { code: 'INTERNAL', message: `internal error: ${shortMessage(err)} (details in the app's log)` };
}

function shortMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line || 'unknown error';
}

/** Validates, runs the handler, answers the envelope. Never rejects. */
export async function dispatchRequest(
  handlers: Handlers,
  channel: string,
  input: unknown,
  log: RequestLogger = defaultLogger,
): Promise<Result<unknown>> {
  const parsed = validateRequest(channel, input);
  if (!parsed.ok) return parsed;
  try {
    const handler = handlers[channel as Channel] as (input: unknown) => unknown;
    const value = await handler(parsed.value);
    return { ok: true, value };
  } catch (err) {
    if (!isIsdError(err) || err.code === 'INTERNAL') log(`request ${channel} failed`, err);
    return { ok: false, error: contractErrorOf(err) };
  }
}
