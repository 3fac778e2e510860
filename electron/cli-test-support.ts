// Runs `isd …` in this process for tests (electron/cli.test.ts, cli-study.test.ts): the real program,
// a real database file, stdout and stderr captured.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, vi } from 'vitest';
import { buildProgram } from './cli';
import type { EngineOptions } from './engine/protocol';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runIsd(db: string, engine: EngineOptions, args: string[]): Promise<CliRun> {
  const state = { code: 0 };
  const program = buildProgram(state, { engine });
  let stdout = '';
  let stderr = '';
  const out = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    await program.parseAsync([...args, '--db', db], { from: 'user' });
  } catch (e) {
    state.code = (e as { code?: string }).code?.startsWith('commander.') ? 2 : 1;
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { code: state.code, stdout, stderr };
}

export const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Engine knobs that keep CLI tests fast: a narrow encoder and small kNN sets. */
export const TINY_ENGINE: EngineOptions = { baseWidth: 4, evalBankLimit: 400, evalTestLimit: 200 };

/**
 * For a test file: a temporary folder with a history database, made before the tests and removed
 * after; `isd(...)` runs the program on that database with TINY_ENGINE, `dir()` is the folder.
 */
export function isdOnTempDb(prefix: string): { isd: (...args: string[]) => Promise<CliRun>; dir: () => string } {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { isd: (...args) => runIsd(path.join(dir, 'history.db'), TINY_ENGINE, args), dir: () => dir };
}
