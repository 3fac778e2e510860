// Using what a run trained, on the web host in real Chromium: the encoder's download, the embedding map (PCA of 10,000 Fashion-MNIST
// test images, trained beside random init; hover thumbnail; click for neighbours; frame time measured),
// UMAP with progress, and image search from an uploaded file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test, type Download } from '@playwright/test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { openApp } from '../fixtures/app-page';
import { hostCall, webHostPerFile } from '../fixtures/web-host';
import { loadIdx } from '../../electron/data/idx';

const host = webHostPerFile();
const SHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');

test('embedding map, neighbours and image search on a trained Fashion-MNIST run', async ({ page }) => {
  test.setTimeout(600_000);
  const run = await hostCall(host(), 'runs.start', {
    config: {
      dataset: 'fashion-mnist',
      trainLimit: 256,
      batchSize: 32,
      queueSize: 128,
      epochs: 1,
      name: 'e2e encoder',
    },
  });
  await expect
    .poll(async () => (await hostCall(host(), 'runs.get', { id: run.id })).run.status, { timeout: 240_000 })
    .toBe('completed');

  await openApp(page, host(), `#/runs/${run.id}`);

  // Export the encoder from the browser: the model downloads first, then its JSON, which says the
  // normalisation is inside the model; ONNX Runtime opens the downloaded model and gives [N, D].
  const downloads: Download[] = [];
  page.on('download', (d) => downloads.push(d));
  const use = page.getByRole('region', { name: 'Use the encoder' });
  await expect(use.getByTestId('export-feed-note')).toContainText('already inside the model');
  await use.getByRole('button', { name: 'Export encoder' }).click();
  await expect.poll(() => downloads.length, { timeout: 120_000 }).toBe(2);
  expect(downloads.map((d) => path.extname(d.suggestedFilename()))).toEqual(['.onnx', '.json']);
  await expect(use.getByRole('status')).toContainText('allow the 2 downloads');
  const info = JSON.parse(fs.readFileSync((await downloads[1].path())!, 'utf8'));
  expect(info).toMatchObject({ runId: run.id, normalisation: { insideModel: true }, input: { range: [0, 1] } });
  const session = await ort.InferenceSession.create(fs.readFileSync((await downloads[0].path())!));
  const out = await session.run({
    pixels: new ort.Tensor('float32', new Float32Array(2 * 28 * 28).fill(0.5), [2, 28, 28, 1]),
  });
  expect(out.features.dims).toEqual([2, info.output.shape[1]]);
  page.removeAllListeners('download');

  const map = page.getByRole('region', { name: 'Embedding map' });
  await map.getByLabel('Points').fill('10000');
  await map.getByRole('button', { name: 'Show map' }).click();
  const trained = page.getByTestId('map-trained');
  const init = page.getByTestId('map-init');
  await expect(trained).toHaveAttribute('data-points', '10000', { timeout: 300_000 });
  await expect(init).toHaveAttribute('data-points', '10000', { timeout: 300_000 });

  // Frame time at 10,000 points: every hover redraws the whole canvas; read each draw's time.
  await trained.scrollIntoViewIfNeeded();
  const box = (await trained.boundingBox())!;
  const draws: number[] = [];
  for (let i = 0; i < 40; i++) {
    await page.mouse.move(box.x + 20 + (i * (box.width - 40)) / 40, box.y + box.height / 2 + ((i % 7) - 3) * 15);
    draws.push(Number(await trained.getAttribute('data-draw-ms')));
  }
  const frame = await page.evaluate(async () => {
    const raf = (globalThis as unknown as { requestAnimationFrame: (cb: (t: number) => void) => void })
      .requestAnimationFrame;
    const requestAnimationFrame = (cb: (t: number) => void) => raf(cb);
    const times: number[] = [];
    let last = performance.now();
    await new Promise<void>((done) => {
      const tick = (t: number) => {
        times.push(t - last);
        last = t;
        if (times.length < 60) requestAnimationFrame(tick);
        else done();
      };
      requestAnimationFrame(tick);
    });
    return times.sort((a, b) => a - b)[30];
  });
  draws.sort((a, b) => a - b);
  console.log(
    `map frame at 10000 points: draw median ${draws[20].toFixed(2)} ms, max ${draws[39].toFixed(2)} ms; rAF interval median ${frame.toFixed(1)} ms`,
  );
  expect(draws[20]).toBeLessThan(50);

  // Hover a point: its thumbnail; click: its nearest training images with similarity and label.
  let hovered = false;
  for (let i = 0; i < 60 && !hovered; i++) {
    await page.mouse.move(box.x + 10 + ((i * 37) % (box.width - 20)), box.y + 10 + ((i * 53) % (box.height - 20)));
    hovered = (await page.getByTestId('map-hover').count()) > 0;
  }
  expect(hovered).toBe(true);
  await expect(page.getByTestId('map-hover').locator('img')).toBeVisible({ timeout: 30_000 });
  const at = page.mouse;
  await at.down();
  await at.up();
  const results = map.getByTestId('search-results');
  await expect(results.getByTestId('search-neighbour')).toHaveCount(13, { timeout: 120_000 }); // the query and 12
  await expect(results).toContainText(/0\.\d{3}/);
  await map.screenshot({ path: path.join(SHOTS, 'embedding-map.png') });

  // UMAP with its progress, on fewer points.
  await map.getByLabel('Projection').selectOption('umap');
  await map.getByLabel('Points').fill('500');
  await map.getByRole('button', { name: 'Show map' }).click();
  await expect(map.getByText(/UMAP epoch/)).toBeVisible({ timeout: 120_000 });
  await expect(trained).toHaveAttribute('data-points', '500', { timeout: 300_000 });
  await expect(init).toHaveAttribute('data-points', '500', { timeout: 300_000 });

  // Image search: upload a PNG (a Fashion-MNIST test image, enlarged and in colour).
  const ds = await loadIdx('/usr/share/datasets/fashion-mnist');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-e2e-search-'));
  const png = path.join(dir, 'query.png');
  const grey = Buffer.from(ds.test!.images.subarray(0, 784));
  await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(96, 96)
    .toColourspace('srgb')
    .png()
    .toFile(png);
  const search = page.getByRole('region', { name: 'Image search' });
  await search.getByLabel(/Find images like this one/).setInputFiles(png);
  await expect(search.getByTestId('search-neighbour')).toHaveCount(13, { timeout: 120_000 });
  await expect(search.getByTestId('search-neighbour').nth(1)).toContainText(/[01]\.\d{3}/);
  await search.screenshot({ path: path.join(SHOTS, 'image-search.png') });

  // A file that is no image: one clear error.
  const bad = path.join(dir, 'bad.png');
  fs.writeFileSync(bad, 'not an image');
  await search.getByLabel(/Find images like this one/).setInputFiles(bad);
  await expect(search.getByRole('alert')).toContainText('could not be read');
  fs.rmSync(dir, { recursive: true, force: true });

  // From far down this page, another page opens at its top.
  expect(await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)).toBeGreaterThan(500);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Study' }).click();
  await expect(page.getByRole('heading', { name: 'Imbalance studies' })).toBeVisible();
  await expect.poll(() => page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)).toBe(0);
});
