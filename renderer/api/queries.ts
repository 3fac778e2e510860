/**
 * Server state through TanStack Query: one query key per contract read, and the app-wide event
 * subscription that keeps cached runs and datasets fresh as main pushes changes.
 */
import { useEffect, useState } from 'react';
import { keepPreviousData, useQuery, type QueryClient } from '@tanstack/react-query';
import type { Curves, ProgressPoint, RequestInput, RunDetail, RunProgressEvent } from '../../electron/contract';
import type { DatasetSizes } from '../../electron/run-config';
import { call, getApi } from './isd';
import type { ConnectionState } from './ws-client';

export const keys = {
  system: ['system.info'] as const,
  datasets: ['datasets'] as const,
  preview: (id: string) => ['datasets', id, 'preview'] as const,
  summary: (id: string) => ['datasets', id, 'summary'] as const,
  imbalance: (id: string, imbalance: string, seed: number) => ['datasets', id, 'imbalance', imbalance, seed] as const,
  runs: ['runs'] as const,
  runList: ['runs', 'list'] as const,
  run: (id: string) => ['runs', 'one', id] as const,
  curves: (id: string) => ['runs', 'one', id, 'curves'] as const,
  compare: (ids: string[]) => ['runs', 'compare', ...ids] as const,
};

export const useSystemInfo = () =>
  useQuery({ queryKey: keys.system, queryFn: () => call('system.info', {}), staleTime: 60_000 });
export const useDatasets = () => useQuery({ queryKey: keys.datasets, queryFn: () => call('datasets.list', {}) });

export const useDatasetPreview = (id: string | null) =>
  useQuery({
    queryKey: keys.preview(id ?? ''),
    queryFn: () => call('datasets.preview', { id: id!, perClass: 8, size: 32 }),
    enabled: !!id,
    staleTime: Infinity,
  });

export const useImbalancePreview = (id: string | null, imbalance: string, seed: number, enabled: boolean) =>
  useQuery({
    queryKey: keys.imbalance(id ?? '', imbalance, seed),
    queryFn: () => call('datasets.imbalancePreview', { id: id!, imbalance, seed }),
    enabled: !!id && enabled,
    placeholderData: keepPreviousData,
    staleTime: Infinity,
  });

export const useDatasetSummary = (id: string | null) =>
  useQuery({
    queryKey: keys.summary(id ?? ''),
    queryFn: () => call('datasets.inspect', { id: id! }),
    enabled: !!id,
    staleTime: Infinity,
  });

/** The chosen dataset's sizes a config is checked against (checkAgainstDataset); null until known. */
export function useDatasetSizes(id: string | null, imbalance: string, seed: number): DatasetSizes | null {
  const summary = useDatasetSummary(id);
  const drawn = imbalance !== 'none';
  const draw = useImbalancePreview(id, imbalance, seed, drawn);
  const s = summary.data;
  if (!s) return null;
  let trainImages = s.splits.train.images;
  if (drawn) {
    if (!draw.data || draw.data.imbalance !== imbalance || draw.data.datasetId !== id) return null;
    trainImages = draw.data.total;
  }
  const labelled = s.splits.train.classCounts !== null && !!s.splits.test?.classCounts;
  return {
    trainImages,
    bankImages: labelled ? s.splits.train.images : 0,
    testImages: labelled ? s.splits.test!.images : 0,
  };
}

/** keepPrevious: show the last answer while the next loads (History's search box refines as one types). */
export const useRunList = (input: RequestInput<'runs.list'> = { limit: 1000 }, opts: { keepPrevious?: boolean } = {}) =>
  useQuery({
    queryKey: [...keys.runList, input],
    queryFn: () => call('runs.list', input),
    placeholderData: opts.keepPrevious ? keepPreviousData : undefined,
  });

export const useRun = (id: string) => useQuery({ queryKey: keys.run(id), queryFn: () => call('runs.get', { id }) });

export const CURVE_POINTS = 1500;
export const useCurves = (id: string) =>
  useQuery({ queryKey: keys.curves(id), queryFn: () => call('runs.curves', { id, maxPoints: CURVE_POINTS }) });

export const useComparison = (ids: string[]) =>
  useQuery({
    queryKey: keys.compare(ids),
    queryFn: () => call('runs.compare', { ids, maxPoints: CURVE_POINTS }),
    enabled: ids.length >= 2 && ids.length <= 8,
  });

/** Appends a live progress event to cached curves, halving the older points when there are too many. */
export function appendProgress(curves: Curves, e: RunProgressEvent, maxPoints = CURVE_POINTS * 2): Curves {
  const last = curves.points.at(-1);
  if (last && e.step <= last.step) return curves; // already in the fetched curves
  const point: ProgressPoint = {
    step: e.step,
    epoch: e.epoch,
    loss: e.loss,
    lr: e.lr,
    purity: e.purity,
    imagesPerSec: e.imagesPerSec,
  };
  let points = [...curves.points, point];
  if (points.length > maxPoints) points = points.filter((_, i) => i % 2 === 0 || i >= points.length - maxPoints / 2);
  return { ...curves, points, totalSteps: e.totalSteps, recorded: curves.recorded + 1 };
}

/** One subscription for the whole app: events update or invalidate what is cached. */
export function subscribeAppEvents(queryClient: QueryClient): () => void {
  const api = getApi();
  const offs = [
    api.on('run.progress', (e) => {
      queryClient.setQueryData<Curves>(keys.curves(e.runId), (c) => (c ? appendProgress(c, e) : c));
    }),
    api.on('run.eval', (e) => {
      queryClient.setQueryData<Curves>(keys.curves(e.runId), (c) =>
        c && !c.evals.some((x) => x.step === e.step) ? { ...c, evals: [...c.evals, e] } : c,
      );
      void queryClient.invalidateQueries({ queryKey: keys.run(e.runId), exact: true });
      void queryClient.invalidateQueries({ queryKey: keys.runList });
    }),
    api.on('run.baseline', ({ runId, init, ...pixel }) => {
      queryClient.setQueryData<Curves>(keys.curves(runId), (c) => (c ? { ...c, baseline: init, pixel } : c));
      void queryClient.invalidateQueries({ queryKey: keys.run(runId), exact: true });
    }),
    api.on('run.phase', ({ runId, ...phase }) => {
      queryClient.setQueryData<RunDetail>(keys.run(runId), (d) => (d ? { ...d, phase } : d));
    }),
    api.on('run.status', (e) => {
      void queryClient.invalidateQueries({ queryKey: keys.run(e.runId) });
      void queryClient.invalidateQueries({ queryKey: keys.runList });
    }),
    api.on('datasets.changed', () => {
      void queryClient.invalidateQueries({ queryKey: keys.datasets, exact: true });
    }),
    api.onConnection((state) => {
      // Events may have been missed while disconnected: refetch everything once back.
      if (state === 'open') void queryClient.invalidateQueries();
    }),
  ];
  return () => offs.forEach((off) => off());
}

/** The latest progress event of one run (for ETA and images/s, which the curves do not carry). */
export function useLatestProgress(runId: string): RunProgressEvent | null {
  const [latest, setLatest] = useState<RunProgressEvent | null>(null);
  useEffect(() => {
    setLatest(null);
    return getApi().on('run.progress', (e) => {
      if (e.runId === runId) setLatest(e);
    });
  }, [runId]);
  return latest;
}

/** The current time, renewed every `ms` while `active` (for clocks that tick). */
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return now;
}

export function useConnectionState(): { state: ConnectionState; detail?: string } {
  const [s, setS] = useState<{ state: ConnectionState; detail?: string }>({ state: 'open' });
  useEffect(() => getApi().onConnection((state, detail) => setS({ state, detail })), []);
  return s;
}
