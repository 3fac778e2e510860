/**
 * One history, one queue: which process holds a run. A run that is queued, running or paused records
 * its process (owner_pid); a process trains a run only after claiming it here, in one IMMEDIATE
 * transaction, so two processes on one file can never both train it, nor train two runs at once.
 * A claim whose process is gone can be taken over.
 */
import { IsdError } from '../errors';
import { processAlive } from './crash-recovery';
import type { StoreContext } from './context';
import type { RunStatus } from '../run-status';
import { runNotFound } from './checks';

/** The outcome of a claim: taken (the run is now running, owned by this process), or another run trains. */
export type ClaimResult = { claimed: true } | { claimed: false; behind: { id: string; name: string; pid: number } };

/** Statuses a run may be claimed from (to become running); a held run only when its process is gone. */
const CLAIMABLE: ReadonlySet<RunStatus> = new Set(['queued', 'interrupted', 'stopped', 'failed']);
const HELD: ReadonlySet<RunStatus> = new Set(['queued', 'running', 'paused']);

/** The process holding a run (queued, running or paused there), null when none does or it is gone. */
export function liveOwner(ctx: StoreContext, id: string): number | null {
  const row = ctx.sc
    .get<{ status: RunStatus; ownerPid: number | null }>('SELECT status, owner_pid AS ownerPid FROM runs WHERE id = ?')
    .get(id);
  if (!row) throw runNotFound(id);
  if (!HELD.has(row.status) || row.ownerPid === null) return null;
  return processAlive(row.ownerPid) ? row.ownerPid : null;
}

/**
 * Claims run `id` for this process: refused (CONFLICT) when it is completed or held by another live
 * process; not taken while another live process trains or holds paused a run of this history.
 */
export function claimRun(ctx: StoreContext, id: string): ClaimResult {
  const claim = ctx.db.transaction((): ClaimResult => {
    const cur = ctx.sc
      .get<{ status: RunStatus; ownerPid: number | null }>(
        'SELECT status, owner_pid AS ownerPid FROM runs WHERE id = ?',
      )
      .get(id);
    if (!cur) throw runNotFound(id);
    const otherLive = cur.ownerPid !== null && cur.ownerPid !== process.pid && processAlive(cur.ownerPid);
    if (HELD.has(cur.status) && otherLive)
      throw new IsdError('CONFLICT', `run ${id} is ${cur.status} in process ${cur.ownerPid}; it trains there`, {
        field: 'id',
      });
    if (!CLAIMABLE.has(cur.status) && !(HELD.has(cur.status) && !otherLive))
      throw new IsdError('CONFLICT', `run ${id} is ${cur.status}; it cannot train again`, { field: 'id' });
    const training = ctx.sc
      .get<{ id: string; name: string; ownerPid: number }>(
        "SELECT id, name, owner_pid AS ownerPid FROM runs WHERE status IN ('running', 'paused') AND id != ? AND owner_pid IS NOT NULL AND owner_pid != ?",
      )
      .all(id, process.pid)
      .find((r) => processAlive(r.ownerPid));
    if (training) return { claimed: false, behind: { id: training.id, name: training.name, pid: training.ownerPid } };
    const now = ctx.now();
    ctx.sc
      .get(
        "UPDATE runs SET status = 'running', owner_pid = ?, started_at = COALESCE(started_at, ?), finished_at = NULL, error = NULL WHERE id = ?",
      )
      .run(process.pid, now, id);
    return { claimed: true };
  });
  return claim.immediate();
}
