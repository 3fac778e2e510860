/**
 * Maps a request path to a file of the built renderer (dist-renderer/) with its content type,
 * refusing anything outside that folder (.., encoded separators, NUL, symlinks pointing out).
 * Used by the web host and by Electron's app protocol.
 */
import fs from 'node:fs';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type StaticLookup =
  { ok: true; file: string; contentType: string } | { ok: false; status: 400 | 404; reason: string };

/** The file under rootDir that urlPath ("/assets/x.js", "/" → index.html) names, or why not. */
export function resolveStaticFile(rootDir: string, urlPath: string): StaticLookup {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding' };
  }
  if (decoded.includes('\0')) return { ok: false, status: 400, reason: 'NUL in path' };
  if (decoded.includes('\\')) return { ok: false, status: 400, reason: 'backslash in path' };
  const segments = decoded.split('/').filter((s) => s.length > 0);
  if (segments.some((s) => s === '..' || s === '.')) return { ok: false, status: 400, reason: 'dot segment in path' };
  const relative = segments.length === 0 ? 'index.html' : segments.join('/');
  let root: string;
  try {
    root = fs.realpathSync(rootDir);
  } catch {
    return { ok: false, status: 404, reason: `${rootDir} does not exist` };
  }
  let file: string;
  try {
    file = fs.realpathSync(path.join(root, relative));
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  const rel = path.relative(root, file);
  if (rel.startsWith('..') || path.isAbsolute(rel))
    return { ok: false, status: 404, reason: 'outside the renderer folder' };
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  if (!stat.isFile()) return { ok: false, status: 404, reason: 'not a file' };
  return { ok: true, file, contentType: contentTypeOf(file) };
}
