/** The training curves of one run (loss, lr, purity, images/s) and its kNN evaluations against step 0. */
import type { Curves } from '../../electron/contract';
import { formatNumber, formatPercent } from '../lib/format';
import type { UseQueryResult } from '@tanstack/react-query';
import { LineChartCard } from './Charts';
import { QueryView } from './StateViews';

const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

export function TrainingCharts({ curves }: { curves: Curves }) {
  const pts = curves.points;
  const last = pts.at(-1);
  const hasPurity = pts.some((p) => p.purity !== null);
  return (
    <div className="grid-charts">
      <LineChartCard
        title="Loss"
        testId="chart-loss"
        data={pts}
        series={[{ key: 'loss', name: 'loss' }]}
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
        series={[{ key: 'purity', name: 'purity', color: '#009E73' }]}
        xLabel="step"
        format={pct}
        yDomain={[0, 1]}
        latest={last?.purity != null ? formatPercent(last.purity) : undefined}
      />
      <LineChartCard
        title="Images per second"
        testId="chart-speed"
        data={pts}
        series={[{ key: 'imagesPerSec', name: 'images/s', color: '#CC79A7' }]}
        xLabel="step"
        latest={last ? Math.round(last.imagesPerSec).toLocaleString() : undefined}
      />
    </div>
  );
}

export function EvalChart({ curves, tall }: { curves: Curves; tall?: boolean }) {
  const evals =
    curves.baseline && !curves.evals.some((e) => e.step === curves.baseline!.step)
      ? [curves.baseline, ...curves.evals]
      : curves.evals;
  const last = evals.at(-1);
  const hasLinear = evals.some((e) => e.linear !== null);
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
        ...(hasLinear ? [{ key: 'linear', name: 'linear probe', color: '#D55E00' }] : []),
      ]}
      xLabel="step"
      format={pct}
      yDomain={[0, 1]}
      references={
        curves.baseline
          ? [{ y: curves.baseline.knn20, label: `step 0: ${formatPercent(curves.baseline.knn20)} (20-NN)` }]
          : undefined
      }
      latest={last ? `20-NN ${formatPercent(last.knn20)}` : undefined}
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
        </>
      )}
    </QueryView>
  );
}
