/** The frame: header with navigation and backend, connection banner, and the page for the hash route. */
import { useEffect } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { subscribeAppEvents, useConnectionState, useSystemInfo } from './api/queries';
import { Empty } from './components/StateViews';
import { navigate, useRoute } from './lib/navigate';
import { href, type Route } from './lib/route';
import type { GpuAdapter } from '../electron/contract';
import { ComparePage } from './pages/Compare';
import { HistoryPage } from './pages/History';
import { LiveRunPage } from './pages/LiveRun';
import { NewRunPage } from './pages/NewRun';
import { RunDetailPage } from './pages/RunDetail';
import { StudyPage } from './pages/StudyPage';

const NAV: { route: Route; label: string; pages: Route['page'][] }[] = [
  { route: { page: 'new' }, label: 'New run', pages: ['new'] },
  { route: { page: 'history' }, label: 'History', pages: ['history', 'run', 'live'] },
  { route: { page: 'compare', runIds: [] }, label: 'Compare', pages: ['compare'] },
  { route: { page: 'study', studyId: null }, label: 'Study', pages: ['study'] },
];

const TITLES: Record<Route['page'], string> = {
  new: 'New run',
  history: 'History',
  run: 'Run',
  live: 'Live run',
  compare: 'Compare',
  study: 'Imbalance study',
  notFound: 'Not found',
};

export function App() {
  const route = useRoute();
  const queryClient = useQueryClient();
  const system = useSystemInfo();
  const connection = useConnectionState();

  useEffect(() => subscribeAppEvents(queryClient), [queryClient]);
  useEffect(() => {
    document.title = `${TITLES[route.page]} · ISD Studio`;
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [route]);
  // Another page (or another run's) opens at its top, not at the last page's scroll position.
  const pageKey = `${route.page}:${'runId' in route ? route.runId : 'studyId' in route ? (route.studyId ?? '') : ''}`;
  useEffect(() => {
    window.scrollTo(0, 0); // not returned: newer Chromium's scrollTo returns a promise, not a cleanup
  }, [pageKey]);

  return (
    <>
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="app-header">
        <p className="app-title">ISD Studio</p>
        <nav className="app-nav" aria-label="Main">
          {NAV.map((n) => (
            <a key={n.label} href={href(n.route)} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <span
          className="backend-badge"
          data-testid="backend-badge"
          title={
            system.data
              ? [
                  `${system.data.backend} · ${system.data.device}`,
                  ...(system.data.adapter ? [`adapter: ${adapterName(system.data.adapter)}`] : []),
                  ...system.data.fallbacks.map((f) => `${f.backend}: ${f.reason}`),
                ].join('\n')
              : undefined
          }
        >
          {system.data
            ? `${system.data.backend} · ${system.data.device}`
            : system.isError
              ? 'backend unknown'
              : 'connecting…'}
        </span>
      </header>
      {connection.state !== 'open' && (
        <div className="connection-banner" role="status">
          {connection.state === 'connecting'
            ? 'Connecting to the ISD host…'
            : `Connection lost (${connection.detail ?? 'no answer'}); reconnecting…`}
        </div>
      )}
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

/** The WebGPU adapter in one line: "vendor architecture — description (software)". */
function adapterName(a: GpuAdapter): string {
  return `${[a.vendor, a.architecture].filter(Boolean).join(' ')} — ${a.description}${a.software ? ' (software)' : ''}`;
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'new':
      return <NewRunPage key={`${route.from ?? ''}:${route.method ?? ''}`} from={route.from} method={route.method} />;
    case 'history':
      return <HistoryPage />;
    case 'live':
      return <LiveRunPage key={route.runId} runId={route.runId} />;
    case 'run':
      return <RunDetailPage key={route.runId} runId={route.runId} />;
    case 'compare':
      return <ComparePage runIds={route.runIds} />;
    case 'study':
      return <StudyPage studyId={route.studyId} />;
    case 'notFound':
      return (
        <Empty title="This page does not exist">
          <button type="button" className="link" onClick={() => navigate({ page: 'new' })}>
            Go to New run
          </button>
        </Empty>
      );
  }
}
