// Hostile requests against a real web-host process, over raw TCP, while a run trains: every request
// that fails to parse (the request line, the URL, a cookie any page on 127.0.0.1 can set) gets a 4xx,
// the host lives on, and the run in training completes. Before the fix `GET //` ended the process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HOST_JS,
  HostClient,
  alive,
  endProcess,
  rawRequest,
  startHostProcess,
  type HostProcess,
} from './host-test-support';

const ENGINE = { baseWidth: 4, evalBankLimit: 200, evalTestLimit: 100 };
/** 2 epochs × 8 steps: long enough that every hostile request lands while it trains. */
const CONFIG = { dataset: 'sample', trainLimit: 128, batchSize: 16, queueSize: 64, epochs: 2, imageSize: 0 };

let dir: string;
let host: HostProcess;

/** The hostile inputs: raw bytes for one TCP connection each (P is the host's port). */
function hostileRequests(port: number): { name: string; bytes: string }[] {
  const own = `Host: 127.0.0.1:${port}\r\n`;
  const ws =
    'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  return [
    { name: 'GET //', bytes: 'GET // HTTP/1.1\r\nHost: x\r\n\r\n' },
    { name: 'GET // own host', bytes: `GET // HTTP/1.1\r\n${own}\r\n` },
    { name: 'GET ///x', bytes: `GET ///x HTTP/1.1\r\n${own}\r\n` },
    { name: 'absolute URL, bad IPv6 port', bytes: 'GET http://[::1:99999]/ HTTP/1.1\r\nHost: x\r\n\r\n' },
    { name: 'absolute URL, open bracket', bytes: `GET http://[/ HTTP/1.1\r\n${own}\r\n` },
    { name: 'absolute URL, no host', bytes: `GET http:// HTTP/1.1\r\n${own}\r\n` },
    { name: 'absolute URL, two ports', bytes: `GET http://127.0.0.1:${port}:99/ HTTP/1.1\r\n${own}\r\n` },
    { name: 'crashing cookie', bytes: `GET / HTTP/1.1\r\n${own}Cookie: isd_token_${port}=%E0%A4%A\r\n\r\n` },
    { name: 'crashing cookie, lone %', bytes: `GET / HTTP/1.1\r\n${own}Cookie: a=1; isd_token_${port}=%\r\n\r\n` },
    { name: 'bad percent in path', bytes: `GET /%E0%A4%A HTTP/1.1\r\n${own}\r\n` },
    { name: 'bad percent in token', bytes: `GET /?token=%ZZ%E0 HTTP/1.1\r\n${own}\r\n` },
    { name: 'WebSocket upgrade to //', bytes: `GET // HTTP/1.1\r\n${own}${ws}\r\n` },
    { name: 'WebSocket upgrade, bad IPv6', bytes: `GET http://[::1:99999]/ws HTTP/1.1\r\n${own}${ws}\r\n` },
    {
      name: 'WebSocket upgrade, crashing cookie',
      bytes: `GET /ws HTTP/1.1\r\n${own}${ws}Cookie: isd_token_${port}=%E0%A4%A\r\n\r\n`,
    },
    { name: 'asterisk form', bytes: `GET * HTTP/1.1\r\n${own}\r\n` },
    { name: 'binary garbage', bytes: '\u0000\u0001\u0002\u00ff\r\n\r\n' },
    { name: 'header without colon', bytes: `GET / HTTP/1.1\r\n${own}NoColonHere\r\n\r\n` },
    { name: 'bad HTTP version', bytes: `GET / HTTP/9.9\r\n${own}\r\n` },
  ];
}

beforeAll(async () => {
  if (!fs.existsSync(HOST_JS)) throw new Error(`${HOST_JS} is missing: build first (npx tsc -p tsconfig.node.json)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-robust-'));
  host = await startHostProcess(path.join(dir, 'history.db'), ENGINE, path.join(dir, 'no-renderer'));
});

afterAll(async () => {
  if (host) await endProcess(host.child, 'SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('web host under requests that fail to parse', () => {
  it('answers each with a 4xx, lives on, and the run in training completes', async () => {
    const client = await HostClient.open(host);
    try {
      const run = await client.value('runs.start', { config: CONFIG });
      await client.waitFor('run.progress', (p) => p.runId === run.id);
      const inputs = hostileRequests(host.port);
      for (const input of inputs) {
        const answer = await rawRequest(host.port, input.bytes);
        expect(alive(host.child), `the host died on ${input.name}: ${host.stderr()}`).toBe(true);
        expect(answer, input.name).toMatch(/^HTTP\/1\.1 4\d\d /);
      }
      // The URL and cookie cases are the host's own 400s, not Node's parser's.
      expect(await rawRequest(host.port, inputs[0].bytes)).toMatch(/^HTTP\/1\.1 400 /);
      const done = await client.waitFor('run.status', (p) => p.runId === run.id && p.status === 'completed');
      expect(done.status).toBe('completed');
      const detail = await client.value('runs.get', { id: run.id });
      expect(detail.run).toMatchObject({ status: 'completed', step: 16, totalSteps: 16 });
      expect(alive(host.child)).toBe(true);
    } finally {
      client.close();
    }
  }, 240_000);
});

describe('the last-resort handler', () => {
  it('logs an exception and a rejection nobody caught, and the process carries on', () => {
    const lastResort = path.resolve('dist/electron/app/last-resort.js');
    const script = `require(${JSON.stringify(lastResort)}).installLastResort();
      setTimeout(() => { throw new Error('escaped from a callback'); }, 10);
      setTimeout(() => { void Promise.reject(new Error('a rejection nobody awaited')); }, 20);
      setTimeout(() => { console.log('still alive'); }, 100);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('still alive');
    expect(r.stderr).toMatch(/uncaught error \(the process carries on\): Error: escaped from a callback/);
    expect(r.stderr).toMatch(/a rejection nobody awaited/);
  });
});
