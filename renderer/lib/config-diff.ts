/** The config table of Compare: one row per field, values side by side, optionally differences only. */
import type { RunConfig } from '../../electron/contract';
import { formatImbalanceProfile, formatValue } from './format';

export interface ConfigRow {
  field: keyof RunConfig;
  values: string[];
  differs: boolean;
}

/** What a cell shows for a field its run's method does not read (MoCo's T on an ISD run). */
export const NOT_USED = 'not used';

/**
 * Fields in the order the form shows them; any field not listed follows in its own order. A field in
 * `methodOnly` shows NOT_USED for runs of the other method, and a row no run uses is left out.
 */
export function configRows(
  configs: readonly RunConfig[],
  order: readonly (keyof RunConfig)[],
  differencesOnly: boolean,
  methodOnly: Partial<Record<keyof RunConfig, RunConfig['method']>> = {},
): ConfigRow[] {
  if (configs.length === 0) return [];
  const fields = [...order, ...(Object.keys(configs[0]!) as (keyof RunConfig)[]).filter((f) => !order.includes(f))];
  const rows = fields.map((field) => {
    const values = configs.map((c) =>
      methodOnly[field] !== undefined && methodOnly[field] !== c.method
        ? NOT_USED
        : field === 'imbalance'
          ? formatImbalanceProfile(c.imbalance)
          : formatValue(c[field]),
    );
    return { field, values, differs: values.some((v) => v !== values[0]) };
  });
  const used = rows.filter((r) => r.values.some((v) => v !== NOT_USED));
  return differencesOnly ? used.filter((r) => r.differs) : used;
}
