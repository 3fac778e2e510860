/** Runs whose process is gone: found when the store opens, marked interrupted so they can be resumed. */
import fs from 'node:fs';
import path from 'node:path';
import { storedError, type IsdErrorCode } from '../errors';
import type { StoreContext } from './context';
import type { RunStatus } from '../run-status';

/**
 * A run's end that the history refused (a full disk): kept in its checkpoint folder, which may lie on
 * another disk, so that the next open can say why the run ended. Removed once the end is recorded.
 */
export const END_NOTE_FILE = 'unrecorded-end.json';

export interface EndNote {
  code: IsdErrorCode;
  message: string;
  /** When the end could not be written (ms since the epoch). */
  at: number;
}

/** Writes the note; false when it cannot be written either (then the next open gives no reason). */
export function writeEndNote(checkpointDir: string, note: EndNote): boolean {
  try {
    fs.mkdirSync(checkpointDir, { recursive: true });
    fs.writeFileSync(path.join(checkpointDir, END_NOTE_FILE), JSON.stringify(note));
    return true;
  } catch {
    return false;
  }
}

export function readEndNote(checkpointDir: string | null): EndNote | null {
  if (!checkpointDir) return null;
  try {
    const n = JSON.parse(fs.readFileSync(path.join(checkpointDir, END_NOTE_FILE), 'utf8')) as Partial<EndNote>;
    return typeof n.code === 'string' && typeof n.message === 'string' && typeof n.at === 'number'
      ? (n as EndNote)
      : null;
  } catch {
    return null; // none, or unreadable: the run gets the generic reason
  }
}

export function removeEndNote(checkpointDir: string | null): void {
  if (!checkpointDir) return;
  try {
    fs.rmSync(path.join(checkpointDir, END_NOTE_FILE), { force: true });
  } catch {
    // A note left behind is read again only for a run whose process is gone, which this one is not.
  }
}

/**
 * Marks interrupted the runs left running or paused by a process that is gone (a crash, a kill,
 * a power cut), with the reason its end note gives when it left one. Runs of a live process
 * (another app window, a CLI training) are left alone.
 */
export function recoverInterruptedRuns(ctx: StoreContext): string[] {
  const recover = ctx.db.transaction(() => {
    const open = ctx.sc
      .get<{ id: string; status: RunStatus; ownerPid: number | null; checkpointDir: string | null }>(
        "SELECT id, status, owner_pid AS ownerPid, checkpoint_dir AS checkpointDir FROM runs WHERE status IN ('running', 'paused')",
      )
      .all();
    const orphans = open.filter((r) => r.ownerPid === null || !processAlive(r.ownerPid));
    const mark = ctx.sc.get(
      "UPDATE runs SET status = 'interrupted', finished_at = NULL, owner_pid = NULL, error = ? WHERE id = ?",
    );
    const when = new Date(ctx.now()).toISOString();
    const noted: (string | null)[] = [];
    for (const r of orphans) {
      const who = r.ownerPid === null ? 'its process' : `process ${r.ownerPid}`;
      const note = readEndNote(r.checkpointDir);
      if (note) noted.push(r.checkpointDir);
      mark.run(
        storedError(
          note
            ? {
                code: note.code,
                message: `${note.message} [the run ended at ${new Date(note.at).toISOString()} but the history could not record it then; found at ${when}]`,
              }
            : {
                code: 'INTERRUPTED',
                message: `${who} ended while the run was ${r.status} (found at ${when}); resume it from its last checkpoint`,
              },
        ),
        r.id,
      );
    }
    // Queued in a process that ended before their turn: stopped, so they can be stopped or resumed (from scratch).
    const waiting = ctx.sc
      .get<{ id: string; ownerPid: number | null }>(
        "SELECT id, owner_pid AS ownerPid FROM runs WHERE status = 'queued'",
      )
      .all()
      .filter((r) => r.ownerPid === null || !processAlive(r.ownerPid));
    const stop = ctx.sc.get(
      "UPDATE runs SET status = 'stopped', finished_at = ?, owner_pid = NULL, error = ? WHERE id = ?",
    );
    for (const r of waiting) {
      const who = r.ownerPid === null ? 'its process' : `process ${r.ownerPid}`;
      stop.run(
        ctx.now(),
        storedError({
          code: 'INTERRUPTED',
          message: `${who} ended before this run's turn (found at ${when}); resume it to start it`,
        }),
        r.id,
      );
    }
    return { ids: orphans.map((r) => r.id), noted };
  });
  const { ids, noted } = recover.immediate();
  for (const dir of noted) removeEndNote(dir); // recorded now: the note has done its job
  return ids;
}

/** Signal 0 tests for existence without touching the process; EPERM means it exists under another user. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
