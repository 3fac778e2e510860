import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_WINDOW_STATE,
  fitWindowState,
  MIN_WINDOW_SIZE,
  readWindowState,
  WINDOW_STATE_FILE,
  writeWindowState,
} from './window-state';

const SCREEN = [{ x: 0, y: 0, width: 1920, height: 1080 }];
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-window-'));
  dirs.push(d);
  return d;
};

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('window state', () => {
  it('round-trips size, position and maximized through the file', () => {
    const d = tmp();
    expect(writeWindowState(d, { x: 100, y: 50, width: 1000, height: 700, maximized: true })).toBeNull();
    expect(readWindowState(d, SCREEN)).toEqual({ x: 100, y: 50, width: 1000, height: 700, maximized: true });
    expect(fs.readdirSync(d)).toEqual([WINDOW_STATE_FILE]); // no temporary file left behind
  });

  it('falls back to the default on a missing or corrupt file', () => {
    const d = tmp();
    expect(readWindowState(d, SCREEN)).toEqual(DEFAULT_WINDOW_STATE);
    fs.writeFileSync(path.join(d, WINDOW_STATE_FILE), '{not json');
    expect(readWindowState(d, SCREEN)).toEqual(DEFAULT_WINDOW_STATE);
  });

  it('drops a position on a display that is gone and clamps sizes', () => {
    expect(fitWindowState({ x: 3000, y: 0, width: 1000, height: 700 }, SCREEN)).toEqual({
      width: 1000,
      height: 700,
      maximized: false,
    });
    expect(fitWindowState({ x: -900, y: 0, width: 1000, height: 700 }, SCREEN)).toEqual({
      width: 1000,
      height: 700,
      maximized: false,
    });
    expect(fitWindowState({ x: -100, y: 0, width: 1000, height: 700 }, SCREEN)).toMatchObject({ x: -100, y: 0 });
    expect(fitWindowState({ width: 10, height: 99_999 }, SCREEN)).toEqual({
      width: MIN_WINDOW_SIZE.width,
      height: 1080,
      maximized: false,
    });
    expect(fitWindowState({ width: 'wide', height: null, x: NaN, y: 0 }, SCREEN)).toEqual(DEFAULT_WINDOW_STATE);
  });

  it('reports a write it could not make instead of throwing', () => {
    const d = tmp();
    const file = path.join(d, 'a-file');
    fs.writeFileSync(file, '');
    expect(writeWindowState(path.join(file, 'sub'), DEFAULT_WINDOW_STATE)).toBeInstanceOf(Error);
  });
});
