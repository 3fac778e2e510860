// What a new user, or a stale link, meets: an empty history, Compare with nothing chosen, and run
// pages for runs that do not exist. Each says what is going on and where to go.
import { expect, test } from '@playwright/test';
import { openApp } from '../fixtures/app-page';
import { webHostPerFile } from '../fixtures/web-host';

const host = webHostPerFile();

test('an empty history points to New run', async ({ page }) => {
  await openApp(page, host(), '#/history');
  await expect(page.getByTestId('empty-state')).toContainText('No runs yet');
  await page.getByRole('link', { name: 'Start your first run' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('New run');
});

test('Compare with fewer than two runs says how to choose them', async ({ page }) => {
  await openApp(page, host(), '#/compare');
  await expect(page.getByTestId('empty-state')).toContainText('Choose 2 to 8 runs to compare');
  await expect(page.getByTestId('empty-state').getByRole('link', { name: 'History' })).toHaveAttribute(
    'href',
    '#/history',
  );
});

test('a run that does not exist: its pages say so and lead back to History', async ({ page }) => {
  for (const hash of ['#/runs/no-such-run', '#/runs/no-such-run/live']) {
    await openApp(page, host(), hash);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Run not found');
    await expect(page.getByTestId('empty-state')).toContainText('There is no run no-such-run');
    await expect(page.getByRole('button', { name: 'Try again' })).toHaveCount(0);
  }
  await page.getByRole('link', { name: 'See every run in History' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('History');

  // Comparing unknown runs: the host's refusal, shown as an error without a pointless retry.
  await openApp(page, host(), '#/compare?ids=no-such-run,another');
  await expect(page.getByRole('alert')).toContainText('no-such-run');
  await expect(page.getByRole('button', { name: 'Try again' })).toHaveCount(0);
});
