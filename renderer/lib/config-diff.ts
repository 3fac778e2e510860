/** The config table of Compare: one row per field, values side by side, optionally differences only. */
import type { RunConfig } from '../../electron/contract';
import { formatImbalanceProfile, formatValue } from './format';

export interface ConfigRow {
  field: keyof RunConfig;
  values: string[];
  differs: boolean;
}

/** Fields in the order the form shows them; any field not listed follows in its own order. */
export function configRows(
  configs: readonly RunConfig[],
  order: readonly (keyof RunConfig)[],
  differencesOnly: boolean,
): ConfigRow[] {
  if (configs.length === 0) return [];
  const fields = [...order, ...(Object.keys(configs[0]!) as (keyof RunConfig)[]).filter((f) => !order.includes(f))];
  const rows = fields.map((field) => {
    const values = configs.map((c) =>
      field === 'imbalance' ? formatImbalanceProfile(c.imbalance) : formatValue(c[field]),
    );
    return { field, values, differs: values.some((v) => v !== values[0]) };
  });
  return differencesOnly ? rows.filter((r) => r.differs) : rows;
}
