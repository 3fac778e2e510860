import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, WebSocket as NodeWebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { parseWireRequest, validateRequest, type WireMessage } from '../../electron/contract';
import { createWsClient, webSocketUrl, type SocketLike, type WsClient } from './ws-client';

/** A real WebSocket server speaking the contract's wire format; answers through `answer`. */
async function startServer(answer: (channel: string, input: unknown) => Promise<unknown> | unknown, port = 0) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const sockets = new Set<NodeWebSocket>();
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', async (data) => {
      const parsed = parseWireRequest(String(data));
      if (!parsed.ok)
        return ws.send(
          JSON.stringify({ id: parsed.id, result: { ok: false, error: parsed.error } } satisfies WireMessage),
        );
      const { id, channel, input } = parsed.request;
      const valid = validateRequest(channel, input);
      if (!valid.ok) return ws.send(JSON.stringify({ id, result: valid } satisfies WireMessage));
      const value = await answer(channel, valid.value);
      if (ws.readyState === NodeWebSocket.OPEN)
        ws.send(JSON.stringify({ id, result: { ok: true, value } } satisfies WireMessage));
    });
  });
  const actualPort = (wss.address() as AddressInfo).port;
  return {
    wss,
    port: actualPort,
    url: `ws://127.0.0.1:${actualPort}/ws?token=t`,
    push(event: string, payload: unknown) {
      for (const s of sockets) s.send(JSON.stringify({ event, payload }));
    },
    dropAll() {
      for (const s of sockets) s.terminate();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.terminate();
        wss.close(() => r());
      }),
  };
}

const nodeSocket = (url: string) => new NodeWebSocket(url) as unknown as SocketLike;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track(client: WsClient): WsClient {
  cleanups.push(() => client.close());
  return client;
}

describe('createWsClient over a real socket', () => {
  it('matches answers to requests by id, even when they come back out of order', async () => {
    const server = await startServer(async (channel, input) => {
      const { id } = input as { id: string };
      await sleep(id === 'slow' ? 80 : 5); // the first request is answered last
      return { channel, id };
    });
    cleanups.push(server.close);
    const client = track(createWsClient(server.url, { createSocket: nodeSocket }));
    const [a, b, c] = await Promise.all([
      client.invoke('runs.get', { id: 'slow' }),
      client.invoke('runs.get', { id: 'fast' }),
      client.invoke('runs.delete', { id: 'fast2' }),
    ]);
    expect(a).toEqual({ ok: true, value: { channel: 'runs.get', id: 'slow' } });
    expect(b).toEqual({ ok: true, value: { channel: 'runs.get', id: 'fast' } });
    expect(c).toEqual({ ok: true, value: { channel: 'runs.delete', id: 'fast2' } });
    expect(client.state).toBe('open');
  });

  it("returns the host's error envelope for an invalid input", async () => {
    const server = await startServer(() => 'unreachable');
    cleanups.push(server.close);
    const client = track(createWsClient(server.url, { createSocket: nodeSocket }));
    const r = await client.invoke('runs.curves', { id: 'r1', maxPoints: 2 });
    expect(r).toMatchObject({ ok: false, error: { code: 'BAD_INPUT', field: 'maxPoints' } });
  });

  it('delivers pushed events to their listeners until they unsubscribe', async () => {
    const server = await startServer(() => ({}));
    cleanups.push(server.close);
    const client = track(createWsClient(server.url, { createSocket: nodeSocket }));
    await client.invoke('system.info', {}); // connected
    const seen: number[] = [];
    const statuses: string[] = [];
    const off = client.on('run.progress', (p) => seen.push(p.step));
    client.on('run.status', (p) => statuses.push(p.status));
    server.push('run.progress', { runId: 'r', step: 1 });
    server.push('run.status', { runId: 'r', status: 'completed' });
    await sleep(30);
    off();
    server.push('run.progress', { runId: 'r', step: 2 });
    await client.invoke('system.info', {}); // the push above was sent before this answer
    expect(seen).toEqual([1]);
    expect(statuses).toEqual(['completed']);
  });

  it('fails requests in flight when the connection drops, then reconnects and works again', async () => {
    let hold = true;
    const server = await startServer(async () => {
      while (hold) await sleep(5);
      return 'late';
    });
    cleanups.push(server.close);
    const states: string[] = [];
    const client = track(createWsClient(server.url, { createSocket: nodeSocket, minDelayMs: 20 }));
    client.onConnection((s) => states.push(s));
    const pending = client.invoke('system.info', {});
    await sleep(50);
    server.dropAll();
    const r = await pending;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/connection to the ISD host lost/);
    hold = false;
    const again = await client.invoke('system.info', {});
    expect(again).toEqual({ ok: true, value: 'late' });
    expect(states).toContain('closed');
    expect(states.at(-1)).toBe('open');
  });

  it('queues requests while the host is down and sends them once it is back', async () => {
    const first = await startServer(() => 1);
    const port = first.port;
    await first.close();
    const client = track(
      createWsClient(`ws://127.0.0.1:${port}/ws?token=t`, { createSocket: nodeSocket, minDelayMs: 20, maxDelayMs: 40 }),
    );
    const pending = client.invoke('datasets.list', {});
    await sleep(100); // a few refused connection attempts
    expect(client.state).not.toBe('open');
    const second = await startServer(() => ['back'], port);
    cleanups.push(second.close);
    expect(await pending).toEqual({ ok: true, value: ['back'] });
  });

  it('close() fails what is pending and stops reconnecting', async () => {
    const server = await startServer(() => new Promise(() => {}));
    cleanups.push(server.close);
    const client = createWsClient(server.url, { createSocket: nodeSocket, minDelayMs: 10 });
    const pending = client.invoke('system.info', {});
    await sleep(30);
    client.close();
    expect((await pending).ok).toBe(false);
    expect((await client.invoke('system.info', {})).ok).toBe(false);
    await sleep(50);
    expect(server.wss.clients.size).toBe(0);
  });
});

describe('webSocketUrl', () => {
  it('takes the token from the page query and the scheme from the page protocol', () => {
    expect(webSocketUrl({ protocol: 'http:', host: '127.0.0.1:5123', search: '?token=a%2Bb' })).toBe(
      'ws://127.0.0.1:5123/ws?token=a%2Bb',
    );
    expect(webSocketUrl({ protocol: 'https:', host: 'box:443', search: '' })).toBe('wss://box:443/ws?token=');
  });
});
