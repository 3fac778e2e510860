/**
 * Server state of the Study page: the studies list and one study (TanStack Query), kept fresh by the
 * study.progress events (progress patched in place; a change of counts or state refetches the study).
 */
import { useEffect } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import type { StudyDetail, StudyProgress } from '../../electron/contract';
import { call, getApi } from './isd';

export const studyKeys = {
  all: ['study'] as const,
  list: ['study', 'list'] as const,
  one: (id: string) => ['study', 'one', id] as const,
};

export const useStudies = () => useQuery({ queryKey: studyKeys.list, queryFn: () => call('study.list', {}) });
export const useStudy = (id: string) =>
  useQuery({ queryKey: studyKeys.one(id), queryFn: () => call('study.get', { id }) });

/** Whether a progress event changes more than the active run's step (then the whole study is refetched). */
export function progressChangesRuns(before: StudyProgress, after: StudyProgress): boolean {
  return (
    before.state !== after.state ||
    before.completed !== after.completed ||
    before.failed !== after.failed ||
    before.stopped !== after.stopped ||
    before.queued !== after.queued ||
    before.active?.runId !== after.active?.runId
  );
}

/** Subscribes the page to study.progress while it is mounted. */
export function useStudyProgressEvents(): void {
  const queryClient = useQueryClient();
  useEffect(
    () =>
      getApi().on('study.progress', (p) => {
        const key = studyKeys.one(p.studyId);
        const cached = queryClient.getQueryData<StudyDetail>(key);
        if (cached && !progressChangesRuns(cached.progress, p)) {
          queryClient.setQueryData<StudyDetail>(key, { ...cached, progress: p });
          return;
        }
        void queryClient.invalidateQueries({ queryKey: studyKeys.all });
      }),
    [queryClient],
  );
}
