/** Exports of metrics (a run's, a study's): CSV text (RFC 4180) for a spreadsheet or pandas, and their file names. */

export type CsvValue = string | number | boolean | null | undefined;

/**
 * One field: empty for null, numbers as JS prints them (round-trips), text quoted when it holds a
 * comma, quote, line break or edge space. Text starting with = + - @ gets a leading ' so that a
 * spreadsheet shows it instead of running it as a formula (CSV injection).
 */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  let text = value;
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  if (/[",\r\n]/.test(text) || text !== text.trim()) return `"${text.replace(/"/g, '""')}"`;
  return text;
}

/** Header plus rows, CRLF line ends as RFC 4180 asks, ending with a line break. */
export function csvText(header: readonly string[], rows: Iterable<readonly CsvValue[]>): string {
  const lines = [header.map(csvField).join(',')];
  for (const r of rows) lines.push(r.map(csvField).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** A file-name-safe form of a run's or a study's name: lower case, dashes, at most 60 characters. */
export function fileSlug(text: string, fallback: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || fallback
  );
}
