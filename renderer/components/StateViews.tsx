/** Loading, error and empty states, the same on every page. */
import type { ReactNode } from 'react';
import type { UseQueryResult } from '@tanstack/react-query';
import { ApiError, errorMessage, retryable } from '../api/isd';
import { href } from '../lib/route';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorState({
  error,
  title = 'Something went wrong',
  onRetry,
}: {
  error: unknown;
  title?: string;
  onRetry?: () => void;
}) {
  return (
    <div className="state state-error" role="alert">
      <strong>{title}</strong>
      <p>{errorMessage(error)}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="state" data-testid="empty-state">
      <strong>{title}</strong>
      {children && <div>{children}</div>}
    </div>
  );
}

/** Renders a query's data, or its loading or error state. */
export function QueryView<T>({
  query,
  loading,
  children,
}: {
  query: UseQueryResult<T>;
  loading?: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading label={loading} />;
  if (query.isError)
    return <ErrorState error={query.error} onRetry={retryable(query.error) ? () => void query.refetch() : undefined} />;
  return <>{children(query.data)}</>;
}

/** A run page opened for a run that does not exist (deleted, or a stale link). */
export function MissingRun({ runId }: { runId: string }) {
  return (
    <div>
      <h1>Run not found</h1>
      <Empty title={`There is no run ${runId}`}>
        It may have been deleted. <a href={href({ page: 'history' })}>See every run in History</a>
      </Empty>
    </div>
  );
}

export const isNotFound = (error: unknown) => error instanceof ApiError && error.code === 'NOT_FOUND';
