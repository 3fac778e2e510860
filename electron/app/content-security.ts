/**
 * The renderer's Content-Security-Policy, one string for Electron (response header of the app's own
 * protocol, and onHeadersReceived) and the web host (which adds its WebSocket origin to connect-src).
 * It starts from default-src 'none' and allows only the app's own files, thumbnails as data: URLs,
 * and nothing remote.
 */
const DIRECTIVES: readonly [string, string][] = [
  ['default-src', "'none'"],
  ['script-src', "'self'"],
  ['style-src', "'self'"],
  ['img-src', "'self' data:"],
  ['font-src', "'self'"],
  ['connect-src', "'self'"],
  ['manifest-src', "'self'"],
  ['base-uri', "'none'"],
  ['form-action', "'none'"],
  ['frame-ancestors', "'none'"],
  ['object-src', "'none'"],
];

/** The policy; `connect` adds sources to connect-src (the web host's ws:// origins). */
export function contentSecurityPolicy(opts: { connect?: readonly string[] } = {}): string {
  return DIRECTIVES.map(
    ([name, value]) =>
      `${name} ${name === 'connect-src' && opts.connect?.length ? `${value} ${opts.connect.join(' ')}` : value}`,
  ).join('; ');
}

/** Headers sent with every renderer file, by both transports. */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}
