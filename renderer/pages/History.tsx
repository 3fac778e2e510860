/**
 * History: every run in a sortable, filterable, searchable table, with its actions. The server
 * searches, filters and sorts (runs.list); the table shows the page it answers.
 */
import { useMemo, useState, useSyncExternalStore } from 'react';
import { useMutation } from '@tanstack/react-query';
import {
  createColumnHelper,
  flexRender,
  getCoreRowModel,
  useReactTable,
  type SortingState,
  type VisibilityState,
} from '@tanstack/react-table';
import {
  RUN_CONFIG_SORT_FIELDS,
  RUN_SORT_FIELDS,
  RUN_STATUSES,
  type RequestInput,
  type RunSortField,
  type RunStatus,
  type RunSummary,
} from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { useRunList } from '../api/queries';
import { Accuracy } from '../components/Reading';
import { RunAgainLinks, RunControls, RunEditDialogs, type RunDialog } from '../components/RunControls';
import { Empty, QueryView } from '../components/StateViews';
import { StatusBadge } from '../components/StatusBadge';
import { FIELD_DOCS } from '../form/run-config-form';
import { downloadText } from '../lib/download';
import { formatDate, formatDuration, formatImbalanceProfile, formatPercent, formatValue } from '../lib/format';
import { navigate } from '../lib/navigate';
import { href } from '../lib/route';
import { isResumable } from '../../electron/run-status';
import { methodLabel } from '../../electron/run-config';

const col = createColumnHelper<RunSummary>();
/** Per column: numbers align right; wrapping cells let the table fit the window instead of scrolling sideways. */
type ColumnMeta = { numeric?: boolean; wrap?: boolean };
const cellClass = (meta: unknown) => {
  const m = (meta ?? {}) as ColumnMeta;
  return [m.numeric ? 'num' : '', m.wrap ? 'soft-wrap' : ''].filter(Boolean).join(' ') || undefined;
};

/** What the table asks runs.list for: the search box, the status and method filters, the sorted column. */
interface RunQuery {
  search: string;
  status: RunStatus | '';
  method: 'isd' | 'moco' | '';
  sorting: SortingState;
}

/** The sort field of a column (the dataset column shows the name, the server sorts by it as `dataset`). */
const sortFieldOf = (columnId: string): RunSortField | null => {
  const field = columnId === 'datasetName' ? 'dataset' : columnId;
  return (RUN_SORT_FIELDS as readonly string[]).includes(field) ? (field as RunSortField) : null;
};

function listInput(q: RunQuery): RequestInput<'runs.list'> {
  const sorted = q.sorting[0];
  return {
    search: q.search.trim() || undefined,
    status: q.status ? [q.status] : undefined,
    method: q.method ? [q.method] : undefined,
    sort: (sorted && sortFieldOf(sorted.id)) || 'createdAt',
    dir: sorted && !sorted.desc ? 'asc' : 'desc',
    limit: 1000,
  };
}

/** Hyperparameters History can show as columns (hidden until chosen). */
const HYPER_COLUMNS = RUN_CONFIG_SORT_FIELDS;
/**
 * The window's width class, and the columns hidden there until chosen: on a narrow window Name and
 * Final 20-NN stay on the screen; on a medium one every other default column fits without scrolling.
 */
const WIDTHS = [
  {
    width: 'narrow',
    query: '(max-width: 1099px)',
    hidden: ['datasetName', 'imbalance', 'createdAt', 'bestKnn20', 'knn1', 'linear', 'pixelKnn20'],
  },
  { width: 'medium', query: '(max-width: 1279px)', hidden: ['bestKnn20', 'linear'] },
] as const;
type WindowWidth = (typeof WIDTHS)[number]['width'] | 'wide';
const COLUMNS_KEY = 'isd.history.columns.v1';

/** The columns chosen in the Columns menu, or null: none chosen, the defaults for the window's width. */
function chosenVisibility(): VisibilityState | null {
  try {
    const stored = JSON.parse(localStorage.getItem(COLUMNS_KEY) ?? 'null') as VisibilityState | null;
    if (stored && typeof stored === 'object') return stored;
  } catch {
    // unreadable: the defaults
  }
  return null;
}

function defaultVisibility(width: WindowWidth): VisibilityState {
  const hidden: string[] = [...HYPER_COLUMNS, ...(WIDTHS.find((w) => w.width === width)?.hidden ?? [])];
  return Object.fromEntries(hidden.map((c) => [c, false]));
}

/** The window's width class now, following its resizes. */
function useWindowWidth(): WindowWidth {
  return useSyncExternalStore(
    (onChange) => {
      const queries = WIDTHS.map((w) => window.matchMedia(w.query));
      for (const q of queries) q.addEventListener('change', onChange);
      return () => {
        for (const q of queries) q.removeEventListener('change', onChange);
      };
    },
    () => WIDTHS.find((w) => window.matchMedia(w.query).matches)?.width ?? 'wide',
  );
}

export function HistoryPage() {
  const [query, setQuery] = useState<RunQuery>({
    search: '',
    status: '',
    method: '',
    sorting: [{ id: 'createdAt', desc: true }],
  });
  const runs = useRunList(listInput(query), { keepPrevious: true });
  const all = useRunList({ limit: 1 }); // how many runs there are at all
  return (
    <div>
      <h1>History</h1>
      <QueryView query={runs} loading="Loading the run history…">
        {(data) =>
          all.data?.total === 0 ? (
            <Empty title="No runs yet">
              <a href={href({ page: 'new' })}>Start your first run</a>
            </Empty>
          ) : (
            <RunTable runs={data.runs} total={all.data?.total ?? data.total} query={query} onQuery={setQuery} />
          )
        }
      </QueryView>
    </div>
  );
}

function RunTable({
  runs,
  total,
  query,
  onQuery,
}: {
  runs: RunSummary[];
  total: number;
  query: RunQuery;
  onQuery: (q: RunQuery) => void;
}) {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<RunDialog>(null);

  const exporter = useMutation({
    mutationFn: (a: { id: string; format: 'json' | 'csv' }) => call('runs.export', a),
    onSuccess: (file) => downloadText(file.filename, file.mimeType, file.content),
  });

  const toggle = (id: string) =>
    setSelected((s) => (s.has(id) ? new Set([...s].filter((x) => x !== id)) : new Set([...s, id])));

  const columns = useMemo(
    () => [
      col.display({
        id: 'select',
        header: () => <span className="visually-hidden">Select for comparison</span>,
        cell: ({ row }) => (
          <input
            type="checkbox"
            checked={selected.has(row.original.id)}
            onChange={() => toggle(row.original.id)}
            aria-label={`Select ${row.original.name} for comparison`}
          />
        ),
      }),
      col.accessor('name', {
        header: 'Name',
        meta: { wrap: true } satisfies ColumnMeta,
        cell: ({ row }) => (
          <span>
            <a href={href({ page: 'run', runId: row.original.id })}>{row.original.name}</a>{' '}
            {row.original.tags.map((t) => (
              <span key={t} className="tag">
                {t}
              </span>
            ))}
          </span>
        ),
      }),
      col.accessor('method', { header: 'Method', cell: (c) => methodLabel(c.row.original.config) }),
      col.accessor('datasetName', { header: 'Dataset', meta: { wrap: true } satisfies ColumnMeta }),
      col.accessor('imbalance', {
        header: 'Imbalance',
        meta: { wrap: true } satisfies ColumnMeta,
        cell: (c) => formatImbalanceProfile(c.getValue()),
      }),
      col.accessor('status', {
        header: 'Status',
        meta: { wrap: true } satisfies ColumnMeta,
        cell: (c) => (
          <span>
            <StatusBadge status={c.getValue()} />
            {c.row.original.error && c.getValue() === 'failed' && (
              <span className="failure-reason small" title={c.row.original.error.message}>
                {c.row.original.error.message}
              </span>
            )}
          </span>
        ),
      }),
      col.accessor('createdAt', {
        header: 'Started',
        meta: { wrap: true } satisfies ColumnMeta,
        cell: (c) => formatDate(c.row.original.startedAt ?? c.getValue()),
      }),
      col.accessor('durationSec', {
        header: 'Duration',
        cell: (c) => formatDuration(c.getValue()),
      }),
      ...(['bestKnn20', 'knn20', 'knn1', 'linear'] as const).map((k) =>
        col.accessor(k, {
          header: { bestKnn20: 'Best 20-NN', knn20: 'Final 20-NN', knn1: '1-NN', linear: 'Linear' }[k],
          // Beside each kNN accuracy, its change against step 0 (no probe is fitted at step 0).
          cell: (c) => {
            const r = c.row.original;
            if (k === 'linear') return formatPercent(c.getValue());
            return (
              <Accuracy
                value={c.getValue()}
                init={k === 'knn1' ? r.initKnn1 : r.initKnn20}
                n={r.evalTestImages}
                compact={{ subset: r.evalTestImages !== null && r.evalTestImages < (r.evalTestSplitImages ?? 0) }}
                inTable
              />
            );
          },
          meta: { numeric: true, wrap: true } satisfies ColumnMeta,
        }),
      ),
      col.accessor('pixelKnn20', {
        header: 'Raw pixels 20-NN',
        enableSorting: false, // not a sort field of runs.list
        cell: (c) => formatPercent(c.getValue()),
        meta: { numeric: true, wrap: true } satisfies ColumnMeta,
      }),
      ...HYPER_COLUMNS.map((k) =>
        col.accessor((r) => r.config[k], {
          id: k,
          header: FIELD_DOCS[k].label,
          cell: (c) => formatValue(c.getValue()),
          meta: { numeric: k !== 'arch' } satisfies ColumnMeta,
        }),
      ),
      col.display({
        id: 'actions',
        header: 'Actions',
        meta: { wrap: true } satisfies ColumnMeta,
        cell: ({ row }) => {
          const r = row.original;
          const live = r.status === 'running' || r.status === 'paused' || r.status === 'queued';
          return (
            <span className="actions run-actions">
              {live && (
                <a className="button small" href={href({ page: 'live', runId: r.id })} aria-label={`Watch ${r.name}`}>
                  Watch
                </a>
              )}
              <RunControls run={r} canResume={isResumable(r.status, true)} compact />
              <details className="row-menu">
                <summary className="button small" role="button" aria-label={`More actions for ${r.name}`}>
                  ⋯
                </summary>
                <div
                  className="row-menu-items"
                  onClick={(e) => ((e.currentTarget.parentElement as HTMLDetailsElement).open = false)}
                >
                  <RunAgainLinks run={r} compact />
                  <button
                    type="button"
                    className="small"
                    onClick={() => setDialog({ kind: 'rename', run: r })}
                    aria-label={`Rename ${r.name}`}
                  >
                    Rename
                  </button>
                  <button
                    type="button"
                    className="small"
                    onClick={() => setDialog({ kind: 'tags', run: r })}
                    aria-label={`Edit tags of ${r.name}`}
                  >
                    Tags
                  </button>
                  {(['json', 'csv'] as const).map((format) => (
                    <button
                      key={format}
                      type="button"
                      className="small"
                      onClick={() => exporter.mutate({ id: r.id, format })}
                      aria-label={`Export ${r.name} as ${format.toUpperCase()}`}
                    >
                      Export {format.toUpperCase()}
                    </button>
                  ))}
                  <button
                    type="button"
                    className="small danger"
                    onClick={() => setDialog({ kind: 'delete', run: r })}
                    aria-label={`Delete ${r.name}`}
                    disabled={r.status === 'running'}
                  >
                    Delete
                  </button>
                </div>
              </details>
            </span>
          );
        },
      }),
    ],
    [selected],
  );

  const width = useWindowWidth();
  const [chosenColumns, setChosenColumns] = useState<VisibilityState | null>(chosenVisibility);
  const columnVisibility = chosenColumns ?? defaultVisibility(width);
  const table = useReactTable({
    data: runs,
    columns,
    state: { sorting: query.sorting, columnVisibility },
    onColumnVisibilityChange: (u) => {
      const next = typeof u === 'function' ? u(columnVisibility) : u;
      localStorage.setItem(COLUMNS_KEY, JSON.stringify(next));
      setChosenColumns(next);
    },
    onSortingChange: (u) => onQuery({ ...query, sorting: typeof u === 'function' ? u(query.sorting) : u }),
    manualSorting: true,
    enableMultiSort: false,
    enableSortingRemoval: false,
    getCoreRowModel: getCoreRowModel(),
    getRowId: (r) => r.id,
  });

  // Selected runs stay chosen while a search hides them.
  const chosen = [...selected];
  const rows = table.getRowModel().rows;

  return (
    <>
      <div className="toolbar">
        <details className="row-menu">
          <summary className="button small" role="button">
            Columns
          </summary>
          <div className="row-menu-items opens-right" data-testid="history-columns">
            {table
              .getAllLeafColumns()
              .filter((c) => c.id !== 'select' && c.id !== 'actions' && c.id !== 'name')
              .map((c) => (
                <label key={c.id} className="row">
                  <input type="checkbox" checked={c.getIsVisible()} onChange={c.getToggleVisibilityHandler()} />
                  {typeof c.columnDef.header === 'string' ? c.columnDef.header : c.id}
                </label>
              ))}
          </div>
        </details>
        <label>
          Search
          <input
            type="search"
            value={query.search}
            maxLength={200}
            onChange={(e) => onQuery({ ...query, search: e.target.value })}
            placeholder="name, dataset, tag, notes"
          />
        </label>
        <label>
          Status
          <select
            value={query.status}
            onChange={(e) => onQuery({ ...query, status: e.target.value as RunQuery['status'] })}
          >
            <option value="">All</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Method
          <select
            value={query.method}
            onChange={(e) => onQuery({ ...query, method: e.target.value as RunQuery['method'] })}
          >
            <option value="">All</option>
            <option value="isd">ISD</option>
            <option value="moco">MoCo</option>
          </select>
        </label>
        <button
          type="button"
          className="primary"
          disabled={chosen.length < 2 || chosen.length > 8}
          onClick={() => navigate({ page: 'compare', runIds: chosen })}
        >
          Compare selected ({chosen.length})
        </button>
        <span className="muted small" role="status">
          {rows.length} of {total} runs
        </span>
      </div>
      {exporter.isError && (
        <p className="form-error" role="alert">
          Export failed: {errorMessage(exporter.error)}
        </p>
      )}
      <div className="table-wrap">
        <table aria-label="Runs" className="runs-table">
          <thead>
            {table.getHeaderGroups().map((hg) => (
              <tr key={hg.id}>
                {hg.headers.map((h) => {
                  const sorted = h.column.getIsSorted();
                  return (
                    <th
                      key={h.id}
                      className={cellClass(h.column.columnDef.meta)}
                      aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : undefined}
                      scope="col"
                    >
                      {h.column.getCanSort() ? (
                        <button type="button" className="sort" onClick={h.column.getToggleSortingHandler()}>
                          {flexRender(h.column.columnDef.header, h.getContext())}
                          {sorted === 'asc' ? ' ▲' : sorted === 'desc' ? ' ▼' : ''}
                        </button>
                      ) : (
                        flexRender(h.column.columnDef.header, h.getContext())
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} data-testid="run-row" data-run-id={row.id}>
                {row.getVisibleCells().map((cell) => (
                  <td key={cell.id} className={cellClass(cell.column.columnDef.meta)}>
                    {flexRender(cell.column.columnDef.cell, cell.getContext())}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <Empty title="No run matches these filters" />}
      </div>

      <RunEditDialogs
        dialog={dialog}
        onClose={() => setDialog(null)}
        onDeleted={(id) => setSelected((s) => new Set([...s].filter((x) => x !== id)))}
      />
    </>
  );
}
