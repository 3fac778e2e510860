/**
 * Checks the engine's training step against PyTorch: runs a few ISD (or MoCo) steps from a seeded
 * initial state on random inputs, saves the initial and final states as checkpoints, and has
 * scripts/engine_torch_parity.py replay the same steps with PyTorch's own layers, BatchNorm, SGD and
 * losses. Prints losses from both and the largest difference in any variable. Needs /usr/bin/python3
 * with torch (Debian's python3-torch), so it is a script, not a unit test.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/engine-torch-parity.js [--method isd|moco]
 *       [--arch resnet20|resnet18] [--backend wasm|cpu] [--steps 3] [--batch 8] [--size 16] [--channels 1]
 *       [--width N]
 * PyTorch replays in float64 (the reference) and float32 (the size of float32 rounding for this case).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../electron/engine/backend';
import { writeCheckpoint } from '../electron/engine/checkpoint';
import { createTrainingStep, type TrainingStepOptions } from '../electron/engine/training-step';
import { Rng } from '../electron/rng';
import { runMain } from './run-main';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      method: { type: 'string', default: 'isd' },
      arch: { type: 'string', default: 'resnet20' },
      backend: { type: 'string' },
      steps: { type: 'string', default: '3' },
      batch: { type: 'string', default: '8' },
      size: { type: 'string', default: '16' },
      channels: { type: 'string', default: '1' },
      python: { type: 'string', default: '/usr/bin/python3' },
      width: { type: 'string' },
    },
  });
  const report = await initBackend({ prefer: values.backend as BackendName | undefined });
  const size = Number(values.size);
  const c = Number(values.channels);
  const B = Number(values.batch);
  const steps = Number(values.steps);
  const options: TrainingStepOptions = {
    method: values.method === 'moco' ? 'moco' : 'isd',
    arch: values.arch === 'resnet18' ? 'resnet18' : 'resnet20',
    inputShape: [size, size, c],
    batchSize: B,
    queueSize: 4 * B,
    tempTeacher: 0.04,
    tempStudent: 0.1,
    temperature: 0.2,
    ema: 0.9,
    momentum: 0.9,
    weightDecay: 1e-4,
    seed: 11,
    baseWidth: values.width ? Number(values.width) : undefined,
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-parity-'));
  const ts = createTrainingStep(options);
  const base = { runId: 'parity', config: { step: options }, epoch: 0, stepInEpoch: 0, rng: {} };
  const initial = await writeCheckpoint(path.join(dir, 'initial'), {
    ...base,
    kind: 'periodic',
    step: 0,
    state: await ts.readState(),
  });
  const rng = new Rng(5);
  const per = B * size * size * c;
  const inputs = new Float32Array(steps * 2 * per);
  for (let i = 0; i < inputs.length; i++) inputs[i] = rng.normal();
  fs.writeFileSync(path.join(dir, 'inputs.bin'), new Uint8Array(inputs.buffer));
  const lrs = Array.from({ length: steps }, (_, i) => 0.05 * (1 - i / (2 * steps)));
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const xs = tf.tensor4d(inputs.subarray(2 * i * per, (2 * i + 1) * per), [B, size, size, c]);
    const xt = tf.tensor4d(inputs.subarray((2 * i + 1) * per, (2 * i + 2) * per), [B, size, size, c]);
    losses.push((await ts.step(xs, xt, lrs[i])).loss);
    xs.dispose();
    xt.dispose();
  }
  const final = await writeCheckpoint(path.join(dir, 'final'), {
    ...base,
    kind: 'final',
    step: steps,
    state: await ts.readState(),
  });
  const spec = ts.spec.backbone;
  fs.writeFileSync(
    path.join(dir, 'steps.json'),
    JSON.stringify({
      initial,
      final,
      lr: lrs,
      losses,
      widths: spec.stages.map((s) => s.width),
      blocks: spec.stages.map((s) => s.blocks),
    }),
  );
  ts.dispose();
  const out = execFileSync(
    values.python!,
    [path.join(__dirname, '..', '..', 'scripts', 'engine_torch_parity.py'), dir],
    { encoding: 'utf8' },
  );
  type Gap = { loss: number; var: number; worst_var: string };
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    engine_vs_torch64: Gap;
    torch32_vs_torch64: Gap;
  };
  console.log(JSON.stringify({ backend: report.backend, arch: options.arch, batch: B, size, channels: c, ...result }));
  fs.rmSync(dir, { recursive: true, force: true });
  // The engine passes when it is as close to float64 as PyTorch's own float32 is (or within 1e-5).
  const e = result.engine_vs_torch64;
  const t = result.torch32_vs_torch64;
  return e.loss <= Math.max(1e-5, 10 * t.loss) && e.var <= Math.max(1e-5, 10 * t.var) ? 0 : 1;
}

runMain(main);
