/**
 * Dataset picker: bundled, detected and added datasets; add through a native dialog (Electron) or a
 * typed path (browser); for the selected one, sample thumbnails per class and the class histogram.
 */
import { useId, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { DatasetEntry } from '../../electron/contract';
import { call, errorMessage, getApi } from '../api/isd';
import { keys, useDatasetPreview, useDatasets } from '../api/queries';
import { BarChartCard } from './Charts';
import { ConfirmDialog } from './Dialogs';
import { Empty, ErrorState, Loading, QueryView } from './StateViews';

const SOURCE_LABEL: Record<DatasetEntry['source'], string> = {
  bundled: 'bundled',
  system: 'found on this system',
  user: 'added by you',
};

export function DatasetPicker({ value, onChange }: { value: string; onChange: (id: string) => void }) {
  const datasets = useDatasets();
  const queryClient = useQueryClient();
  const pathId = useId();
  const [path, setPath] = useState('');
  const [removing, setRemoving] = useState<DatasetEntry | null>(null);
  const electron = getApi().transport === 'electron';

  const add = useMutation({
    mutationFn: async (source: { kind: 'folder' | 'file' } | { path: string }) => {
      let chosen: string | null;
      if ('path' in source) chosen = source.path;
      else chosen = (await call('datasets.pick', source)).path;
      if (chosen === null) return null; // dialog cancelled
      return call('datasets.add', { path: chosen });
    },
    onSuccess: (entry) => {
      if (!entry) return;
      setPath('');
      void queryClient.invalidateQueries({ queryKey: keys.datasets, exact: true });
      onChange(entry.id);
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => call('datasets.remove', { id }),
    onSuccess: (_r, id) => {
      setRemoving(null);
      void queryClient.invalidateQueries({ queryKey: keys.datasets, exact: true });
      if (id === value) onChange('');
    },
  });

  const selected = datasets.data?.find((d) => d.id === value) ?? null;

  return (
    <section aria-labelledby="dataset-heading" className="card">
      <h2 id="dataset-heading">Dataset</h2>
      <QueryView query={datasets} loading="Looking for datasets…">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No datasets yet">Add a folder of images (one subfolder per class) or a dataset file.</Empty>
          ) : (
            <fieldset>
              <legend className="visually-hidden">Choose a dataset</legend>
              <ul className="dataset-list">
                {list.map((d) => (
                  <li key={d.id}>
                    <label>
                      <input
                        type="radio"
                        name="dataset"
                        value={d.id}
                        checked={d.id === value}
                        onChange={() => onChange(d.id)}
                      />
                      <span>
                        <strong>{d.name}</strong>{' '}
                        <span className="meta">
                          {d.images.toLocaleString()} images · {d.classes} classes · {d.shape.join('×')} ·{' '}
                          {SOURCE_LABEL[d.source]}
                        </span>
                      </span>
                    </label>
                    {d.source === 'user' && (
                      <button
                        type="button"
                        className="link small"
                        onClick={() => setRemoving(d)}
                        aria-label={`Remove ${d.name} from the list`}
                      >
                        Remove
                      </button>
                    )}
                  </li>
                ))}
              </ul>
            </fieldset>
          )
        }
      </QueryView>

      {electron ? (
        <div className="row">
          <button type="button" onClick={() => add.mutate({ kind: 'folder' })} disabled={add.isPending}>
            Add folder…
          </button>
          <button type="button" onClick={() => add.mutate({ kind: 'file' })} disabled={add.isPending}>
            Add file…
          </button>
        </div>
      ) : (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (path.trim()) add.mutate({ path: path.trim() });
          }}
        >
          <label htmlFor={pathId}>Dataset path on the host</label>
          <input
            id={pathId}
            value={path}
            onChange={(e) => setPath(e.target.value)}
            placeholder="/data/my-images or …/train-images-idx3-ubyte.gz"
            size={36}
          />
          <button type="submit" disabled={add.isPending || !path.trim()}>
            Add dataset
          </button>
        </form>
      )}
      {add.isPending && <Loading label="Reading the dataset…" />}
      {add.isError && <ErrorState title="Could not add the dataset" error={add.error} />}

      {selected && <DatasetPreviewView dataset={selected} />}

      <ConfirmDialog
        open={removing !== null}
        title="Remove dataset?"
        confirmLabel="Remove"
        danger
        busy={remove.isPending}
        onConfirm={() => removing && remove.mutate(removing.id)}
        onCancel={() => setRemoving(null)}
      >
        <p>{removing?.name} leaves the list; its files stay on disk.</p>
        {remove.isError && <p className="form-error">{errorMessage(remove.error)}</p>}
      </ConfirmDialog>
    </section>
  );
}

function DatasetPreviewView({ dataset }: { dataset: DatasetEntry }) {
  const preview = useDatasetPreview(dataset.id);
  return (
    <div data-testid="dataset-preview">
      <h3>Samples</h3>
      <QueryView query={preview} loading={`Reading ${dataset.name}…`}>
        {(p) => (
          <>
            <div className="thumb-grid">
              {p.groups.map((g) => (
                <div key={g.className} className="thumb-row">
                  <span className="class-name" title={g.className}>
                    {g.className}
                  </span>
                  <div className="thumbs">
                    {g.samples.map((s) => (
                      <img
                        key={s.index}
                        src={s.dataUrl}
                        alt={`${g.className}, image ${s.index}`}
                        width={p.size}
                        height={p.size}
                      />
                    ))}
                  </div>
                </div>
              ))}
            </div>
            {p.classCounts && (
              <BarChartCard
                title="Images per class (training split)"
                testId="class-histogram"
                xKey="name"
                data={p.classCounts.map((count, i) => ({ name: p.classNames?.[i] ?? String(i), count }))}
                series={[{ key: 'count', name: 'images' }]}
              />
            )}
          </>
        )}
      </QueryView>
    </div>
  );
}
