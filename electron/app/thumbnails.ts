/**
 * Small PNG thumbnails of dataset images as data: URLs (the CSP allows img-src data:), made with sharp
 * from the uint8 [N, h, w, c] arrays the dataset readers give.
 */
import sharp from 'sharp';

export interface ImageArray {
  images: Uint8Array; // [N, h, w, c]
  height: number;
  width: number;
  channels: number;
}

/** One image of the array as a size×size PNG data URL (nearest-neighbour when enlarging keeps small images crisp). */
export async function thumbnailDataUrl(src: ImageArray, index: number, size: number): Promise<string> {
  const { height: h, width: w, channels: c } = src;
  const bytes = h * w * c;
  const start = index * bytes;
  if (!Number.isInteger(index) || index < 0 || start + bytes > src.images.length)
    throw new RangeError(`image ${index} is outside the array`);
  const raw = Buffer.from(src.images.buffer, src.images.byteOffset + start, bytes);
  const enlarge = size >= Math.max(h, w);
  const png = await sharp(raw, { raw: { width: w, height: h, channels: c as 1 | 3 } })
    .resize(size, size, {
      fit: 'contain',
      kernel: enlarge ? 'nearest' : 'lanczos3',
      background: { r: 0, g: 0, b: 0, alpha: 1 },
    })
    .png({ compressionLevel: 9 })
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
