import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('.', import.meta.url));

// The renderer: built into dist-renderer/, loaded from file:// by Electron (hence base './') and
// served by the web host. The contract (electron/contract.ts) is imported at runtime from outside root.
export default defineConfig({
  root: 'renderer',
  base: './',
  plugins: [react()],
  build: {
    outDir: '../dist-renderer',
    emptyOutDir: true,
    target: 'chrome130',
    sourcemap: true,
    // One chunk for app code and one for the libraries, so a code change keeps the vendor cache.
    rolldownOptions: {
      output: { codeSplitting: { groups: [{ name: 'vendor', test: /node_modules/ }] } },
    },
    chunkSizeWarningLimit: 1200,
  },
  server: { fs: { allow: [projectRoot] } },
});
