/**
 * Results of an imbalance study (pure): from each completed run's final evaluation, the mean and
 * spread per method × profile of 1-NN, 20-NN (and linear) accuracy on all, frequent and rare classes;
 * the paired difference ISD − MoCo per profile with a 95% Student-t interval over seeds; a verdict that
 * says plainly when the difference is within the noise; CSV and Markdown exports.
 */
import { csvText, type CsvValue } from '../csv';
import type { StudySpec } from '../contract/study-spec';
import type { ProfileClasses, StudyRunView } from '../contract/study';
import {
  CLASS_GROUPS,
  STUDY_METRICS,
  type ClassGroup,
  type Finding,
  type PairedDifference,
  type ProfileVerdict,
  type StudyMetric,
  type StudyResults,
  type SummaryCell,
} from '../contract/study';

const METRIC_LABEL: Record<StudyMetric, string> = { knn1: '1-NN', knn20: '20-NN', linear: 'linear' };

/** Accuracies (fractions in [0, 1]) of one class group; null where not measured. */
export interface GroupAccuracy {
  knn1: number | null;
  knn20: number | null;
  linear: number | null;
}

/** One completed run's final evaluation, placed in the study's design. */
export interface StudyRunResult {
  runId: string;
  method: string;
  profile: string;
  seed: number;
  all: GroupAccuracy;
  /** null for a balanced profile (no rare classes) or when not recorded. */
  frequent: GroupAccuracy | null;
  rare: GroupAccuracy | null;
}

/** Two-sided 95% quantiles of Student's t, t_{0.975, df}, for df = 1 … 30. */
const T975 = [
  12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281, 2.201, 2.1788, 2.1604, 2.1448, 2.1314,
  2.1199, 2.1098, 2.1009, 2.093, 2.086, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/** t_{0.975, df}: from the table up to 30, beyond it the Cornish–Fisher expansion around the normal quantile. */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be a whole number ≥ 1, got ${df}`);
  if (df <= T975.length) return T975[df - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

/** The middle value (the mean of the two middle ones for an even count); xs must not be empty. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(xs: readonly number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/** Sample standard deviation (n − 1 in the denominator); null with fewer than 2 values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs) as number;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

function valueOf(r: StudyRunResult, metric: StudyMetric, group: ClassGroup): number | null {
  const g = group === 'all' ? r.all : group === 'frequent' ? r.frequent : r.rare;
  const v = g?.[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

const points = (v: number) => v * 100;
/** |mean| below the spread, with a margin for float sums (0.0199999… is not below 0.02). */
const belowSpread = (m: number, spread: number | null): spread is number =>
  spread !== null && Math.abs(m) < spread - 1e-9;
const signed = (v: number, digits = 1) => `${v >= 0 ? '+' : '−'}${Math.abs(points(v)).toFixed(digits)}`;

function findingOf(d: Omit<PairedDifference, 'verdict' | 'finding' | 'short'>): Finding {
  if (d.pairs === 0 || d.mean === null) return 'unmeasured';
  if (d.pairs < 2 || d.ciLow === null || d.ciHigh === null) return 'single';
  if (d.ciLow <= 0 && d.ciHigh >= 0) return 'none';
  if (belowSpread(d.mean, d.spread)) return 'weak';
  return d.mean > 0 ? 'isd' : 'moco';
}

/** The plain-language reading of one paired difference. */
function verdictOf(d: Omit<PairedDifference, 'verdict' | 'finding' | 'short'>, finding: Finding): string {
  if (finding === 'unmeasured' || d.mean === null) return 'not measured yet (no seed has both methods finished)';
  const who = d.mean > 0 ? 'ISD' : d.mean < 0 ? 'MoCo' : null;
  const size = `${Math.abs(points(d.mean)).toFixed(1)} points`;
  if (finding === 'single' || d.ciLow === null || d.ciHigh === null) {
    return `one seed only: ${who ? `${who} higher by ${size}` : 'equal'}, no interval; not enough to tell`;
  }
  const ci = `95% CI ${signed(d.ciLow)} to ${signed(d.ciHigh)} points, ${d.pairs} seeds`;
  if (finding === 'none') {
    const within = belowSpread(d.mean, d.spread)
      ? `, smaller than the run-to-run spread of ${points(d.spread).toFixed(1)} points`
      : '';
    return `no clear difference at this budget: ISD − MoCo = ${signed(d.mean)} points (${ci}; the interval includes 0${within})`;
  }
  if (finding === 'weak') {
    return `${who} higher by ${size} (${ci}), but the difference is smaller than the run-to-run spread of ${points(d.spread as number).toFixed(1)} points: weak evidence`;
  }
  return `${who} higher by ${size} (${ci})`;
}

function shortOf(mean: number | null, spread: number | null, finding: Finding): string {
  const who = mean !== null && mean < 0 ? 'MoCo' : 'ISD';
  switch (finding) {
    case 'unmeasured':
      return 'not measured yet';
    case 'single':
      return 'one seed: no interval';
    case 'none':
      return 'no clear difference (the CI includes 0)';
    case 'weak':
      return `${who} higher, but by less than the run-to-run spread (${points(spread as number).toFixed(1)} points): weak`;
    default:
      return `${who} higher`;
  }
}

const GROUP_LABEL: Record<ClassGroup, string> = {
  all: 'all classes',
  frequent: 'frequent classes',
  rare: 'rare classes',
};

/** One sentence per profile over its headline comparisons (1-NN and 20-NN on all and rare classes). */
function profileVerdict(rows: readonly PairedDifference[]): string {
  if (rows.length === 0) return 'no ISD − MoCo comparison (the study needs both methods)';
  const label = (p: PairedDifference) => `${METRIC_LABEL[p.metric]} ${GROUP_LABEL[p.group]}`;
  const at = (p: PairedDifference) =>
    `${signed(p.mean as number)} points, 95% CI ${signed(p.ciLow as number)} to ${signed(p.ciHigh as number)}`;
  if (rows.every((p) => p.finding === 'unmeasured')) return 'not measured yet';
  if (rows.some((p) => p.finding === 'single'))
    return `one seed has both methods finished so far: no interval yet, not enough to tell`;
  const clear = rows.filter((p) => p.finding === 'isd' || p.finding === 'moco');
  const weak = rows.filter((p) => p.finding === 'weak');
  const seeds = Math.min(...rows.map((p) => p.pairs));
  const parts: string[] = [];
  for (const p of clear) parts.push(`${p.finding === 'isd' ? 'ISD' : 'MoCo'} ahead on ${label(p)} (${at(p)})`);
  for (const p of weak)
    parts.push(
      `${(p.mean as number) > 0 ? 'ISD' : 'MoCo'} ahead on ${label(p)} by less than the run-to-run spread (${at(p)}): weak evidence`,
    );
  const rest = rows.length - clear.length - weak.length;
  if (parts.length === 0)
    return `no clear difference at this budget (${seeds} seeds): every 95% interval of ISD − MoCo includes 0`;
  if (rest > 0) parts.push(`no clear difference on the other ${rest} comparison${rest > 1 ? 's' : ''}`);
  return `${parts.join('; ')} (${seeds} seeds)`;
}

/** The summary table, the paired differences and the verdicts from the completed runs. */
export function computeStudyResults(
  spec: Pick<StudySpec, 'methods' | 'profiles'>,
  results: readonly StudyRunResult[],
): StudyResults {
  const cells: SummaryCell[] = [];
  const paired: PairedDifference[] = [];
  const hasLinear = results.some((r) => r.all.linear !== null);
  const metrics = STUDY_METRICS.filter((m) => m !== 'linear' || hasLinear);
  for (const profile of spec.profiles) {
    const runsOf = (method: string) =>
      results.filter((r) => r.method === method && r.profile === profile).sort((a, b) => a.seed - b.seed);
    for (const metric of metrics) {
      for (const group of CLASS_GROUPS) {
        const spreads: (number | null)[] = [];
        for (const method of spec.methods) {
          const rows = runsOf(method).flatMap((r) => {
            const v = valueOf(r, metric, group);
            return v === null ? [] : [{ seed: r.seed, v }];
          });
          if (rows.length === 0 && group !== 'all') continue; // a balanced profile has no rare classes
          const values = rows.map((x) => x.v);
          const std = sampleStd(values);
          spreads.push(std);
          cells.push({
            method,
            profile,
            metric,
            group,
            n: values.length,
            mean: mean(values),
            std,
            min: values.length ? Math.min(...values) : null,
            max: values.length ? Math.max(...values) : null,
            values,
            seeds: rows.map((x) => x.seed),
          });
        }
        if (!spec.methods.includes('isd') || !spec.methods.includes('moco')) continue;
        const moco = new Map(runsOf('moco').map((r) => [r.seed, valueOf(r, metric, group)]));
        const pairs = runsOf('isd').flatMap((r) => {
          const a = valueOf(r, metric, group);
          const b = moco.get(r.seed);
          return a === null || b === null || b === undefined ? [] : [{ seed: r.seed, d: a - b }];
        });
        if (pairs.length === 0 && group !== 'all') continue;
        const differences = pairs.map((p) => p.d);
        const m = mean(differences);
        const sd = sampleStd(differences);
        const half =
          sd !== null && m !== null
            ? (tQuantile975(differences.length - 1) * sd) / Math.sqrt(differences.length)
            : null;
        const known = spreads.filter((s): s is number => s !== null);
        const d: Omit<PairedDifference, 'verdict' | 'finding' | 'short'> = {
          profile,
          metric,
          group,
          pairs: pairs.length,
          seeds: pairs.map((p) => p.seed),
          differences,
          mean: m,
          std: sd,
          ciLow: half === null || m === null ? null : m - half,
          ciHigh: half === null || m === null ? null : m + half,
          spread: known.length ? Math.max(...known) : null,
        };
        const finding = findingOf(d);
        paired.push({ ...d, finding, short: shortOf(d.mean, d.spread, finding), verdict: verdictOf(d, finding) });
      }
    }
  }
  const verdicts: ProfileVerdict[] = spec.profiles.map((profile) => ({
    profile,
    verdict: profileVerdict(
      paired.filter((p) => p.profile === profile && p.metric !== 'linear' && (p.group === 'all' || p.group === 'rare')),
    ),
  }));
  return { runs: results.length, cells, paired, verdicts };
}

// ── exports ──────────────────────────────────────────────────────────────────────────────────────

const round = (v: number | null, digits = 5) => (v === null ? null : Number(v.toFixed(digits)));

/**
 * One rectangular table, accuracies as fractions: summary rows (one per method × profile × metric ×
 * group), then the references of "did it learn" over the same completed runs (section `step 0`, the
 * random-init encoder, and `raw pixels`, both 20-NN over all classes), then paired rows.
 */
export function studyResultsCsv(
  studyId: string,
  results: StudyResults,
  baselines: readonly StudyRunBaseline[] = [],
): string {
  const header = [
    'study_id',
    'section',
    'profile',
    'method',
    'metric',
    'group',
    'n',
    'mean',
    'std',
    'min',
    'max',
    'ci95_low',
    'ci95_high',
    'verdict',
  ];
  const rows: CsvValue[][] = [];
  for (const c of results.cells)
    rows.push([
      studyId,
      'summary',
      c.profile,
      c.method,
      c.metric,
      c.group,
      c.n,
      round(c.mean),
      round(c.std),
      round(c.min),
      round(c.max),
      null,
      null,
      null,
    ]);
  const profiles = [...new Set(results.cells.map((c) => c.profile))];
  const methods = [...new Set(results.cells.map((c) => c.method))];
  for (const [section, of] of [
    ['step 0', (r: StudyRunBaseline) => r.initKnn20],
    ['raw pixels', (r: StudyRunBaseline) => r.pixelKnn20],
  ] as const)
    for (const profile of profiles)
      for (const method of methods) {
        const values = baselines
          .filter((r) => r.profile === profile && r.method === method)
          .map(of)
          .filter((v): v is number => v !== null);
        if (!values.length) continue;
        rows.push([
          studyId,
          section,
          profile,
          method,
          'knn20',
          'all',
          values.length,
          round(mean(values)),
          round(sampleStd(values)),
          round(Math.min(...values)),
          round(Math.max(...values)),
          null,
          null,
          null,
        ]);
      }
  for (const p of results.paired) {
    rows.push([
      studyId,
      'paired',
      p.profile,
      'isd - moco',
      p.metric,
      p.group,
      p.pairs,
      round(p.mean),
      round(p.std),
      null,
      null,
      round(p.ciLow),
      round(p.ciHigh),
      p.verdict,
    ]);
  }
  return csvText(header, rows);
}

const pct = (v: number | null) => (v === null ? '–' : (v * 100).toFixed(1));

/** "62.3 ± 1.4 (61.3–63.3)" in percent: mean ± sample std (min–max); "–" when nothing was measured. */
export function formatCell(c: SummaryCell | undefined): string {
  if (!c || c.mean === null) return '–';
  if (c.n === 1) return `${pct(c.mean)} (1 run)`;
  return `${pct(c.mean)} ± ${pct(c.std)} (${pct(c.min)}–${pct(c.max)})`;
}

export function formatInterval(p: PairedDifference): string {
  if (p.ciLow === null || p.ciHigh === null) return '–';
  return `${signed(p.ciLow)} to ${signed(p.ciHigh)}`;
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|');

export interface StudyHeader {
  id: string;
  name: string;
  spec: StudySpec;
  /** Runs completed / planned. */
  completed: number;
  total: number;
  backend?: string | null;
  /** Which classes each profile made rare; the report lists them. */
  profiles?: readonly Pick<ProfileClasses, 'profile' | 'rare'>[];
  /** The dataset's class names, by class index; null or absent: the report names classes by index. */
  classNames?: readonly string[] | null;
}

/** A completed run's 20-NN at the end, at step 0 (the random-init encoder) and of raw pixels, on its bank and queries. */
export type StudyRunBaseline = Pick<StudyRunView, 'method' | 'profile' | 'knn20' | 'initKnn20' | 'pixelKnn20'>;

/** "Did it learn": per profile and method, the means over seeds of step 0, the end and raw pixels, and the change. */
function baselineLines(profiles: readonly string[], methods: readonly string[], runs: readonly StudyRunBaseline[]) {
  const lines = [
    '',
    'Did it learn: 20-NN in %, mean over seeds, at step 0 (the random-init encoder) and at the end of the same runs, and raw pixels (cosine kNN on the same bank and queries); the change in points, mean (min to max).',
    '',
    '| profile | method | runs | step 0 | end | change | raw pixels |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const profile of profiles)
    for (const method of methods) {
      const rs = runs.filter((r) => r.profile === profile && r.method === method);
      const paired = rs.filter((r) => r.knn20 !== null && r.initKnn20 !== null);
      const changes = paired.map((r) => r.knn20! - r.initKnn20!);
      const change = changes.length
        ? `${signed(mean(changes)!)} (${signed(Math.min(...changes))} to ${signed(Math.max(...changes))})`
        : '–';
      const of = (f: (r: StudyRunBaseline) => number | null) =>
        pct(mean(rs.map(f).filter((v): v is number => v !== null)));
      lines.push(
        `| \`${profile}\` | ${method} | ${rs.length} | ${of((r) => r.initKnn20)} | ${of((r) => r.knn20)} | ${change} | ${of((r) => r.pixelKnn20)} |`,
      );
    }
  const read = runs.filter((r) => r.knn20 !== null && r.pixelKnn20 !== null);
  const below = read.filter((r) => r.knn20! < r.pixelKnn20!).length;
  if (read.length && below === read.length)
    lines.push(
      '',
      `Every run (${below}) ends below raw pixels: at this budget the encoders are worse kNN features than their input.`,
    );
  else if (below) lines.push('', `${below} of ${read.length} runs end below raw pixels.`);
  return lines;
}

/**
 * The Markdown report: what was run, the mean ± spread table, "did it learn" against step 0 and raw
 * pixels (from `baselines`, the completed runs), the paired differences with CIs and verdicts.
 */
export function studyResultsMarkdown(
  header: StudyHeader,
  results: StudyResults,
  baselines: readonly StudyRunBaseline[] = [],
): string {
  const s = header.spec;
  const b = s.budget;
  const metrics = STUDY_METRICS.filter((m) => results.cells.some((c) => c.metric === m));
  const lines: string[] = [
    `### ${mdEscape(header.name)}`,
    '',
    `Dataset \`${s.dataset}\`, methods ${s.methods.join(', ')}, profiles ${s.profiles.map((p) => `\`${p}\``).join(', ')}, seeds ${s.firstSeed}–${s.firstSeed + s.seeds - 1}; ` +
      `budget per run: ${b.arch}${b.imageSize > 0 ? ` at ${b.imageSize} px` : ''}, ${b.epochs} epoch(s), ${b.trainLimit > 0 ? `${b.trainLimit} images` : 'the whole draw'}, batch ${b.batchSize}, queue ${b.queueSize}` +
      `${b.linearEval ? ', linear probe' : ''}. Runs completed: ${header.completed}/${header.total}${header.backend ? `; backend ${header.backend}` : ''}.`,
    '',
    'Accuracy in %, mean ± sample std (min–max) over seeds; kNN on the balanced test set; frequent/rare: the classes the profile kept large / made rare.',
    '',
  ];
  const unbalanced = (header.profiles ?? []).filter((p) => p.rare.length);
  const names = header.classNames;
  const className = (c: number) => (names?.[c] ? `${mdEscape(names[c])} (${c})` : String(c));
  if (unbalanced.length)
    lines.push(
      `Rare classes${names ? '' : ', by class index'}: ${unbalanced.map((p) => `\`${p.profile}\` ${p.rare.map(className).join(', ')}`).join('; ')}.`,
      '',
    );
  const cols: { metric: StudyMetric; group: ClassGroup }[] = [];
  for (const metric of metrics)
    for (const group of CLASS_GROUPS)
      if (results.cells.some((c) => c.metric === metric && c.group === group)) cols.push({ metric, group });
  lines.push(`| profile | method | ${cols.map((c) => `${METRIC_LABEL[c.metric]} ${c.group}`).join(' | ')} |`);
  lines.push(`|---|---|${cols.map(() => '---').join('|')}|`);
  for (const profile of s.profiles) {
    for (const method of s.methods) {
      const cell = (c: { metric: StudyMetric; group: ClassGroup }) =>
        results.cells.find(
          (x) => x.profile === profile && x.method === method && x.metric === c.metric && x.group === c.group,
        );
      lines.push(`| \`${profile}\` | ${method} | ${cols.map((c) => formatCell(cell(c))).join(' | ')} |`);
    }
  }
  if (baselines.length) lines.push(...baselineLines(s.profiles, s.methods, baselines));
  if (results.paired.length) {
    lines.push(
      '',
      'ISD − MoCo, paired by seed, in points; 95% CI from Student t over seeds (wide with few seeds).',
      '',
    );
    lines.push('| profile | metric | classes | pairs | ISD − MoCo | 95% CI | reading |');
    lines.push('|---|---|---|---|---|---|---|');
    for (const p of results.paired) {
      lines.push(
        `| \`${p.profile}\` | ${METRIC_LABEL[p.metric]} | ${p.group} | ${p.pairs} | ${p.mean === null ? '–' : signed(p.mean)} | ${formatInterval(p)} | ${mdEscape(p.short)} |`,
      );
    }
  }
  lines.push('', '**Verdicts (ISD − MoCo).**', '');
  for (const v of results.verdicts) lines.push(`- \`${v.profile}\`: ${mdEscape(v.verdict)}`);
  return lines.join('\n') + '\n';
}
