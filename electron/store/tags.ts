/** The run_tags table: a run's tags, trimmed, deduplicated and stored sorted. */
import { IsdError } from '../errors';
import { requireRun } from './checks';
import type { StoreContext } from './context';

const MAX_TAG = 50;
const MAX_TAGS = 20;

export function normalizeTags(tags: readonly string[]): string[] {
  if (!Array.isArray(tags)) throw new IsdError('BAD_INPUT', 'tags must be a list of words', { field: 'tags' });
  const clean = [...new Set(tags.map((t) => (typeof t === 'string' ? t.trim() : '')))].sort();
  for (const t of clean) {
    if (t.length === 0 || t.length > MAX_TAG)
      throw new IsdError('BAD_INPUT', `each tag must be 1 to ${MAX_TAG} characters`, { field: 'tags' });
  }
  if (clean.length > MAX_TAGS) throw new IsdError('BAD_INPUT', `at most ${MAX_TAGS} tags per run`, { field: 'tags' });
  return clean;
}

/** Inserts already-normalized tags (inside the caller's transaction). */
export function writeTags(ctx: StoreContext, runId: string, tags: readonly string[]): void {
  const insert = ctx.sc.get('INSERT INTO run_tags (run_id, tag) VALUES (?, ?)');
  for (const t of tags) insert.run(runId, t);
}

/** Replaces the run's tags. */
export function setTags(ctx: StoreContext, runId: string, tags: readonly string[]): void {
  const clean = normalizeTags(tags);
  const write = ctx.db.transaction(() => {
    requireRun(ctx, runId);
    ctx.sc.get('DELETE FROM run_tags WHERE run_id = ?').run(runId);
    writeTags(ctx, runId, clean);
  });
  write.immediate();
}
