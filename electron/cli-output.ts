/**
 * How the `isd` command line speaks: with --json, stdout carries JSON only (one object, or one per
 * line for streams) and human text goes to stderr; without it, human text goes to stdout.
 */
import { exitCodeFor, isIsdError } from './errors';

export class CliOutput {
  constructor(readonly json: boolean) {}

  /** The command's result: JSON on stdout, or `human()` text. */
  result(value: unknown, human: () => string): void {
    if (this.json) process.stdout.write(JSON.stringify(value) + '\n');
    else process.stdout.write(human() + '\n');
  }

  /** One line of a stream (isd train): a JSON line, or human text. */
  line(value: unknown, human?: string): void {
    if (this.json) process.stdout.write(JSON.stringify(value) + '\n');
    else if (human !== undefined) process.stdout.write(human + '\n');
  }

  /** Progress or notes for people: stderr with --json, stdout without. */
  info(text: string): void {
    (this.json ? process.stderr : process.stdout).write(text + '\n');
  }

  /** Progress of a command whose stdout is a document (isd study's report): stderr, never JSON. */
  progress(text: string): void {
    if (!this.json) process.stderr.write(text + '\n');
  }

  /** One line naming the field or file and the reason; returns the exit code (2 bad input, 1 other). */
  error(e: unknown): 1 | 2 {
    const code = exitCodeFor(e);
    if (isIsdError(e)) {
      const where = e.field ? `${e.field}: ` : '';
      if (this.json) process.stdout.write(JSON.stringify({ type: 'error', ...e.toJSON() }) + '\n');
      process.stderr.write(`isd: ${where}${e.message}\n`);
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      if (this.json) process.stdout.write(JSON.stringify({ type: 'error', code: 'INTERNAL', message: msg }) + '\n');
      process.stderr.write(`isd: internal error: ${msg}\n`);
      if (process.env.ISD_DEBUG && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    }
    return code;
  }
}

/** Renders rows as an aligned plain-text table. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined ? '' : String(v))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const fmt = (r: string[]) =>
    r
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n');
}

export function pct(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`;
}
