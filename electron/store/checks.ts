/**
 * The store's invariants: whole counts, times, finite metrics, non-empty names, runs that exist.
 * Limits on user input (lengths, page sizes, how many runs to compare) live only in the contract's
 * schemas (contract.ts), which every transport applies before a call reaches the store.
 */
import { IsdError } from '../errors';
import type { StoreContext } from './context';

const MAX_NAME = 200;

export function checkName(name: string): string {
  if (name.length === 0) throw new IsdError('BAD_INPUT', 'name must not be empty', { field: 'name' });
  if (name.length > MAX_NAME)
    throw new IsdError('BAD_INPUT', `name must be at most ${MAX_NAME} characters`, { field: 'name' });
  return name;
}

export function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function checkCount(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new IsdError('BAD_INPUT', `${field} must be a whole number, 0 or more`, { field });
  return v;
}

export function checkTime(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new IsdError('BAD_INPUT', `${field} must be a time in ms since 1970`, { field });
  return Math.round(v);
}

export function checkMaxPoints(n: number): number {
  if (!Number.isInteger(n) || n < 2)
    throw new IsdError('BAD_INPUT', 'maxPoints must be a whole number, 2 or more', { field: 'maxPoints' });
  return n;
}

/** shortPrefix: the id looked like the start of one but was under the 4 characters a prefix needs. */
export function runNotFound(id: string, shortPrefix = false): IsdError {
  const hint = shortPrefix ? ' (an id prefix needs at least 4 characters)' : '';
  return new IsdError('NOT_FOUND', `run ${id} not found${hint}`, { field: 'id' });
}

export function requireRun(ctx: StoreContext, id: string): void {
  if (!ctx.sc.get('SELECT 1 FROM runs WHERE id = ?').get(id)) throw runNotFound(id);
}

export function requireStudy(ctx: StoreContext, id: string): void {
  if (!ctx.sc.get('SELECT 1 FROM studies WHERE id = ?').get(id))
    throw new IsdError('NOT_FOUND', `study ${id} not found`, { field: 'studyId' });
}
