/** Live run: curves updating as events arrive, evaluations against step 0, epoch and ETA, controls. */
import { useCurves, useLatestProgress, useRun, useSystemInfo } from '../api/queries';
import { RunCurves } from '../components/RunCharts';
import { RunControls } from '../components/RunControls';
import { isNotFound, MissingRun, QueryView } from '../components/StateViews';
import { StatusBadge } from '../components/StatusBadge';
import { formatDuration, formatMethod, formatPercent } from '../lib/format';
import { href } from '../lib/route';

export function LiveRunPage({ runId }: { runId: string }) {
  const run = useRun(runId);
  const curves = useCurves(runId);
  const latest = useLatestProgress(runId);
  const system = useSystemInfo();

  if (isNotFound(run.error)) return <MissingRun runId={runId} />;
  return (
    <QueryView query={run} loading="Loading the run…">
      {(detail) => {
        const r = detail.run;
        const step = Math.max(latest?.step ?? 0, r.step);
        const totalSteps = latest?.totalSteps ?? r.totalSteps;
        const active = r.status === 'running' || r.status === 'paused' || r.status === 'queued';
        return (
          <div>
            <div className="row spread">
              <h1>
                {r.name} <StatusBadge status={r.status} />
              </h1>
              <span className="row">
                <RunControls run={r} canResume={detail.canResume} />
                <a className="button" href={href({ page: 'run', runId })}>
                  Run details
                </a>
              </span>
            </div>
            <section className="card" aria-label="Progress">
              <dl className="stat-list">
                <div>
                  <dt>Epoch</dt>
                  <dd data-testid="live-epoch">
                    {latest?.epoch ?? r.epoch} / {r.epochs}
                  </dd>
                </div>
                <div>
                  <dt>Step</dt>
                  <dd data-testid="live-step">
                    {step.toLocaleString()} / {totalSteps.toLocaleString()}
                  </dd>
                </div>
                <div>
                  <dt>Time left</dt>
                  <dd data-testid="live-eta">
                    {r.status === 'running' ? formatDuration(latest?.etaSec ?? null) : '—'}
                  </dd>
                </div>
                <div>
                  <dt>Elapsed</dt>
                  <dd>{formatDuration(r.durationSec)}</dd>
                </div>
                <div>
                  <dt>20-NN now</dt>
                  <dd>{formatPercent(r.knn20)}</dd>
                </div>
                <div>
                  <dt>Backend</dt>
                  <dd data-testid="live-backend">
                    {r.backend ?? system.data?.backend ?? '—'} · {r.device ?? system.data?.device ?? '—'}
                  </dd>
                </div>
                <div>
                  <dt>Method</dt>
                  <dd>
                    {formatMethod(r.method)} · {r.arch} · {r.datasetName}
                    {r.imbalance !== 'none' ? ` · ${r.imbalance}` : ''}
                  </dd>
                </div>
              </dl>
              {totalSteps > 0 && <progress max={totalSteps} value={step} aria-label="Training progress" />}
              {r.status === 'queued' && <p className="muted">Waiting for the run in training to finish.</p>}
              {r.error && (
                <p className="form-error" role="alert">
                  {r.error.message}
                </p>
              )}
              {!active && r.status === 'completed' && (
                <p className="muted">
                  Finished. Final 20-NN {formatPercent(r.knn20)}, best {formatPercent(r.bestKnn20)}.
                </p>
              )}
            </section>
            <h2>Training</h2>
            <RunCurves query={curves} />
          </div>
        );
      }}
    </QueryView>
  );
}
