// A user's journey in the browser against the web host: the bundled sample, an imbalance, "Quick look"
// made tiny, a live ISD run to completion, History with its accuracy, a second run (MoCo), the two
// compared, and the ISD run's neighbour gallery and teacher similarity. One step per test, in order.
import { expect, test } from '@playwright/test';
import {
  field,
  fillTinyQuickLook,
  liveStep,
  loadedImages,
  openApp,
  pageScreenshot,
  runIdOf,
  scrollToTop,
  type TinyRun,
} from '../fixtures/app-page';
import { hostCall, webHostPerFile } from '../fixtures/web-host';
import { formatAccuracy, formatChange, readAccuracy } from '../../electron/readings';
import { KEYS_BARELY_DIFFER } from '../../electron/contract/encoder';

test.describe.configure({ mode: 'serial' });

const host = webHostPerFile();

const ISD_RUN: TinyRun = {
  method: 'isd',
  name: 'e2e ISD tiny',
  trainLimit: 256,
  batchSize: 32,
  queueSize: 128,
  epochs: 2,
};
const MOCO_RUN: TinyRun = {
  method: 'moco',
  name: 'e2e MoCo tiny',
  trainLimit: 256,
  batchSize: 32,
  queueSize: 128,
  epochs: 1,
};
const TOTAL_STEPS = (r: TinyRun) => Math.floor(r.trainLimit / r.batchSize) * r.epochs;

const ids: { isd?: string; moco?: string } = {};

const percent = /^\d{1,3}\.\d%$/;
// An accuracy (± its standard error when read from a subset) with its change against step 0 (readings.ts).
// A loss beyond 2 SE is flagged ⚠ before the change (a tiny run may lose against its step 0).
const withChange = /^\d{1,3}\.\d%( ± \d+\.\d)? (⚠ )?[+−±]\d+\.\d pts$/;
/** What a cell shows for a stored run's final 20-NN: readings.ts's own formatting of the host's numbers. */
const shownKnn20 = (
  r: { knn20: number | null; initKnn20: number | null; evalTestImages: number | null },
  withSe: boolean,
) =>
  `${formatAccuracy(readAccuracy(r.knn20!, null, withSe ? r.evalTestImages : null))} ${lossFlag(r)}${formatChange(r.knn20! - r.initKnn20!)}`;
/** The ⚠ a page puts before a change that is a loss beyond 2 SE. */
const lossFlag = (r: { knn20: number | null; initKnn20: number | null; evalTestImages: number | null }) =>
  readAccuracy(r.knn20!, r.initKnn20, r.evalTestImages).verdict === 'lost' ? '⚠ ' : '';
// Charts.tsx draws a series' raw values at stroke-opacity 0.25 behind its smoothed line.
const RAW_CURVE = 'path.recharts-line-curve[stroke-opacity="0.25"]';
const SMOOTHED_CURVE = 'path.recharts-line-curve:not([stroke-opacity="0.25"])';

test('new run: the sample, its thumbnails and histogram, an imbalance preview; a tiny Quick look trains live to completion', async ({
  page,
}, testInfo) => {
  await openApp(page, host(), '#/new');
  await expect(page).toHaveTitle('New run · ISD Studio');

  // The bundled sample, its thumbnails (8 per class) and its class histogram (10 bars).
  const sample = page.getByRole('radio', { name: /Fashion-MNIST sample/ });
  await sample.check();
  await expect(sample).toBeChecked();
  const preview = page.getByTestId('dataset-preview');
  expect(await loadedImages(preview.locator('.thumb-grid'))).toBe(80);
  await expect(preview.locator('.class-name')).toHaveText([
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
  ]);
  await expect(page.getByTestId('class-histogram').locator('.recharts-bar-rectangle')).toHaveCount(10);

  // A long-tail imbalance: the preview's counts shrink from the balanced 10,000.
  const imbalance = page.getByTestId('imbalance-preview');
  await expect(imbalance).toContainText('10,000 images after the draw');
  await page.getByLabel('Profile').selectOption('longtail');
  await page.getByLabel('Largest / smallest class').fill('10');
  await expect(imbalance).not.toContainText('10,000 images after the draw');
  await expect(imbalance).toHaveAttribute('aria-busy', 'false');
  const drawn = Number(
    /([\d,]+) images after the draw/.exec((await imbalance.textContent()) ?? '')?.[1]?.replace(/,/g, ''),
  );
  expect(drawn).toBeGreaterThan(1000);
  expect(drawn).toBeLessThan(10_000);
  const imbalanced = await hostCall(host(), 'datasets.imbalancePreview', {
    id: 'sample',
    imbalance: 'longtail:10',
    seed: 0,
  });
  expect(drawn).toBe(imbalanced.total);

  // "Quick look" made tiny; the estimate counts its steps.
  await fillTinyQuickLook(page, ISD_RUN);
  await expect(page.getByTestId('run-estimate')).toContainText(`${TOTAL_STEPS(ISD_RUN)} steps`);
  // The parts add up to the total: the worker's start is named, not left out.
  await expect(page.getByTestId('run-estimate')).toContainText('to start the worker and load the data');
  await scrollToTop(page);
  await pageScreenshot(page, testInfo, 'new-run');

  await page.getByRole('button', { name: 'Start training' }).click();
  await expect(page).toHaveURL(/#\/runs\/[^/]+\/live$/);
  ids.isd = runIdOf(page.url());
  await expect(page.getByRole('heading', { level: 1 })).toContainText(ISD_RUN.name);

  // The live view moves: a step between the first and the last, then a later one, with loss points.
  await expect
    .poll(
      async () => {
        const s = await liveStep(page);
        return s.step >= 1 && s.step < s.total;
      },
      { timeout: 120_000, intervals: [100] },
    )
    .toBe(true);
  const first = await liveStep(page);
  expect(first.total).toBe(TOTAL_STEPS(ISD_RUN));
  await expect(page.getByTestId('run-status')).toHaveText('running');
  await expect
    .poll(async () => (await liveStep(page)).step, { timeout: 60_000, intervals: [100] })
    .toBeGreaterThan(first.step);
  // The smoothed loss, and the faint raw curve behind it.
  await expect(page.getByTestId('chart-loss').locator(SMOOTHED_CURVE)).toHaveCount(1);
  await expect(page.getByTestId('chart-loss').locator(RAW_CURVE)).toHaveCount(1);
  await expect(page.getByTestId('chart-loss-latest')).toHaveText(/^-?\d/);
  const system = await hostCall(host(), 'system.info', {});
  await expect(page.getByTestId('live-backend')).toHaveText(`${system.backend} · ${system.device}`);

  // Completion: every step, the final evaluation against step 0.
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 120_000 });
  await expect.poll(async () => (await liveStep(page)).step).toBe(TOTAL_STEPS(ISD_RUN));
  await expect(page.getByText(/^Finished\. Final 20-NN \d/)).toBeVisible();
  await expect(page.getByTestId('chart-knn-latest')).toHaveText(/^20-NN \d/);
  // Read against step 0 and raw pixels: two reference lines, and the change beside the accuracy.
  await expect(page.getByTestId('chart-knn').locator('.recharts-reference-line')).toHaveCount(2);
  await expect(page.getByTestId('chart-knn')).toContainText(/step 0 \(random init\): \d+\.\d% \(20-NN\)/);
  await expect(page.getByTestId('chart-knn')).toContainText(/raw pixels: \d+\.\d% \(20-NN\)/);
  await expect(page.getByTestId('chart-knn-latest')).toHaveText(/vs step 0, (learned|LOST|within noise)\)$/);
  await expect(page.getByTestId('live-pixel-knn20')).toHaveText(percent);
  const liveChange = page.getByTestId('live-knn20').locator('.change');
  await expect(liveChange).toHaveAttribute('data-verdict', /^(learned|lost|within noise)$/);
  await expect(liveChange).toHaveText(/pts, (learned|lost|within noise)$/); // the verdict in words, not only colour
  // The web host's engine scores a subset of the sample's test split (fixtures: evalTestLimit): the note says so.
  const live = await hostCall(host(), 'runs.get', { id: ids.isd! });
  expect(live.pixel).not.toBeNull();
  await expect(page.getByTestId('readings-note')).toContainText(
    `one standard error over ${live.pixel!.testImages.toLocaleString('en')} test images`,
  );
  if (live.pixel!.testImages < live.pixel!.testSplitImages)
    await expect(page.getByTestId('readings-note')).toContainText('from a subset');
  await pageScreenshot(page, testInfo, 'live-run');
});

test('history shows the run with its accuracy; a second run (MoCo) through the form', async ({ page }, testInfo) => {
  expect(ids.isd).toBeDefined();
  await openApp(page, host(), '#/history');
  const isdRow = page.locator(`[data-testid="run-row"][data-run-id="${ids.isd}"]`);
  await expect(isdRow).toContainText(ISD_RUN.name);
  await expect(isdRow.getByTestId('run-status')).toHaveText('completed');
  await expect(isdRow).toContainText('Long tail, largest class 10× the smallest'); // longtail:10, in words
  // Final 20-NN in the table is the host's own number.
  const stored = (await hostCall(host(), 'runs.get', { id: ids.isd! })).run;
  expect(stored.knn20).not.toBeNull();
  const headers = await page.getByRole('table', { name: 'Runs' }).locator('thead th').allTextContents();
  const finalCol = headers.findIndex((h) => h.startsWith('Final 20-NN'));
  expect(finalCol).toBeGreaterThan(0);
  const finalCell = isdRow.locator('td').nth(finalCol);
  // The accuracy and, beside it, its change against step 0; the ± only when read from a subset of the test split.
  await expect(finalCell).toHaveText(withChange);
  expect(stored.initKnn20).not.toBeNull();
  const subset = stored.evalTestImages! < stored.evalTestSplitImages!;
  await expect(finalCell).toHaveText(shownKnn20(stored, subset));

  // A second run from the New run page: MoCo.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'New run' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('New run');
  await expect(page.getByRole('radio', { name: /Fashion-MNIST sample/ })).toBeChecked();
  await fillTinyQuickLook(page, MOCO_RUN);
  await expect(field(page, 'Temperature')).toHaveValue('0.2');
  // Picking MoCo brings MoCo v2's own views and head; the ablation is one click away, by name.
  await expect(page.getByTestId('method-recipe')).toContainText('Trains MoCo v2.');
  await expect(field(page, 'Teacher augmentation')).toHaveValue('strong');
  await expect(page.getByTestId('method-recipe').getByRole('button')).toHaveText(['Use MoCo with ISD+ views']);
  await page.getByRole('button', { name: 'Start training' }).click();
  await expect(page).toHaveURL(/#\/runs\/[^/]+\/live$/);
  ids.moco = runIdOf(page.url());
  expect(ids.moco).not.toBe(ids.isd);
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 150_000 });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
  await expect(page.getByTestId('run-row')).toHaveCount(2);
  const mocoRow = page.locator(`[data-testid="run-row"][data-run-id="${ids.moco}"]`);
  await expect(mocoRow.locator('td').nth(2)).toHaveText('MoCo v2'); // what it ran, in words (methodLabel)
  await expect(mocoRow.locator('td').nth(finalCol)).toHaveText(withChange);
  // Search narrows the table.
  await page.getByLabel('Search').fill('moco');
  await expect(page.getByTestId('run-row')).toHaveCount(1);
  await page.getByLabel('Search').fill('');
  await expect(page.getByTestId('run-row')).toHaveCount(2);
  await page.getByLabel('Search').blur();
  await pageScreenshot(page, testInfo, 'history');
});

test('compare the two runs: overlaid curves, accuracy side by side, configuration differences', async ({
  page,
}, testInfo) => {
  expect(ids.moco).toBeDefined();
  await openApp(page, host(), '#/history');
  await page.getByRole('checkbox', { name: `Select ${ISD_RUN.name} for comparison` }).check();
  const compare = page.getByRole('button', { name: /^Compare selected/ });
  await expect(compare).toBeDisabled();
  await page.getByRole('checkbox', { name: `Select ${MOCO_RUN.name} for comparison` }).check();
  await expect(compare).toHaveText('Compare selected (2)');
  await compare.click();
  await expect(page).toHaveURL(/#\/compare\?ids=/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Compare runs');

  // Overlaid curves: one line per run, named in the legend, for accuracy and for loss.
  const chart = page.getByTestId('compare-chart');
  await expect(chart.locator('path.recharts-line-curve')).toHaveCount(2);
  await expect(chart.locator('.recharts-legend-item')).toHaveText([
    `${ISD_RUN.name} (ISD+)`,
    `${MOCO_RUN.name} (MoCo v2)`,
  ]);
  await page.getByLabel('Metric').selectOption('loss');
  await expect(chart.locator('figcaption')).toContainText('Loss');
  await expect(chart.locator(SMOOTHED_CURVE)).toHaveCount(2);
  await expect(chart.locator(RAW_CURVE)).toHaveCount(2); // each run's raw loss, faint behind its smoothed one

  // The reference lines of 20-NN: each run's step 0, and raw pixels once (both runs share the bank and queries).
  await page.getByLabel('Metric').selectOption('knn20');
  await expect(chart.locator('.recharts-reference-line')).toHaveCount(3);
  await expect(chart).toContainText(/raw pixels: \d+\.\d%/);

  // Accuracy side by side.
  const accuracy = page.getByRole('table', { name: 'Accuracy side by side' });
  await expect(accuracy.locator('tbody tr')).toHaveCount(2);
  for (const row of await accuracy.locator('tbody tr').all())
    await expect(row.locator('td').nth(3)).toHaveText(withChange);

  // Configuration: differences only by default (method, epochs, name, imbalance…), everything on demand.
  const config = page.getByRole('table', { name: 'Configuration' });
  const rowOf = (label: string) =>
    config.locator('tbody tr').filter({ has: page.getByRole('rowheader', { name: label, exact: true }) });
  await expect(rowOf('Method')).toContainText('isd');
  await expect(rowOf('Method')).toContainText('moco');
  await expect(rowOf('Epochs')).toHaveCount(1);
  await expect(rowOf('Imbalance')).toHaveCount(1);
  await expect(rowOf('Batch size')).toHaveCount(0);
  // Each method's own temperature differs from the other's "not used", so the differences show it.
  await expect(rowOf('Temperature')).toContainText('not used');
  await expect(rowOf('Teacher temperature')).toContainText('not used');
  await page.getByLabel('Differences only').uncheck();
  await expect(rowOf('Batch size')).toContainText('32');
  await page.getByLabel('Differences only').check();
  await page.getByLabel('Metric').selectOption('knn20');
  await pageScreenshot(page, testInfo, 'compare');
});

test('run detail: neighbour gallery and the teacher’s similarity histogram', async ({ page }, testInfo) => {
  expect(ids.isd).toBeDefined();
  await openApp(page, host(), '#/history');
  await page.getByRole('link', { name: ISD_RUN.name, exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`#/runs/${ids.isd}$`));
  await expect(page.getByRole('heading', { level: 1 })).toContainText(ISD_RUN.name);
  const stored = (await hostCall(host(), 'runs.get', { id: ids.isd! })).run;
  // Final 20-NN ± its standard error sqrt(p(1−p)/n) over the run's queries, and its change against step 0.
  const se = Math.sqrt((stored.knn20! * (1 - stored.knn20!)) / stored.evalTestImages!);
  await expect(page.getByTestId('detail-knn20')).toHaveText(
    `${(stored.knn20! * 100).toFixed(1)}% ± ${(se * 100).toFixed(1)} ${lossFlag(stored)}${formatChange(stored.knn20! - stored.initKnn20!)}, ${readAccuracy(stored.knn20!, stored.initKnn20, stored.evalTestImages).verdict}`,
  );
  await expect(page.getByTestId('detail-pixel-knn20')).toHaveText(`${(stored.pixelKnn20! * 100).toFixed(1)}%`);

  // The gallery: the test image and its 8 nearest training images, from the final checkpoint.
  const gallery = page.getByTestId('neighbour-gallery');
  await gallery.scrollIntoViewIfNeeded();
  await expect(gallery).toBeVisible({ timeout: 60_000 });
  expect(await loadedImages(gallery)).toBe(9);
  await expect(gallery.locator('figure.query img')).toHaveAttribute('alt', /image 0$/);
  await expect(page.getByText(/From the checkpoint at epoch 2 \(step 16\)/)).toBeVisible();

  // The teacher's soft similarity over the queue: histograms with bars, the top anchors.
  const teacher = page.getByTestId('teacher-similarity');
  await expect(teacher).toBeVisible({ timeout: 60_000 });
  await expect(teacher).toContainText(`over ${ISD_RUN.queueSize} anchors`);
  await expect(teacher).toContainText('the target ISD’s student learns to match');
  await expect(teacher.getByTestId('teacher-space-note')).toContainText('projection-head outputs');
  // The "keys barely differ" warning follows the host's mean cosine between the anchors, and quotes it.
  const similarity = await hostCall(host(), 'runs.teacherSimilarity', { id: ids.isd!, testIndex: 0, bins: 40, top: 8 });
  console.log(
    `teacher view: the ${similarity.queueSize} anchors' mean cosine ${similarity.anchorMeanCosine.toFixed(3)}`,
  );
  if (similarity.anchorMeanCosine > KEYS_BARELY_DIFFER)
    await expect(teacher.getByTestId('keys-collapsed')).toContainText(
      `The anchors have a mean cosine of ${similarity.anchorMeanCosine.toFixed(2)}`,
    );
  else await expect(teacher.getByTestId('keys-collapsed')).toHaveCount(0);
  await expect(teacher.getByRole('columnheader', { name: 'Soft target' })).toBeVisible();
  expect(await teacher.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
  const anchors = teacher.getByRole('table', { name: 'Top anchors' });
  await expect(anchors.locator('tbody tr')).toHaveCount(8);
  // Each anchor shows the training image its key came from (the queue records it): 512 keys filled the 128 slots.
  expect(await loadedImages(anchors)).toBe(8);
  for (const img of await anchors.locator('img').all())
    await expect(img).toHaveAttribute(
      'alt',
      /^anchor \d+: training image \d+, (T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot)$/,
    );

  // Another test image: the gallery follows.
  await page.getByRole('button', { name: 'Next test image' }).click();
  await expect(gallery.locator('figure.query img')).toHaveAttribute('alt', /image 1$/, { timeout: 60_000 });
  expect(await loadedImages(gallery)).toBe(9);

  // Each neighbour says ✓ (same class as the query) or ✗ in words, not only by its border colour.
  const neighbours = gallery.getByTestId('neighbour');
  await expect(neighbours).toHaveCount(8);
  for (const n of await neighbours.all()) {
    const mark = (await n.locator('.mark').textContent())?.trim();
    expect(['✓', '✗']).toContain(mark);
    await expect(n).toHaveClass(mark === '✓' ? /\bsame\b/ : /\bother\b/);
  }
  // A neighbour clicked becomes the query: the training image it shows, which is not its own neighbour.
  const second = neighbours.nth(1);
  const picked = /image (\d+)(, |$)/.exec((await second.locator('img').getAttribute('alt'))!)![1]!;
  await second.click();
  await expect(gallery.locator('figure.query img')).toHaveAttribute(
    'alt',
    new RegExp(`^training image: .*image ${picked}$`),
    {
      timeout: 60_000,
    },
  );
  await expect(page.getByTestId('query-is-training')).toHaveText(`The query is now training image ${picked}.`);
  await expect(neighbours).toHaveCount(8);
  for (const img of await neighbours.locator('img').all())
    expect(await img.getAttribute('alt')).not.toMatch(new RegExp(`image ${picked}, `));
  await page.getByRole('button', { name: 'Back to test image 1' }).click();
  await expect(page.getByTestId('query-is-training')).toHaveCount(0);
  await expect(gallery.locator('figure.query img')).toHaveAttribute('alt', /^test image: .*image 1$/, {
    timeout: 60_000,
  });

  // A top anchor clicked becomes the query too: the training image its key came from (here its index is often
  // beyond the first training images, the bank the gallery searches).
  const anchor = anchors.getByRole('button', { name: /^Make training image \d+ the query$/ }).first();
  const trainIndex = /training image (\d+) /.exec((await anchor.getAttribute('title'))!)![1]!;
  const thumbnail = (await anchor.locator('img').getAttribute('src'))!;
  await anchor.click();
  await expect(gallery.locator('figure.query img')).toHaveAttribute(
    'alt',
    new RegExp(`^training image: .*image ${trainIndex}$`),
    { timeout: 60_000 },
  );
  await expect(gallery.locator('figure.query img')).toHaveAttribute('src', thumbnail);
  await expect(teacher.getByRole('table', { name: 'Top anchors' }).locator('tbody tr')).toHaveCount(8);
  await page.getByRole('button', { name: 'Back to test image 1' }).click();

  await page.getByRole('heading', { name: 'What the encoder learned' }).scrollIntoViewIfNeeded();
  await pageScreenshot(page, testInfo, 'run-detail');
});
