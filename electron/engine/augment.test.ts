import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../rng';
import { IsdError } from '../errors';
import {
  augmentBatch,
  computeChannelStats,
  gaussianBlurBatch,
  gaussianKernel1d,
  blurKernelSize,
  sampleCrop,
  toEvalBatch,
  EVAL_RESIZE,
  type ImageShape,
} from './augment';
import { jitterOpMatrix } from './colour-jitter';

const ID1 = { mean: [0], std: [1] }; // no normalisation: values stay in [0, 1]
const ID3 = { mean: [0, 0, 0], std: [1, 1, 1] };

function randomImages(n: number, shape: ImageShape, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n * shape.h * shape.w * shape.c);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  return out;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Bilinear sample of channel ch of image img (uint8 [H, W, C]) at (y, x), in [0, 1] units. */
function bilinear(img: Uint8Array, s: ImageShape, y: number, x: number, ch: number): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const y1 = Math.min(y0 + 1, s.h - 1);
  const x1 = Math.min(x0 + 1, s.w - 1);
  const dy = y - y0;
  const dx = x - x0;
  const at = (yy: number, xx: number) => img[(yy * s.w + xx) * s.c + ch] / 255;
  return (1 - dy) * ((1 - dx) * at(y0, x0) + dx * at(y0, x1)) + dy * ((1 - dx) * at(y1, x0) + dx * at(y1, x1));
}

async function withBackend<T>(name: string, fn: () => T): Promise<T> {
  await tf.setBackend(name);
  await tf.ready();
  return fn();
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

afterAll(() => {
  tf.disposeVariables();
});

describe('augmentBatch', () => {
  const s1: ImageShape = { h: 28, w: 28, c: 1 };
  const s3: ImageShape = { h: 32, w: 32, c: 3 };
  const gray = randomImages(20, s1, 1);
  const colour = randomImages(20, s3, 2);

  it('gives [B, size, size, c] float32 in [0, 1] before normalisation, for both strengths and channel counts', () => {
    for (const strength of ['weak', 'strong'] as const) {
      for (const [imgs, s, id] of [
        [gray, s1, ID1],
        [colour, s3, ID3],
      ] as const) {
        for (const size of [s.h, 20, 40]) {
          const out = augmentBatch(imgs, [3, 0, 19, 7, 7], s, { size, strength, ...id }, new Rng(5));
          expect(out.shape).toEqual([5, size, size, s.c]);
          expect(out.dtype).toBe('float32');
          const v = out.dataSync();
          let lo = Infinity;
          let hi = -Infinity;
          for (const x of v) {
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
          }
          expect(lo).toBeGreaterThanOrEqual(-1e-5);
          expect(hi).toBeLessThanOrEqual(1 + 1e-5);
          expect(hi - lo).toBeGreaterThan(0.3); // random images keep their contrast
          out.dispose();
        }
      }
    }
  });

  it('normalises per channel: (x − mean) / std', () => {
    const opts = { size: 32, strength: 'strong' as const };
    const raw = augmentBatch(colour, range(8), s3, { ...opts, ...ID3 }, new Rng(9));
    const mean = [0.1, 0.5, 0.9];
    const std = [0.5, 0.25, 2];
    const norm = augmentBatch(colour, range(8), s3, { ...opts, mean, std }, new Rng(9));
    const a = raw.dataSync();
    const b = norm.dataSync();
    for (let i = 0; i < a.length; i += 97) expect(b[i]).toBeCloseTo((a[i] - mean[i % 3]) / std[i % 3], 5);
    tf.dispose([raw, norm]);
  });

  it('is reproducible from a saved Rng state and differs for another state', () => {
    const rng = new Rng(42);
    rng.next();
    const state = rng.getState();
    const opts = { size: 28, strength: 'strong' as const, ...ID1 };
    const a = augmentBatch(gray, range(16), s1, opts, rng);
    const afterA = rng.getState();
    const b = augmentBatch(gray, range(16), s1, opts, new Rng(state));
    const c = augmentBatch(gray, range(16), s1, opts, rng); // the stream has moved on
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(rng.getState()).not.toEqual(afterA);
    const da = a.dataSync();
    const dc = c.dataSync();
    let diff = 0;
    for (let i = 0; i < da.length; i++) diff += Math.abs(da[i] - dc[i]);
    expect(diff / da.length).toBeGreaterThan(0.01);
    tf.dispose([a, b, c]);
  });

  it('blurScale scales the drawn σ without moving the random stream: 0 keeps the edges that 1 blurs', () => {
    const opts = { size: 28, strength: 'strong' as const, ...ID1 };
    const edgeEnergy = (x: tf.Tensor4D) =>
      tf.tidy(() => {
        const [B, S] = x.shape;
        const dx = tf.sub(tf.slice(x, [0, 0, 1, 0], [B, S, S - 1, 1]), tf.slice(x, [0, 0, 0, 0], [B, S, S - 1, 1]));
        return Array.from(tf.mean(tf.square(dx), [1, 2, 3]).dataSync());
      });
    const streams = [new Rng(7), new Rng(7), new Rng(7)];
    const [plain, pixels, off] = [undefined, 1, 0].map((blurScale, i) =>
      augmentBatch(gray, range(20), s1, { ...opts, blurScale }, streams[i]),
    );
    expect(streams[1].getState()).toEqual(streams[0].getState());
    expect(streams[2].getState()).toEqual(streams[0].getState());
    expect(Array.from(pixels.dataSync())).toEqual(Array.from(plain.dataSync()));
    const [ePixels, eOff] = [edgeEnergy(pixels), edgeEnergy(off)];
    // About half the strong views are blurred (blurP 0.5): those lose edge energy; the others are the same image.
    const blurred = ePixels.filter((e, b) => e < eOff[b] * 0.9).length;
    expect(blurred).toBeGreaterThanOrEqual(4);
    expect(ePixels.every((e, b) => e <= eOff[b] + 1e-6)).toBe(true);
    tf.dispose([plain, pixels, off]);
  });

  it('weak is crop and flip only: a constant image stays constant, and each image matches a bilinear crop reference', () => {
    const constant = new Uint8Array(4 * 28 * 28).fill(77);
    const out = augmentBatch(constant, range(4), s1, { size: 24, strength: 'weak', ...ID1 }, new Rng(3));
    for (const v of out.dataSync()) expect(v).toBeCloseTo(77 / 255, 5);
    out.dispose();

    // Reference: replay the Rng draws (crop, then flip), sample the crop corner to corner when
    // enlarging, half-pixel centres when shrinking, mirror x when flipped.
    for (const size of [28, 12]) {
      const seed = 11 + size;
      const batch = [5, 1, 9, 2, 14, 6];
      const got = augmentBatch(colour, batch, s3, { size, strength: 'weak', ...ID3 }, new Rng(seed));
      const v = got.dataSync();
      const replay = new Rng(seed);
      let flips = 0;
      batch.forEach((idx, b) => {
        const crop = sampleCrop(s3.h, s3.w, replay);
        const flip = replay.next() < 0.5;
        if (flip) flips++;
        const img = colour.subarray(idx * 32 * 32 * 3, (idx + 1) * 32 * 32 * 3);
        const pos = (start: number, len: number, i: number) => {
          const inset = Math.max(0, (0.5 * len) / size - 0.5);
          return start + inset + (i * (len - 1 - 2 * inset)) / (size - 1);
        };
        for (let i = 0; i < size; i++) {
          for (let j = 0; j < size; j++) {
            const jj = flip ? size - 1 - j : j;
            for (let ch = 0; ch < 3; ch++) {
              const want = bilinear(img, s3, pos(crop.top, crop.height, i), pos(crop.left, crop.width, jj), ch);
              expect(Math.abs(v[((b * size + i) * size + j) * 3 + ch] - want)).toBeLessThan(1e-4);
            }
          }
        }
      });
      expect(flips).toBeGreaterThan(0); // the seed exercises the mirrored path too
      expect(flips).toBeLessThan(batch.length);
      got.dispose();
    }
  });

  it('flip mirrors: an image bright on its left comes out bright on its right in about half of the draws', () => {
    const img = new Uint8Array(28 * 28);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) img[y * 28 + x] = x < 8 ? 255 : 0;
    const n = 200;
    const out = augmentBatch(img, new Array<number>(n).fill(0), s1, { size: 28, strength: 'weak', ...ID1 }, new Rng(8));
    const v = out.dataSync();
    let mirrored = 0;
    for (let b = 0; b < n; b++) {
      let left = 0;
      let right = 0;
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 14; x++) {
          left += v[b * 784 + y * 28 + x];
          right += v[b * 784 + y * 28 + 27 - x];
        }
      }
      if (right > left) mirrored++;
    }
    out.dispose();
    expect(mirrored).toBeGreaterThan(n * 0.35);
    expect(mirrored).toBeLessThan(n * 0.65);
  });

  it('strong changes intensities (jitter) and turns about 20% of colour images gray', () => {
    const n = 200;
    const out = augmentBatch(
      colour,
      new Array<number>(n).fill(4),
      s3,
      { size: 32, strength: 'strong', ...ID3 },
      new Rng(21),
    );
    const v = out.dataSync();
    let grayImages = 0;
    for (let b = 0; b < n; b++) {
      let maxSpread = 0;
      for (let p = 0; p < 32 * 32; p++) {
        const o = (b * 1024 + p) * 3;
        maxSpread = Math.max(maxSpread, Math.abs(v[o] - v[o + 1]), Math.abs(v[o + 1] - v[o + 2]));
      }
      if (maxSpread < 1e-5) grayImages++;
    }
    out.dispose();
    expect(grayImages).toBeGreaterThan(n * 0.1);
    expect(grayImages).toBeLessThan(n * 0.3);

    const constant = new Uint8Array(50 * 28 * 28).fill(128);
    const jittered = augmentBatch(constant, range(50), s1, { size: 28, strength: 'strong', ...ID1 }, new Rng(4));
    const means = tf.tidy(() => tf.mean(jittered, [1, 2, 3]).dataSync());
    jittered.dispose();
    const changed = Array.from(means).filter((m) => Math.abs(m - 128 / 255) > 0.01).length;
    expect(changed).toBeGreaterThan(50 * 0.5); // brightness moves most of them (p 0.8)
  });

  it('does not leak tensors over many calls', () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 30; i++) {
      const rng = new Rng(i);
      tf.dispose([
        augmentBatch(colour, range(8), s3, { size: 24, strength: 'strong', ...ID3 }, rng),
        augmentBatch(gray, range(8), s1, { size: 28, strength: 'weak', ...ID1 }, rng),
        toEvalBatch(gray, range(8), s1, { size: 20, ...ID1 }),
      ]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same output on the cpu and wasm backends for the same Rng state', async () => {
    // Many crops, at the source size (crops reaching the image edges) and smaller.
    const batch = range(128).map((i) => i % 20);
    for (const [imgs, s, id] of [
      [gray, s1, ID1],
      [colour, s3, ID3],
    ] as const) {
      for (const size of [s.h, 20]) {
        for (const strength of ['weak', 'strong'] as const) {
          const run = () => {
            const t = augmentBatch(imgs, batch, s, { size, strength, ...id }, new Rng(77));
            const v = t.dataSync().slice();
            t.dispose();
            return v;
          };
          const onWasm = await withBackend('wasm', run);
          const onCpu = await withBackend('cpu', run);
          let maxDiff = 0;
          for (let i = 0; i < onWasm.length; i++) maxDiff = Math.max(maxDiff, Math.abs(onWasm[i] - onCpu[i]));
          expect(maxDiff, `${s.c} channel(s), size ${size}, ${strength}`).toBeLessThan(1e-4);
        }
      }
    }
    await tf.setBackend('wasm');
  });

  it('refuses bad input with a message naming the field', () => {
    const opts = { size: 28, strength: 'weak' as const, ...ID1 };
    const expectField = (fn: () => unknown, field: string) => {
      try {
        fn();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(IsdError);
        expect((e as IsdError).field).toBe(field);
      }
    };
    expectField(() => augmentBatch(gray, [20], s1, opts, new Rng(1)), 'indices');
    expectField(() => augmentBatch(gray, [], s1, opts, new Rng(1)), 'indices');
    expectField(() => augmentBatch(gray.subarray(1), [0], s1, opts, new Rng(1)), 'images');
    expectField(() => augmentBatch(gray, [0], { h: 28, w: 28, c: 2 }, opts, new Rng(1)), 'src.c');
    expectField(() => augmentBatch(gray, [0], s1, { ...opts, mean: [0, 0, 0] }, new Rng(1)), 'mean');
    expectField(() => augmentBatch(gray, [0], s1, { ...opts, std: [0] }, new Rng(1)), 'std');
    expectField(() => augmentBatch(gray, [0], s1, { ...opts, size: 1.5 }, new Rng(1)), 'size');
  });
});

describe('colour ops', () => {
  const apply = (op: 'brightness' | 'contrast' | 'saturation' | 'hue', f: number, rgb: number[]) => {
    const m = new Float32Array(9);
    const beta = jitterOpMatrix(op, f, 3, m);
    return { out: [0, 1, 2].map((j) => rgb[0] * m[j] + rgb[1] * m[3 + j] + rgb[2] * m[6 + j]), beta };
  };

  it('hue 0, saturation 1, brightness 1 are the identity; saturation 0 is grayscale; contrast blends to the mean', () => {
    const px = [0.7, 0.2, 0.4];
    for (const [op, f] of [
      ['hue', 0],
      ['saturation', 1],
      ['brightness', 1],
    ] as const) {
      apply(op, f, px).out.forEach((v, i) => expect(v).toBeCloseTo(px[i], 5));
    }
    const g = 0.2989 * 0.7 + 0.587 * 0.2 + 0.114 * 0.4;
    apply('saturation', 0, px).out.forEach((v) => expect(v).toBeCloseTo(g, 5));
    const c = apply('contrast', 0.6, px);
    expect(c.beta).toBeCloseTo(0.4, 6);
    c.out.forEach((v, i) => expect(v).toBeCloseTo(0.6 * px[i], 5));
  });

  it('hue shifts in the same direction as an HSV hue shift and keeps luma', () => {
    const hsvHue = (rgb: number[]) => {
      const [r, g, b] = rgb;
      const max = Math.max(r, g, b);
      const d = max - Math.min(r, g, b);
      const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
      return (h * 60 + 360) % 360;
    };
    const px = [0.8, 0.3, 0.2]; // an orange-red, hue ~12°
    const shifted = apply('hue', 0.05, px).out; // HSV would move it to ~30°
    const dh = hsvHue(shifted) - hsvHue(px);
    expect(dh).toBeGreaterThan(10);
    expect(dh).toBeLessThan(26);
    const luma = (p: number[]) => 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    expect(luma(shifted)).toBeCloseTo(luma(px), 5);
  });
});

describe('gaussianBlurBatch', () => {
  it('matches a direct reflect-padded separable convolution and leaves σ = 0 images as they are', () => {
    const B = 3;
    const S = 28;
    const C = 2;
    const rng = new Rng(6);
    const data = Float32Array.from({ length: B * S * S * C }, () => rng.next());
    const sigmas = [1.3, 0, 0.4];
    const k = blurKernelSize(S);
    expect(k).toBe(3);
    expect(blurKernelSize(224)).toBe(23);
    const got = tf.tidy(() => gaussianBlurBatch(tf.tensor4d(data, [B, S, S, C]), sigmas).dataSync());
    const reflect = (i: number) => (i < 0 ? -i : i >= S ? 2 * S - 2 - i : i);
    for (let b = 0; b < B; b++) {
      const g = sigmas[b] > 0 ? gaussianKernel1d(k, sigmas[b]) : [0, 1, 0];
      const half = (k - 1) / 2;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          for (let c = 0; c < C; c++) {
            let want = 0;
            for (let dy = 0; dy < k; dy++) {
              for (let dx = 0; dx < k; dx++) {
                want += g[dy] * g[dx] * data[((b * S + reflect(y + dy - half)) * S + reflect(x + dx - half)) * C + c];
              }
            }
            expect(Math.abs(got[((b * S + y) * S + x) * C + c] - want)).toBeLessThan(1e-5);
          }
        }
      }
    }
  });

  it('reduces high-frequency energy, more with a larger σ', () => {
    const S = 32;
    const checker = Float32Array.from({ length: 3 * S * S }, (_, i) => {
      const p = i % (S * S);
      return ((Math.floor(p / S) + (p % S)) % 2) * 1;
    });
    const energy = tf.tidy(() => {
      const out = gaussianBlurBatch(tf.tensor4d(checker, [3, S, S, 1]), [0, 0.5, 2]);
      const dx = tf.sub(tf.slice(out, [0, 0, 1, 0], [3, S, S - 1, 1]), tf.slice(out, [0, 0, 0, 0], [3, S, S - 1, 1]));
      return Array.from(tf.mean(tf.square(dx), [1, 2, 3]).dataSync());
    });
    expect(energy[0]).toBeCloseTo(1, 5);
    expect(energy[1]).toBeLessThan(energy[0] * 0.5);
    expect(energy[2]).toBeLessThan(energy[1]);
  });
});

describe('toEvalBatch', () => {
  const s: ImageShape = { h: 28, w: 28, c: 1 };
  const images = randomImages(5, s, 12);

  it('only normalises when the size already matches', () => {
    const out = toEvalBatch(images, [4, 1], s, { size: 28, mean: [0.3], std: [0.5] });
    const v = out.dataSync();
    for (let i = 0; i < 784; i++) {
      expect(v[i]).toBeCloseTo((images[4 * 784 + i] / 255 - 0.3) / 0.5, 5);
      expect(v[784 + i]).toBeCloseTo((images[784 + i] / 255 - 0.3) / 0.5, 5);
    }
    out.dispose();
  });

  it('resizes the whole image otherwise: corners kept when enlarging, constant stays constant', () => {
    const big = toEvalBatch(images, [2], s, { size: 40, ...ID1 });
    const v = big.dataSync();
    expect(big.shape).toEqual([1, 40, 40, 1]);
    // corners land on the corner pixels (to within the 1e-4-pixel inset that keeps samples inside)
    expect(v[0]).toBeCloseTo(images[2 * 784] / 255, 3);
    expect(v[40 * 40 - 1]).toBeCloseTo(images[2 * 784 + 783] / 255, 3);
    big.dispose();
    // Shrinking is what EVAL_RESIZE says: tf.image.resizeBilinear with half-pixel centres (no antialiasing).
    const shrunk = toEvalBatch(images, [2, 3], s, { size: 16, ...ID1 });
    const pixels = tf.tensor4d(
      Float32Array.from(images.subarray(2 * 784, 4 * 784), (b) => b / 255),
      [2, 28, 28, 1],
    );
    const reference = tf.image.resizeBilinear(pixels, [16, 16], false, true);
    expect(EVAL_RESIZE).toContain('tf.image.resizeBilinear(x, size, false, true)');
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(shrunk, reference))).dataSync()[0])).toBeLessThan(1e-4);
    tf.dispose([shrunk, pixels, reference]);
    const constant = new Uint8Array(784).fill(200);
    const small = toEvalBatch(constant, [0], s, { size: 16, ...ID1 });
    for (const x of small.dataSync()) expect(x).toBeCloseTo(200 / 255, 5);
    small.dispose();
  });
});

describe('computeChannelStats', () => {
  it('gives the per-channel population mean and std in [0, 1] units', () => {
    const images = randomImages(7, { h: 5, w: 4, c: 3 }, 13);
    const { mean, std } = computeChannelStats(images, 3);
    for (let c = 0; c < 3; c++) {
      const vals: number[] = [];
      for (let i = c; i < images.length; i += 3) vals.push(images[i] / 255);
      const m = vals.reduce((a, b) => a + b, 0) / vals.length;
      const sd = Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length);
      expect(mean[c]).toBeCloseTo(m, 10);
      expect(std[c]).toBeCloseTo(sd, 10);
    }
    expect(() => computeChannelStats(new Uint8Array(4), 3)).toThrow(IsdError);
    expect(computeChannelStats(new Uint8Array(10).fill(9), 1).std[0]).toBeGreaterThan(0); // constant: floored, no division by 0
  });
});
