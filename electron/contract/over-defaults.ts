/** Parsing a partial input over its defaults, for run configs and study specs alike. */
import { z } from 'zod';

/**
 * `partial` filled in by `fill` and parsed by `full` (cross-field checks included); the full schema's
 * issues are reported at their own paths, so a caller sees the field at fault, not the merge.
 */
export function overDefaults<S extends z.ZodType, T>(
  partial: S,
  full: z.ZodType<T>,
  fill: (p: z.output<S>) => unknown,
) {
  return partial.transform((p, ctx): T => {
    const merged = full.safeParse(fill(p));
    if (merged.success) return merged.data;
    for (const issue of merged.error.issues)
      ctx.addIssue({ code: 'custom', path: issue.path as PropertyKey[], message: issue.message });
    return z.NEVER;
  });
}
