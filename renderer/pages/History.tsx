/** History: every run in a sortable, filterable, searchable table, with its actions. */
import { useMemo, useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import {
  createColumnHelper,
  flexRender,
  getCoreRowModel,
  getFilteredRowModel,
  getSortedRowModel,
  useReactTable,
  type ColumnFiltersState,
  type FilterFn,
  type SortingState,
  type VisibilityState,
} from '@tanstack/react-table';
import { RUN_STATUSES, type RunSummary } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { keys, useRunList } from '../api/queries';
import { ConfirmDialog, TextDialog } from '../components/Dialogs';
import { RunAgainLinks, RunControls } from '../components/RunControls';
import { Empty, QueryView } from '../components/StateViews';
import { StatusBadge } from '../components/StatusBadge';
import { FIELD_DOCS, splitTags } from '../form/run-config-form';
import { downloadText } from '../lib/download';
import { formatDate, formatDuration, formatMethod, formatPercent, formatValue } from '../lib/format';
import { navigate } from '../lib/navigate';
import { href } from '../lib/route';
import { isResumable } from '../../electron/run-status';

const col = createColumnHelper<RunSummary>();
/** Per column: numbers align right; wrapping cells let the table fit the window instead of scrolling sideways. */
type ColumnMeta = { numeric?: boolean; wrap?: boolean };
const cellClass = (meta: unknown) => {
  const m = (meta ?? {}) as ColumnMeta;
  return [m.numeric ? 'num' : '', m.wrap ? 'soft-wrap' : ''].filter(Boolean).join(' ') || undefined;
};

/** Search over name, dataset, method, tags and notes, case-insensitive. */
export const runMatches = (run: RunSummary, query: string): boolean => {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return [run.name, run.datasetName, run.dataset, run.method, run.imbalance, run.notes, ...run.tags].some((s) =>
    s.toLowerCase().includes(q),
  );
};
const globalFilter: FilterFn<RunSummary> = (row, _columnId, value: string) => runMatches(row.original, value);
const nullsLast = (a: number | null, b: number | null) => (a === null ? (b === null ? 0 : -1) : b === null ? 1 : a - b);

type Dialog = { kind: 'rename' | 'tags' | 'delete'; run: RunSummary } | null;

/** Hyperparameters History can show as columns (hidden until chosen). */
const HYPER_COLUMNS = ['arch', 'epochs', 'batchSize', 'lr', 'queueSize', 'trainLimit', 'imageSize', 'seed'] as const;
/** Hidden until chosen: on a narrow window Name and Final 20-NN stay on the screen. */
const NARROW_HIDDEN = ['datasetName', 'imbalance', 'createdAt', 'bestKnn20', 'knn1', 'linear'];
const COLUMNS_KEY = 'isd.history.columns.v1';

function initialVisibility(): VisibilityState {
  try {
    const stored = JSON.parse(localStorage.getItem(COLUMNS_KEY) ?? 'null') as VisibilityState | null;
    if (stored && typeof stored === 'object') return stored;
  } catch {
    // unreadable: the defaults
  }
  const hidden: string[] = [...HYPER_COLUMNS, ...(window.innerWidth < 1100 ? NARROW_HIDDEN : [])];
  return Object.fromEntries(hidden.map((c) => [c, false]));
}

export function HistoryPage() {
  const runs = useRunList();
  return (
    <div>
      <h1>History</h1>
      <QueryView query={runs} loading="Loading the run history…">
        {(data) =>
          data.runs.length === 0 ? (
            <Empty title="No runs yet">
              <a href={href({ page: 'new' })}>Start your first run</a>
            </Empty>
          ) : (
            <RunTable runs={data.runs} />
          )
        }
      </QueryView>
    </div>
  );
}

function RunTable({ runs }: { runs: RunSummary[] }) {
  const queryClient = useQueryClient();
  const [sorting, setSorting] = useState<SortingState>([{ id: 'createdAt', desc: true }]);
  const [columnFilters, setColumnFilters] = useState<ColumnFiltersState>([]);
  const [search, setSearch] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<Dialog>(null);

  const refresh = () => void queryClient.invalidateQueries({ queryKey: keys.runs });
  const rename = useMutation({
    mutationFn: (a: { id: string; name: string }) => call('runs.rename', a),
    onSuccess: () => {
      setDialog(null);
      refresh();
    },
  });
  const tag = useMutation({
    mutationFn: (a: { id: string; tags: string[] }) => call('runs.tag', a),
    onSuccess: () => {
      setDialog(null);
      refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => call('runs.delete', { id }),
    onSuccess: (_r, id) => {
      setDialog(null);
      setSelected((s) => new Set([...s].filter((x) => x !== id)));
      refresh();
    },
  });
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
      col.accessor('method', { header: 'Method', cell: (c) => formatMethod(c.getValue()), filterFn: 'equals' }),
      col.accessor('datasetName', { header: 'Dataset', meta: { wrap: true } satisfies ColumnMeta }),
      col.accessor('imbalance', { header: 'Imbalance' }),
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
        filterFn: 'equals',
      }),
      col.accessor('createdAt', {
        header: 'Started',
        cell: (c) => formatDate(c.row.original.startedAt ?? c.getValue()),
      }),
      col.accessor('durationSec', {
        header: 'Duration',
        cell: (c) => formatDuration(c.getValue()),
        sortingFn: (a, b) => nullsLast(a.original.durationSec, b.original.durationSec),
      }),
      ...(['bestKnn20', 'knn20', 'knn1', 'linear'] as const).map((k) =>
        col.accessor(k, {
          header: { bestKnn20: 'Best 20-NN', knn20: 'Final 20-NN', knn1: '1-NN', linear: 'Linear' }[k],
          cell: (c) => formatPercent(c.getValue()),
          sortingFn: (a, b) => nullsLast(a.original[k], b.original[k]),
          meta: { numeric: true } satisfies ColumnMeta,
        }),
      ),
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

  const [columnVisibility, setColumnVisibility] = useState<VisibilityState>(initialVisibility);
  const table = useReactTable({
    data: runs,
    columns,
    state: { sorting, columnFilters, globalFilter: search, columnVisibility },
    onColumnVisibilityChange: (u) =>
      setColumnVisibility((v) => {
        const next = typeof u === 'function' ? u(v) : u;
        localStorage.setItem(COLUMNS_KEY, JSON.stringify(next));
        return next;
      }),
    onSortingChange: setSorting,
    onColumnFiltersChange: setColumnFilters,
    onGlobalFilterChange: setSearch,
    globalFilterFn: globalFilter,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getFilteredRowModel: getFilteredRowModel(),
    getRowId: (r) => r.id,
  });

  const statusFilter = (table.getColumn('status')?.getFilterValue() as string | undefined) ?? '';
  const methodFilter = (table.getColumn('method')?.getFilterValue() as string | undefined) ?? '';
  const chosen = [...selected].filter((id) => runs.some((r) => r.id === id));
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
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="name, dataset, tag, notes"
          />
        </label>
        <label>
          Status
          <select
            value={statusFilter}
            onChange={(e) => table.getColumn('status')?.setFilterValue(e.target.value || undefined)}
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
            value={methodFilter}
            onChange={(e) => table.getColumn('method')?.setFilterValue(e.target.value || undefined)}
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
          {rows.length} of {runs.length} runs
        </span>
      </div>
      {exporter.isError && (
        <p className="form-error" role="alert">
          Export failed: {errorMessage(exporter.error)}
        </p>
      )}
      <div className="table-wrap">
        <table aria-label="Runs">
          <thead>
            {table.getHeaderGroups().map((hg) => (
              <tr key={hg.id}>
                {hg.headers.map((h) => {
                  const sorted = h.column.getIsSorted();
                  const numeric = (h.column.columnDef.meta as ColumnMeta | undefined)?.numeric;
                  return (
                    <th
                      key={h.id}
                      className={numeric ? 'num' : undefined}
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

      <TextDialog
        open={dialog?.kind === 'rename'}
        title="Rename run"
        label="Name"
        initial={dialog?.run.name ?? ''}
        submitLabel="Rename"
        busy={rename.isPending}
        error={rename.isError ? errorMessage(rename.error) : null}
        onSubmit={(name) => dialog && rename.mutate({ id: dialog.run.id, name })}
        onCancel={() => {
          setDialog(null);
          rename.reset();
        }}
      />
      <TextDialog
        open={dialog?.kind === 'tags'}
        title="Edit tags"
        label="Tags"
        help="Comma-separated, e.g. ablation, cpu"
        initial={dialog?.run.tags.join(', ') ?? ''}
        submitLabel="Save tags"
        busy={tag.isPending}
        error={tag.isError ? errorMessage(tag.error) : null}
        onSubmit={(text) => dialog && tag.mutate({ id: dialog.run.id, tags: splitTags(text) })}
        onCancel={() => {
          setDialog(null);
          tag.reset();
        }}
      />
      <ConfirmDialog
        open={dialog?.kind === 'delete'}
        title="Delete run?"
        confirmLabel="Delete"
        danger
        busy={remove.isPending}
        onConfirm={() => dialog && remove.mutate(dialog.run.id)}
        onCancel={() => {
          setDialog(null);
          remove.reset();
        }}
      >
        <p>“{dialog?.run.name}” and its checkpoints will be deleted. This cannot be undone.</p>
        {remove.isError && <p className="form-error">{errorMessage(remove.error)}</p>}
      </ConfirmDialog>
    </>
  );
}
