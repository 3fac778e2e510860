/**
 * A script's entry: exits with the code its main resolves to (none: the process ends by itself, with
 * any process.exitCode set), or prints its error in one line and exits with codeOf(error).
 */
export function runMain(main: () => Promise<number | void>, codeOf: (err: unknown) => number = () => 1): void {
  main().then(
    (code) => {
      if (code !== undefined) process.exit(code);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(codeOf(err));
    },
  );
}
