/**
 * What each of our wasm kernels gives: the training-step benchmark with all of them, then with
 * each group switched back to the shipped kernel (ISD_WASM_KERNELS_OFF), and with 1 and 2 threads.
 * Every configuration runs in its own process (kernels are registered at backend start), in
 * rounds, so that a shared machine's load falls on all of them alike.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-ablation.js [--rounds 3] [--steps 4] [--threads 2] [--json]
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchmarkResult } from '../electron/engine/bench';

const CONFIGS: { name: string; off: string; threads?: number }[] = [
  { name: 'all our kernels', off: '' },
  { name: 'shipped Identity, Cast (copies)', off: 'Identity,Cast' },
  { name: 'shipped Sum, Mean', off: 'Sum,Mean' },
  { name: 'shipped Mul/Add/Sub/Div', off: 'Multiply,Add,Sub,RealDiv' },
  { name: 'shipped BatchMatMul', off: 'BatchMatMul' },
  { name: 'shipped Conv2DBackpropInput', off: 'Conv2DBackpropInput' },
  { name: 'all our kernels, 1 thread', off: '', threads: 1 },
];

function main(): void {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '4' },
      threads: { type: 'string', default: '2' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const script = path.join(__dirname, 'bench-train.js');
  const configs = values.only
    ? CONFIGS.filter((c) => values.only!.split(',').includes(String(CONFIGS.indexOf(c))))
    : CONFIGS;
  const results = new Map<string, BenchmarkResult[]>();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const c of configs) {
      const threads = String(c.threads ?? values.threads);
      const out = execFileSync(
        process.execPath,
        [script, '--json', '--quick', '--steps', values.steps, '--threads', threads, '--backend', 'wasm'],
        {
          encoding: 'utf8',
          env: { ...process.env, ISD_WASM_KERNELS_OFF: c.off },
          timeout: 900_000,
        },
      );
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as BenchmarkResult;
      results.set(c.name, [...(results.get(c.name) ?? []), r]);
      if (!values.json)
        console.error(
          `round ${round + 1}: ${c.name}: ${r.imagesPerSec.toFixed(1)} images/s, ${r.cpuMsPerStep.toFixed(0)} ms CPU/step`,
        );
    }
  }
  const rows = configs.map((c) => {
    const rs = results.get(c.name) ?? [];
    const ips = rs.map((r) => r.imagesPerSec);
    const cpu = rs.map((r) => r.cpuMsPerStep);
    return {
      name: c.name,
      bestImagesPerSec: Math.max(...ips),
      worstImagesPerSec: Math.min(...ips),
      bestCpuMsPerStep: Math.min(...cpu),
      peakRssMB: Math.max(...rs.map((r) => r.peakRssMB)),
    };
  });
  if (values.json) {
    console.log(JSON.stringify(rows));
    return;
  }
  console.log('configuration                        images/s best (worst)   CPU ms/step (best)   peak RSS MB');
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(36)} ${r.bestImagesPerSec.toFixed(1).padStart(8)} (${r.worstImagesPerSec.toFixed(1)})   ${r.bestCpuMsPerStep.toFixed(0).padStart(10)}   ${r.peakRssMB.toFixed(0).padStart(10)}`,
    );
  }
}

main();
