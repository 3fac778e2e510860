/**
 * The last-resort handler of a process that hosts training (the web host, also as `npm start`'s fallback,
 * `isd serve`, `isd train`, `isd study imbalance|resume`, the Electron main process): an exception or rejection nobody caught is logged with its stack and
 * the process lives on, because exiting would interrupt the run in training. Each transport still
 * catches its own errors (host.ts answers 400/500); this only catches what a bug lets through.
 */
let installed: ((err: unknown) => void) | null = null;

export function installLastResort(log: (line: string) => void = (line) => console.error(line)): void {
  if (installed) return;
  installed = (err: unknown) => {
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    try {
      log(`[isd] uncaught error (the process carries on): ${text}`);
    } catch {
      // Logging itself failed (a closed stderr): nothing more can be said.
    }
  };
  process.on('uncaughtException', installed);
  process.on('unhandledRejection', installed);
}

/** Whether this process has the handler (for tests of the processes that must have it). */
export const lastResortInstalled = (): boolean => installed !== null;
