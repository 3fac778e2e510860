/**
 * Responsiveness while training: starts the web host on a temporary database, starts a real training
 * run (the bundled sample, resnet20), waits until it is past loading and its first evaluation, then
 * times N round-trips of system.info over the WebSocket, spaced over several training steps, and prints
 * p50/p95/p99/max. Target (issue 5): p99 < 50 ms.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-responsiveness.js [--calls 200] [--interval-ms 50] [--json]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startWebHost } from '../electron/host';

export const TARGET_P99_MS = 50;

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

interface Reply {
  id: number;
  result: { ok: boolean; value?: unknown; error?: { message: string } };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '200' },
      'interval-ms': { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
    },
  });
  const calls = Number(values.calls);
  const intervalMs = Number(values['interval-ms']);
  if (!Number.isInteger(calls) || calls < 1) throw new Error(`--calls: a whole number ≥ 1, got ${values.calls}`);
  if (!(intervalMs >= 0)) throw new Error(`--interval-ms: a number ≥ 0, got ${values['interval-ms']}`);
  const say = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-bench-resp-'));
  const host = await startWebHost({
    dbPath: path.join(dir, 'history.db'),
    rendererDir: path.join(dir, 'no-renderer'),
    log: () => undefined,
  });
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}/ws?token=${host.token}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, (r: Reply['result']) => void>();
  let lastStep = 0;
  let status = 'queued';
  let progressEvents = 0;
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as Partial<Reply> & {
      event?: string;
      payload?: { step?: number; status?: string };
    };
    if (m.event === 'run.progress') {
      progressEvents++;
      lastStep = m.payload?.step ?? lastStep;
    } else if (m.event === 'run.status') status = m.payload?.status ?? status;
    else if (typeof m.id === 'number' && m.result) pending.get(m.id)?.(m.result);
  });
  const call = (channel: string, input: unknown) =>
    new Promise<Reply['result']>((resolve) => {
      const id = nextId++;
      pending.set(id, (r) => {
        pending.delete(id);
        resolve(r);
      });
      ws.send(JSON.stringify({ id, channel, input }));
    });

  try {
    // Long enough to train through the whole measurement window on a slow CPU.
    const config = {
      dataset: 'sample',
      trainLimit: 4096,
      batchSize: 32,
      queueSize: 1024,
      epochs: 3,
      name: 'responsiveness bench',
    };
    const started = await call('runs.start', { config });
    if (!started.ok) throw new Error(`runs.start: ${started.error?.message}`);
    say('training started; waiting for the first steps (after loading and the step-0 evaluation)…');
    const t0 = Date.now();
    while (lastStep < 2) {
      if (Date.now() - t0 > 300_000) throw new Error('no training progress within 5 minutes');
      if (status === 'failed') throw new Error('the run failed');
      await new Promise((r) => setTimeout(r, 100));
    }
    const warm = await call('system.info', {});
    if (!warm.ok) throw new Error(`system.info: ${warm.error?.message}`);
    const info = warm.value as { backend: string; device: string };

    const stepBefore = lastStep;
    const eventsBefore = progressEvents;
    const times: number[] = [];
    const windowStart = performance.now();
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      const r = await call('system.info', {});
      times.push(performance.now() - t);
      if (!r.ok) throw new Error(`system.info failed during the measurement: ${r.error?.message}`);
      if (intervalMs > 0) await new Promise((res) => setTimeout(res, intervalMs));
    }
    const windowSec = (performance.now() - windowStart) / 1000;
    const stillTraining = status === 'running';
    const stepsDuring = lastStep - stepBefore;
    const sorted = [...times].sort((a, b) => a - b);
    const result = {
      calls,
      intervalMs,
      windowSec: Number(windowSec.toFixed(2)),
      backend: info.backend,
      device: info.device,
      stepsTrainedDuringWindow: stepsDuring,
      progressEventsDuringWindow: progressEvents - eventsBefore,
      stillTrainingAtEnd: stillTraining,
      p50Ms: Number(quantile(sorted, 0.5).toFixed(2)),
      p95Ms: Number(quantile(sorted, 0.95).toFixed(2)),
      p99Ms: Number(quantile(sorted, 0.99).toFixed(2)),
      maxMs: Number(sorted[sorted.length - 1].toFixed(2)),
      targetP99Ms: TARGET_P99_MS,
    };
    if (values.json) console.log(JSON.stringify(result));
    else {
      say(`system.info round-trips over WebSocket while training (${info.backend}, ${info.device}):`);
      say(
        `  ${calls} calls over ${result.windowSec} s, ${stepsDuring} training steps in that window${stillTraining ? '' : ' (WARNING: the run was no longer training at the end)'}`,
      );
      say(`  p50 ${result.p50Ms} ms   p95 ${result.p95Ms} ms   p99 ${result.p99Ms} ms   max ${result.maxMs} ms`);
      say(`  target p99 < ${TARGET_P99_MS} ms: ${result.p99Ms < TARGET_P99_MS ? 'met' : 'MISSED'}`);
    }
    if (stepsDuring < 1 || !stillTraining) process.exitCode = 1; // not measured while training
  } finally {
    ws.close();
    await host.close({ stopTimeoutMs: 30_000 });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`bench-responsiveness: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
