// Pause, resume and stop a training run from its live page; a stopped run resumes from its stop
// checkpoint and finishes.
import { expect, test } from '@playwright/test';
import { fillTinyQuickLook, liveStep, openApp, runIdOf } from '../fixtures/app-page';
import { hostCall, webHostPerFile } from '../fixtures/web-host';

const host = webHostPerFile();

test('pause, resume, stop, and resume from the stop checkpoint to completion', async ({ page }) => {
  await openApp(page, host(), '#/new');
  // 24 steps: long enough to act on while it trains, short enough to finish.
  await fillTinyQuickLook(page, {
    method: 'isd',
    name: 'e2e controls',
    trainLimit: 384,
    batchSize: 32,
    queueSize: 128,
    epochs: 2,
  });
  await page.getByRole('button', { name: 'Start training' }).click();
  await expect(page).toHaveURL(/#\/runs\/[^/]+\/live$/);
  const id = runIdOf(page.url());
  const status = page.getByTestId('run-status');
  const button = (name: string) => page.getByRole('button', { name, exact: true });

  await expect
    .poll(async () => (await liveStep(page)).step, { timeout: 120_000, intervals: [100] })
    .toBeGreaterThanOrEqual(1);
  await expect(status).toHaveText('running');

  // Pause: the worker confirms at a step boundary; the page offers Resume and Stop.
  await button('Pause').click();
  await expect(status).toHaveText('paused');
  await expect(button('Resume')).toBeVisible();
  await expect(button('Stop')).toBeVisible();
  await expect(button('Pause')).toHaveCount(0);
  await expect(page.getByTestId('live-eta')).toHaveText('—');
  expect((await hostCall(host(), 'runs.get', { id })).run.status).toBe('paused');
  const paused = await liveStep(page);
  expect(paused.step).toBeLessThan(paused.total);

  // Resume: steps move on from where it paused.
  await button('Resume').click();
  await expect(status).toHaveText('running');
  await expect
    .poll(async () => (await liveStep(page)).step, { timeout: 60_000, intervals: [100] })
    .toBeGreaterThan(paused.step);

  // Stop: a checkpoint is written; the run can resume from it.
  await button('Stop').click();
  await expect(status).toHaveText('stopped', { timeout: 60_000 });
  const stopped = await hostCall(host(), 'runs.get', { id });
  expect(stopped.run.status).toBe('stopped');
  expect(stopped.run.step).toBeLessThan(stopped.run.totalSteps);
  expect(stopped.canResume).toBe(true);
  await expect(button('Resume')).toBeVisible();
  await expect(button('Stop')).toHaveCount(0);

  // History lists it as stopped, with its Resume action.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
  const row = page.locator(`[data-testid="run-row"][data-run-id="${id}"]`);
  await expect(row.getByTestId('run-status')).toHaveText('stopped');
  await expect(row.getByRole('button', { name: 'Resume e2e controls' })).toBeVisible();

  // Resume from History: it continues from the stop checkpoint and completes.
  await row.getByRole('button', { name: 'Resume e2e controls' }).click();
  await expect(row.getByTestId('run-status')).toHaveText(/^(queued|running|completed)$/);
  await row.getByRole('link', { name: 'e2e controls', exact: true }).click();
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 150_000 });
  const done = await hostCall(host(), 'runs.get', { id });
  expect(done.run).toMatchObject({ status: 'completed', step: done.run.totalSteps, epoch: 2 });
  // Every step has its one point, before the stop and after the resume.
  const curves = await hostCall(host(), 'runs.curves', { id, maxPoints: 1000 });
  expect(curves.points.map((p) => p.step)).toEqual(Array.from({ length: done.run.totalSteps }, (_, i) => i + 1));
});
