/**
 * Renders build/icon.svg (the project's own icon) to build/icon.png, 512×512 RGBA, which
 * electron-builder turns into the .icns, .ico and Linux icons. Run after editing the SVG:
 *   npx tsc -p tsconfig.node.json && node dist/scripts/make-icon.js
 */
import path from 'node:path';
import sharp from 'sharp';
import { appRoot } from '../electron/app/paths';

export const ICON_SIZE = 512;

/** The icon as PNG bytes, rendered from the SVG at a density that gives ICON_SIZE pixels. */
export async function renderIcon(svgPath: string, size = ICON_SIZE): Promise<Buffer> {
  const meta = await sharp(svgPath).metadata();
  const density = Math.ceil((72 * size) / Math.max(meta.width ?? size, meta.height ?? size));
  return sharp(svgPath, { density })
    .resize(size, size, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0 } })
    .ensureAlpha()
    .png({ compressionLevel: 9 })
    .toBuffer();
}

async function main(): Promise<void> {
  const root = appRoot(__dirname);
  const svg = path.join(root, 'build', 'icon.svg');
  const out = path.join(root, 'build', 'icon.png');
  await sharp(await renderIcon(svg)).toFile(out);
  console.log(`wrote ${out} (${ICON_SIZE}×${ICON_SIZE})`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`make-icon: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
