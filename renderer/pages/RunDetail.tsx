/** One run: summary, notes, curves and evaluations, configuration, per-class accuracy, neighbours. */
import { useEffect, useId, useState, type ReactNode } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { PerClassAccuracy, RunDetail } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { keys, useCurves, useRun } from '../api/queries';
import { BarChartCard } from '../components/Charts';
import { EncoderPanel } from '../components/EncoderPanel';
import { NeighbourExplorer } from '../components/NeighbourViews';
import { RunCurves } from '../components/RunCharts';
import { Accuracy, AccuracyCell } from '../components/Reading';
import { RunAgainLinks, RunControls, RunEditDialogs, type RunDialog } from '../components/RunControls';
import { Empty, isNotFound, MissingRun, QueryView } from '../components/StateViews';
import { StatusBadge } from '../components/StatusBadge';
import { FIELD_DOCS, FIELD_ORDER, METHOD_ONLY } from '../form/run-config-form';
import { configRows } from '../lib/config-diff';
import { downloadText } from '../lib/download';
import { formatDate, formatDuration, formatImbalanceProfile, formatPercent } from '../lib/format';
import { meanOver, splitFrequentRare } from '../lib/per-class';
import { href } from '../lib/route';
import { isActive } from '../../electron/run-status';
import { methodLabel } from '../../electron/run-config';

export function RunDetailPage({ runId }: { runId: string }) {
  const run = useRun(runId);
  if (isNotFound(run.error)) return <MissingRun runId={runId} />;
  return (
    <QueryView query={run} loading="Loading the run…">
      {(d) => <Detail d={d} />}
    </QueryView>
  );
}

function Detail({ d }: { d: RunDetail }) {
  const r = d.run;
  const curves = useCurves(r.id);
  const exporter = useMutation({
    mutationFn: (format: 'json' | 'csv') => call('runs.export', { id: r.id, format }),
    onSuccess: (f) => downloadText(f.filename, f.mimeType, f.content),
  });
  const active = isActive(r.status);
  const [dialog, setDialog] = useState<RunDialog>(null);
  const n = d.pixel?.testImages;
  const subset = { subset: !!d.pixel && d.pixel.testImages < d.pixel.testSplitImages };
  const init = d.baseline;
  return (
    <div>
      <div className="row spread">
        <h1>
          {r.name} <StatusBadge status={r.status} />
        </h1>
        <span className="row">
          <RunControls run={r} canResume={d.canResume} />
          {active && (
            <a className="button" href={href({ page: 'live', runId: r.id })}>
              Watch live
            </a>
          )}
          <RunAgainLinks run={r} />
          <button type="button" onClick={() => exporter.mutate('json')}>
            Export JSON
          </button>
          <button type="button" onClick={() => exporter.mutate('csv')}>
            Export CSV
          </button>
          <button type="button" onClick={() => setDialog({ kind: 'rename', run: r })}>
            Rename
          </button>
          <button type="button" onClick={() => setDialog({ kind: 'tags', run: r })}>
            Tags
          </button>
          <button
            type="button"
            className="danger"
            onClick={() => setDialog({ kind: 'delete', run: r })}
            disabled={r.status === 'running'}
          >
            Delete
          </button>
        </span>
      </div>
      <RunEditDialogs
        dialog={dialog}
        onClose={() => setDialog(null)}
        onDeleted={() => (window.location.hash = href({ page: 'history' }))}
      />
      {exporter.isError && (
        <p className="form-error" role="alert">
          Export failed: {errorMessage(exporter.error)}
        </p>
      )}
      {r.error && (
        <p className="form-error" role="alert">
          {r.error.message}
        </p>
      )}
      <section className="card" aria-label="Summary">
        <dl className="stat-list">
          <Stat label="Method" value={`${methodLabel(r.config)} · ${r.arch}`} />
          <Stat
            label="Dataset"
            value={`${r.datasetName}${r.imbalance !== 'none' ? ` · ${formatImbalanceProfile(r.imbalance)}` : ''}`}
          />
          <Stat
            label="Best 20-NN"
            value={<Accuracy value={r.bestKnn20} init={d.baseline?.knn20} n={n} />}
            testId="detail-best-knn20"
          />
          <Stat
            label="Final 20-NN"
            value={<Accuracy value={r.knn20} init={d.baseline?.knn20} n={n} />}
            testId="detail-knn20"
          />
          <Stat label="Final 1-NN" value={<Accuracy value={r.knn1} init={d.baseline?.knn1} n={n} />} />
          <Stat label="Linear" value={formatPercent(r.linear)} />
          <Stat label="Step 0 20-NN" value={formatPercent(d.baseline?.knn20)} />
          <Stat label="Raw pixels 20-NN" value={formatPercent(d.pixel?.pixelKnn20)} testId="detail-pixel-knn20" />
          <Stat label="Epochs" value={`${r.epoch} / ${r.epochs}`} />
          <Stat label="Duration" value={formatDuration(r.durationSec)} />
          <Stat label="Started" value={formatDate(r.startedAt ?? r.createdAt)} />
          <Stat label="Backend" value={`${r.backend ?? '—'} · ${r.device ?? '—'}`} />
        </dl>
      </section>
      <Notes runId={r.id} notes={r.notes} />

      <h2>Curves</h2>
      <RunCurves query={curves} />
      {d.evals.length > 0 && (
        <div className="table-wrap">
          <table aria-label="Evaluations">
            <thead>
              <tr>
                <th scope="col">Epoch</th>
                <th scope="col" className="num">
                  Step
                </th>
                <th scope="col" className="num">
                  1-NN
                </th>
                <th scope="col" className="num">
                  20-NN
                </th>
                <th scope="col" className="num">
                  20-NN weighted
                </th>
                <th scope="col" className="num">
                  200-NN weighted
                </th>
                <th scope="col" className="num">
                  Linear
                </th>
              </tr>
            </thead>
            <tbody>
              {(d.baseline ? [d.baseline, ...d.evals.filter((e) => e.step !== d.baseline!.step)] : d.evals).map((e) => (
                <tr key={e.step}>
                  <td>{e.step === 0 ? '0 (random encoder)' : e.epoch}</td>
                  <td className="num">{e.step.toLocaleString()}</td>
                  {(['knn1', 'knn20', 'knn20Weighted', 'knn200Weighted'] as const).map((k) => (
                    <AccuracyCell key={k} value={e[k]} init={e.step > 0 ? init?.[k] : null} n={n} compact={subset} />
                  ))}
                  <td className="num">{formatPercent(e.linear)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Per-class 20-NN accuracy</h2>
      {d.perClass ? (
        <PerClass p={d.perClass} />
      ) : (
        <Empty title="No per-class accuracy yet">It is measured at the final evaluation.</Empty>
      )}

      <h2>What the encoder learned</h2>
      {d.checkpoints.length > 0 ? (
        <>
          <NeighbourExplorer runId={r.id} method={r.method} />
          <EncoderPanel runId={r.id} />
        </>
      ) : (
        <Empty title="No checkpoint yet">
          The neighbour gallery uses the run’s last checkpoint, written at the end of each epoch.
        </Empty>
      )}

      <h2>Configuration</h2>
      <div className="table-wrap">
        <table aria-label="Configuration">
          <tbody>
            {configRows([d.config], FIELD_ORDER, false, METHOD_ONLY).map((row) => (
              <tr key={row.field}>
                <th scope="row">
                  {row.field in FIELD_DOCS
                    ? FIELD_DOCS[row.field as keyof typeof FIELD_DOCS].label
                    : row.field === 'dataset'
                      ? 'Dataset'
                      : 'Imbalance'}
                </th>
                <td className="mono">{row.values[0]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Stat({ label, value, testId }: { label: string; value: ReactNode; testId?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

function PerClass({ p }: { p: PerClassAccuracy }) {
  const split = splitFrequentRare(p.trainCounts);
  const rows = p.classNames.map((name, i) => ({
    name,
    accuracy: p.knn20[i] ?? null,
    group: split.rare.includes(i) ? 'rare' : 'frequent',
  }));
  return (
    <div className="card">
      {!split.balanced && (
        <p>
          Frequent classes: <strong>{formatPercent(meanOver(p.knn20, split.frequent))}</strong> · rare classes:{' '}
          <strong>{formatPercent(meanOver(p.knn20, split.rare))}</strong>
        </p>
      )}
      <BarChartCard
        title="Accuracy per class"
        xKey="name"
        data={[...split.frequent, ...split.rare].map((i) => ({
          name: rows[i]!.name,
          frequent: rows[i]!.group === 'frequent' ? rows[i]!.accuracy : null,
          rare: rows[i]!.group === 'rare' ? rows[i]!.accuracy : null,
        }))}
        series={
          split.balanced
            ? [{ key: 'frequent', name: '20-NN accuracy' }]
            : [
                { key: 'frequent', name: 'frequent classes' },
                { key: 'rare', name: 'rare classes', color: '#D55E00' },
              ]
        }
        format={(v) => `${(v * 100).toFixed(0)}%`}
        stacked
      />
    </div>
  );
}

function Notes({ runId, notes }: { runId: string; notes: string }) {
  const id = useId();
  const queryClient = useQueryClient();
  const [text, setText] = useState(notes);
  useEffect(() => setText(notes), [notes]);
  const save = useMutation({
    mutationFn: () => call('runs.notes', { id: runId, notes: text }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: keys.runs }),
  });
  return (
    <form
      className="card"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <label htmlFor={id}>
        <strong>Notes</strong>
      </label>
      <textarea
        id={id}
        value={text}
        onChange={(e) => setText(e.target.value)}
        rows={3}
        className="notes"
        maxLength={10_000}
      />
      <div className="row">
        <button type="submit" disabled={save.isPending || text === notes}>
          Save notes
        </button>
        {save.isSuccess && text === notes && (
          <span className="small muted" role="status">
            Saved
          </span>
        )}
        {save.isError && (
          <span className="form-error small" role="alert">
            {errorMessage(save.error)}
          </span>
        )}
      </div>
    </form>
  );
}
