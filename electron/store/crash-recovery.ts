/** Runs whose process is gone: found when the store opens, marked interrupted so they can be resumed. */
import { storedError } from '../errors';
import type { StoreContext } from './context';
import type { RunStatus } from '../run-status';

/**
 * Marks interrupted the runs left running or paused by a process that is gone (a crash, a kill,
 * a power cut). Runs of a live process (another app window, a CLI training) are left alone.
 */
export function recoverInterruptedRuns(ctx: StoreContext): string[] {
  const recover = ctx.db.transaction(() => {
    const open = ctx.sc
      .get<{ id: string; status: RunStatus; ownerPid: number | null }>(
        "SELECT id, status, owner_pid AS ownerPid FROM runs WHERE status IN ('running', 'paused')",
      )
      .all();
    const orphans = open.filter((r) => r.ownerPid === null || !processAlive(r.ownerPid));
    const mark = ctx.sc.get(
      "UPDATE runs SET status = 'interrupted', finished_at = NULL, owner_pid = NULL, error = ? WHERE id = ?",
    );
    const when = new Date(ctx.now()).toISOString();
    for (const r of orphans) {
      const who = r.ownerPid === null ? 'its process' : `process ${r.ownerPid}`;
      mark.run(
        storedError({
          code: 'INTERRUPTED',
          message: `${who} ended while the run was ${r.status} (found at ${when}); resume it from its last checkpoint`,
        }),
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
    return orphans.map((r) => r.id);
  });
  return recover.immediate();
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
