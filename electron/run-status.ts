/**
 * A run's status and what it allows: the statuses, which may follow which, which are active and which
 * can be resumed. One definition for the store, the app, the CLI and the renderer, so no Node imports.
 */

export const RUN_STATUSES = ['queued', 'running', 'paused', 'completed', 'stopped', 'failed', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Which status may follow which. Resuming (→ running) is allowed from every state but completed. */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  queued: ['running', 'failed', 'stopped'],
  running: ['paused', 'completed', 'failed', 'stopped', 'interrupted'],
  paused: ['running', 'failed', 'stopped', 'interrupted'],
  interrupted: ['running', 'failed', 'stopped'],
  stopped: ['running'],
  failed: ['running'],
  completed: [],
};

export function canBecome(from: RunStatus, to: RunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

/** Ended by the run itself or by the user: the run has a finish time. (Interrupted ones ended by accident.) */
export function isEnded(status: RunStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'stopped';
}

/** In the app's hands now: waiting in the queue, training, or paused with its worker alive. */
export function isActive(status: RunStatus): boolean {
  return status === 'queued' || status === 'running' || status === 'paused';
}

/** Owned by a live process: training or paused (crash recovery checks the owner is alive). */
export function isOwned(status: RunStatus): boolean {
  return status === 'running' || status === 'paused';
}

/**
 * Whether runs.resume continues the run: a paused one in its worker; an interrupted, stopped or failed
 * one from its newest checkpoint on disk.
 */
export function isResumable(status: RunStatus, hasCheckpoint: boolean): boolean {
  if (status === 'paused') return true;
  return (status === 'interrupted' || status === 'stopped' || status === 'failed') && hasCheckpoint;
}

/** No more events will come for the run without a user's action. */
export function isSettled(status: RunStatus): boolean {
  return !isActive(status);
}
