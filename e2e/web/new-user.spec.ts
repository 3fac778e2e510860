// The app as a new user meets it (issue 16): a folder too small for the form's settings cannot start
// a run. Orders of events are asserted, never their timing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { expect, test, type Page } from '@playwright/test';
import { field, openApp } from '../fixtures/app-page';
import { hostCall, webHostPerFile } from '../fixtures/web-host';

const host = webHostPerFile();

/** The contract requests the page sends over its WebSocket, by channel name. */
function recordRequests(page: Page): string[] {
  const channels: string[] = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (frame) => {
      const msg = JSON.parse(String(frame.payload)) as { channel?: string };
      if (msg.channel) channels.push(msg.channel);
    });
  });
  return channels;
}

/** A folder of 22 images in two class subfolders, as a user's own small dataset. */
async function tinyFolder(): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-22-'));
  for (const [cls, value] of [
    ['cats', 40],
    ['dogs', 210],
  ] as const) {
    fs.mkdirSync(path.join(root, cls));
    for (let i = 0; i < 11; i++)
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: value, g: value - i, b: 90 } } })
        .png()
        .toFile(path.join(root, cls, `${i}.png`));
  }
  return root;
}

test('the 22-image folder cannot start an invalid run; the one-click fix makes it valid', async ({ page }) => {
  const sent = recordRequests(page);
  const folder = await tinyFolder();
  await openApp(page, host(), '#/new');
  await page.getByLabel('Dataset path on the host').fill(folder);
  await page.getByRole('button', { name: 'Add dataset' }).click();
  await expect(page.getByRole('radio', { name: /isd-22-/ })).toBeChecked();
  await page.getByRole('button', { name: 'Quick look' }).click(); // batch 64, queue 1024

  const summary = await hostCall(host(), 'datasets.inspect', { path: folder });
  const n = summary.splits.train.images;
  const testImages = summary.splits.test!.images;
  const start = page.getByRole('button', { name: 'Start training' });
  await expect(page.locator('#field-batchSize-error')).toHaveText(
    `Batch size must be at most ${n} for this dataset (${n} training images)`,
  );
  await expect(field(page, 'Batch size')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#field-queueSize-error')).toHaveText(
    `Queue size must be at most ${n} for this dataset (${n} training images)`,
  );
  // Start is not greyed: it says what to fix, both fields named, and sends nothing.
  await start.click();
  await expect(page.getByTestId('form-errors').getByRole('link')).toHaveText(['Batch size', 'Queue size']);
  await expect(page.getByTestId('form-errors')).toBeFocused();
  await expect(page.getByTestId('dataset-warnings')).toContainText(`Only ${testImages} test images`);

  // Nothing was sent and no run row exists.
  expect(sent).not.toContain('runs.start');
  expect((await hostCall(host(), 'runs.list', {})).total).toBe(0);

  // The fix: the largest power of two that fits, and a queue that fits and is a multiple of it.
  const batch = 2 ** Math.floor(Math.log2(n));
  await page
    .getByTestId('dataset-fix')
    .getByRole('button', { name: `Use batch ${batch}, queue ${batch}` })
    .click();
  await expect(field(page, 'Batch size')).toHaveValue(String(batch));
  await expect(page.locator('form [aria-invalid="true"]')).toHaveCount(0);
  await expect(page.getByTestId('form-errors')).toHaveCount(0);
  await expect(page.getByTestId('run-estimate')).toBeVisible();
  // The small test split still warns: the run may train, its accuracy says little.
  await expect(page.getByTestId('dataset-warnings')).toBeVisible();
  expect(sent).not.toContain('runs.start');
  fs.rmSync(folder, { recursive: true, force: true });
});

test('the form says what applies: the preset once edited, the images trained on, the other method’s settings', async ({
  page,
}) => {
  await openApp(page, host(), '#/new');
  await page.getByRole('radio', { name: /Fashion-MNIST sample/ }).check();
  await page.getByRole('button', { name: 'Quick look' }).click();
  const note = page.getByTestId('preset-note');
  const caption = page.getByTestId('imbalance-preview').locator('figcaption');
  await expect(note).toContainText('2 epochs on 5,000 images');
  // The draw gives the whole balanced training split; the run trains on Training images of it.
  await expect(caption).toContainText(
    '10,000 images after the draw; the run trains on the first 5,000 (Training images)',
  );

  // Edited, the preset's description gives way to what was changed from it.
  await field(page, 'Epochs').fill('1');
  await expect(note).toHaveText('Custom settings, changed from Quick look: Epochs 1 (was 2).');
  await field(page, 'Training images').fill('0');
  await expect(note).toHaveText(
    'Custom settings, changed from Quick look: Epochs 1 (was 2), Training images 0 (was 5000).',
  );
  await expect(caption).toHaveText(/10,000 images after the draw$/);
  await field(page, 'Training images').fill('5000');
  await field(page, 'Epochs').fill('2');
  await expect(note).toContainText('2 epochs on 5,000 images');

  // A setting of the other method cannot be edited, and says why.
  await expect(field(page, 'Temperature')).not.toBeEditable();
  await expect(field(page, 'Temperature')).toHaveAccessibleDescription(/^Not used by ISD: MoCo only\./);
  await expect(field(page, 'Teacher temperature')).toBeEditable();
  await field(page, 'Method').selectOption('moco');
  await expect(field(page, 'Temperature')).toBeEditable();
  await expect(field(page, 'Teacher temperature')).not.toBeEditable();
  await expect(field(page, 'Student temperature')).toHaveAccessibleDescription(/^Not used by MoCo: ISD only\./);
  await expect(page.locator('form [aria-invalid="true"]')).toHaveCount(0);

  // The Dataset and Imbalance cards stand apart.
  const dataset = (await page.getByRole('region', { name: 'Dataset' }).boundingBox())!;
  const imbalance = (await page.getByRole('region', { name: 'Imbalance of the training set' }).boundingBox())!;
  expect(imbalance.y - (dataset.y + dataset.height)).toBeGreaterThanOrEqual(12);
});

test('the live page names its phases in order and its Elapsed clock ticks', async ({ page }) => {
  // Every phase the page shows and every Elapsed text, in the order they appear (no timing asserted).
  await page.addInitScript(() => {
    const w = globalThis as unknown as {
      isdPhases: string[];
      isdElapsed: string[];
      isdSteps: string[];
      isdEtas: string[];
      document: { querySelector(s: string): { getAttribute(n: string): string | null; textContent: string } | null };
      MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void };
    };
    w.isdPhases = [];
    w.isdElapsed = [];
    w.isdSteps = [];
    w.isdEtas = [];
    new w.MutationObserver(() => {
      const phase = w.document.querySelector('[data-testid="live-phases"]')?.getAttribute('data-phase');
      if (phase && w.isdPhases.at(-1) !== phase) w.isdPhases.push(phase);
      const elapsed = w.document.querySelector('[data-testid="live-elapsed"]')?.textContent;
      if (elapsed && w.isdElapsed.at(-1) !== elapsed) w.isdElapsed.push(elapsed);
      const step = w.document.querySelector('[data-testid="live-step"]')?.textContent;
      if (step && w.isdSteps.at(-1) !== step) w.isdSteps.push(step);
      const eta = w.document.querySelector('[data-testid="live-eta"]')?.textContent;
      if (eta && w.isdEtas.at(-1) !== eta) w.isdEtas.push(eta);
    }).observe(w.document, { childList: true, subtree: true, attributes: true, characterData: true });
  });
  await openApp(page, host(), '#/new');
  await page.getByRole('radio', { name: /Fashion-MNIST sample/ }).check();
  await page.getByRole('button', { name: 'Quick look' }).click();
  // 2 steps an epoch: the loss chart's steps run 1–4, where recharts would tick 1.75, 2.5 unless told not to.
  await field(page, 'Training images').fill('64');
  await field(page, 'Batch size').fill('32');
  await field(page, 'Queue size').fill('64');
  await field(page, 'Epochs').fill('2');
  await field(page, 'Linear probe at the end').check();
  await field(page, 'Run name').fill('phases');
  await page.getByRole('button', { name: 'Start training' }).click();
  await expect(page).toHaveURL(/#\/runs\/[^/]+\/live$/);
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 150_000 });
  const seen = await page.evaluate(() => {
    const w = globalThis as unknown as {
      isdPhases: string[];
      isdElapsed: string[];
      isdSteps: string[];
      isdEtas: string[];
    };
    return { phases: w.isdPhases, elapsed: w.isdElapsed, steps: w.isdSteps, etas: w.isdEtas };
  });
  console.log(`phases seen: ${seen.phases.join(' → ')}; elapsed: ${seen.elapsed.join(', ')}`);
  // The run's phases, in the contract's order; evaluations between epochs sit inside training.
  const order = ['preparing', 'baseline', 'training', 'evaluating', 'final', 'linear'];
  const steps = seen.phases.map((p) => (p === 'evaluating' ? 'training' : p));
  for (let i = 1; i < steps.length; i++)
    expect(order.indexOf(steps[i]!)).toBeGreaterThanOrEqual(order.indexOf(steps[i - 1]!));
  expect(seen.phases).toEqual(expect.arrayContaining(['baseline', 'training', 'final', 'linear']));
  // Elapsed ticked: more than one value, never "—" while the run trained.
  expect(seen.elapsed.filter((e) => e !== '—').length).toBeGreaterThan(1);
  // Before training starts the step total is unknown ("—"), never "0 / 0"; no phase claims "0 s" left.
  console.log(`steps seen: ${seen.steps.join(', ')}; time left: ${seen.etas.join(', ')}`);
  expect(seen.steps).not.toContain('0 / 0');
  expect(seen.steps.at(-1)).toBe('4 / 4');
  expect(seen.etas.filter((e) => /^0 s \(this phase\)/.test(e))).toEqual([]);

  // Step ticks are whole numbers (recharts 3 draws tick labels in their own layer, apart from the axis).
  for (const chart of ['chart-loss', 'chart-knn']) {
    const ticks = page.getByTestId(chart).locator('.recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value');
    await expect(ticks.first()).toBeVisible();
    const texts = await ticks.allTextContents();
    expect(texts.length, `${chart} ticks ${texts.join(' ')}`).toBeGreaterThan(1);
    for (const t of texts) expect(t, `${chart} ticks ${texts.join(' ')}`).toMatch(/^\d+$/);
  }
  // The header names the device as the run does: one wording, from the engine.
  await expect(page.getByTestId('live-backend')).toHaveText((await page.getByTestId('backend-badge').textContent())!);
});

test('the form remembers its settings; Run again and "Same settings, other method" give the expected configs', async ({
  page,
}) => {
  // The run of the test before ("phases"): the host keeps its history across this file's tests.
  const { runs } = await hostCall(host(), 'runs.list', { search: 'phases' });
  const source = (await hostCall(host(), 'runs.get', { id: runs[0]!.id })).config;

  // Run again, from History's row menu: every setting of the run, the name left for a new one.
  await openApp(page, host(), '#/history');
  const row = page.getByRole('row', { name: /phases/ });
  await row.getByRole('button', { name: 'More actions for phases' }).click();
  await row.getByRole('link', { name: 'Run phases again', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`#/new\\?from=${source && runs[0]!.id}`));
  await expect(page.getByTestId('run-again-source')).toContainText('Settings of “phases”');
  for (const [label, value] of [
    ['Training images', '64'],
    ['Batch size', '32'],
    ['Queue size', '64'],
    ['Epochs', '2'],
    ['Method', 'isd'],
    ['Run name', ''],
  ] as const)
    await expect(field(page, label)).toHaveValue(value);
  await expect(field(page, 'Linear probe at the end')).toBeChecked();

  // Same settings, other method, from Run detail: MoCo with its own views and temperature, the budget kept.
  await page.goto(`${host().url}#/runs/${runs[0]!.id}`);
  await page.getByRole('link', { name: 'Run phases again with MoCo' }).click();
  await expect(page.getByTestId('run-again-source')).toContainText('switched to MoCo');
  await expect(field(page, 'Method')).toHaveValue('moco');
  await field(page, 'Run name').fill('other method');
  await page.getByRole('button', { name: 'Start training' }).click();
  await expect(page).toHaveURL(/#\/runs\/[^/]+\/live$/);
  const id = /#\/runs\/([^/]+)\/live/.exec(page.url())![1]!;
  await page.getByRole('button', { name: 'Stop' }).click();
  const moco = (await hostCall(host(), 'runs.get', { id })).config;
  expect(moco).toMatchObject({ method: 'moco', augTeacher: 'strong', augStudent: 'strong', temperature: 0.2 });
  for (const f of [
    'arch',
    'batchSize',
    'epochs',
    'trainLimit',
    'imageSize',
    'seed',
    'queueSize',
    'linearEval',
  ] as const)
    expect([f, moco[f]]).toEqual([f, source[f]]);

  // New run again: the form comes back as left for this dataset, not as Quick look.
  await page.goto(`${host().url}#/new`);
  await expect(field(page, 'Method')).toHaveValue('moco');
  await expect(field(page, 'Training images')).toHaveValue('64');
  await expect(field(page, 'Run name')).toHaveValue('');
});

test('History fits the window: every default column from 1100 px up, name and final 20-NN at 800 px; columns are choosable', async ({
  page,
}) => {
  // Opened wide, then narrowed: the columns follow the window until the user chooses them.
  await openApp(page, host(), '#/history');
  await expect(page.getByRole('columnheader', { name: 'Imbalance' })).toBeVisible();
  const sideways = () =>
    page.locator('.table-wrap').evaluate((el) => {
      const e = el as unknown as { scrollWidth: number; clientWidth: number };
      return e.scrollWidth - e.clientWidth;
    });
  for (const width of [1600, 1400, 1280, 1100]) {
    await page.setViewportSize({ width, height: 800 });
    // No column past the table's right edge: the table does not scroll sideways, Actions in view.
    await expect.poll(sideways, { message: `History scrolls sideways at ${width} px` }).toBe(0);
    await expect(page.getByRole('columnheader', { name: 'Actions' })).toBeInViewport({ ratio: 1 });
    await expect(page.getByRole('columnheader', { name: 'Raw pixels 20-NN' })).toBeVisible();
  }
  // Below 1280 px Best 20-NN and Linear wait in the Columns menu.
  await expect(page.getByRole('columnheader', { name: /Best 20-NN/ })).toHaveCount(0);
  await page.setViewportSize({ width: 800, height: 700 });
  await expect(page.getByRole('columnheader', { name: 'Imbalance' })).toHaveCount(0);
  const name = page.getByRole('link', { name: 'phases', exact: true });
  const row = page.getByRole('row').filter({ has: name });
  const knn = page.getByRole('columnheader', { name: /Final 20-NN/ });
  for (const el of [name, knn]) {
    await expect(el).toBeInViewport({ ratio: 1 });
    const box = (await el.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(800);
  }
  expect((await row.boundingBox())!.height).toBeLessThan(80);
  // A hyperparameter column, chosen from the Columns menu.
  await expect(page.getByRole('columnheader', { name: 'Batch size' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Columns' }).click();
  await page.getByTestId('history-columns').getByLabel('Batch size').check();
  await expect(page.getByRole('columnheader', { name: 'Batch size' })).toBeVisible();
});

test('the study form speaks in words: class names for the rare classes, a preview of each profile’s draw', async ({
  page,
}) => {
  await openApp(page, host(), '#/study');
  const form = page.getByTestId('study-form');
  await expect(form.getByRole('checkbox', { name: 'Balanced: every class as the dataset has it' })).toBeVisible();
  await expect(form.locator('code')).toHaveCount(0);
  await form.getByRole('checkbox', { name: /Balanced/ }).uncheck();
  await field(page, 'Epochs').fill('1');
  await field(page, 'Images per run').fill('128');
  await field(page, 'Batch size').fill('32');
  await field(page, 'Queue size').fill('64');
  // Rare classes by name, one line per profile, in the form's order: dominant, then long tail.
  await expect(page.getByTestId('study-rare').locator('li')).toHaveText([
    '3 dominant classes, 100 images per other class: rare classes Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot',
    /^Long tail, largest class 10× the smallest: rare classes /,
  ]);
  // One draw preview per imbalanced profile, titled in the same words, its bars named by class.
  const previews = form.getByRole('group', { name: 'What each profile draws' }).getByTestId('imbalance-preview');
  await expect(previews).toHaveCount(2);
  await expect(previews.nth(0)).toContainText('3 dominant classes, 100 images per other class');
  await expect(previews.nth(1)).toContainText('Long tail, largest class 10× the smallest');
  await expect
    .poll(() => previews.nth(0).locator('.recharts-cartesian-axis-tick-value').allTextContents())
    .toContain('Ankle boot');
});

test('a folder of copies of one picture: the teacher view warns that the keys barely differ', async ({ page }) => {
  // 80 copies of one grey image, so every teacher key is the same: the ranking of the anchors says nothing.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-copies-'));
  for (const cls of ['a', 'b']) {
    fs.mkdirSync(path.join(root, cls));
    for (let i = 0; i < 40; i++)
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 120, g: 120, b: 120 } } })
        .png()
        .toFile(path.join(root, cls, `${i}.png`));
  }
  const entry = await hostCall(host(), 'datasets.add', { path: root });
  const run = await hostCall(host(), 'runs.start', {
    config: { dataset: entry.id, batchSize: 16, queueSize: 32, epochs: 2, imageSize: 0, name: 'copies' },
  });
  await expect
    .poll(async () => (await hostCall(host(), 'runs.get', { id: run.id })).run.status, { timeout: 120_000 })
    .toBe('completed');
  const similarity = await hostCall(host(), 'runs.teacherSimilarity', { id: run.id, testIndex: 0, bins: 40, top: 8 });
  expect(similarity.anchorMeanCosine).toBeGreaterThan(0.99);
  await openApp(page, host(), `#/runs/${run.id}`);
  await expect(page.getByTestId('keys-collapsed')).toContainText(
    `The anchors have a mean cosine of ${similarity.anchorMeanCosine.toFixed(2)} to each other`,
    { timeout: 60_000 },
  );
  fs.rmSync(root, { recursive: true, force: true });
});
