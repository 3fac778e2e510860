// Real web-host processes for tests (host-crash, host-robust, queue tests): the compiled host
// (dist/electron/host.js) as a child process on a given database, and a WebSocket client of it.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import WebSocket from 'ws';
import type { Channel, EventName, RequestInput, RequestOutput, Result } from './contract';
import type { EngineOptions } from './engine/protocol';

export const HOST_JS = path.resolve('dist/electron/host.js');

export interface HostProcess {
  child: ChildProcess;
  port: number;
  token: string;
  /** What the host wrote to stderr so far. */
  stderr: () => string;
}

/** Starts `node dist/electron/host.js --db <dbPath>`; resolves once it prints its port and token. */
export function startHostProcess(dbPath: string, engine: EngineOptions, rendererDir: string): Promise<HostProcess> {
  const child = spawn(
    process.execPath,
    [HOST_JS, '--db', dbPath, '--engine', JSON.stringify(engine), '--renderer-dir', rendererDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      const { port, token } = JSON.parse(line) as { port: number; token: string };
      resolve({ child, port, token, stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`host exited with ${code}: ${stderr}`)));
  });
}

export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Ends a host process with `signal` and waits for it to exit. */
export async function endProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** Writes `bytes` on a fresh TCP connection; resolves with what the server sent (within timeoutMs, or once it pauses). */
export function rawRequest(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    let timer = setTimeout(done, timeoutMs);
    socket.on('data', (d) => {
      got += String(d);
      clearTimeout(timer);
      timer = setTimeout(done, 200); // the answer is in; a kept-alive socket would stay open
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
  });
}

/** A WebSocket client of the contract, recording every event it is pushed and every answer (raw). */
export class HostClient {
  readonly events: { event: EventName; payload: Record<string, unknown> }[] = [];
  readonly raw: { id: number; result: Result<unknown> }[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, (r: Result<unknown>) => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as {
        id?: number;
        result?: Result<unknown>;
        event?: EventName;
        payload?: Record<string, unknown>;
      };
      if (m.event) this.events.push({ event: m.event, payload: m.payload ?? {} });
      else if (typeof m.id === 'number' && m.result) {
        this.raw.push({ id: m.id, result: m.result });
        this.pending.get(m.id)?.(m.result);
        this.pending.delete(m.id);
      }
    });
  }
  /** Connects to a ws:// URL, or to a host's /ws with its token. */
  static open(
    target: string | { port: number; token: string },
    opts: WebSocket.ClientOptions = {},
  ): Promise<HostClient> {
    const url = typeof target === 'string' ? target : `ws://127.0.0.1:${target.port}/ws?token=${target.token}`;
    const ws = new WebSocket(url, opts);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new HostClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }
  call<C extends Channel>(channel: C, input: RequestInput<C> | unknown): Promise<Result<RequestOutput<C>>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve as (r: Result<unknown>) => void);
      this.ws.send(JSON.stringify({ id, channel, input }));
    });
  }
  async value<C extends Channel>(channel: C, input: RequestInput<C>): Promise<RequestOutput<C>> {
    const r = await this.call(channel, input);
    if (!r.ok) throw new Error(`${channel}: ${r.error.code} ${r.error.message}`);
    return r.value;
  }
  waitFor(
    event: EventName,
    match: (p: Record<string, unknown>) => boolean,
    timeoutMs = 120_000,
  ): Promise<Record<string, unknown>> {
    const start = Date.now();
    return new Promise((resolve, reject) => {
      const tick = () => {
        const hit = this.events.find((e) => e.event === event && match(e.payload));
        if (hit) return resolve(hit.payload);
        if (Date.now() - start > timeoutMs) return reject(new Error(`no ${event} within ${timeoutMs} ms`));
        setTimeout(tick, 50);
      };
      tick();
    });
  }
  close(): void {
    this.ws.close();
  }
}

/** What a finished `isd` process left. */
export interface IsdProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `isd <args>` as its own process: the compiled CLI (dist/electron/cli.js) run as bin/isd.js runs it,
 * with `engine` knobs (tests shrink the model). `onSpawn` gets the child (to signal it mid-run).
 */
export function runIsdProcess(
  args: string[],
  engine: EngineOptions,
  opts: { onSpawn?: (child: ChildProcess) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<IsdProcessResult> {
  const cli = path.resolve('dist/electron/cli.js');
  const script = `const state = { code: 0 };
    const program = require(${JSON.stringify(cli)}).buildProgram(state, { engine: ${JSON.stringify(engine)} });
    program.parseAsync(process.argv.slice(1), { from: 'user' }).then(
      () => process.exit(state.code),
      (e) => process.exit(String(e && e.code).startsWith('commander.') ? 2 : 1),
    );`;
  const child = spawn(process.execPath, ['-e', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  opts.onSpawn?.(child);
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
