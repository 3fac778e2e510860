/** Line and bar charts (recharts) with the app's captions, colours and number formats. */
import { useId } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';

/** Okabe–Ito colours: distinguishable with colour-vision deficiencies, readable on light and dark. */
export const SERIES_COLORS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#999999', '#8c6d31'];

export interface Series {
  key: string;
  name: string;
  color?: string;
  dashed?: boolean;
  /** The unsmoothed values of this series: drawn faint behind it. */
  rawKey?: string;
}

/**
 * A y range zoomed to the values of these keys (and references), padded by a tenth of their spread
 * (at least `minSpan` in all) and kept inside `clamp`: 70.3 % against 70.9 % stays readable.
 */
export function zoomedDomain(
  rows: readonly Row[],
  keys: readonly string[],
  extra: readonly number[] = [],
  clamp: [number, number] = [0, 1],
  minSpan = 0.02,
): [number, number] {
  const values = [...extra];
  for (const r of rows)
    for (const k of keys) {
      const v = (r as Record<string, unknown>)[k];
      if (typeof v === 'number' && Number.isFinite(v)) values.push(v);
    }
  if (values.length === 0) return clamp;
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.1, (minSpan - (hi - lo)) / 2, 0);
  lo = Math.max(clamp[0], lo - pad);
  hi = Math.min(clamp[1], hi + pad);
  // Round outwards to whole percent points so that the ticks read cleanly.
  return [Math.floor(lo * 100) / 100, Math.ceil(hi * 100) / 100];
}

// Rows are plain objects keyed by series (recharts reads them by dataKey).
type Row = object;

const compact = (v: number) =>
  Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : Number(v.toPrecision(3)).toString();

export function LineChartCard(props: {
  title: string;
  data: Row[];
  series: Series[];
  xKey?: string;
  xLabel?: string;
  format?: (v: number) => string;
  latest?: string;
  references?: { y: number; label: string; color?: string }[];
  yDomain?: [number | 'auto' | 'dataMin' | 'dataMax', number | 'auto' | 'dataMin' | 'dataMax'];
  log?: boolean;
  tall?: boolean;
  testId?: string;
  dots?: boolean;
  /** Whole-number ticks on x (steps); default when x is the step. */
  integerX?: boolean;
}) {
  const format = props.format ?? compact;
  const xKey = props.xKey ?? 'step';
  const integerX = props.integerX ?? (xKey === 'step' || props.xLabel === 'step');
  return (
    <figure className="chart card" data-testid={props.testId}>
      <figcaption>
        <span>{props.title}</span>
        {props.latest && (
          <span className="latest" data-testid={props.testId ? `${props.testId}-latest` : undefined}>
            {props.latest}
          </span>
        )}
      </figcaption>
      <div className={props.tall ? 'chart-box tall' : 'chart-box'}>
        {props.data.length === 0 ? (
          <div className="state">No points yet</div>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={props.data} margin={{ top: 8, right: 12, bottom: 4, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis
                dataKey={xKey}
                type="number"
                domain={['dataMin', 'dataMax']}
                allowDecimals={!integerX}
                tickFormatter={compact}
                label={props.xLabel ? { value: props.xLabel, position: 'insideBottomRight', offset: -2 } : undefined}
              />
              <YAxis
                width={56}
                tickFormatter={format}
                domain={props.yDomain ?? ['auto', 'auto']}
                scale={props.log ? 'log' : 'auto'}
                allowDataOverflow={props.log}
              />
              <Tooltip
                formatter={(v) => (typeof v === 'number' ? format(v) : String(v))}
                labelFormatter={(l) => `${props.xLabel ?? xKey} ${l}`}
              />
              {props.series.length > 1 && <Legend />}
              {props.references?.map((r) => (
                // Named below the chart, not on it: a label on the line hides the curve it crosses.
                <ReferenceLine key={r.label} y={r.y} stroke={r.color ?? '#999999'} strokeDasharray="4 4" />
              ))}
              {props.series.flatMap((s, i) =>
                s.rawKey
                  ? [
                      <Line
                        key={s.rawKey}
                        dataKey={s.rawKey}
                        name={`${s.name} (raw)`}
                        stroke={s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]}
                        strokeOpacity={0.25}
                        dot={false}
                        strokeWidth={1.2}
                        legendType="none"
                        isAnimationActive={false}
                        connectNulls
                      />,
                    ]
                  : [],
              )}
              {props.series.map((s, i) => (
                <Line
                  key={s.key}
                  dataKey={s.key}
                  name={s.name}
                  stroke={s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]}
                  strokeDasharray={s.dashed ? '5 4' : undefined}
                  dot={props.dots ?? false}
                  strokeWidth={1.8}
                  isAnimationActive={false}
                  connectNulls
                />
              ))}
            </LineChart>
          </ResponsiveContainer>
        )}
      </div>
      {props.references && props.references.length > 0 && (
        <p className="chart-notes small muted">
          {props.references.map((r) => (
            <span key={r.label}>
              <span className="dash-swatch" style={{ borderColor: r.color ?? '#999999' }} aria-hidden="true" />{' '}
              {r.label}
            </span>
          ))}
        </p>
      )}
    </figure>
  );
}

export function BarChartCard(props: {
  title: string;
  data: Row[];
  xKey: string;
  series: Series[];
  format?: (v: number) => string;
  testId?: string;
  caption?: string;
  /** Series share one bar slot per category (for series that are never both set, e.g. frequent / rare). */
  stacked?: boolean;
  /** A symmetric-log count axis (zero stays drawable), for histograms with nearly all their mass in one bin. */
  logScale?: boolean;
}) {
  const format = props.format ?? compact;
  return (
    <figure className="chart" data-testid={props.testId}>
      <figcaption>
        <span>{props.title}</span>
        {props.caption && <span className="latest">{props.caption}</span>}
      </figcaption>
      <div className="chart-box">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={props.data} margin={{ top: 8, right: 8, bottom: 4, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis
              dataKey={props.xKey}
              interval={props.data.length > 20 ? 'preserveStartEnd' : 0}
              tick={{ fontSize: 10 }}
              angle={props.data.length > 10 ? -40 : 0}
              textAnchor={props.data.length > 10 ? 'end' : 'middle'}
              height={props.data.length > 10 ? 60 : 30}
            />
            <YAxis
              width={52}
              tickFormatter={format}
              scale={props.logScale ? 'symlog' : 'auto'}
              allowDecimals={!props.logScale}
            />
            <Tooltip formatter={(v) => (typeof v === 'number' ? format(v) : String(v))} />
            {props.series.length > 1 && <Legend />}
            {props.series.map((s, i) => (
              <Bar
                key={s.key}
                dataKey={s.key}
                name={s.name}
                fill={s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]}
                stackId={props.stacked ? 'one' : undefined}
                isAnimationActive={false}
              />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

/** The EMA smoothing weight of the training curves (0: raw), as a slider with its value in the label. */
export function SmoothingSlider(props: { value: number; onChange: (v: number) => void; describedBy?: string }) {
  const id = useId();
  return (
    <label htmlFor={id}>
      Smoothing: {props.value.toFixed(2)}
      <input
        id={id}
        type="range"
        min={0}
        max={0.99}
        step={0.01}
        value={props.value}
        onChange={(e) => props.onChange(Number(e.target.value))}
        aria-describedby={props.describedBy}
      />
    </label>
  );
}
