/**
 * The training-step benchmark (electron/engine/bench.ts), and the side-by-side with the PyTorch
 * reference that issue 4 asks for: both run alternately, several rounds, in one sitting.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-train.js [--steps 10] [--threads N] [--replicas 1|2]
 *     [--bn-groups G] [--no-shuffle-bn]
 *       [--backend wasm|cpu|tensorflow] [--method isd|moco] [--batch 128] [--json] [--quick (no shares)]
 *       [--vs-torch ROUNDS] [--torch-threads 2] [--torch-script scripts/torch_isd_step.py]
 *
 * The machine may be shared: the side-by-side reports the best and the spread of each, and the
 * ratio of the bests.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBenchmark, type BenchmarkResult } from '../electron/engine/bench';
import type { BackendName } from '../electron/engine/backend';
import type { Method } from '../electron/engine/training-step';
import { exitCodeFor } from '../electron/errors';

interface TorchResult {
  images_per_s: number;
  threads: number;
  torch: string;
}

function runTorch(script: string, threads: number, steps: number, batch: number): TorchResult {
  const out = execFileSync(
    '/usr/bin/python3',
    [script, '--threads', String(threads), '--steps', String(steps), '--batch', String(batch)],
    {
      encoding: 'utf8',
      timeout: 600_000,
    },
  );
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchResult;
}

function spread(xs: number[]): { best: number; worst: number; median: number; all: number[] } {
  const s = [...xs].sort((a, b) => a - b);
  return {
    best: s[s.length - 1],
    worst: s[0],
    median: s[Math.floor(s.length / 2)],
    all: xs.map((x) => Math.round(x * 10) / 10),
  };
}

function describe(r: BenchmarkResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
  const lines = [
    `${r.method} ${r.arch}, batch ${r.batch}, ${r.size}×${r.size}×${r.channels}, queue ${r.queue}, ${r.steps} steps`,
    `backend  ${r.backend} on ${r.device}`,
    `speed    ${r.imagesPerSec.toFixed(1)} images/s (best step ${r.bestImagesPerSec.toFixed(1)})`,
  ];
  if (r.shares && r.partsMs) {
    const p = r.partsMs;
    lines.push(
      `shares   augment ${pct(r.shares.augment)} (${p.augment.toFixed(0)} ms), forward ${pct(r.shares.forward)} (${p.forward.toFixed(0)} ms), ` +
        `backward ${pct(r.shares.backward)} (${p.backward.toFixed(0)} ms), update ${pct(r.shares.update)} (${p.update.toFixed(0)} ms)`,
    );
  }
  lines.push(
    `memory   peak RSS ${r.peakRssMB.toFixed(0)} MB, tensors ${r.numTensorsStable ? 'flat' : 'GROWING'} (${r.numTensors})`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '10' },
      threads: { type: 'string' },
      replicas: { type: 'string' },
      backend: { type: 'string' },
      method: { type: 'string', default: 'isd' },
      batch: { type: 'string', default: '128' },
      /** BatchNorm groups (default: a run's, 2); 1 with --no-shuffle-bn is the step before Shuffle BN. */
      'bn-groups': { type: 'string' },
      'no-shuffle-bn': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      /** Skip measuring the shares (augmentation, forward, update passes). */
      quick: { type: 'boolean', default: false },
      'vs-torch': { type: 'string' },
      'torch-threads': { type: 'string', default: '2' },
      'torch-script': { type: 'string', default: path.resolve(__dirname, '../../scripts/torch_isd_step.py') },
    },
  });
  const opts = {
    steps: Number(values.steps),
    threads: values.threads === undefined ? undefined : Number(values.threads),
    replicas: values.replicas === undefined ? undefined : Number(values.replicas),
    backend: values.backend as BackendName | undefined,
    method: values.method as Method,
    batch: Number(values.batch),
    bnGroups: values['bn-groups'] === undefined ? undefined : Number(values['bn-groups']),
    shuffleBn: values['no-shuffle-bn'] ? false : undefined,
    shares: !values.quick,
  };
  if (values['vs-torch'] === undefined) {
    const r = await runBenchmark(opts);
    console.log(values.json ? JSON.stringify(r) : describe(r));
    return;
  }
  const rounds = Number(values['vs-torch']);
  const script = values['torch-script'];
  if (!fs.existsSync(script)) throw new Error(`${script}: no such file (give --torch-script)`);
  const ours: BenchmarkResult[] = [];
  const torch: TorchResult[] = [];
  for (let i = 0; i < rounds; i++) {
    torch.push(runTorch(script, Number(values['torch-threads']), opts.steps, opts.batch));
    ours.push(await runBenchmark({ ...opts, shares: !values.quick && i === rounds - 1 }));
    if (!values.json)
      console.error(
        `round ${i + 1}/${rounds}: pytorch ${torch[i].images_per_s} images/s, ours ${ours[i].imagesPerSec.toFixed(1)}`,
      );
  }
  const o = spread(ours.map((r) => r.imagesPerSec));
  const t = spread(torch.map((r) => r.images_per_s));
  const summary = {
    rounds,
    ours: { backend: ours[0].backend, device: ours[0].device, threads: ours[0].threads, imagesPerSec: o },
    pytorch: { torch: torch[0].torch, threads: torch[0].threads, imagesPerSec: t },
    ratioOfBests: o.best / t.best,
    ratioOfMedians: o.median / t.median,
    last: ours[ours.length - 1],
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(describe(summary.last));
    console.log(
      `pytorch  ${t.best} images/s best of ${rounds} (median ${t.median}, worst ${t.worst}), ${summary.pytorch.threads} threads`,
    );
    console.log(
      `ours     ${o.best.toFixed(1)} images/s best of ${rounds} (median ${o.median.toFixed(1)}, worst ${o.worst.toFixed(1)})`,
    );
    console.log(
      `ratio    ${summary.ratioOfBests.toFixed(2)} of PyTorch's best (${summary.ratioOfMedians.toFixed(2)} of medians)`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(exitCodeFor(e));
});
