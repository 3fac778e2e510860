/**
 * Imbalance of the unlabeled training set (none, long-tail, dominant-class) with a live preview of the
 * class counts the draw gives, from main (datasets.imbalancePreview) with the run's seed.
 */
import { useId, useState } from 'react';
import { formatImbalance, parseImbalance, type ImbalanceSpec } from '../../electron/run-config';
import { useImbalancePreview } from '../api/queries';
import { BarChartCard } from './Charts';
import { ErrorState } from './StateViews';
import { useDebounced } from './useDebounced';

type Kind = ImbalanceSpec['kind'];

function safeParse(text: string): ImbalanceSpec {
  try {
    return parseImbalance(text);
  } catch {
    return { kind: 'none' };
  }
}

/** Builds the spec text from the typed parameters, or says what is wrong with them. */
export function imbalanceFromInputs(
  kind: Kind,
  rho: string,
  large: string,
  perSmall: string,
): { ok: true; text: string } | { ok: false; field: string; message: string } {
  if (kind === 'none') return { ok: true, text: 'none' };
  if (kind === 'longtail') {
    const r = Number(rho);
    if (rho.trim() === '' || !Number.isFinite(r) || r < 1)
      return { ok: false, field: 'rho', message: 'ratio must be a number of at least 1' };
    return { ok: true, text: formatImbalance({ kind, rho: r }) };
  }
  const l = Number(large);
  const p = Number(perSmall);
  if (large.trim() === '' || !Number.isInteger(l) || l < 1)
    return { ok: false, field: 'large', message: 'large classes must be a whole number of at least 1' };
  if (perSmall.trim() === '' || !Number.isInteger(p) || p < 1)
    return { ok: false, field: 'perSmall', message: 'images per small class must be a whole number of at least 1' };
  return { ok: true, text: formatImbalance({ kind, large: l, perSmall: p }) };
}

export function ImbalanceOptions(props: {
  datasetId: string | null;
  value: string;
  seed: number;
  /** The form's Training images (0: all): the caption says how many of the drawn images the run trains on. */
  trainLimit?: number;
  onChange: (text: string) => void;
  error?: string;
}) {
  const initial = safeParse(props.value);
  const [kind, setKind] = useState<Kind>(initial.kind);
  const [rho, setRho] = useState(initial.kind === 'longtail' ? String(initial.rho) : '10');
  const [large, setLarge] = useState(initial.kind === 'dominant' ? String(initial.large) : '3');
  const [perSmall, setPerSmall] = useState(initial.kind === 'dominant' ? String(initial.perSmall) : '100');
  const ids = { kind: useId(), rho: useId(), large: useId(), perSmall: useId(), err: useId() };

  const built = imbalanceFromInputs(kind, rho, large, perSmall);
  const update = (k: Kind, r: string, l: string, p: string) => {
    const b = imbalanceFromInputs(k, r, l, p);
    if (b.ok) props.onChange(b.text);
  };
  const spec = useDebounced(built.ok ? built.text : props.value, 300);
  const problem = built.ok ? props.error : built.message;

  return (
    <section aria-labelledby="imbalance-heading" className="card">
      <h2 id="imbalance-heading">Imbalance of the training set</h2>
      <p className="small muted">
        ISD is meant for unlabeled data that is not balanced: draw such a set from a balanced one to see the difference
        with MoCo.
      </p>
      <div className="imbalance-params">
        <label htmlFor={ids.kind}>
          Profile
          <select
            id={ids.kind}
            value={kind}
            onChange={(e) => {
              const k = e.target.value as Kind;
              setKind(k);
              update(k, rho, large, perSmall);
            }}
          >
            <option value="none">None (as the dataset is)</option>
            <option value="longtail">Long tail (exponential)</option>
            <option value="dominant">Dominant classes</option>
          </select>
        </label>
        {kind === 'longtail' && (
          <label htmlFor={ids.rho}>
            Largest / smallest class
            <input
              id={ids.rho}
              type="number"
              min={1}
              step="any"
              value={rho}
              aria-invalid={!built.ok || undefined}
              aria-describedby={ids.err}
              onChange={(e) => {
                setRho(e.target.value);
                update(kind, e.target.value, large, perSmall);
              }}
            />
          </label>
        )}
        {kind === 'dominant' && (
          <>
            <label htmlFor={ids.large}>
              Classes kept whole
              <input
                id={ids.large}
                type="number"
                min={1}
                step={1}
                value={large}
                aria-invalid={(!built.ok && built.field === 'large') || undefined}
                aria-describedby={ids.err}
                onChange={(e) => {
                  setLarge(e.target.value);
                  update(kind, rho, e.target.value, perSmall);
                }}
              />
            </label>
            <label htmlFor={ids.perSmall}>
              Images per other class
              <input
                id={ids.perSmall}
                type="number"
                min={1}
                step={1}
                value={perSmall}
                aria-invalid={(!built.ok && built.field === 'perSmall') || undefined}
                aria-describedby={ids.err}
                onChange={(e) => {
                  setPerSmall(e.target.value);
                  update(kind, rho, large, e.target.value);
                }}
              />
            </label>
          </>
        )}
      </div>
      <div id={ids.err} className="form-error small" role={problem ? 'alert' : undefined}>
        {problem}
      </div>
      {props.datasetId && built.ok && (
        <ImbalanceDrawChart
          datasetId={props.datasetId}
          imbalance={spec}
          seed={props.seed}
          trainLimit={props.trainLimit}
        />
      )}
    </section>
  );
}

/** Class counts before and after one imbalance draw of a dataset (datasets.imbalancePreview), as a bar chart. */
export function ImbalanceDrawChart(props: {
  datasetId: string;
  imbalance: string;
  seed: number;
  title?: string;
  trainLimit?: number;
}) {
  const preview = useImbalancePreview(props.datasetId, props.imbalance, props.seed, true);
  const total = preview.data?.total ?? 0;
  return (
    <div data-testid="imbalance-preview" aria-busy={preview.isFetching}>
      {preview.isError ? (
        <ErrorState title="Could not preview the draw" error={preview.error} />
      ) : preview.data ? (
        <BarChartCard
          title={props.title ?? 'Training images per class'}
          caption={`${total.toLocaleString()} images after the draw${trainedOn(total, props.trainLimit)}${preview.isFetching ? ' (updating…)' : ''}`}
          xKey="name"
          data={preview.data.after.map((after, i) => ({
            name: preview.data.classNames?.[i] ?? String(i),
            before: preview.data.before[i] ?? 0,
            after,
          }))}
          series={[
            { key: 'before', name: 'dataset', color: '#999999' },
            { key: 'after', name: 'after the draw' },
          ]}
        />
      ) : (
        <p className="small muted">Counting…</p>
      )}
    </div>
  );
}

/** What the run trains on when Training images is below the draw's total: the first trainLimit of them. */
export function trainedOn(total: number, trainLimit: number | undefined): string {
  if (!trainLimit || !Number.isInteger(trainLimit) || trainLimit <= 0 || trainLimit >= total) return '';
  return `; the run trains on the first ${trainLimit.toLocaleString()} (Training images)`;
}
