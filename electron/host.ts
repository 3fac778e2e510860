/**
 * The web host: the built renderer (dist-renderer/) and the contract over WebSocket (/ws), on
 * 127.0.0.1 only, for a browser on this machine (or over an SSH tunnel).
 *
 * Access: a random token in the printed URL (http://127.0.0.1:PORT/?token=…). The page load with the
 * token sets an HttpOnly, SameSite=Strict cookie so the page's own assets load; the WebSocket upgrade
 * takes the token from its query (the renderer passes its own) or that cookie. No token: 401. An Origin
 * other than the host's own (http://127.0.0.1:PORT, http://localhost:PORT), or a Host header naming
 * another server (DNS rebinding): 403. Both logged.
 *
 * Run directly (`node dist/electron/host.js --db <file> [--port N]`) it prints one JSON line
 * {url, token, port} and serves until SIGINT/SIGTERM; `isd serve` calls startWebHost the same way.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseWireRequest, type EventName, type WireMessage } from './contract';
import { contentSecurityPolicy, securityHeaders } from './app/content-security';
import { dispatchRequest } from './app/dispatch';
import { appRoot, checkpointRootFor, resolveDbPath } from './app/paths';
import { installLastResort } from './app/last-resort';
import { createAppServices, type AppServices } from './app/services';
import { resolveStaticFile } from './app/static-files';
import type { EngineOptions } from './engine/protocol';

export interface WebHostOptions {
  /** 0 (default): a free port chosen by the system. */
  port?: number;
  dbPath: string;
  checkpointRoot?: string;
  resourcesDir?: string;
  systemRoots?: string[];
  /** The built renderer (default <app root>/dist-renderer). */
  rendererDir?: string;
  engine?: EngineOptions;
  /** Use these services instead of opening new ones (they are then not closed by close()). */
  services?: AppServices;
  /** A fixed token (tests); default 32 random bytes, hex. */
  token?: string;
  log?: (line: string) => void;
}

export interface WebHost {
  /** http://127.0.0.1:PORT/?token=… */
  url: string;
  token: string;
  port: number;
  services: AppServices;
  /** Stops accepting, closes every socket, stops the training run with a checkpoint, closes the store. */
  close(opts?: { stopTimeoutMs?: number }): Promise<void>;
}

const HOST = '127.0.0.1';
/** A client whose socket buffers more than this gets no further progress events until it drains. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

function sameSecret(a: string | null | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The cookie's value, or null when it is absent or not valid percent-encoding (any page on 127.0.0.1 can set one). */
function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** The request's URL, or null when it does not parse (`GET //`, `GET http://[::1:99999]/`): the caller answers 400. */
function requestUrl(req: http.IncomingMessage, base: string): URL | null {
  try {
    return new URL(req.url ?? '/', base);
  } catch {
    return null;
  }
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const log = opts.log ?? ((line: string) => console.warn(`[isd host] ${line}`));
  const token = opts.token ?? randomBytes(32).toString('hex');
  const rendererDir = opts.rendererDir ?? path.join(appRoot(__dirname), 'dist-renderer');
  const ownsServices = !opts.services;
  const services =
    opts.services ??
    createAppServices({
      dbPath: opts.dbPath,
      checkpointRoot: opts.checkpointRoot ?? checkpointRootFor(opts.dbPath),
      resourcesDir: opts.resourcesDir,
      systemRoots: opts.systemRoots,
      transport: 'web',
      engine: opts.engine,
    });

  let port = 0;
  let csp = contentSecurityPolicy();
  const cookieName = () => `isd_token_${port}`; // cookies ignore ports: one name per host port
  const ownOrigins = () => new Set([`http://${HOST}:${port}`, `http://localhost:${port}`]);
  const ownHosts = () => new Set([`${HOST}:${port}`, `localhost:${port}`]);

  /** 403 reason for a foreign Origin or Host, else null. */
  function foreign(req: http.IncomingMessage): string | null {
    const host = req.headers.host;
    if (!host || !ownHosts().has(host.toLowerCase()))
      return `Host header ${JSON.stringify(host ?? '')} is not this host`;
    const origin = req.headers.origin;
    if (origin !== undefined && !ownOrigins().has(origin)) return `foreign Origin ${JSON.stringify(origin)}`;
    return null;
  }

  function hasToken(req: http.IncomingMessage, url: URL): boolean {
    return (
      sameSecret(url.searchParams.get('token'), token) ||
      sameSecret(cookieValue(req.headers.cookie, cookieName()), token)
    );
  }

  const who = (req: http.IncomingMessage) =>
    `${req.socket.remoteAddress ?? '?'} ${req.method ?? ''} ${(req.url ?? '').split('?')[0].slice(0, 200)}`;

  function refuse(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      ...securityHeaders(csp),
    });
    res.end(`${text}\n`);
  }

  const server = http.createServer((req, res) => {
    try {
      serveRequest(req, res);
    } catch (err) {
      // A bug in one request must not end the host (and the run in training): log it, answer 500.
      log(`500 ${who(req)}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (!res.headersSent) refuse(res, 500, 'Internal error (details in the host log).');
      else res.destroy();
    }
  });

  function serveRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = requestUrl(req, `http://${HOST}:${port}`);
    if (!url) {
      log(`400 ${who(req)}: the request URL does not parse`);
      return refuse(res, 400, 'Bad request: the URL does not parse.');
    }
    const bad = foreign(req);
    if (bad) {
      log(`403 ${who(req)}: ${bad}`);
      return refuse(res, 403, 'Forbidden: this ISD Studio host only answers its own pages.');
    }
    if (!hasToken(req, url)) {
      log(`401 ${who(req)}: no valid token`);
      return refuse(res, 401, 'Unauthorized: open the URL with the token that `isd serve` printed.');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return refuse(res, 405, 'Method not allowed.');
    }
    if (url.pathname === '/ws') return refuse(res, 426, 'Upgrade to a WebSocket.');
    const found = resolveStaticFile(rendererDir, url.pathname);
    if (!found.ok) {
      if (
        found.status === 404 &&
        (url.pathname === '/' || url.pathname === '/index.html') &&
        !fs.existsSync(rendererDir)
      ) {
        return refuse(res, 503, `The renderer is not built (${rendererDir} is missing): run npm run build:renderer.`);
      }
      return refuse(res, found.status, found.status === 404 ? 'Not found.' : 'Bad request.');
    }
    const headers: Record<string, string | string[]> = { 'Content-Type': found.contentType, ...securityHeaders(csp) };
    headers['Cache-Control'] = found.file.endsWith('.html') ? 'no-store' : 'no-cache';
    if (url.searchParams.has('token'))
      headers['Set-Cookie'] = `${cookieName()}=${token}; Path=/; HttpOnly; SameSite=Strict`;
    const stat = fs.statSync(found.file);
    headers['Content-Length'] = String(stat.size);
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(found.file)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  // Requests Node's parser refuses (a bad request line or header) get a 400 and close; the host lives on.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    log(`400 (a request that does not parse): ${err.code ?? err.message}`);
    if (socket.writable && !socket.destroyed)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 28 * 1024 * 1024 }); // encoder.search takes a 20 MB image as base64
  const clients = new Set<WebSocket>();

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy()); // a peer that resets mid-handshake
    const deny = (status: number, text: string, why: string) => {
      log(`${status} ${who(req)} (WebSocket): ${why}`);
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    try {
      upgrade(req, socket, head, deny);
    } catch (err) {
      deny(500, 'Internal Server Error', err instanceof Error ? (err.stack ?? err.message) : String(err));
    }
  });

  function upgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    deny: (status: number, text: string, why: string) => void,
  ): void {
    const url = requestUrl(req, `http://${HOST}:${port}`);
    if (!url) return deny(400, 'Bad Request', 'the request URL does not parse');
    if (url.pathname !== '/ws') return deny(404, 'Not Found', 'not /ws');
    const bad = foreign(req);
    if (bad) return deny(403, 'Forbidden', bad);
    if (!hasToken(req, url)) return deny(401, 'Unauthorized', 'no valid token');
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          ws.send(
            JSON.stringify({
              id: -1,
              result: {
                ok: false,
                error: { code: 'BAD_INPUT', field: 'message', message: 'send JSON text frames' },
              },
            } satisfies WireMessage),
          );
          return;
        }
        const parsed = parseWireRequest(data.toString());
        if (!parsed.ok) {
          ws.send(JSON.stringify({ id: parsed.id, result: { ok: false, error: parsed.error } } satisfies WireMessage));
          return;
        }
        const { id, channel, input } = parsed.request;
        void dispatchRequest(services.handlers, channel, input, (message, err) =>
          log(`${message}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
        ).then((result) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id, result } satisfies WireMessage));
        });
      });
    });
  }

  const unsubscribe = services.events.onAny((event: EventName, payload: unknown) => {
    const text = JSON.stringify({ event, payload } satisfies WireMessage);
    for (const ws of clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (event === 'run.progress' && ws.bufferedAmount > MAX_BUFFERED_BYTES) continue; // a slow client skips progress, never status or evals
      ws.send(text);
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    unsubscribe();
    if (ownsServices) await services.close();
    throw err;
  }
  port = (server.address() as AddressInfo).port;
  csp = contentSecurityPolicy({ connect: [`ws://${HOST}:${port}`, `ws://localhost:${port}`] });

  let closing: Promise<void> | null = null;
  return {
    url: `http://${HOST}:${port}/?token=${token}`,
    token,
    port,
    services,
    close(closeOpts = {}) {
      closing ??= (async () => {
        unsubscribe();
        for (const ws of clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        if (ownsServices) await services.close(closeOpts);
      })();
      return closing;
    },
  };
}

/** `node dist/electron/host.js [--db file] [--port N] [--engine JSON]`: prints {url, token, port} as one JSON line. */
async function main(): Promise<void> {
  installLastResort();
  const { values } = parseArgs({
    options: {
      db: { type: 'string' },
      port: { type: 'string', default: '0' },
      engine: { type: 'string' },
      'renderer-dir': { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port: a whole number from 0 to 65535, got ${values.port}`);
  const engine = values.engine ? (JSON.parse(values.engine) as EngineOptions) : undefined;
  const host = await startWebHost({
    dbPath: resolveDbPath(values.db),
    port,
    engine,
    rendererDir: values['renderer-dir'],
  });
  console.log(JSON.stringify({ url: host.url, token: host.token, port: host.port }));
  exitOnSignal(host);
}

/** A host run as its own process (this file, `npm start`'s fallback) closes, then exits, on Ctrl-C or SIGTERM. */
export function exitOnSignal(host: WebHost): void {
  const shutdown = () => {
    void host.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`isd host: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  });
}
