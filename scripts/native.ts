/**
 * `npm run native -- --runtime <electron|node> --target <version> [--nodedir <dir>]`: prepares
 * better-sqlite3's binding for a runtime into the cache (electron/native/prepare.ts, the code
 * `npm start` runs too). Prints the file on success; one line and exit 2 when it cannot.
 */
import { Command, Option } from 'commander';
import { exitCodeFor, isIsdError } from '../electron/errors';
import { prepareSqliteBinding } from '../electron/native/prepare';

async function main(argv: string[]): Promise<void> {
  const program = new Command('native')
    .description("Prepare better-sqlite3's native binding for a runtime (a prebuilt download, else a node-gyp build)")
    .addOption(new Option('--runtime <name>', 'the runtime').choices(['electron', 'node']).makeOptionMandatory())
    .requiredOption('--target <version>', "the runtime's version, e.g. 38.8.6 (Electron) or 22.23.5 (Node)")
    .option('--nodedir <dir>', "a folder holding the runtime's headers (include/node): builds offline")
    .option('--arch <arch>', 'the CPU architecture', process.arch)
    .option('--exec <path>', "the runtime's executable: the binding must open a database there")
    .option('--no-download', 'skip the prebuilt download, build at once')
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const o = program.opts<{
    runtime: 'electron' | 'node';
    target: string;
    nodedir?: string;
    arch: string;
    exec?: string;
    download: boolean;
  }>();
  const prepared = await prepareSqliteBinding({
    runtime: o.runtime,
    target: o.target,
    nodedir: o.nodedir,
    arch: o.arch,
    execPath: o.exec,
    download: o.download,
    log: (line) => console.log(line),
  });
  console.log(prepared.source === 'cache' ? `Already prepared: ${prepared.file}` : prepared.file);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code?.startsWith('commander.')) process.exit(code === 'commander.helpDisplayed' ? 0 : 2);
    console.error(`native: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(isIsdError(err) ? exitCodeFor(err) : 1);
  });
}
