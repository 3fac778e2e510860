/** Grey ↔ colour for images a model of the other kind reads: uint8 [pixels, from] → [pixels, to]. */

/** ITU-R 601 luma weights (torchvision's rgb_to_grayscale, as augment.ts's grayscale). */
const LUMA = [0.2989, 0.587, 0.114];

/** Grey → RGB repeats the value; RGB → grey takes the luma. Returns `images` itself when from === to. */
export function convertChannels(images: Uint8Array, pixels: number, from: 1 | 3, to: 1 | 3): Uint8Array {
  if (from === to) return images;
  if (from === 1) {
    const out = new Uint8Array(pixels * 3);
    for (let p = 0; p < pixels; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = images[p];
    return out;
  }
  const out = new Uint8Array(pixels);
  for (let p = 0; p < pixels; p++)
    out[p] = Math.round(LUMA[0] * images[3 * p] + LUMA[1] * images[3 * p + 1] + LUMA[2] * images[3 * p + 2]);
  return out;
}
