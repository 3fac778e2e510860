/**
 * Where the app keeps its files. The CLI and the web host use the same defaults as the Electron app
 * (whose userData folder is "<config dir>/ISD Studio"), so runs from all three land in one history.
 */
import os from 'node:os';
import path from 'node:path';
import { findProjectRoot } from '../data/registry';

export const APP_NAME = 'ISD Studio';

/** The Electron `userData` folder for this app, computed without Electron. */
export function defaultUserDataDir(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (env.ISD_HOME) return path.resolve(env.ISD_HOME);
  const home = os.homedir();
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', APP_NAME);
  if (platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), APP_NAME);
  return path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), APP_NAME);
}

/** The run-history database: --db, else ISD_DB, else <userData>/history.db. */
export function resolveDbPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.ISD_DB) return path.resolve(env.ISD_DB);
  return path.join(defaultUserDataDir(process.platform, env), 'history.db');
}

/** Checkpoints live beside the database, one folder per run: <db dir>/runs/<runId>/. */
export function checkpointRootFor(dbPath: string): string {
  return path.join(path.dirname(path.resolve(dbPath)), 'runs');
}

/** The repository (or packaged app) root: the nearest folder above `start` holding package.json. */
export function appRoot(start: string = __dirname): string {
  return findProjectRoot(start) ?? start;
}
