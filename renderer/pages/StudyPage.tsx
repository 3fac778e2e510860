/**
 * Study: the imbalance study (does ISD cope better than MoCo with unbalanced unlabeled data?).
 * Without an id: the studies so far and the form for a new one. With an id: live progress with ETA,
 * the mean ± spread table, ISD − MoCo per profile with 95% intervals and verdicts, the chart of
 * accuracy against profile, the runs, stop / resume and the CSV / Markdown exports.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { StudyDetail, StudyMetric, StudyProgress, StudyState } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { useImbalancePreview } from '../api/queries';
import { studyKeys, useStudies, useStudy, useStudyProgressEvents } from '../api/study-queries';
import { StatusBadge } from '../components/StatusBadge';
import { Empty, QueryView } from '../components/StateViews';
import { StudyChart } from '../components/StudyChart';
import { AccuracyCell } from '../components/Reading';
import { StudyForm } from '../components/StudyForm';
import { downloadText } from '../lib/download';
import { formatDate, formatDuration, formatImbalanceProfile, formatMethod, formatPercent } from '../lib/format';
import { href } from '../lib/route';
import { cellText, signedPoints } from '../lib/study-form';
import './StudyPage.css';

const METRIC_LABEL: Record<StudyMetric, string> = { knn1: '1-NN', knn20: '20-NN', linear: 'Linear' };
const STATE_CLASS: Record<StudyState, string> = {
  running: 'status status-running',
  completed: 'status status-completed',
  incomplete: 'status status-stopped',
};

function StateBadge({ state }: { state: StudyState }) {
  return (
    <span className={STATE_CLASS[state]} data-testid="study-state">
      {state}
    </span>
  );
}

export function StudyPage({ studyId }: { studyId: string | null }) {
  useStudyProgressEvents();
  return studyId ? <StudyView key={studyId} id={studyId} /> : <StudiesHome />;
}

function StudiesHome() {
  const studies = useStudies();
  return (
    <div className="grid-2">
      <div>
        <h1>Imbalance studies</h1>
        <QueryView query={studies} loading="Loading studies…">
          {(list) =>
            list.length === 0 ? (
              <Empty title="No studies yet">
                Start one with the form: the defaults take about 35 minutes of CPU time (under an hour on an idle 2-core
                machine); the form’s estimate uses this machine’s measured speed.
              </Empty>
            ) : (
              <div className="table-wrap">
                <table data-testid="study-list">
                  <thead>
                    <tr>
                      <th>Name</th>
                      <th>Dataset</th>
                      <th>Profiles</th>
                      <th className="num">Seeds</th>
                      <th className="num">Runs</th>
                      <th>State</th>
                      <th>Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((s) => (
                      <tr key={s.id}>
                        <td>
                          <a href={href({ page: 'study', studyId: s.id })}>{s.name}</a>
                        </td>
                        <td>{s.dataset}</td>
                        <td className="small">{s.profiles.map(formatImbalanceProfile).join(' · ')}</td>
                        <td className="num">{s.seeds}</td>
                        <td className="num">
                          {s.completed}/{s.total}
                          {s.failed ? ` (${s.failed} failed)` : ''}
                        </td>
                        <td>
                          <StateBadge state={s.state} />
                        </td>
                        <td>{formatDate(s.createdAt)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </QueryView>
      </div>
      <StudyForm />
    </div>
  );
}

function StudyView({ id }: { id: string }) {
  const study = useStudy(id);
  return (
    <div>
      <p className="small">
        <a href={href({ page: 'study', studyId: null })}>← All studies</a>
      </p>
      <QueryView query={study} loading="Loading the study…">
        {(d) => <StudyBody d={d} />}
      </QueryView>
    </div>
  );
}

function StudyBody({ d }: { d: StudyDetail }) {
  const queryClient = useQueryClient();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: studyKeys.all });
  const stop = useMutation({ mutationFn: () => call('study.stop', { id: d.summary.id }), onSuccess: refresh });
  const resume = useMutation({ mutationFn: () => call('study.resume', { id: d.summary.id }), onSuccess: refresh });
  const exporter = useMutation({
    mutationFn: (format: 'csv' | 'md') => call('study.export', { id: d.summary.id, format }),
    onSuccess: (e) => downloadText(e.filename, e.mimeType, e.content),
  });
  const b = d.spec.budget;
  const state = d.progress.state;
  const error = stop.error ?? resume.error ?? exporter.error;
  return (
    <>
      <div className="row spread">
        <h1>
          {d.summary.name} <StateBadge state={state} />
        </h1>
        <div className="actions">
          {state === 'running' && (
            <button
              type="button"
              onClick={() => stop.mutate()}
              disabled={stop.isPending}
              title="Waiting runs leave the queue; the training run stops with a checkpoint"
            >
              Stop study
            </button>
          )}
          {state === 'incomplete' && (
            <button
              type="button"
              className="primary"
              onClick={() => resume.mutate()}
              disabled={resume.isPending}
              title="Queues the runs that are not completed; completed runs are never redone"
            >
              Resume study
            </button>
          )}
          <button type="button" onClick={() => exporter.mutate('csv')} disabled={exporter.isPending}>
            Export CSV
          </button>
          <button type="button" onClick={() => exporter.mutate('md')} disabled={exporter.isPending}>
            Export Markdown
          </button>
        </div>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {errorMessage(error)}
        </p>
      )}
      <p className="small muted">
        {d.spec.dataset} · {d.spec.methods.map(formatMethod).join(' vs ')} · profiles{' '}
        {d.spec.profiles.map(formatImbalanceProfile).join('; ')} · seeds {d.spec.firstSeed}–
        {d.spec.firstSeed + d.spec.seeds - 1} · per run: {b.arch}, {b.epochs} epoch(s),{' '}
        {b.trainLimit > 0 ? `${b.trainLimit} images` : 'the whole draw'}, batch {b.batchSize}, queue {b.queueSize}
        {b.linearEval ? ', linear probe' : ''}
        {d.estimate
          ? ` · estimated ${formatDuration(d.estimate.seconds)} at ${Math.round(d.estimate.imagesPerSec)} images/s (${d.estimate.basis})`
          : ''}
      </p>

      <ProgressCard p={d.progress} />

      <h2>Results</h2>
      <ResultsTable d={d} />
      <h2>ISD − MoCo, paired by seed</h2>
      <PairedTable d={d} />
      <div className="grid-charts">
        <StudyChart profiles={d.spec.profiles} methods={d.spec.methods} results={d.results} runs={d.runs} />
        <ProfilesCard d={d} />
      </div>
      <h2>Runs</h2>
      <RunsTable d={d} />
    </>
  );
}

function ProgressCard({ p }: { p: StudyProgress }) {
  const a = p.active;
  return (
    <section className="card" aria-label="Progress" data-testid="study-progress">
      <progress value={p.fraction} max={1} aria-label="Share of the study done" />
      <dl className="stat-list">
        <div>
          <dt>Runs done</dt>
          <dd data-testid="study-runs-done">
            {p.completed} / {p.total}
          </dd>
        </div>
        {p.failed > 0 && (
          <div>
            <dt>Failed</dt>
            <dd>{p.failed}</dd>
          </div>
        )}
        {p.stopped > 0 && (
          <div>
            <dt>Stopped</dt>
            <dd>{p.stopped}</dd>
          </div>
        )}
        <div>
          <dt>Training now</dt>
          <dd>
            {a
              ? `${formatMethod(a.method)} · ${formatImbalanceProfile(a.profile)} · seed ${a.seed}: ${a.totalSteps ? `step ${a.step}/${a.totalSteps}` : 'starting'}`
              : '—'}
          </dd>
        </div>
        <div>
          <dt>{p.state === 'running' ? 'ETA' : 'Work left'}</dt>
          <dd>{p.etaSec === null ? '—' : formatDuration(p.etaSec)}</dd>
        </div>
      </dl>
    </section>
  );
}

function ResultsTable({ d }: { d: StudyDetail }) {
  const cols = (['knn1', 'knn20', 'linear'] as const).flatMap((metric) =>
    (['all', 'frequent', 'rare'] as const)
      .filter((group) => d.results.cells.some((c) => c.metric === metric && c.group === group))
      .map((group) => ({ metric, group })),
  );
  if (d.results.runs === 0) return <Empty title="No completed runs yet">The table fills in as runs complete.</Empty>;
  return (
    <div className="table-wrap">
      <table className="study-table" data-testid="study-results">
        <caption className="small muted">
          Accuracy in %, mean ± sample std over seeds (hover for min, max and each run), kNN on the balanced test set.
        </caption>
        <thead>
          <tr>
            <th>Profile</th>
            <th>Method</th>
            {cols.map((c) => (
              <th key={`${c.metric}-${c.group}`} className="num">
                {METRIC_LABEL[c.metric]} {c.group}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {d.spec.profiles.flatMap((profile) =>
            d.spec.methods.map((method) => (
              <tr key={`${profile}-${method}`}>
                <td>{formatImbalanceProfile(profile)}</td>
                <td>{formatMethod(method)}</td>
                {cols.map((c) => {
                  const cell = cellText(
                    d.results.cells.find(
                      (x) =>
                        x.profile === profile && x.method === method && x.metric === c.metric && x.group === c.group,
                    ),
                  );
                  return (
                    <td key={`${c.metric}-${c.group}`} className="num" title={cell.title}>
                      {cell.text}
                    </td>
                  );
                })}
              </tr>
            )),
          )}
        </tbody>
      </table>
    </div>
  );
}

function PairedTable({ d }: { d: StudyDetail }) {
  if (d.results.paired.length === 0)
    return <Empty title="No paired comparison">The study needs both ISD and MoCo.</Empty>;
  return (
    <>
      <ul className="study-verdicts" data-testid="study-verdicts">
        {d.results.verdicts.map((v) => (
          <li key={v.profile}>
            <strong>{formatImbalanceProfile(v.profile)}</strong>: {v.verdict}
          </li>
        ))}
      </ul>
      <div className="table-wrap">
        <table className="study-table" data-testid="study-paired">
          <caption className="small muted">
            Points of accuracy; 95% confidence interval from Student’s t over the seeds (wide with few seeds).
          </caption>
          <thead>
            <tr>
              <th>Profile</th>
              <th>Metric</th>
              <th>Classes</th>
              <th className="num">Pairs</th>
              <th className="num">ISD − MoCo</th>
              <th className="num">95% CI</th>
              <th>Reading (hover for the sentence)</th>
            </tr>
          </thead>
          <tbody>
            {d.results.paired.map((p) => (
              <tr key={`${p.profile}-${p.metric}-${p.group}`}>
                <td>{formatImbalanceProfile(p.profile)}</td>
                <td>{METRIC_LABEL[p.metric]}</td>
                <td>{p.group}</td>
                <td className="num">{p.pairs}</td>
                <td className="num">{signedPoints(p.mean)}</td>
                <td className="num">
                  {p.ciLow === null ? '—' : `${signedPoints(p.ciLow)} to ${signedPoints(p.ciHigh)}`}
                </td>
                <td className="study-reading" title={p.verdict}>
                  {p.short}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function ProfilesCard({ d }: { d: StudyDetail }) {
  const names = useImbalancePreview(d.spec.dataset, 'none', 0, true).data?.classNames ?? null;
  return (
    <section className="card" aria-label="Profiles">
      <h3>What each profile draws</h3>
      <div className="table-wrap">
        <table className="small">
          <thead>
            <tr>
              <th>Profile</th>
              <th className="num">Images per class (before the limit per run)</th>
              <th>Rare classes</th>
            </tr>
          </thead>
          <tbody>
            {d.profiles.map((p) => (
              <tr key={p.profile}>
                <td>{formatImbalanceProfile(p.profile)}</td>
                <td className="num mono">{p.counts.join(' ')}</td>
                <td>{p.rare.length ? p.rare.map((c) => names?.[c] ?? String(c)).join(', ') : 'none'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function RunsTable({ d }: { d: StudyDetail }) {
  return (
    <div className="table-wrap">
      <table data-testid="study-runs">
        <thead>
          <tr>
            <th>Method</th>
            <th>Profile</th>
            <th className="num">Seed</th>
            <th>Status</th>
            <th className="num">Progress</th>
            <th className="num">1-NN</th>
            <th className="num">20-NN</th>
            <th className="num">Raw pixels 20-NN</th>
            <th className="num">20-NN frequent</th>
            <th className="num">20-NN rare</th>
          </tr>
        </thead>
        <tbody>
          {d.runs.map((r) => {
            const live = d.progress.active?.runId === r.runId ? d.progress.active : null;
            const step = live?.step ?? r.step;
            const total = live?.totalSteps || r.totalSteps;
            return (
              <tr key={r.key}>
                <td>
                  {r.runId ? (
                    <a href={href({ page: 'run', runId: r.runId })}>{formatMethod(r.method)}</a>
                  ) : (
                    formatMethod(r.method)
                  )}
                </td>
                <td>{formatImbalanceProfile(r.profile)}</td>
                <td className="num">{r.seed}</td>
                <td>
                  {r.status === 'missing' ? (
                    <span className="status status-stopped">not created</span>
                  ) : (
                    <StatusBadge status={r.status} />
                  )}
                </td>
                <td className="num">{total ? `${step}/${total}` : '—'}</td>
                <AccuracyCell value={r.knn1} init={r.initKnn1} n={r.evalTestImages} />
                <AccuracyCell value={r.knn20} init={r.initKnn20} n={r.evalTestImages} />
                <td className="num">{formatPercent(r.pixelKnn20)}</td>
                <td className="num">{formatPercent(r.frequentKnn20)}</td>
                <td className="num">{formatPercent(r.rareKnn20)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
