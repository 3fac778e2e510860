/**
 * Pause / resume / stop for one run, offered according to its status (run-status.ts says what each allows); run it
 * again; rename, tag and delete it (the dialogs History and Run detail share).
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { RunSummary } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { keys } from '../api/queries';
import { splitTags } from '../form/run-config-form';
import { ConfirmDialog, TextDialog } from './Dialogs';
import { formatMethod } from '../lib/format';
import { href } from '../lib/route';
import { isResumable } from '../../electron/run-status';

type Action = 'runs.pause' | 'runs.resume' | 'runs.stop';

export function actionsFor(status: RunSummary['status'], canResume: boolean): { action: Action; label: string }[] {
  switch (status) {
    case 'running':
      return [
        { action: 'runs.pause', label: 'Pause' },
        { action: 'runs.stop', label: 'Stop' },
      ];
    case 'paused':
      return [
        { action: 'runs.resume', label: 'Resume' },
        { action: 'runs.stop', label: 'Stop' },
      ];
    case 'queued':
      return [{ action: 'runs.stop', label: 'Cancel' }];
    default:
      // canResume: the server's isResumable (a checkpoint to continue from), or the list's guess.
      return canResume && isResumable(status, true) ? [{ action: 'runs.resume', label: 'Resume' }] : [];
  }
}

export function RunControls({ run, canResume, compact }: { run: RunSummary; canResume: boolean; compact?: boolean }) {
  const queryClient = useQueryClient();
  const control = useMutation({
    mutationFn: (action: Action) => call(action, { id: run.id }),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: keys.run(run.id) });
      void queryClient.invalidateQueries({ queryKey: keys.runList });
    },
  });
  const actions = actionsFor(run.status, canResume);
  if (actions.length === 0) return null;
  return (
    <span className="actions">
      {actions.map((a) => (
        <button
          key={a.action}
          type="button"
          className={compact ? 'small' : a.action === 'runs.stop' ? 'danger' : undefined}
          onClick={() => control.mutate(a.action)}
          disabled={control.isPending}
          aria-label={compact ? `${a.label} ${run.name}` : undefined}
        >
          {a.label}
        </button>
      ))}
      {control.isError && (
        <span className="form-error small" role="alert">
          {errorMessage(control.error)}
        </span>
      )}
    </span>
  );
}

/** "Run again" (the run's settings in the New run form) and "Same settings, other method" (the budget kept). */
export function RunAgainLinks({
  run,
  compact,
}: {
  run: Pick<RunSummary, 'id' | 'name' | 'method'>;
  compact?: boolean;
}) {
  const other = run.method === 'isd' ? 'moco' : 'isd';
  const cls = compact ? 'button small' : 'button';
  return (
    <>
      <a className={cls} href={href({ page: 'new', from: run.id })} aria-label={`Run ${run.name} again`}>
        Run again
      </a>
      <a
        className={cls}
        href={href({ page: 'new', from: run.id, method: other })}
        aria-label={`Run ${run.name} again with ${formatMethod(other)}`}
      >
        Same settings, {formatMethod(other)}
      </a>
    </>
  );
}

/** The edit dialog open on a run, if any. */
export type RunDialog = { kind: 'rename' | 'tags' | 'delete'; run: RunSummary } | null;

/** Rename, tags and delete dialogs for `dialog.run`; `onDeleted` runs after a delete went through. */
export function RunEditDialogs({
  dialog,
  onClose,
  onDeleted,
}: {
  dialog: RunDialog;
  onClose: () => void;
  onDeleted?: (id: string) => void;
}) {
  const queryClient = useQueryClient();
  const refresh = () => void queryClient.invalidateQueries({ queryKey: keys.runs });
  const rename = useMutation({
    mutationFn: (a: { id: string; name: string }) => call('runs.rename', a),
    onSuccess: () => {
      onClose();
      refresh();
    },
  });
  const tag = useMutation({
    mutationFn: (a: { id: string; tags: string[] }) => call('runs.tag', a),
    onSuccess: () => {
      onClose();
      refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => call('runs.delete', { id }),
    onSuccess: (_r, id) => {
      onClose();
      onDeleted?.(id);
      refresh();
    },
  });
  return (
    <>
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
          onClose();
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
          onClose();
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
          onClose();
          remove.reset();
        }}
      >
        <p>“{dialog?.run.name}” and its checkpoints will be deleted. This cannot be undone.</p>
        {remove.isError && <p className="form-error">{errorMessage(remove.error)}</p>}
      </ConfirmDialog>
    </>
  );
}
