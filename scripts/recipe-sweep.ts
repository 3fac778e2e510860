/**
 * The short-run recipe sweep (issue 13): trains each setting × method × seed with `isd train` on
 * Fashion-MNIST, one run at a time, each from a preset with flags over it, and prints, per setting
 * and method, the 20-NN gain over the run's own step 0 (mean and range over seeds) and wall time.
 * Results append to --out as JSON lines, so an interrupted sweep resumes where it stopped.
 *
 *   npx tsc -p tsconfig.node.json && nice node dist/scripts/recipe-sweep.js --preset cpu-ten-minutes \
 *     --methods isd,moco --seeds 0,1 --out sweep.jsonl \
 *     --try 'preset:' --try 'temps 0.02/0.2: --temp-teacher 0.02 --temp-student 0.2' --try '28px: --image-size 28'
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ISD = path.join(__dirname, '..', '..', 'bin', 'isd.js');

interface Result {
  setting: string;
  method: string;
  seed: number;
  status: string;
  step0: number | null;
  final: number | null;
  wallSec: number;
}

/** One `isd train --json` run; its epoch-0 and last 20-NN from the event stream. */
function train(args: string[], db: string): Promise<Omit<Result, 'setting' | 'method' | 'seed'>> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ISD, 'train', ...args, '--json', '--db', db], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let step0: number | null = null;
    let final: number | null = null;
    let status = 'failed';
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const e = JSON.parse(line) as { type: string; epoch?: number; knn20?: number | null; status?: string };
        if (e.type === 'epoch' && e.epoch === 0) step0 = e.knn20 ?? null;
        if (e.type === 'epoch') final = e.knn20 ?? null;
        if (e.type === 'done') status = e.status ?? status;
        if (e.type === 'error') status = `error: ${line}`;
      }
    });
    child.on('close', () => resolve({ status, step0, final, wallSec: (Date.now() - t0) / 1000 }));
  });
}

function summary(rows: Result[]): string {
  const groups = new Map<string, Result[]>();
  for (const r of rows)
    groups.set(`${r.setting}\0${r.method}`, [...(groups.get(`${r.setting}\0${r.method}`) ?? []), r]);
  const out = [
    '| setting | method | seeds | step 0 | final | gain (mean, range) | wall s |',
    '|---|---|---|---|---|---|---|',
  ];
  const pt = (v: number) => (v * 100).toFixed(2);
  for (const [key, rs] of groups) {
    const ok = rs.filter((r) => r.step0 !== null && r.final !== null);
    const gains = ok.map((r) => r.final! - r.step0!);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const [setting, method] = key.split('\0');
    out.push(
      `| ${setting} | ${method} | ${ok.map((r) => r.seed).join(',')} | ${pt(mean(ok.map((r) => r.step0!)))} | ${pt(mean(ok.map((r) => r.final!)))} | ${gains.length ? `${pt(mean(gains))} (${pt(Math.min(...gains))}…${pt(Math.max(...gains))})` : '—'} | ${mean(rs.map((r) => r.wallSec)).toFixed(0)} |`,
    );
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      preset: { type: 'string', default: 'cpu-ten-minutes' },
      methods: { type: 'string', default: 'isd,moco' },
      seeds: { type: 'string', default: '0,1' },
      try: { type: 'string', multiple: true, default: ['preset:'] },
      dataset: { type: 'string', default: 'fashion-mnist' },
      out: { type: 'string', default: 'recipe-sweep.jsonl' },
    },
  });
  const done: Result[] = fs.existsSync(values.out)
    ? fs
        .readFileSync(values.out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Result)
    : [];
  const db = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'isd-sweep-')), 'history.db');
  for (const t of values.try) {
    const colon = t.indexOf(':');
    if (colon < 0) throw new Error(`--try "${t}": expected "name: flags…"`);
    const setting = t.slice(0, colon).trim();
    const flags = t
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    for (const method of values.methods.split(','))
      for (const seed of values.seeds.split(',').map(Number)) {
        if (done.some((r) => r.setting === setting && r.method === method && r.seed === seed)) continue;
        const args = [
          '--preset',
          values.preset,
          '--dataset',
          values.dataset,
          '--method',
          method,
          '--seed',
          String(seed),
          ...flags,
        ];
        console.error(`== ${setting} · ${method} · seed ${seed}: isd train ${args.join(' ')}`);
        const r: Result = { setting, method, seed, ...(await train(args, db)) };
        fs.appendFileSync(values.out, `${JSON.stringify(r)}\n`);
        done.push(r);
      }
  }
  console.log(summary(done));
}

void main();
