import type { RunStatus } from '../../electron/contract';

export function StatusBadge({ status }: { status: RunStatus }) {
  return (
    <span className={`status status-${status}`} data-testid="run-status">
      {status}
    </span>
  );
}
