#!/usr/bin/env node
// The `isd` command line: runs the compiled CLI (npm run build makes dist/).
const path = require('node:path');
const fs = require('node:fs');
const cli = path.join(__dirname, '..', 'dist', 'electron', 'cli.js');
if (!fs.existsSync(cli)) {
  console.error('isd: dist/electron/cli.js is missing; run `npm run build` first.');
  process.exit(1);
}
// Exit explicitly: the threaded wasm backend's worker pool would otherwise keep the process alive.
require(cli)
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (err) => {
      console.error(err && err.stack ? err.stack : String(err));
      process.exit(1);
    },
  );
