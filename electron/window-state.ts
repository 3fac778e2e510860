/**
 * The main window's size and position, remembered in a small JSON file in userData. Pure Node (no
 * Electron import): main.ts passes the displays' work areas in, so a window saved on a monitor that is
 * gone comes back on one that exists.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  /** Absent when never saved: the window is centred. */
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const WINDOW_STATE_FILE = 'window-state.json';
export const DEFAULT_WINDOW_STATE: WindowState = { width: 1280, height: 860, maximized: false };
export const MIN_WINDOW_SIZE = { width: 800, height: 560 };

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Area shared by two rectangles (0 when they do not overlap). */
function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Checks a saved state against the displays' work areas: sizes clamped to the minimum and to the
 * largest display, a position kept only when at least a quarter of the window is on some display.
 */
export function fitWindowState(saved: unknown, workAreas: readonly Rect[]): WindowState {
  if (typeof saved !== 'object' || saved === null) return { ...DEFAULT_WINDOW_STATE };
  const s = saved as Record<string, unknown>;
  const maxW = Math.max(MIN_WINDOW_SIZE.width, ...workAreas.map((a) => a.width));
  const maxH = Math.max(MIN_WINDOW_SIZE.height, ...workAreas.map((a) => a.height));
  const width = finite(s.width)
    ? Math.round(Math.min(maxW, Math.max(MIN_WINDOW_SIZE.width, s.width)))
    : DEFAULT_WINDOW_STATE.width;
  const height = finite(s.height)
    ? Math.round(Math.min(maxH, Math.max(MIN_WINDOW_SIZE.height, s.height)))
    : DEFAULT_WINDOW_STATE.height;
  const state: WindowState = { width, height, maximized: s.maximized === true };
  if (finite(s.x) && finite(s.y)) {
    const rect = { x: Math.round(s.x), y: Math.round(s.y), width, height };
    if (workAreas.some((a) => overlap(rect, a) >= (width * height) / 4)) {
      state.x = rect.x;
      state.y = rect.y;
    }
  }
  return state;
}

/** The saved state, or the default when the file is missing or unreadable (never throws). */
export function readWindowState(userDataDir: string, workAreas: readonly Rect[]): WindowState {
  try {
    const text = fs.readFileSync(path.join(userDataDir, WINDOW_STATE_FILE), 'utf8');
    return fitWindowState(JSON.parse(text), workAreas);
  } catch {
    return fitWindowState(null, workAreas);
  }
}

/** Saves through a temporary file and a rename, so a crash mid-write leaves the old file. Errors are returned, not thrown. */
export function writeWindowState(userDataDir: string, state: WindowState): Error | null {
  const file = path.join(userDataDir, WINDOW_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(userDataDir, { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(state));
    fs.renameSync(tmp, file);
    return null;
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing left to clean
    }
    return err as Error;
  }
}
