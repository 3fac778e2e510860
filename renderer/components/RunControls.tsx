/** Pause / resume / stop for one run, offered according to its status. */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { RunSummary } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { keys } from '../api/queries';

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
    case 'interrupted':
    case 'stopped':
      return canResume ? [{ action: 'runs.resume', label: 'Resume' }] : [];
    default:
      return [];
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
