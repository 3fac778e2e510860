// No source file over 500 lines (tests, specs and test support excluded): prints each offender, exits 1 if any.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const LIMIT = 500;
const files = execFileSync('git', ['ls-files', '*.ts', '*.tsx', '*.mjs', '*.js'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f && !/\.(test|spec)\.[cm]?[jt]sx?$/.test(f) && !/test-support/.test(f));
const over = [];
for (const f of files) {
  const lines = readFileSync(f, 'utf8').split('\n').length - 1;
  if (lines > LIMIT) over.push(`${f}: ${lines} lines (limit ${LIMIT})`);
}
for (const o of over) console.error(o);
if (over.length) process.exit(1);
console.log(`${files.length} source files, none over ${LIMIT} lines`);
