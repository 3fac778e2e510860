/** Encoder jobs in the renderer: a job id per request, and its encoder.progress line. */
import { useEffect, useState } from 'react';
import type { EncoderProgressEvent } from '../../electron/contract';
import { getApi } from '../api/isd';
import { formatNumber } from '../lib/format';

export function newJobId(): string {
  return `job-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The latest encoder.progress of a job. */
export function useJobProgress(jobId: string | null): EncoderProgressEvent | null {
  const [p, setP] = useState<EncoderProgressEvent | null>(null);
  useEffect(() => {
    setP(null);
    if (!jobId) return;
    return getApi().on('encoder.progress', (e) => {
      if (e.jobId === jobId) setP(e);
    });
  }, [jobId]);
  return p;
}

export function ProgressLine({ p, label }: { p: EncoderProgressEvent | null; label: string }) {
  if (!p) return <p className="muted">{label}: starting…</p>;
  return (
    <p>
      <progress value={p.done} max={p.total || 1} aria-label={label} /> {p.phase === 'umap' ? 'UMAP epoch' : p.phase}{' '}
      {formatNumber(p.done)}/{formatNumber(p.total)}
      {p.imagesPerSec ? ` · ${p.imagesPerSec.toFixed(0)} images/s` : ''}
    </p>
  );
}
