/** Live run: its phase, curves updating as events arrive, evaluations against step 0, epoch and ETA, controls. */
import type { RunConfig, RunPhase, RunPhaseInfo } from '../../electron/contract';
import { useCurves, useLatestProgress, useNow, useRun, useSystemInfo } from '../api/queries';
import { RunCurves } from '../components/RunCharts';
import { Accuracy } from '../components/Reading';
import { RunControls } from '../components/RunControls';
import { isNotFound, MissingRun, QueryView } from '../components/StateViews';
import { StatusBadge } from '../components/StatusBadge';
import { formatDuration, formatImbalanceProfile, formatPercent, PHASE_LABEL } from '../lib/format';
import { href } from '../lib/route';
import { isActive } from '../../electron/run-status';
import { methodLabel } from '../../electron/run-config';

export function LiveRunPage({ runId }: { runId: string }) {
  const run = useRun(runId);
  const curves = useCurves(runId);
  const latest = useLatestProgress(runId);
  const system = useSystemInfo();
  const ticking = run.data?.run.status === 'running'; // paused time is not counted
  const now = useNow(ticking);

  if (isNotFound(run.error)) return <MissingRun runId={runId} />;
  return (
    <QueryView query={run} loading="Loading the run…">
      {(detail) => {
        const r = detail.run;
        const step = Math.max(latest?.step ?? 0, r.step);
        const totalSteps = latest?.totalSteps ?? r.totalSteps;
        const active = isActive(r.status);
        const phase: RunPhaseInfo | null =
          detail.phase ?? (r.status === 'running' ? { phase: 'preparing', done: 0, total: 0, since: now } : null);
        const elapsed = ticking && r.startedAt ? (now - r.startedAt) / 1000 : r.durationSec;
        const timeLeft =
          r.status !== 'running' || !phase
            ? null
            : phase.phase === 'training'
              ? (latest?.etaSec ?? null)
              : phaseSecondsLeft(phase, now);
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
                    {/* the total is known once training starts (the first evaluation comes before it) */}
                    {totalSteps > 0 ? `${step.toLocaleString()} / ${totalSteps.toLocaleString()}` : '—'}
                  </dd>
                </div>
                <div>
                  <dt>Time left</dt>
                  <dd data-testid="live-eta">
                    {/* a phase whose images are all embedded still votes and writes: not "0 s" */}
                    {phase && phase.phase !== 'training' && timeLeft !== null
                      ? timeLeft < 1
                        ? 'finishing this phase'
                        : `${formatDuration(timeLeft)} (this phase)`
                      : formatDuration(timeLeft)}
                  </dd>
                </div>
                <div>
                  <dt>Elapsed</dt>
                  <dd data-testid="live-elapsed">{formatDuration(elapsed)}</dd>
                </div>
                <div>
                  <dt>20-NN now</dt>
                  <dd>
                    <Accuracy
                      value={r.knn20}
                      init={r.epoch > 0 ? detail.baseline?.knn20 : null}
                      n={detail.pixel?.testImages}
                      testId="live-knn20"
                    />
                  </dd>
                </div>
                <div>
                  <dt>Raw pixels 20-NN</dt>
                  <dd data-testid="live-pixel-knn20">{formatPercent(detail.pixel?.pixelKnn20)}</dd>
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
                    {methodLabel(r.config)} · {r.arch} · {r.datasetName}
                    {r.imbalance !== 'none' ? ` · ${formatImbalanceProfile(r.imbalance)}` : ''}
                  </dd>
                </div>
              </dl>
              {active && r.status !== 'queued' && <PhaseSteps config={detail.config} phase={phase} />}
              {phase && phase.phase !== 'training' && r.status === 'running' && <PhaseLine phase={phase} />}
              {totalSteps > 0 && <progress max={totalSteps} value={step} aria-label="Training progress" />}
              {r.status === 'queued' && <p className="muted">Waiting for the run in training to finish.</p>}
              {r.error && (
                <p className="form-error" role="alert">
                  {r.error.message}
                </p>
              )}
              {!active && r.status === 'completed' && (
                <p className="muted">
                  Finished. Final 20-NN{' '}
                  <Accuracy value={r.knn20} init={detail.baseline?.knn20} n={detail.pixel?.testImages} />, best{' '}
                  {formatPercent(r.bestKnn20)}
                  {detail.pixel && r.knn20 !== null && r.knn20 < detail.pixel.pixelKnn20
                    ? `; below raw pixels (${formatPercent(detail.pixel.pixelKnn20)})`
                    : ''}
                  .
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

/** The phases this run goes through, in order (no evaluation phases without a kNN; the probe only when asked for). */
function phasesOf(config: RunConfig): RunPhase[] {
  return ['preparing', 'baseline', 'training', 'final', ...(config.linearEval ? (['linear'] as const) : [])];
}

/** Where an evaluation between epochs sits in the steps: inside training. */
const STEP_OF: Record<RunPhase, RunPhase> = {
  preparing: 'preparing',
  baseline: 'baseline',
  training: 'training',
  evaluating: 'training',
  final: 'final',
  linear: 'linear',
};

function PhaseSteps({ config, phase }: { config: RunConfig; phase: RunPhaseInfo | null }) {
  const steps = phasesOf(config);
  const current = phase ? steps.indexOf(STEP_OF[phase.phase]) : -1;
  return (
    <ol className="phase-steps" aria-label="Phases" data-testid="live-phases" data-phase={phase?.phase}>
      {steps.map((p, i) => (
        <li
          key={p}
          aria-current={i === current ? 'step' : undefined}
          className={i < current ? 'done' : i === current ? 'current' : undefined}
        >
          {i < current ? '✓ ' : ''}
          {PHASE_LABEL[p]}
          {p === 'training' && phase?.phase === 'evaluating' ? ' · evaluating (kNN)' : ''}
        </li>
      ))}
    </ol>
  );
}

/** The phase now, with its progress where it has one (images embedded while evaluating). */
function PhaseLine({ phase }: { phase: RunPhaseInfo }) {
  return (
    <p className="phase-line" role="status" data-testid="live-phase" data-phase={phase.phase}>
      {PHASE_LABEL[phase.phase]}…
      {phase.total > 0 && (
        <>
          {' '}
          {phase.done.toLocaleString()} / {phase.total.toLocaleString()} images{' '}
          <progress max={phase.total} value={phase.done} aria-label={`${PHASE_LABEL[phase.phase]} progress`} />
        </>
      )}
    </p>
  );
}

/** Seconds left in an evaluation phase, at the rate it has gone so far; null until there is a rate. */
function phaseSecondsLeft(phase: RunPhaseInfo, now: number): number | null {
  if (phase.total <= 0 || phase.done <= 0) return null;
  const perImage = (now - phase.since) / 1000 / phase.done;
  return perImage * (phase.total - phase.done);
}
