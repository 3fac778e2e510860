/**
 * Builds resources/sample/: a seeded, class-balanced subset of Fashion-MNIST (1,000 training and 200
 * test images per class by default) from the Debian package's files, written as gzip IDX files with
 * classes.txt and a README holding the provenance and the licence.
 *
 *   npm run build && node dist/scripts/make-sample.js [--source DIR] [--out DIR]
 *       [--train-per-class N] [--test-per-class N] [--seed N]
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { exitCodeFor } from '../electron/errors';
import { Rng } from '../electron/rng';
import { encodeIdx, FASHION_MNIST_CLASSES, loadIdx } from '../electron/data/idx';
import { RESOURCES_DIR } from '../electron/data/registry';
import { countClasses, indicesByClass, selectImages } from '../electron/data/split';
import type { ImageSplit } from '../electron/data/types';
import { runMain } from './run-main';

export const DEFAULT_SOURCE = '/usr/share/datasets/fashion-mnist';

/** perClass images of each class, chosen by a seeded shuffle, returned in ascending index order (the source's order). */
export function balancedSubset(labels: Int32Array, numClasses: number, perClass: number, rng: Rng): Int32Array {
  const picked: number[] = [];
  indicesByClass(labels, numClasses).forEach((members, c) => {
    if (members.length < perClass)
      throw new Error(`class ${c} has ${members.length} images, fewer than the ${perClass} asked`);
    picked.push(...rng.shuffle(Int32Array.from(members)).subarray(0, perClass));
  });
  return Int32Array.from(picked.sort((a, b) => a - b));
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fsp.readFile(file))
    .digest('hex');
}

async function writeSplit(out: string, prefix: string, split: ImageSplit, h: number, w: number): Promise<string[]> {
  if (!split.labels) throw new Error(`${prefix} split has no labels`);
  // gzip headers from zlib carry no timestamp, so the same input gives byte-identical files.
  const images = zlib.gzipSync(encodeIdx([split.count, h, w], split.images), { level: 9 });
  const labels = zlib.gzipSync(encodeIdx([split.count], Uint8Array.from(split.labels)), { level: 9 });
  const names = [`${prefix}-images-idx3-ubyte.gz`, `${prefix}-labels-idx1-ubyte.gz`];
  await fsp.writeFile(path.join(out, names[0]), images);
  await fsp.writeFile(path.join(out, names[1]), labels);
  return names;
}

function readme(o: {
  trainPerClass: number;
  testPerClass: number;
  seed: number;
  source: string;
  sums: [string, string][];
  counts: [number, number];
}): string {
  const args = `--train-per-class ${o.trainPerClass} --test-per-class ${o.testPerClass} --seed ${o.seed}`;
  return `# Fashion-MNIST sample

The dataset ISD Studio offers out of the box (id \`sample\`): a class-balanced subset of
[Fashion-MNIST](https://github.com/zalandoresearch/fashion-mnist), 28×28 greyscale images of
10 kinds of clothing, small enough to ship and to train on a CPU in minutes.

- training: ${o.counts[0].toLocaleString('en-US')} images, ${o.trainPerClass} per class, from the 60,000 Fashion-MNIST training images
- test: ${o.counts[1].toLocaleString('en-US')} images, ${o.testPerClass} per class, from the 10,000 Fashion-MNIST test images
- classes (label order, also in \`classes.txt\`): ${FASHION_MNIST_CLASSES.join(', ')}
- files: gzip IDX, the format of the original (\`train-images-idx3-ubyte.gz\`, \`train-labels-idx1-ubyte.gz\`,
  \`t10k-images-idx3-ubyte.gz\`, \`t10k-labels-idx1-ubyte.gz\`)

## How it was made

From the Debian package \`dataset-fashion-mnist\` (files in \`${o.source}\`):

\`\`\`
npm run build
node dist/scripts/make-sample.js ${args}
\`\`\`

(these are the defaults). For each class the script shuffles that class's image indices with the
app's seeded generator (\`electron/rng.ts\`, seed ${o.seed}; the test subset continues the same
generator's stream), keeps the first ${o.trainPerClass} (training) or ${o.testPerClass} (test), and writes the kept
images in their original order. The same source files and seed give byte-identical output.

Source files (SHA-256):

${o.sums.map(([f, s]) => `- \`${f}\`: \`${s}\``).join('\n')}

## Licence

Fashion-MNIST is Copyright 2017 Zalando SE, released under the MIT licence (the Debian package's
\`/usr/share/doc/dataset-fashion-mnist/copyright\` names it \`Expat\`, Debian's name for that
same licence text):

> Permission is hereby granted, free of charge, to any person obtaining a copy of this software
> and associated documentation files (the "Software"), to deal in the Software without
> restriction, including without limitation the rights to use, copy, modify, merge, publish,
> distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
> Software is furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
> BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}

export async function makeSample(o: {
  source: string;
  out: string;
  trainPerClass: number;
  testPerClass: number;
  seed: number;
}): Promise<{ train: number[]; test: number[] }> {
  const ds = await loadIdx(o.source);
  if (!ds.test || !ds.train.labels || !ds.test.labels || !ds.classNames)
    throw new Error(`${o.source}: expected labelled train and t10k files`);
  const C = ds.classNames.length;
  const rng = new Rng(o.seed);
  const bytes = ds.height * ds.width * ds.channels;
  const train = selectImages(ds.train, balancedSubset(ds.train.labels, C, o.trainPerClass, rng), bytes);
  const test = selectImages(ds.test, balancedSubset(ds.test.labels, C, o.testPerClass, rng), bytes);

  await fsp.mkdir(o.out, { recursive: true });
  const sourceFiles = (await fsp.readdir(o.source)).filter((n) => /idx[13]-ubyte(\.gz)?$/.test(n)).sort();
  const sums: [string, string][] = [];
  for (const n of sourceFiles) sums.push([n, await sha256(path.join(o.source, n))]);
  await writeSplit(o.out, 'train', train, ds.height, ds.width);
  await writeSplit(o.out, 't10k', test, ds.height, ds.width);
  await fsp.writeFile(path.join(o.out, 'classes.txt'), `${ds.classNames.join('\n')}\n`);
  await fsp.writeFile(path.join(o.out, 'README.md'), readme({ ...o, sums, counts: [train.count, test.count] }));
  return { train: countClasses(train.labels as Int32Array, C), test: countClasses(test.labels as Int32Array, C) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      source: { type: 'string', default: DEFAULT_SOURCE },
      out: { type: 'string', default: path.join(RESOURCES_DIR, 'sample') },
      'train-per-class': { type: 'string', default: '1000' },
      'test-per-class': { type: 'string', default: '200' },
      seed: { type: 'string', default: '0' },
    },
  });
  const int = (name: string, text: string): number => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number ≥ 0, got "${text}"`);
    return v;
  };
  const o = {
    source: values.source,
    out: values.out,
    trainPerClass: int('train-per-class', values['train-per-class']),
    testPerClass: int('test-per-class', values['test-per-class']),
    seed: int('seed', values.seed),
  };
  const t0 = performance.now();
  const counts = await makeSample(o);
  console.log(
    `wrote ${o.out}: train ${counts.train.join('/')} test ${counts.test.join('/')} per class in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

if (require.main === module) runMain(main, exitCodeFor);
