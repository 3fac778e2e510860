/**
 * The New run form's last settings per dataset, kept in the page's localStorage: after a run, or after
 * adding a dataset, the form comes back as the user left it for that dataset.
 */
import { DEFAULT_FORM_VALUES, type RunFormValues } from './run-config-form';

const STORAGE_KEY = 'isd.newRun.v1';

interface Stored {
  /** The dataset chosen last. */
  last: string | null;
  byDataset: Record<string, Partial<RunFormValues>>;
}

function read(storage: Storage | undefined): Stored {
  try {
    const parsed = JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null') as Stored | null;
    if (parsed && typeof parsed === 'object' && typeof parsed.byDataset === 'object') return parsed;
  } catch {
    // unreadable: start afresh
  }
  return { last: null, byDataset: {} };
}

/** Only fields the form has, of the type it has: settings from an older app version cannot break it. */
function sanitize(values: Partial<RunFormValues>): Partial<RunFormValues> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    if (k === 'name') continue; // a name belongs to one run
    const d = (DEFAULT_FORM_VALUES as Record<string, unknown>)[k];
    if (d !== undefined && typeof d === typeof v && !(typeof v === 'number' && !Number.isFinite(v))) out[k] = v;
  }
  return out as Partial<RunFormValues>;
}

const browserStorage = (): Storage | undefined => (typeof localStorage === 'undefined' ? undefined : localStorage);

/** The form's values as last left for `datasetId` (the last dataset chosen when omitted), or null. */
export function rememberedValues(datasetId?: string, storage = browserStorage()): RunFormValues | null {
  const stored = read(storage);
  const id = datasetId ?? stored.last;
  const values = id ? stored.byDataset[id] : undefined;
  if (!id || !values) return null;
  return { ...DEFAULT_FORM_VALUES, ...sanitize(values), name: '', dataset: id };
}

export function rememberValues(values: RunFormValues, storage = browserStorage()): void {
  if (!values.dataset || !storage) return;
  const stored = read(storage);
  stored.last = values.dataset;
  stored.byDataset[values.dataset] = sanitize(values);
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(stored));
  } catch {
    // storage full or refused: the form still works, it just forgets
  }
}
