/** The training curves of one run (loss, lr, purity, images/s) and its kNN evaluations against step 0. */
import { useMemo, useState } from 'react';
import type { Curves, EvalPoint, PixelBaseline, ProgressPoint } from '../../electron/contract';
import { describeChange, formatAccuracy, readAccuracy } from '../../electron/readings';
import { formatNumber, formatPercent } from '../lib/format';
import { smoothEma } from '../lib/smoothing';
import type { UseQueryResult } from '@tanstack/react-query';
import { LineChartCard, SmoothingSlider, zoomedDomain } from './Charts';
import { ReadingsNote } from './Reading';
import { QueryView } from './StateViews';

/** Progress points with each noisy metric smoothed (EMA), the raw value kept beside it as `<key>Raw`. */
function smoothedPoints(points: readonly ProgressPoint[], weight: number) {
  const loss = smoothEma(
    points.map((p) => p.loss),
    weight,
  );
  const purity = smoothEma(
    points.map((p) => p.purity),
    weight,
  );
  const speed = smoothEma(
    points.map((p) => p.imagesPerSec),
    weight,
  );
  return points.map((p, i) => ({
    ...p,
    lossRaw: p.loss,
    purityRaw: p.purity,
    imagesPerSecRaw: p.imagesPerSec,
    loss: loss[i],
    purity: purity[i],
    imagesPerSec: speed[i],
  }));
}

const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

export function TrainingCharts({ curves }: { curves: Curves }) {
  const [smoothing, setSmoothing] = useState(0.6);
  const pts = useMemo(() => smoothedPoints(curves.points, smoothing), [curves.points, smoothing]);
  const last = curves.points.at(-1);
  const hasPurity = pts.some((p) => p.purity !== null);
  const raw = smoothing > 0;
  return (
    <>
      <p className="row small">
        <SmoothingSlider value={smoothing} onChange={setSmoothing} />
        <span className="muted">the faint line is the raw value</span>
      </p>
      <div className="grid-charts">
        <LineChartCard
          title="Loss"
          testId="chart-loss"
          data={pts}
          series={[{ key: 'loss', name: 'loss', rawKey: raw ? 'lossRaw' : undefined }]}
          xLabel="step"
          latest={last ? formatNumber(last.loss) : undefined}
        />
        <LineChartCard
          title="Learning rate"
          testId="chart-lr"
          data={pts}
          series={[{ key: 'lr', name: 'learning rate', color: '#E69F00' }]}
          xLabel="step"
          format={formatNumber}
          latest={last ? formatNumber(last.lr) : undefined}
        />
        <LineChartCard
          title="Purity (top-5 anchors sharing the label)"
          testId="chart-purity"
          data={hasPurity ? pts : []}
          series={[{ key: 'purity', name: 'purity', color: '#009E73', rawKey: raw ? 'purityRaw' : undefined }]}
          xLabel="step"
          format={pct}
          yDomain={[0, 1]}
          latest={last?.purity != null ? formatPercent(last.purity) : undefined}
        />
        <LineChartCard
          title="Images per second"
          testId="chart-speed"
          data={pts}
          series={[
            { key: 'imagesPerSec', name: 'images/s', color: '#CC79A7', rawKey: raw ? 'imagesPerSecRaw' : undefined },
          ]}
          xLabel="step"
          latest={last ? Math.round(last.imagesPerSec).toLocaleString() : undefined}
        />
      </div>
    </>
  );
}

/** The lines every accuracy chart is read against: the random-init encoder (step 0) and raw pixels, 20-NN. */
export function referenceLines(
  baseline: EvalPoint | null,
  pixel: PixelBaseline | null,
  prefix = '',
): { y: number; label: string; color?: string }[] {
  return [
    ...(baseline
      ? [{ y: baseline.knn20, label: `${prefix}step 0 (random init): ${formatPercent(baseline.knn20)} (20-NN)` }]
      : []),
    ...(pixel
      ? [
          {
            y: pixel.pixelKnn20,
            label: `${prefix}raw pixels: ${formatPercent(pixel.pixelKnn20)} (20-NN)`,
            color: '#D55E00',
          },
        ]
      : []),
  ];
}

export function EvalChart({ curves, tall }: { curves: Curves; tall?: boolean }) {
  const evals =
    curves.baseline && !curves.evals.some((e) => e.step === curves.baseline!.step)
      ? [curves.baseline, ...curves.evals]
      : curves.evals;
  const last = evals.at(-1);
  const hasLinear = evals.some((e) => e.linear !== null);
  const has200 = evals.some((e) => e.knn200Weighted !== null);
  const keys = [
    'knn20',
    'knn1',
    'knn20Weighted',
    ...(has200 ? ['knn200Weighted'] : []),
    ...(hasLinear ? ['linear'] : []),
  ];
  const references = referenceLines(curves.baseline, curves.pixel);
  const latest =
    last && last.step > 0 ? readAccuracy(last.knn20, curves.baseline?.knn20, curves.pixel?.testImages) : null;
  return (
    <LineChartCard
      title="kNN accuracy on the test split"
      testId="chart-knn"
      tall={tall}
      data={evals}
      dots
      series={[
        { key: 'knn20', name: '20-NN' },
        { key: 'knn1', name: '1-NN', color: '#E69F00' },
        { key: 'knn20Weighted', name: '20-NN weighted', color: '#009E73', dashed: true },
        ...(has200 ? [{ key: 'knn200Weighted', name: '200-NN weighted (T 0.1)', color: '#56B4E9', dashed: true }] : []),
        ...(hasLinear ? [{ key: 'linear', name: 'linear probe', color: '#CC79A7' }] : []),
      ]}
      xLabel="step"
      format={(v) => `${(v * 100).toFixed(1)}%`}
      yDomain={zoomedDomain(
        evals,
        keys,
        references.map((r) => r.y),
      )}
      references={references.length ? references : undefined}
      latest={
        last
          ? `20-NN ${latest ? formatAccuracy(latest) : formatPercent(last.knn20)}${latest?.change != null ? ` (${describeChange(latest)})` : ''}`
          : undefined
      }
    />
  );
}

/** A run's training curves and its evaluation chart, once its curves have loaded (live and detail pages). */
export function RunCurves({ query }: { query: UseQueryResult<Curves> }) {
  return (
    <QueryView query={query} loading="Loading curves…">
      {(c) => (
        <>
          <TrainingCharts curves={c} />
          <h2>Evaluations</h2>
          <EvalChart curves={c} />
          <ReadingsNote baseline={c.baseline} pixel={c.pixel} />
        </>
      )}
    </QueryView>
  );
}
