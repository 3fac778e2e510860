// The web host over real sockets: token and Origin refusals (logged), static files with the CSP and
// no way out of the renderer folder, and the contract over WebSocket with a real tiny training run
// that two clients both watch. The renderer folder is a small stand-in, so the test does not need
// the Vite build.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebHost, type WebHost } from './host';
import { HostClient as Client } from './host-test-support';

const ENGINE = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
const TINY = { dataset: 'sample', trainLimit: 64, batchSize: 16, queueSize: 64, epochs: 1, imageSize: 0 };

let dir: string;
let host: WebHost;
const logged: string[] = [];

function get(
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, path: urlPath, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const wsUrl = (token?: string) => `ws://127.0.0.1:${host.port}/ws${token === undefined ? '' : `?token=${token}`}`;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-host-'));
  const renderer = path.join(dir, 'renderer');
  fs.mkdirSync(path.join(renderer, 'assets'), { recursive: true });
  fs.writeFileSync(
    path.join(renderer, 'index.html'),
    '<!doctype html><title>ISD Studio</title><script type="module" src="./assets/app.js"></script>',
  );
  fs.writeFileSync(path.join(renderer, 'assets', 'app.js'), 'console.log("app");');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'not for the browser');
  fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(renderer, 'assets', 'link.txt'));
  host = await startWebHost({
    dbPath: path.join(dir, 'history.db'),
    rendererDir: renderer,
    engine: ENGINE,
    log: (l) => logged.push(l),
  });
});

afterAll(async () => {
  await host?.close({ stopTimeoutMs: 5000 });
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('web host: access', () => {
  it('prints a URL on 127.0.0.1 with a long random token', () => {
    expect(host.url).toBe(`http://127.0.0.1:${host.port}/?token=${host.token}`);
    expect(host.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses the page without the token (401) and logs it', async () => {
    const r = await get('/');
    expect(r.status).toBe(401);
    expect(r.body).not.toContain('ISD Studio</title>');
    expect((await get('/?token=wrong')).status).toBe(401);
    expect((await get('/assets/app.js')).status).toBe(401);
    expect(logged.filter((l) => l.startsWith('401 ')).length).toBeGreaterThanOrEqual(3);
  });

  it('serves the page with the token, with the CSP, and a cookie for its own assets', async () => {
    const r = await get(`/?token=${host.token}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(r.headers['content-security-policy']);
    expect(csp.startsWith("default-src 'none'")).toBe(true);
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${host.port}`);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['referrer-policy']).toBe('no-referrer');
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(new RegExp(`^isd_token_${host.port}=${host.token}; Path=/; HttpOnly; SameSite=Strict`));
    const asset = await get('/assets/app.js', { Cookie: cookie.split(';')[0] });
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['content-security-policy']).toBe(csp);
    expect(asset.body).toBe('console.log("app");');
  });

  it('refuses a foreign Origin or Host (403) even with the token, and logs it', async () => {
    const q = `/?token=${host.token}`;
    expect((await get(q, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(q, { Origin: `http://127.0.0.1:${host.port + 1}` })).status).toBe(403);
    expect((await get(q, { Host: `evil.example:${host.port}` })).status).toBe(403);
    expect((await get(q, { Origin: `http://localhost:${host.port}`, Host: `localhost:${host.port}` })).status).toBe(
      200,
    );
    expect(logged.filter((l) => l.startsWith('403 ')).length).toBeGreaterThanOrEqual(3);
  });

  it('never serves a file outside the renderer folder', async () => {
    const t = `token=${host.token}`;
    for (const p of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets%2F..%2F..%2Fsecret.txt',
      '/assets/link.txt',
      '/%00index.html',
    ]) {
      const r = await get(`${p}?${t}`);
      expect([p, r.status]).toEqual([p, expect.any(Number)]);
      expect(r.status === 400 || r.status === 404).toBe(true);
      expect(r.body).not.toContain('not for the browser');
    }
    expect((await get(`/nope.js?${t}`)).status).toBe(404);
  });

  it('refuses WebSocket upgrades without the token (401) or from a foreign Origin (403)', async () => {
    await expect(Client.open(wsUrl())).rejects.toThrow('HTTP 401');
    await expect(Client.open(wsUrl('wrong'))).rejects.toThrow('HTTP 401');
    await expect(Client.open(wsUrl(host.token), { origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    const ok = await Client.open(wsUrl(host.token), { origin: `http://127.0.0.1:${host.port}` });
    ok.close();
    const byCookie = await Client.open(wsUrl(), { headers: { Cookie: `isd_token_${host.port}=${host.token}` } });
    byCookie.close();
    expect(logged.some((l) => l.includes('(WebSocket): no valid token'))).toBe(true);
    expect(logged.some((l) => l.includes('(WebSocket): foreign Origin'))).toBe(true);
  });
});

describe('web host: the contract over WebSocket', () => {
  it('answers malformed frames and bad inputs with errors, never a stack trace', async () => {
    const c = await Client.open(wsUrl(host.token));
    try {
      c.ws.send('not json');
      c.ws.send(JSON.stringify({ id: 7, channel: 'runs.get' }));
      await new Promise((r) => setTimeout(r, 200));
      expect(c.raw).toContainEqual({
        id: -1,
        result: { ok: false, error: expect.objectContaining({ code: 'BAD_INPUT', field: 'message' }) },
      });
      expect(c.raw).toContainEqual({
        id: 7,
        result: { ok: false, error: expect.objectContaining({ code: 'BAD_INPUT', field: 'input' }) },
      });
      const bad = await c.call('runs.start', { config: { batchSize: 0 } });
      expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'config.batchSize' } });
      expect((await c.call('datasets.pick', { kind: 'folder' })).ok).toBe(false);
      expect(JSON.stringify(c.raw)).not.toMatch(/\n\s+at /);
    } finally {
      c.close();
    }
  });

  it('trains a run started over WebSocket, streams it to every client, and lists it as completed', async () => {
    const a = await Client.open(wsUrl(host.token));
    const b = await Client.open(wsUrl(host.token));
    try {
      const info = await a.value('system.info', {});
      expect(info.transport).toBe('web');
      const run = await a.value('runs.start', { config: { ...TINY, name: 'over the socket' } });
      expect(run.status).toBe('running');
      for (const c of [a, b]) {
        await c.waitFor('run.status', (p) => p.runId === run.id && p.status === 'completed', 120_000);
        const progress = c.events
          .filter((e) => e.event === 'run.progress' && e.payload.runId === run.id)
          .map((e) => e.payload);
        expect(progress.length).toBeGreaterThan(0);
        expect(progress[progress.length - 1]).toMatchObject({ step: 4, totalSteps: 4, epoch: 1 });
        expect(
          c.events.filter((e) => e.event === 'run.eval' && e.payload.runId === run.id).map((e) => e.payload.epoch),
        ).toEqual([0, 1]);
        expect(
          c.events.filter((e) => e.event === 'run.status' && e.payload.runId === run.id).map((e) => e.payload.status),
        ).toEqual(['queued', 'running', 'completed']);
      }
      // Both clients saw the same events for this run, in the same order.
      const mine = (c: Client) => c.events.filter((e) => e.payload.runId === run.id);
      expect(mine(b)).toEqual(mine(a));
      const listed = await b.value('runs.list', { status: ['completed'] });
      expect(listed.runs.map((r) => [r.id, r.name, r.step])).toEqual([[run.id, 'over the socket', 4]]);
      const curves = await b.value('runs.curves', { id: run.id });
      expect(curves.points.map((p) => p.step)).toEqual([1, 2, 3, 4]);
    } finally {
      a.close();
      b.close();
    }
  }, 180_000);
});
