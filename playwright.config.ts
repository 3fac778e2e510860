// End-to-end suite. `web`: the app in Debian's Chromium against the web host (node dist/electron/host.js)
// on a temporary database per spec file; `electron`: the Electron app itself, skipped where its binary
// is missing. Needs the build (npm run build); this config does not build.
import { defineConfig } from '@playwright/test';

const CHROMIUM = process.env.ISD_E2E_CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  outputDir: 'test-results',
  // The two journeys train real (tiny) runs on the wasm backend: minutes, not seconds, on 2 shared cores.
  timeout: 180_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]] : [['list']],
  use: {
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 15_000,
  },
  projects: [
    {
      name: 'web',
      testDir: 'e2e/web',
      workers: 1,
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: CHROMIUM,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
            '--disable-quic',
          ],
        },
      },
    },
    { name: 'electron', testDir: 'e2e/electron', workers: 1 },
  ],
});
