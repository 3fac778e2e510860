import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['electron/**/*.test.ts', 'scripts/**/*.test.ts', 'renderer/**/*.test.{ts,tsx}'],
    environment: 'node',
    // forks: native modules (better-sqlite3, tfjs wasm) are happiest one process per file.
    pool: 'forks',
    maxWorkers: 2,
    // Generous: the real trainings here take 3–4× longer when the 2 cores are shared; a pass costs no more.
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
