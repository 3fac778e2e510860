import { describe, expect, it } from 'vitest';
import { href, parseRoute, type Route } from './route';

describe('hash routes', () => {
  it('parses every page and round-trips through href', () => {
    const routes: Route[] = [
      { page: 'new' },
      { page: 'new', from: 'run-1' },
      { page: 'new', from: 'run 2', method: 'moco' },
      { page: 'history' },
      { page: 'run', runId: 'r 1/x' },
      { page: 'live', runId: '42' },
      { page: 'compare', runIds: ['a', 'b,c'] },
    ];
    for (const r of routes) {
      const parsed = parseRoute(href(r));
      if (r.page === 'compare')
        expect(parsed).toEqual({ page: 'compare', runIds: ['a', 'b', 'c'] }); // a comma splits ids
      else expect(parsed).toEqual(r);
    }
  });

  it('defaults to New run and names unknown pages', () => {
    expect(parseRoute('')).toEqual({ page: 'new' });
    expect(parseRoute('#/')).toEqual({ page: 'new' });
    expect(parseRoute('#/nope/1')).toEqual({ page: 'notFound', hash: '/nope/1' });
    expect(parseRoute('#/compare')).toEqual({ page: 'compare', runIds: [] });
  });
});
