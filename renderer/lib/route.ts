/** Hash routes (no server routes: the app loads from file:// in Electron). */
export type Route =
  /** from: a run whose settings fill the form (Run again); method: switched to, keeping the budget. */
  | { page: 'new'; from?: string; method?: 'isd' | 'moco' }
  | { page: 'live'; runId: string }
  | { page: 'run'; runId: string }
  | { page: 'history' }
  | { page: 'compare'; runIds: string[] }
  | { page: 'study'; studyId: string | null }
  | { page: 'notFound'; hash: string };

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [pathPart = '', query = ''] = raw.split('?', 2);
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'new')) {
    const q = new URLSearchParams(query);
    const from = q.get('from');
    const method = q.get('method');
    return {
      page: 'new',
      ...(from ? { from } : {}),
      ...(method === 'isd' || method === 'moco' ? { method } : {}),
    };
  }
  if (parts[0] === 'history' && parts.length === 1) return { page: 'history' };
  if (parts[0] === 'runs' && parts.length === 2) return { page: 'run', runId: parts[1]! };
  if (parts[0] === 'runs' && parts.length === 3 && parts[2] === 'live') return { page: 'live', runId: parts[1]! };
  if (parts[0] === 'study' && parts.length <= 2) return { page: 'study', studyId: parts[1] ?? null };
  if (parts[0] === 'compare' && parts.length === 1) {
    const ids = new URLSearchParams(query).get('ids');
    return { page: 'compare', runIds: ids ? ids.split(',').filter(Boolean) : [] };
  }
  return { page: 'notFound', hash: raw };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'new': {
      const q = new URLSearchParams();
      if (route.from) q.set('from', route.from);
      if (route.method) q.set('method', route.method);
      return q.size ? `#/new?${q.toString()}` : '#/new';
    }
    case 'history':
      return '#/history';
    case 'run':
      return `#/runs/${encodeURIComponent(route.runId)}`;
    case 'live':
      return `#/runs/${encodeURIComponent(route.runId)}/live`;
    case 'compare':
      return `#/compare?ids=${route.runIds.map(encodeURIComponent).join(',')}`;
    case 'study':
      return route.studyId ? `#/study/${encodeURIComponent(route.studyId)}` : '#/study';
    case 'notFound':
      return `#${route.hash}`;
  }
}
