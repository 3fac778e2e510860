/** Which settings differ between runs: what the compare view and `isd runs compare` show. */

/** Labels, not settings: every run has its own, so listing them would drown the real differences. */
const IGNORED_FIELDS = new Set(['name', 'tags']);

/**
 * Fields whose values are not all equal, each with one value per config (null where a config lacks
 * the field, e.g. one stored by an older version). Field order follows the first config that has it.
 */
export function configDiff(configs: readonly Record<string, unknown>[]): Record<string, unknown[]> {
  const fields: string[] = [];
  const seen = new Set<string>();
  for (const c of configs) {
    for (const k of Object.keys(c)) {
      if (!seen.has(k) && !IGNORED_FIELDS.has(k)) {
        seen.add(k);
        fields.push(k);
      }
    }
  }
  const diff: Record<string, unknown[]> = {};
  for (const f of fields) {
    const values = configs.map((c) => (f in c ? c[f] : null));
    const keys = values.map((v) => JSON.stringify(v ?? null));
    if (keys.some((k) => k !== keys[0])) diff[f] = values;
  }
  return diff;
}
