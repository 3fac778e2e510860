/**
 * The Study page's form and charts, as pure functions: form values ↔ the contract's study spec (the
 * form validates with the contract's own schema), the chart rows of accuracy against imbalance
 * profile per method, and the number formats of the results tables.
 */
import { z } from 'zod';
import type { StudyResults, StudySpec, StudySpecInput, SummaryCell } from '../../electron/contract';
import { canonicalProfile, DEFAULT_STUDY_SPEC, studySpecInputSchema } from '../../electron/contract/study-spec';

/** What the form edits: the three standard profiles as toggles with their parameters, others as text. */
export interface StudyFormValues {
  name: string;
  dataset: string;
  isd: boolean;
  moco: boolean;
  balanced: boolean;
  dominant: boolean;
  dominantLarge: number;
  dominantPerSmall: number;
  longtail: boolean;
  longtailRho: number;
  /** More profiles, comma-separated (e.g. longtail:50). */
  extraProfiles: string;
  seeds: number;
  budget: StudySpec['budget'];
}

const STANDARD = /^(none|dominant:\d+:\d+|longtail:\d+(\.\d+)?)$/;

export function toFormValues(spec: StudySpec): StudyFormValues {
  const dominant = spec.profiles.find((p) => p.startsWith('dominant:'));
  const longtail = spec.profiles.find((p) => p.startsWith('longtail:'));
  const [, large, perSmall] = (dominant ?? 'dominant:3:100').split(':');
  const used = new Set([dominant, longtail, 'none']);
  return {
    name: spec.name,
    dataset: spec.dataset,
    isd: spec.methods.includes('isd'),
    moco: spec.methods.includes('moco'),
    balanced: spec.profiles.includes('none'),
    dominant: dominant !== undefined,
    dominantLarge: Number(large),
    dominantPerSmall: Number(perSmall),
    longtail: longtail !== undefined,
    longtailRho: Number((longtail ?? 'longtail:10').split(':')[1]),
    extraProfiles: spec.profiles.filter((p) => !used.has(p) || !STANDARD.test(p)).join(', '),
    seeds: spec.seeds,
    budget: { ...spec.budget },
  };
}

export const DEFAULT_STUDY_FORM: StudyFormValues = toFormValues(DEFAULT_STUDY_SPEC);

/** The spec the form describes (profiles in the order balanced, dominant, long tail, extras). */
export function toSpecInput(v: StudyFormValues): StudySpecInput {
  const profiles: string[] = [];
  if (v.balanced) profiles.push('none');
  if (v.dominant) profiles.push(`dominant:${v.dominantLarge}:${v.dominantPerSmall}`);
  if (v.longtail) profiles.push(`longtail:${v.longtailRho}`);
  for (const p of v.extraProfiles
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!profiles.includes(canonicalProfile(p) ?? p)) profiles.push(p);
  }
  const methods: ('isd' | 'moco')[] = [];
  if (v.isd) methods.push('isd');
  if (v.moco) methods.push('moco');
  return {
    name: v.name.trim(),
    dataset: v.dataset,
    methods,
    profiles,
    seeds: v.seeds,
    firstSeed: 0,
    budget: { ...v.budget },
  };
}

/** The form's schema: form values → the spec, checked by the contract's schema (errors at spec paths: methods, profiles, seeds, budget.*). */
export const studyFormSchema = z
  .custom<StudyFormValues>((v) => typeof v === 'object' && v !== null)
  .transform(toSpecInput)
  .pipe(studySpecInputSchema);

/** Which form control an error path belongs to. */
export function formFieldOfIssue(path: readonly PropertyKey[]): string {
  const [head, second] = path.map(String);
  if (head === 'budget' && second) return `budget.${second}`;
  return head || 'form';
}

export function studyFormIssues(v: StudyFormValues): Record<string, string> {
  const r = studyFormSchema.safeParse(v);
  const out: Record<string, string> = {};
  if (r.success) return out;
  for (const issue of r.error.issues) {
    const field = formFieldOfIssue(issue.path);
    out[field] ??= /expected number, received (NaN|undefined|null)/.test(issue.message)
      ? 'enter a number'
      : issue.message;
  }
  return out;
}

// ── display ──────────────────────────────────────────────────────────────────────────────────────

const pct = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : (v * 100).toFixed(1);

/** "72.0 ± 2.8" (percent, sample std), with min–max for the title attribute. */
export function cellText(c: SummaryCell | undefined): { text: string; title: string } {
  if (!c || c.mean === null) return { text: '—', title: 'not measured yet' };
  if (c.n < 2) return { text: `${pct(c.mean)} (1 run)`, title: `one run: ${pct(c.mean)}%` };
  return {
    text: `${pct(c.mean)} ± ${pct(c.std)}`,
    title: `${c.n} runs, min ${pct(c.min)}%, max ${pct(c.max)}%: ${c.values.map(pct).join(', ')}`,
  };
}

/** Signed points: +2.0, −0.5. */
export function signedPoints(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  return `${v >= 0 ? '+' : '−'}${Math.abs(v * 100).toFixed(1)}`;
}

export type ChartMetric = 'knn1' | 'knn20';

/**
 * Rows for the accuracy-vs-profile chart, one per profile in the study's order: for each method, the
 * mean accuracy on all classes and on rare classes (percent) and their sample std as [low, high] error
 * bars. Null where nothing is measured (balanced profiles have no rare classes).
 */
export function studyChartRows(
  profiles: readonly string[],
  methods: readonly string[],
  results: StudyResults,
  metric: ChartMetric,
): Record<string, string | number | null>[] {
  return profiles.map((profile) => {
    const row: Record<string, string | number | null> = { profile };
    for (const method of methods) {
      for (const group of ['all', 'rare'] as const) {
        const c = results.cells.find(
          (x) => x.profile === profile && x.method === method && x.metric === metric && x.group === group,
        );
        const key = `${method}_${group}`;
        row[key] = c?.mean === null || c?.mean === undefined ? null : Number((c.mean * 100).toFixed(2));
        row[`${key}_sd`] = c?.std === null || c?.std === undefined ? null : Number((c.std * 100).toFixed(2));
      }
    }
    return row;
  });
}
