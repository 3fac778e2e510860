/**
 * Images/s of the full training step (as `isd bench`) at several image sides, the sides alternated
 * round by round so that a drift in load falls on all of them, and the exponent a of cost per image ∝
 * side^a fitted on the medians: the scaling run-estimate.ts applies to a speed measured at another side.
 *
 *   npx tsc -p tsconfig.node.json && node dist/scripts/bench-sides.js [--rounds 3] [--steps 8] [--method isd|moco]
 */
import { parseArgs } from 'node:util';
import { runBenchmark } from '../electron/engine/bench';
import { SIDE_COST_EXPONENT } from '../electron/app/run-estimate';
import { median } from '../electron/study/results';

const SIDES = [16, 20, 24, 28, 32];
const FLAGS = {
  rounds: { type: 'string', default: '3' },
  steps: { type: 'string', default: '8' },
  method: { type: 'string', default: 'isd' },
} as const;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: FLAGS });
  const rounds = Number(values.rounds);
  const method = values.method === 'moco' ? 'moco' : 'isd';
  const rates = new Map<number, number[]>(SIDES.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++)
    for (const size of r % 2 ? [...SIDES].reverse() : SIDES) {
      const b = await runBenchmark({ size, steps: Number(values.steps), shares: false, method });
      rates.get(size)!.push(b.imagesPerSec);
      console.log(
        `round ${r} side ${size}: ${b.imagesPerSec.toFixed(1)} images/s (${b.backend}, ${b.replicas} replicas)`,
      );
    }
  const med = SIDES.map((s) => median(rates.get(s)!));
  // Least squares of log(1 / rate) on log(side).
  const xs = SIDES.map(Math.log);
  const ys = med.map((m) => Math.log(1 / m));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  const a = xs.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  console.log(`median images/s: ${SIDES.map((s, i) => `${s} px ${med[i]!.toFixed(1)}`).join(', ')}`);
  const at = (side: number) => med[SIDES.indexOf(side)]!;
  console.log(
    `cost per image ∝ side^${a.toFixed(2)} (run-estimate.ts assumes ${SIDE_COST_EXPONENT}); 28 → 16 px: measured ×${(at(16) / at(28)).toFixed(2)}, assumed ×${((28 / 16) ** SIDE_COST_EXPONENT).toFixed(2)}`,
  );
}

void main();
