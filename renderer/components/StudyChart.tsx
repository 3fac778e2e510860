/** Accuracy against imbalance profile, one line per method and class group (all solid, rare dashed), ± sample std as error bars. */
import { useState } from 'react';
import {
  CartesianGrid,
  ErrorBar,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { StudyResults, StudyRunView } from '../../electron/contract';
import { studyChartRows, type ChartMetric } from '../lib/study-form';
import { formatImbalanceProfile, formatMethod } from '../lib/format';
import { SERIES_COLORS } from './Charts';

export function StudyChart({
  profiles,
  methods,
  results,
  runs,
}: {
  profiles: string[];
  methods: string[];
  results: StudyResults;
  runs: StudyRunView[];
}) {
  const [metric, setMetric] = useState<ChartMetric>('knn20');
  const rows = studyChartRows(profiles, methods, results, metric);
  const references = studyReferences(runs, metric);
  const hasData = rows.some((r) => methods.some((m) => r[`${m}_all`] !== null));
  return (
    <figure className="chart card" data-testid="study-chart">
      <figcaption>
        <span>Accuracy against imbalance profile</span>
        <span className="row small">
          {(['knn20', 'knn1'] as const).map((m) => (
            <button key={m} type="button" className="small" aria-pressed={metric === m} onClick={() => setMetric(m)}>
              {m === 'knn20' ? '20-NN' : '1-NN'}
            </button>
          ))}
        </span>
      </figcaption>
      <div className="chart-box tall">
        {!hasData ? (
          <div className="state">No completed runs yet</div>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="profile" type="category" interval={0} tickFormatter={formatImbalanceProfile} />
              <YAxis width={48} unit="%" domain={['auto', 'auto']} />
              <Tooltip
                formatter={(v) => (typeof v === 'number' ? `${v.toFixed(1)}%` : String(v))}
                labelFormatter={(p) => formatImbalanceProfile(String(p))}
              />
              <Legend />
              {references.map((r) => (
                <ReferenceLine key={r.label} y={r.y} stroke={r.color} strokeDasharray="4 4" ifOverflow="extendDomain" />
              ))}
              {methods.flatMap((m, i) =>
                (['all', 'rare'] as const).map((g) => (
                  <Line
                    key={`${m}_${g}`}
                    dataKey={`${m}_${g}`}
                    name={`${formatMethod(m)}, ${g === 'all' ? 'all classes' : 'rare classes'}`}
                    stroke={SERIES_COLORS[i % SERIES_COLORS.length]}
                    strokeDasharray={g === 'rare' ? '5 4' : undefined}
                    strokeWidth={1.8}
                    dot
                    connectNulls={false}
                    isAnimationActive={false}
                  >
                    <ErrorBar
                      dataKey={`${m}_${g}_sd`}
                      width={4}
                      strokeWidth={1}
                      stroke={SERIES_COLORS[i % SERIES_COLORS.length]}
                    />
                  </Line>
                )),
              )}
            </LineChart>
          </ResponsiveContainer>
        )}
      </div>
      <p className="small muted">
        Mean over seeds; bars: ± sample std. Rare classes exist only in imbalanced profiles.
      </p>
      {references.length > 0 && (
        <p className="chart-notes small muted" data-testid="study-references">
          {references.map((r) => (
            <span key={r.label}>
              <span className="dash-swatch" style={{ borderColor: r.color }} aria-hidden="true" /> {r.label}
            </span>
          ))}
        </p>
      )}
    </figure>
  );
}

/** Dashed lines (in %, as the chart): the runs' mean step-0 accuracy and their raw-pixel accuracy on the same queries. */
function studyReferences(
  runs: readonly StudyRunView[],
  metric: ChartMetric,
): { y: number; label: string; color: string }[] {
  const name = metric === 'knn20' ? '20-NN' : '1-NN';
  const mean = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? (100 * v.reduce((a, b) => a + b, 0)) / v.length : null;
  };
  const init = mean(runs.map((r) => (metric === 'knn20' ? r.initKnn20 : r.initKnn1)));
  const pixel = mean(runs.map((r) => (metric === 'knn20' ? r.pixelKnn20 : r.pixelKnn1)));
  return [
    ...(init !== null
      ? [{ y: init, label: `step 0 (random init), mean of the runs: ${init.toFixed(1)}% (${name})`, color: '#999999' }]
      : []),
    ...(pixel !== null ? [{ y: pixel, label: `raw pixels: ${pixel.toFixed(1)}% (${name})`, color: '#D55E00' }] : []),
  ];
}
