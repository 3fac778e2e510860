// The imbalance study from the Study page: a tiny study (ISD and MoCo × dominant:3:100 × 2 seeds,
// 4 steps per run) is started from the form, stopped while its first run trains, resumed, and read
// back: the results table, the paired differences, the chart, the runs and the CSV export.
import { expect, test } from '@playwright/test';
import { field, openApp, pageScreenshot, scrollToTop } from '../fixtures/app-page';
import { hostCall, webHostPerFile } from '../fixtures/web-host';

const host = webHostPerFile();

test('start, stop, resume and read a tiny imbalance study', async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  await openApp(page, host(), '#/study');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Imbalance studies');
  const form = page.getByTestId('study-form');
  await form.getByRole('checkbox', { name: /Balanced/ }).uncheck();
  await form.getByRole('checkbox', { name: /Long tail/ }).uncheck();
  await field(page, 'Name').fill('e2e study');
  await field(page, 'Epochs').fill('1');
  await field(page, 'Images per run').fill('128');
  await field(page, 'Batch size').fill('32');
  await field(page, 'Queue size').fill('64');
  await expect(form.locator('[aria-invalid="true"]')).toHaveCount(0);
  // The estimate names the profile's rare classes (the classes dominant:3:100 leaves with 100 images).
  await expect(page.getByTestId('study-estimate')).toContainText('4 runs');
  await expect(page.getByTestId('study-rare')).toHaveText(
    '3 dominant classes, 100 images per other class: rare classes Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot',
  );

  await page.getByRole('button', { name: 'Start study' }).click();
  await expect(page).toHaveURL(/#\/study\/[0-9a-f-]+$/);
  const id = decodeURIComponent(/#\/study\/([^/?]+)/.exec(page.url())![1]!);
  const state = page.getByTestId('study-state').first();
  await expect(state).toHaveText('running');

  // Stop while the first run trains: the others leave the queue, the training one checkpoints.
  await expect(page.getByTestId('study-progress')).toContainText(/step \d+\/4/, { timeout: 120_000 });
  await page.getByRole('button', { name: 'Stop study' }).click();
  await expect(state).toHaveText('incomplete', { timeout: 60_000 });
  const stopped = await hostCall(host(), 'study.get', { id });
  expect(stopped.progress.completed).toBeLessThan(4);
  expect(stopped.runs.filter((r) => r.status === 'stopped').length).toBeGreaterThanOrEqual(3);

  // Resume: only the unfinished runs go back in the queue; the study completes.
  await page.getByRole('button', { name: 'Resume study' }).click();
  await expect(state).toHaveText('completed', { timeout: 300_000 });
  await expect(page.getByTestId('study-runs-done')).toHaveText('4 / 4');

  const results = page.getByTestId('study-results');
  await expect(results.getByRole('row')).toHaveCount(3); // header + isd + moco
  // Profiles in words wherever the study shows one (formatImbalanceProfile), never as spec text.
  const words = '3 dominant classes, 100 images per other class';
  await expect(results.getByRole('row').nth(1)).toContainText(`${words}ISD`);
  await expect(results.getByRole('columnheader', { name: '20-NN rare' })).toBeVisible();
  await expect(page.getByTestId('study-paired').getByRole('row')).toHaveCount(1 + 6); // 1-NN and 20-NN × all, frequent, rare
  await expect(page.getByTestId('study-verdicts')).toContainText(words);
  await expect(page.getByTestId('study-paired').getByRole('row').nth(1)).toContainText(words);
  await expect(page.getByRole('region', { name: 'Profiles' }).getByRole('row').nth(1)).toContainText(`${words}`);
  await expect(page.getByRole('region', { name: 'Profiles' }).getByRole('row').nth(1)).toContainText(
    'Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot',
  );
  await expect(page.getByTestId('study-runs').getByRole('row').nth(1)).toContainText(words);
  await expect(page.locator('main')).not.toContainText('dominant:3:100');
  await scrollToTop(page);
  await pageScreenshot(page, testInfo, 'study');
  const chart = page.getByTestId('study-chart');
  await expect(chart.getByRole('application')).toBeVisible();
  for (const series of ['ISD, all classes', 'ISD, rare classes', 'MoCo, all classes', 'MoCo, rare classes'])
    await expect(chart.getByText(series, { exact: true })).toBeVisible();
  await expect(page.getByTestId('study-runs').getByTestId('run-status').filter({ hasText: 'completed' })).toHaveCount(
    4,
  );

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^e2e-study-[0-9a-f]{8}\.csv$/);

  const done = await hostCall(host(), 'study.get', { id });
  expect(done.summary).toMatchObject({ state: 'completed', completed: 4, total: 4 });
  expect(done.results.cells.every((c) => c.n === 2)).toBe(true);

  await page.getByRole('link', { name: '← All studies' }).click();
  await expect(page.getByTestId('study-list')).toContainText('e2e study');
  await expect(page.getByTestId('study-list').getByTestId('study-state')).toHaveText('completed');
});
