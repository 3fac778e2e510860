/** Display formats shared by the pages. */
import type { RunPhase } from '../../electron/contract';
import { parseImbalance } from '../../electron/run-config';

/** An imbalance profile (none, longtail:10, dominant:3:100) in plain words; text that does not parse as it is. */
export function formatImbalanceProfile(text: string): string {
  let spec;
  try {
    spec = parseImbalance(text);
  } catch {
    return text;
  }
  if (spec.kind === 'none') return 'Balanced';
  if (spec.kind === 'longtail') return `Long tail, largest class ${spec.rho}× the smallest`;
  return `${spec.large} dominant ${spec.large === 1 ? 'class' : 'classes'}, ${spec.perSmall} images per other class`;
}

/** A method as people write it: ISD, MoCo. */
export function formatMethod(method: string): string {
  return method === 'moco' ? 'MoCo' : method === 'isd' ? 'ISD' : method;
}

export function formatPercent(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(digits)}%`;
}

export function formatDuration(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec) || sec < 0) return '—';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function formatDate(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Numbers as they are typed in a config: 0.0001 → 1e-4, 4096 → 4096. */
export function formatNumber(v: number): string {
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(6)));
}

export function formatValue(v: unknown): string {
  if (typeof v === 'number') return formatNumber(v);
  if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === '' || v === null || v === undefined) return '—';
  return String(v);
}

/** What the live page says a run is doing (contract RUN_PHASES). */
export const PHASE_LABEL: Record<RunPhase, string> = {
  preparing: 'Preparing data and model',
  baseline: 'Evaluating the random-init encoder',
  training: 'Training',
  evaluating: 'Evaluating (kNN)',
  final: 'Final evaluation',
  linear: 'Linear probe',
};
