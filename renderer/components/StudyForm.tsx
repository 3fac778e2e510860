/**
 * The new-study form: dataset, methods, imbalance profiles, seeds and the shared budget, validated with
 * the contract's study schema as the user types, with the whole study's estimated duration.
 */
import { useMemo } from 'react';
import { useForm, useWatch } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { StudySpec } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { useDatasets, useImbalancePreview } from '../api/queries';
import { studyKeys } from '../api/study-queries';
import { formatDuration, formatImbalanceProfile } from '../lib/format';
import { navigate } from '../lib/navigate';
import {
  DEFAULT_STUDY_FORM,
  studyFormIssues,
  studyFormSchema,
  toSpecInput,
  type StudyFormValues,
} from '../lib/study-form';
import { ImbalanceDrawChart } from './ImbalanceOptions';
import { useDebounced } from './useDebounced';

function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <span id={id} className="error" role="alert">
      {message}
    </span>
  );
}

const BUDGET_FIELDS: { name: keyof StudySpec['budget']; label: string; help: string }[] = [
  { name: 'epochs', label: 'Epochs', help: 'Passes over each run’s training images.' },
  {
    name: 'trainLimit',
    label: 'Images per run',
    help: 'The first n images of each draw (same budget for every profile); 0: the whole draw.',
  },
  { name: 'batchSize', label: 'Batch size', help: 'Images per step.' },
  {
    name: 'queueSize',
    label: 'Queue size',
    help: 'Anchors in the queue; a multiple of the batch size, smaller than the images per run.',
  },
  { name: 'evalEvery', label: 'Evaluate every', help: 'kNN evaluation every n epochs (always at the end).' },
  { name: 'imageSize', label: 'Image size', help: '0 keeps the dataset’s own size.' },
];

export function StudyForm() {
  const queryClient = useQueryClient();
  const datasets = useDatasets();
  const form = useForm<StudyFormValues, unknown, StudySpec>({
    resolver: zodResolver(studyFormSchema),
    defaultValues: DEFAULT_STUDY_FORM,
    mode: 'onChange',
  });
  const { register, handleSubmit, control } = form;
  const values = useWatch({ control }) as StudyFormValues;
  const issues = useMemo(() => studyFormIssues(values), [values]);
  const valid = Object.keys(issues).length === 0;
  const labelled = (datasets.data ?? []).filter((d) => !d.error && d.classes >= 2);

  const start = useMutation({
    mutationFn: (spec: StudySpec) => call('study.start', { spec }),
    onSuccess: (detail) => {
      void queryClient.invalidateQueries({ queryKey: studyKeys.all });
      navigate({ page: 'study', studyId: detail.summary.id });
    },
  });

  const aria = (field: string) => ({
    'aria-invalid': issues[field] ? true : undefined,
    'aria-describedby': issues[field] ? `study-${field}-error` : undefined,
  });

  return (
    <form
      className="card"
      onSubmit={handleSubmit((spec) => start.mutate(spec))}
      noValidate
      aria-labelledby="study-form-heading"
      data-testid="study-form"
    >
      <h2 id="study-form-heading">New imbalance study</h2>
      <p className="small muted">
        Trains ISD and MoCo on a balanced draw and on imbalanced draws of the same dataset, several seeds each, with one
        budget; then compares them on a balanced test set, on all, frequent and rare classes. Every run lands in the
        history.
      </p>
      <fieldset>
        <legend>Data</legend>
        <div className="field">
          <label htmlFor="study-name">Name</label>
          <input id="study-name" type="text" placeholder="(made from the dataset and profiles)" {...register('name')} />
        </div>
        <div className="field">
          <label htmlFor="study-dataset">Dataset</label>
          <select id="study-dataset" className="study-dataset" {...register('dataset')} {...aria('dataset')}>
            {labelled.length === 0 && <option value={values.dataset}>{values.dataset}</option>}
            {labelled.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.classes} classes, {d.images.toLocaleString()} images)
              </option>
            ))}
          </select>
          <span className="help">
            Labelled datasets only: the draws need classes, the evaluation a labelled test split.
          </span>
          <FieldError id="study-dataset-error" message={issues.dataset} />
        </div>
      </fieldset>
      <fieldset>
        <legend>Methods and profiles</legend>
        <div className="row" role="group" aria-label="Methods">
          <label>
            <input type="checkbox" {...register('isd')} /> ISD
          </label>
          <label>
            <input type="checkbox" {...register('moco')} /> MoCo (baseline)
          </label>
          <FieldError id="study-methods-error" message={issues.methods} />
        </div>
        <div role="group" aria-label="Imbalance profiles" className="study-profiles">
          <label>
            <input type="checkbox" {...register('balanced')} /> Balanced: every class as the dataset has it
          </label>
          <label>
            <input type="checkbox" {...register('dominant')} /> Dominant classes: the first{' '}
            <input
              type="number"
              min={1}
              step={1}
              aria-label="large classes"
              className="study-inline-number"
              {...register('dominantLarge', { valueAsNumber: true })}
            />{' '}
            classes keep all their images, every other class keeps{' '}
            <input
              type="number"
              min={1}
              step={1}
              aria-label="images per small class"
              className="study-inline-number"
              {...register('dominantPerSmall', { valueAsNumber: true })}
            />
          </label>
          <label>
            <input type="checkbox" {...register('longtail')} /> Long tail: largest / smallest class ={' '}
            <input
              type="number"
              min={1}
              step="any"
              aria-label="long-tail ratio"
              className="study-inline-number"
              {...register('longtailRho', { valueAsNumber: true })}
            />
          </label>
          <label>
            More profiles{' '}
            <input
              type="text"
              placeholder="e.g. longtail:50, dominant:1:200"
              {...register('extraProfiles')}
              {...aria('profiles')}
            />
          </label>
          <FieldError id="study-profiles-error" message={issues.profiles} />
        </div>
        <DrawPreviews values={values} valid={!issues.profiles && !issues.dataset} />
        <div className="field">
          <label htmlFor="study-seeds">Seeds</label>
          <input
            id="study-seeds"
            type="number"
            min={2}
            step={1}
            {...register('seeds', { valueAsNumber: true })}
            {...aria('seeds')}
          />
          <span className="help">
            Runs per method and profile (at least 2); the same seeds for both methods, so differences are paired.
          </span>
          <FieldError id="study-seeds-error" message={issues.seeds} />
        </div>
      </fieldset>
      <fieldset>
        <legend>Budget of every run</legend>
        <div className="field">
          <label htmlFor="study-arch">Architecture</label>
          <select id="study-arch" {...register('budget.arch')}>
            <option value="resnet20">ResNet-20</option>
            <option value="resnet18">ResNet-18</option>
          </select>
        </div>
        {BUDGET_FIELDS.map((f) => (
          <div key={f.name} className="field">
            <label htmlFor={`study-${f.name}`}>{f.label}</label>
            <input
              id={`study-${f.name}`}
              type="number"
              min={0}
              step={1}
              {...register(`budget.${f.name}`, { valueAsNumber: true })}
              {...aria(`budget.${f.name}`)}
            />
            <span className="help">{f.help}</span>
            <FieldError id={`study-budget.${f.name}-error`} message={issues[`budget.${f.name}`]} />
          </div>
        ))}
        <div className="field checkbox">
          <label htmlFor="study-linear">Linear probe</label>
          <input id="study-linear" type="checkbox" {...register('budget.linearEval')} />
          <span className="help">Also fit a linear classifier at the end of every run (slower).</span>
        </div>
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={!valid || start.isPending}>
          {start.isPending ? 'Starting…' : 'Start study'}
        </button>
        <StudyEstimate values={values} valid={valid} />
      </div>
      {start.isError && (
        <p className="form-error" role="alert">
          Could not start: {errorMessage(start.error)}
        </p>
      )}
    </form>
  );
}

/** The whole study's duration at the speed measured on this backend, and each profile's rare classes. */
function StudyEstimate({ values, valid }: { values: StudyFormValues; valid: boolean }) {
  const spec = useDebounced(valid ? toSpecInput(values) : null, 400);
  const estimate = useQuery({
    queryKey: ['study.estimate', spec],
    queryFn: () => call('study.estimate', { spec: spec! }),
    enabled: spec !== null,
    staleTime: 30_000,
  });
  // The class names come with any draw's preview; 'none' is the one every labelled dataset has.
  const names = useImbalancePreview(spec?.dataset ?? null, 'none', 0, spec !== null).data?.classNames ?? null;
  if (!valid || !spec) return <span className="muted small">The estimate appears once the form is valid.</span>;
  if (estimate.isPending) return <span className="muted small">Estimating…</span>;
  if (estimate.isError) return <span className="form-error small">{errorMessage(estimate.error)}</span>;
  const e = estimate.data;
  return (
    <span className="small" data-testid="study-estimate">
      {e.runs} runs, about <strong>{formatDuration(e.seconds)}</strong> at {Math.round(e.imagesPerSec)} images/s on{' '}
      {e.backend}
      {e.basis === 'assumed' ? ' (a guess until this backend has been measured)' : ''}.
      <ul className="study-rare" data-testid="study-rare">
        {e.perProfile.map((p) => (
          <li key={p.profile}>
            {formatImbalanceProfile(p.profile)}: rare classes{' '}
            {p.rare.length ? p.rare.map((c) => names?.[c] ?? `class ${c}`).join(', ') : 'none'}
          </li>
        ))}
      </ul>
    </span>
  );
}

/** One class-count chart per imbalanced profile of the form, drawn with the study's first seed. */
function DrawPreviews({ values, valid }: { values: StudyFormValues; valid: boolean }) {
  const spec = useDebounced(valid ? toSpecInput(values) : null, 400);
  const drawn = spec?.profiles?.filter((p) => p !== 'none') ?? [];
  if (!spec?.dataset || drawn.length === 0) return null;
  const dataset = spec.dataset;
  return (
    <div className="grid-charts" aria-label="What each profile draws" role="group">
      {drawn.map((p) => (
        <ImbalanceDrawChart
          key={p}
          datasetId={dataset}
          imbalance={p}
          seed={spec.firstSeed ?? 0}
          title={formatImbalanceProfile(p)}
        />
      ))}
    </div>
  );
}
