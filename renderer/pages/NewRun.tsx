/**
 * New run: dataset picker, imbalance, and the hyperparameter form. The form validates with the
 * contract's RunConfig schema as the user types; nothing is sent until it is valid.
 */
import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { useForm, useWatch, type FieldErrors, type Resolver } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { RunConfig } from '../../electron/contract';
import { ApiError, call, errorMessage } from '../api/isd';
import {
  checkAgainstDataset,
  CROSS_FIELD_DEPENDENTS,
  METHOD_DEFAULTS,
  METHOD_VARIANTS,
  methodLabel,
  switchMethod,
  type DatasetSizes,
  type MethodSettings,
} from '../../electron/run-config';
import { PRESETS } from '../../electron/presets';
import { keys, useDatasetSizes, useDatasets, useSystemInfo } from '../api/queries';
import { DatasetPicker } from '../components/DatasetPicker';
import { ImbalanceOptions } from '../components/ImbalanceOptions';
import { useDebounced } from '../components/useDebounced';
import {
  DEFAULT_FORM_VALUES,
  FIELD_DOCS,
  FIELD_GROUPS,
  FIELD_ORDER,
  friendlyMessage,
  presetChanges,
  runFormSchema,
  toFormValues,
  type FieldKey,
  type RunFormValues,
} from '../form/run-config-form';
import { rememberedValues, rememberValues } from '../form/remembered-settings';
import { formatDuration, formatMethod, formatValue } from '../lib/format';
import { navigate } from '../lib/navigate';

const fieldId = (name: string) => `field-${name}`;

/** The schema's resolver, then the checks against the chosen dataset's sizes (once they are known). */
function datasetAwareResolver(sizes: { current: DatasetSizes | null }): Resolver<RunFormValues, unknown, RunConfig> {
  const schema = zodResolver(runFormSchema);
  return async (values, context, options) => {
    const result = await schema(values, context, options);
    const errors = sizes.current ? checkAgainstDataset(values, sizes.current).errors : [];
    if (errors.length === 0) return result;
    const all: FieldErrors<RunFormValues> = { ...result.errors };
    for (const e of errors) all[e.field as FieldKey] ??= { type: 'dataset', message: e.message };
    return { values: {}, errors: all };
  };
}

/**
 * from: a run whose settings fill the form ("Run again"); method: then switched to this method with
 * its own settings, the budget kept ("Same settings, other method").
 */
export function NewRunPage({ from, method }: { from?: string; method?: RunConfig['method'] } = {}) {
  const queryClient = useQueryClient();
  const sizesRef = useRef<DatasetSizes | null>(null);
  const resolver = useMemo(() => datasetAwareResolver(sizesRef), []);
  const form = useForm<RunFormValues, unknown, RunConfig>({
    resolver,
    defaultValues: (from ? null : rememberedValues()) ?? DEFAULT_FORM_VALUES,
    mode: 'onChange',
    // An invalid Start moves the focus to the list of what to fix (beside the button), not to a field far above.
    shouldFocusError: false,
  });
  const { register, handleSubmit, setValue, getValues, reset, setError, control, formState, trigger } = form;
  const values = useWatch({ control }) as RunFormValues;
  const datasets = useDatasets();
  // Bumped on every reset from outside the fields, so widgets holding their own state start again.
  const [loadCount, setLoadCount] = useState(0);
  const load = useCallback(
    (next: RunFormValues) => {
      reset(next, { keepDefaultValues: true });
      setLoadCount((n) => n + 1);
      void trigger();
    },
    [reset, trigger],
  );
  const applyMethodSettings = (settings: Partial<MethodSettings>) => {
    for (const [k, v] of Object.entries(settings)) setValue(k as keyof MethodSettings, v, { shouldDirty: true });
    void trigger();
  };
  const source = useQuery({
    queryKey: keys.run(from ?? ''),
    queryFn: () => call('runs.get', { id: from! }),
    enabled: !!from,
  });
  const loadedFrom = useRef<string | null>(null);
  useEffect(() => {
    if (!source.data || loadedFrom.current === source.data.run.id) return;
    loadedFrom.current = source.data.run.id;
    const again = { ...toFormValues(source.data.config), name: '' };
    load(method && method !== again.method ? switchMethod(again, method) : again);
  }, [source.data, method, load]);
  // Kept per dataset, so that the form comes back as left (after a run, after adding a dataset).
  useEffect(() => {
    const t = setTimeout(() => rememberValues(getValues()), 300);
    return () => clearTimeout(t);
  }, [values, getValues]);
  // Leaving the page (Start, a link) within the debounce must not drop the last change.
  useEffect(() => () => rememberValues(getValues()), [getValues]);
  const chooseDataset = (id: string) => {
    const kept = id ? rememberedValues(id) : null;
    if (kept) load(kept);
    else setValue('dataset', id, { shouldValidate: true, shouldDirty: true });
  };
  const sizes = useDatasetSizes(
    values.dataset || null,
    values.imbalance,
    Number.isInteger(values.seed) ? values.seed : 0,
  );
  const check = sizes ? checkAgainstDataset(values, sizes) : null;
  // Revalidate the whole form when the dataset's sizes change (another dataset, another draw).
  useEffect(() => {
    sizesRef.current = sizes;
    void trigger();
  }, [sizes?.trainImages, sizes?.bankImages, sizes?.testImages, trigger]);

  // Select a dataset that exists when the default one is missing.
  useEffect(() => {
    const list = datasets.data;
    if (list && list.length > 0 && !list.some((d) => d.id === getValues('dataset')))
      setValue('dataset', list[0]!.id, { shouldValidate: true });
  }, [datasets.data, getValues, setValue]);

  const activePreset = PRESETS.find((p) => presetChanges(values, p).length === 0)?.id;
  // The preset last chosen, so that the form can say what was changed since.
  const [chosenPreset, setChosenPreset] = useState<string | null>(null);

  const start = useMutation({
    mutationFn: (config: RunConfig) => call('runs.start', { config }),
    onSuccess: (run) => {
      void queryClient.invalidateQueries({ queryKey: keys.runList });
      navigate({ page: 'live', runId: run.id });
    },
    onError: (e) => {
      // Main validates again; a field it names is marked like the form's own errors.
      if (e instanceof ApiError && e.field?.startsWith('config.'))
        setError(e.field.slice(7) as keyof RunFormValues, { message: e.message });
    },
  });

  return (
    <div className="grid-2">
      <div className="stack">
        <h1>New run</h1>
        {from && (
          <p className="muted" data-testid="run-again-source">
            {source.isPending
              ? 'Loading the settings of the run…'
              : source.data
                ? `Settings of “${source.data.run.name}”${method && method !== source.data.config.method ? `, switched to ${formatMethod(method)} with its own settings (budget kept)` : ''}.`
                : `Could not load run ${from}: ${errorMessage(source.error)}`}
          </p>
        )}
        <DatasetPicker value={values.dataset} onChange={chooseDataset} />
        {formState.errors.dataset && (
          <p className="form-error" role="alert">
            {formState.errors.dataset.message}
          </p>
        )}
        <ImbalanceOptions
          key={loadCount}
          datasetId={values.dataset || null}
          value={values.imbalance}
          seed={Number.isInteger(values.seed) ? values.seed : 0}
          trainLimit={values.trainLimit}
          onChange={(text) => setValue('imbalance', text, { shouldValidate: true, shouldDirty: true })}
          error={formState.errors.imbalance?.message}
        />
      </div>

      <form
        className="card"
        onSubmit={handleSubmit((config) => start.mutate(config))}
        noValidate
        aria-labelledby="hp-heading"
      >
        <h2 id="hp-heading">Hyperparameters</h2>
        <div className="presets" role="group" aria-label="Presets">
          {PRESETS.map((p) => (
            <button
              key={p.id}
              type="button"
              aria-pressed={activePreset === p.id}
              title={p.description}
              onClick={() => {
                setChosenPreset(p.id);
                load({ ...getValues(), ...p.values });
              }}
            >
              {p.label}
            </button>
          ))}
        </div>
        <PresetNote values={values} presetId={activePreset ?? chosenPreset} />
        <p>
          <button
            type="button"
            className="small"
            onClick={() => load(switchMethod(getValues(), values.method === 'isd' ? 'moco' : 'isd'))}
          >
            Same settings, {values.method === 'isd' ? 'MoCo' : 'ISD'} instead
          </button>{' '}
          <span className="small muted">Switches the method and its own settings; keeps the budget.</span>
        </p>

        {FIELD_GROUPS.map((group) => (
          <fieldset key={group.title}>
            <legend>{group.title}</legend>
            {group.fields.map((name) => {
              const doc = FIELD_DOCS[name];
              const error =
                friendlyMessage(formState.errors[name]?.message) ??
                check?.errors.find((e) => e.field === name)?.message;
              const id = fieldId(name);
              const described = `${id}-help${error ? ` ${id}-error` : ''}`;
              // A setting of the other method: shown, not editable (a switch resets it to that method's own).
              const unused = doc.method && doc.method !== values.method;
              const w = doc.widget;
              // A change here can make or clear another field's cross-field error (BatchNorm groups → batch size).
              const deps = CROSS_FIELD_DEPENDENTS[name];
              return (
                <div
                  key={name}
                  className={`field${w.kind === 'checkbox' ? ' checkbox' : ''}${unused ? ' not-used' : ''}`}
                >
                  <label htmlFor={id}>{doc.label}</label>
                  {w.kind === 'number' ? (
                    <input
                      id={id}
                      type="number"
                      step={w.step}
                      min={w.min}
                      max={w.max}
                      aria-invalid={!!error}
                      aria-describedby={described}
                      readOnly={!!unused}
                      {...register(name, { valueAsNumber: true, deps })}
                    />
                  ) : w.kind === 'select' ? (
                    <select
                      id={id}
                      aria-invalid={!!error}
                      aria-describedby={described}
                      // Picking a method brings its own views, head and temperatures (MoCo: MoCo v2's).
                      {...register(
                        name,
                        name === 'method'
                          ? {
                              deps,
                              onChange: (e) =>
                                applyMethodSettings(METHOD_DEFAULTS[e.target.value as RunConfig['method']]),
                            }
                          : { deps },
                      )}
                    >
                      {w.options.map((o) => (
                        <option key={o.value} value={o.value}>
                          {o.label}
                        </option>
                      ))}
                    </select>
                  ) : w.kind === 'checkbox' ? (
                    <input id={id} type="checkbox" aria-describedby={described} {...register(name, { deps })} />
                  ) : (
                    <input
                      id={id}
                      type="text"
                      aria-invalid={!!error}
                      aria-describedby={described}
                      {...register(name)}
                    />
                  )}
                  <span id={`${id}-help`} className="help">
                    {unused && (
                      <strong>
                        Not used by {formatMethod(values.method)}: {formatMethod(doc.method!)} only.{' '}
                      </strong>
                    )}
                    {doc.help}
                  </span>
                  {name === 'method' && (
                    <span className="help" data-testid="method-recipe">
                      Trains <strong>{methodLabel(values)}</strong>.{' '}
                      {METHOD_VARIANTS.filter(
                        (v) => v.method === values.method && v.label !== methodLabel({ ...values, shuffleBn: true }),
                      ).map((v) => (
                        <button
                          key={v.label}
                          type="button"
                          className="link"
                          onClick={() => applyMethodSettings(v.settings)}
                        >
                          Use {v.label}
                        </button>
                      ))}
                    </span>
                  )}
                  {error && (
                    <span id={`${id}-error`} className="error" role="alert">
                      {error}
                    </span>
                  )}
                </div>
              );
            })}
          </fieldset>
        ))}

        {/* Mounted from the first Start on, so that only a new Start moves the focus, not a new error. */}
        {formState.submitCount > 0 && <ErrorSummary errors={formState.errors} attempt={formState.submitCount} />}
        <div className="form-actions">
          {/* Never greyed for invalid values: Start then says what to fix, whichever check found it. */}
          <button type="submit" className="primary" disabled={start.isPending}>
            {start.isPending ? 'Starting…' : 'Start training'}
          </button>
          <Estimate values={values} valid={formState.isValid} />
        </div>
        {check?.fix && (
          <p className="form-error" role="alert" data-testid="dataset-fix">
            {check.errors.map((e) => e.message).join('. ')}.{' '}
            <button
              type="button"
              onClick={() => {
                for (const [k, v] of Object.entries(check.fix!))
                  setValue(k as 'batchSize' | 'queueSize', v, { shouldDirty: true });
                void trigger();
              }}
            >
              Use batch {check.fix.batchSize}, queue {check.fix.queueSize}
            </button>
          </p>
        )}
        {check && check.warnings.length > 0 && (
          <ul className="form-warning" role="status" data-testid="dataset-warnings">
            {check.warnings.map((w) => (
              <li key={w.message}>{w.message}</li>
            ))}
          </ul>
        )}
        {start.isError && (
          <p className="form-error" role="alert">
            Could not start: {errorMessage(start.error)}
          </p>
        )}
      </form>
    </div>
  );
}

/** The chosen preset's description while the form holds its values; once edited, what was changed from it. */
function PresetNote({ values, presetId }: { values: RunFormValues; presetId: string | null }) {
  const preset = PRESETS.find((p) => p.id === presetId);
  if (!preset)
    return (
      <p className="small muted" data-testid="preset-note">
        Custom settings.
      </p>
    );
  const changes = presetChanges(values, preset);
  if (changes.length === 0)
    return (
      <p className="small muted" data-testid="preset-note">
        {preset.description}
      </p>
    );
  return (
    <p className="small muted" data-testid="preset-note">
      Custom settings, changed from {preset.label}:{' '}
      {changes
        .map((c) => `${FIELD_DOCS[c.field].label} ${formatValue(c.value)} (was ${formatValue(c.preset)})`)
        .join(', ')}
      .
    </p>
  );
}

/** What to fix, above the Start button; it takes the focus on each Start that was refused (attempt). */
function ErrorSummary({ errors, attempt }: { errors: FieldErrors<RunFormValues>; attempt: number }) {
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.focus();
  }, [attempt]);
  // In the order the fields appear on the form, whichever check found the problem.
  const rank = (name: string) => {
    const i = FIELD_ORDER.indexOf(name as (typeof FIELD_ORDER)[number]);
    return i < 0 ? FIELD_ORDER.length : i;
  };
  const entries = Object.entries(errors)
    .filter(([, e]) => e?.message)
    .sort(([a], [b]) => rank(a) - rank(b));
  if (entries.length === 0) return null;
  return (
    <div className="form-error" role="alert" aria-labelledby={id} data-testid="form-errors" tabIndex={-1} ref={box}>
      <strong id={id}>Fix {entries.length === 1 ? 'this field' : `these ${entries.length} fields`} first:</strong>
      <ul>
        {entries.map(([name, e]) => (
          <li key={name}>
            <a
              href={`#${fieldId(name)}`}
              onClick={(ev) => {
                ev.preventDefault();
                document.getElementById(fieldId(name))?.focus();
              }}
            >
              {FIELD_DOCS[name as keyof typeof FIELD_DOCS]?.label ?? name}
            </a>
            : {friendlyMessage(e?.message as string)}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** How long the run would take at the speed measured on this backend. */
function Estimate({ values, valid }: { values: RunFormValues; valid: boolean }) {
  const system = useSystemInfo();
  const parsed = useMemo(() => runFormSchema.safeParse(values), [values]);
  const config = useDebounced(parsed.success ? parsed.data : null, 400);
  const estimate = useQuery({
    queryKey: ['runs.estimate', config],
    queryFn: () => call('runs.estimate', { config: config! }),
    enabled: valid && config !== null,
    staleTime: 30_000,
  });
  if (!valid || !config) return <span className="muted small">Estimate appears once the form is valid.</span>;
  if (estimate.isPending) return <span className="muted small">Estimating…</span>;
  if (estimate.isError) return <span className="muted small">No estimate: {errorMessage(estimate.error)}</span>;
  const e = estimate.data;
  return (
    <span className="small" data-testid="run-estimate">
      About <strong>{formatDuration(e.seconds)}</strong> on {e.backend}
      {system.data ? ` (${system.data.device})` : ''}: {e.steps.toLocaleString()} steps at{' '}
      {Math.round(e.imagesPerSec).toLocaleString()} images/s ({formatDuration(e.trainSeconds)}) and the kNN evaluations
      ({formatDuration(e.evalSeconds)}), plus {formatDuration(e.seconds - e.trainSeconds - e.evalSeconds)} to start the
      worker and load the data
      {e.basis === 'assumed'
        ? ', a guess until this backend has been measured'
        : e.basis === 'benchmark'
          ? ', from a timed step'
          : ''}
    </span>
  );
}
