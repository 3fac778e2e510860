/** Compare 2–8 runs: overlaid curves with smoothing, accuracy side by side, config differences, per-class accuracy. */
import { useId, useMemo, useState } from 'react';
import type { Comparison, EvalPoint } from '../../electron/contract';
import { useComparison } from '../api/queries';
import { LineChartCard, SERIES_COLORS, SmoothingSlider, zoomedDomain } from '../components/Charts';
import { Empty, QueryView } from '../components/StateViews';
import { StatusBadge } from '../components/StatusBadge';
import { FIELD_DOCS, FIELD_ORDER, METHOD_FIELDS, METHOD_ONLY } from '../form/run-config-form';
import {
  compareReferences,
  mergeCurves,
  PROGRESS_METRICS,
  rawKey,
  seriesKey,
  type CompareMetric,
} from '../lib/compare-series';
import { AccuracyCell, ReadingsNote } from '../components/Reading';
import { configRows } from '../lib/config-diff';
import { formatNumber, formatPercent } from '../lib/format';
import { meanOver, splitFrequentRare } from '../lib/per-class';
import { href } from '../lib/route';
import { methodLabel } from '../../electron/run-config';

const METRICS: { value: CompareMetric; label: string; percent?: boolean }[] = [
  { value: 'knn20', label: '20-NN accuracy', percent: true },
  { value: 'knn1', label: '1-NN accuracy', percent: true },
  { value: 'knn20Weighted', label: 'Weighted 20-NN accuracy', percent: true },
  { value: 'knn200Weighted', label: 'Weighted 200-NN accuracy (T 0.1)', percent: true },
  { value: 'linear', label: 'Linear probe accuracy', percent: true },
  { value: 'loss', label: 'Loss' },
  { value: 'purity', label: 'Purity', percent: true },
  { value: 'lr', label: 'Learning rate' },
  { value: 'imagesPerSec', label: 'Images per second' },
];

export function ComparePage({ runIds }: { runIds: string[] }) {
  const comparison = useComparison(runIds);
  if (runIds.length < 2 || runIds.length > 8)
    return (
      <div>
        <h1>Compare runs</h1>
        <Empty title="Choose 2 to 8 runs to compare">
          Tick them in <a href={href({ page: 'history' })}>History</a> and press “Compare selected”.
        </Empty>
      </div>
    );
  return (
    <div>
      <h1>Compare runs</h1>
      <QueryView query={comparison} loading="Loading the runs…">
        {(c) => <ComparisonView c={c} />}
      </QueryView>
    </div>
  );
}

/** The runs' raw-pixel baseline when they all share one (same bank and queries); else null. */
function sharedPixel(c: Comparison) {
  const first = c.curves[0]?.pixel ?? null;
  return first &&
    c.curves.every((x) => x.pixel?.pixelKnn20 === first.pixelKnn20 && x.pixel.testImages === first.testImages)
    ? first
    : null;
}

const label = (c: Comparison, i: number) => `${c.runs[i]!.name} (${methodLabel(c.runs[i]!.config)})`;

function ComparisonView({ c }: { c: Comparison }) {
  const ids = { metric: useId(), smoothing: useId(), x: useId(), diff: useId() };
  const [metric, setMetric] = useState<CompareMetric>('knn20');
  const [smoothing, setSmoothing] = useState(0.6);
  const [x, setX] = useState<'step' | 'epoch'>('epoch');
  const [differencesOnly, setDifferencesOnly] = useState(true);
  const m = METRICS.find((mm) => mm.value === metric)!;
  const progress = PROGRESS_METRICS.includes(metric);
  const data = useMemo(() => mergeCurves(c.curves, metric, x, smoothing), [c.curves, metric, x, smoothing]);
  const rows = configRows(c.configs, FIELD_ORDER, differencesOnly, METHOD_ONLY);
  const references = compareReferences(
    c.curves,
    metric,
    c.runs.map((_, i) => label(c, i)),
  ).map((r) => ({
    y: r.y,
    label: `${r.label}: ${formatPercent(r.y)}`,
    color: r.run === null ? '#D55E00' : SERIES_COLORS[r.run % SERIES_COLORS.length],
  }));
  // Settings beyond the method (and its own views and temperatures) that differ: a confound to name.
  const confounds = configRows(c.configs, FIELD_ORDER, true)
    .map((r) => r.field)
    .filter((f) => !['method', 'name', 'tags', ...METHOD_FIELDS].includes(f));

  return (
    <>
      {confounds.length > 0 && (
        <p className="form-warning" role="note" data-testid="compare-confounds">
          These runs differ in more than the method:{' '}
          {confounds.map((f) => FIELD_DOCS[f as keyof typeof FIELD_DOCS]?.label ?? f).join(', ')}. A difference in
          accuracy may come from those.
        </p>
      )}
      <section className="card" aria-label="Curves">
        <div className="toolbar">
          <label htmlFor={ids.metric}>
            Metric
            <select id={ids.metric} value={metric} onChange={(e) => setMetric(e.target.value as CompareMetric)}>
              {METRICS.map((mm) => (
                <option key={mm.value} value={mm.value}>
                  {mm.label}
                </option>
              ))}
            </select>
          </label>
          <label htmlFor={ids.x}>
            Horizontal axis
            <select id={ids.x} value={x} onChange={(e) => setX(e.target.value as 'step' | 'epoch')}>
              <option value="epoch">Epoch</option>
              <option value="step">Step</option>
            </select>
          </label>
          <SmoothingSlider value={smoothing} onChange={setSmoothing} describedBy={`${ids.smoothing}-help`} />
          <span id={`${ids.smoothing}-help`} className="small muted">
            Smoothing applies to training curves; evaluations are shown as measured.
          </span>
        </div>
        <LineChartCard
          title={m.label}
          testId="compare-chart"
          tall
          data={data}
          xKey="x"
          xLabel={x}
          dots={!progress}
          format={m.percent ? (v) => `${(v * 100).toFixed(1)}%` : undefined}
          yDomain={
            m.percent
              ? zoomedDomain(
                  data,
                  c.runs.map((_, i) => seriesKey(i)),
                  references.map((r) => r.y),
                )
              : undefined
          }
          references={references.length ? references : undefined}
          series={c.runs.map((_, i) => ({
            key: seriesKey(i),
            name: label(c, i),
            color: SERIES_COLORS[i % SERIES_COLORS.length],
            rawKey: smoothing > 0 && progress ? rawKey(i) : undefined,
          }))}
        />
      </section>

      <h2>Accuracy</h2>
      <div className="table-wrap">
        <table aria-label="Accuracy side by side">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Step 0 20-NN
              </th>
              <th scope="col" className="num">
                Best 20-NN
              </th>
              <th scope="col" className="num">
                Final 20-NN
              </th>
              <th scope="col" className="num">
                Final 1-NN
              </th>
              <th scope="col" className="num">
                Raw pixels 20-NN
              </th>
              <th scope="col" className="num">
                Linear
              </th>
            </tr>
          </thead>
          <tbody>
            {c.runs.map((r, i) => {
              const best = bestOf(c.curves[i]?.evals ?? []);
              const baseline = c.curves[i]?.baseline;
              const pixel = c.curves[i]?.pixel ?? null;
              return (
                <tr key={r.id}>
                  <th scope="row">
                    <a href={href({ page: 'run', runId: r.id })}>{label(c, i)}</a>
                  </th>
                  <td>
                    <StatusBadge status={r.status} />
                  </td>
                  <td className="num">{formatPercent(baseline?.knn20)}</td>
                  <AccuracyCell value={r.bestKnn20 ?? best} init={baseline?.knn20} n={pixel?.testImages} />
                  <AccuracyCell value={r.knn20} init={baseline?.knn20} n={pixel?.testImages} />
                  <AccuracyCell value={r.knn1} init={baseline?.knn1} n={pixel?.testImages} />
                  <td className="num">{formatPercent(pixel?.pixelKnn20)}</td>
                  <td className="num">{formatPercent(r.linear)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ReadingsNote baseline={null} pixel={sharedPixel(c)} />

      <div className="row spread">
        <h2>Configuration</h2>
        <label htmlFor={ids.diff} className="row">
          <input
            id={ids.diff}
            type="checkbox"
            checked={differencesOnly}
            onChange={(e) => setDifferencesOnly(e.target.checked)}
          />
          Differences only
        </label>
      </div>
      {rows.length === 0 ? (
        <Empty title="The runs share every setting" />
      ) : (
        <div className="table-wrap">
          <table aria-label="Configuration">
            <thead>
              <tr>
                <th scope="col">Setting</th>
                {c.runs.map((r, i) => (
                  <th key={r.id} scope="col">
                    {label(c, i)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.field} className={row.differs ? 'differs' : undefined}>
                  <th scope="row">
                    {row.field in FIELD_DOCS
                      ? FIELD_DOCS[row.field as keyof typeof FIELD_DOCS].label
                      : row.field === 'dataset'
                        ? 'Dataset'
                        : 'Imbalance'}
                  </th>
                  {row.values.map((v, i) => (
                    <td key={i}>{v}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Per-class 20-NN accuracy</h2>
      <PerClassTable c={c} />
    </>
  );
}

const bestOf = (evals: EvalPoint[]) => (evals.length ? Math.max(...evals.map((e) => e.knn20)) : null);

function PerClassTable({ c }: { c: Comparison }) {
  const reference = c.perClass.find((p) => p !== null);
  if (!reference)
    return <Empty title="No per-class accuracy yet">It is measured at each run’s final evaluation.</Empty>;
  const split = splitFrequentRare(reference.trainCounts);
  const sameClasses = c.perClass.every(
    (p) => p === null || p.classNames.join('\n') === reference.classNames.join('\n'),
  );
  if (!sameClasses)
    return (
      <Empty title="These runs use different classes">
        Per-class accuracy is compared across runs on the same dataset.
      </Empty>
    );
  const sameSplit = c.perClass.every((p) => p === null || p.trainCounts.join() === reference.trainCounts.join());
  const groups = split.balanced
    ? [{ title: 'All classes (none rare in the training set)', classes: split.frequent }]
    : [
        { title: 'Frequent classes', classes: split.frequent },
        { title: 'Rare classes', classes: split.rare },
      ];
  return (
    <>
      {!sameSplit && (
        <p className="small muted">
          The runs drew different training sets; classes are grouped by the first run’s counts.
        </p>
      )}
      <div className="table-wrap">
        <table aria-label="Per-class accuracy">
          <thead>
            <tr>
              <th scope="col">Class</th>
              <th scope="col" className="num">
                Training images
              </th>
              {c.runs.map((r, i) => (
                <th key={r.id} scope="col" className="num">
                  {label(c, i)}
                </th>
              ))}
            </tr>
          </thead>
          {groups.map((g) => (
            <tbody key={g.title}>
              <tr>
                <th scope="rowgroup" colSpan={2}>
                  {g.title}: mean
                </th>
                {c.perClass.map((p, i) => (
                  <td key={i} className="num">
                    <strong>{p ? formatPercent(meanOver(p.knn20, g.classes)) : '—'}</strong>
                  </td>
                ))}
              </tr>
              {g.classes.map((k) => (
                <tr key={k}>
                  <th scope="row">{reference.classNames[k]}</th>
                  <td className="num">{formatNumber(reference.trainCounts[k] ?? 0)}</td>
                  {c.perClass.map((p, i) => (
                    <td key={i} className="num">
                      {p ? formatPercent(p.knn20[k]) : '—'}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          ))}
        </table>
      </div>
    </>
  );
}
