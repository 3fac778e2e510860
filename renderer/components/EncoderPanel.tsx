/**
 * Using what a run trained (docs/encoder.md): export the encoder, embed a dataset (here), the
 * embedding map and image search (EmbeddingMap.tsx).
 */
import { useId, useState } from 'react';
import { useMutation } from '@tanstack/react-query';
import { call, errorMessage, getApi } from '../api/isd';
import { useDatasets } from '../api/queries';
import { formatNumber } from '../lib/format';
import { EmbeddingMaps, ImageSearch } from './EmbeddingMap';
import { newJobId, ProgressLine, useJobProgress } from './encoder-jobs';

function saveBase64(files: { filename: string; mimeType: string; base64: string }[]): void {
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.base64), (ch) => ch.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: f.mimeType }));
    const a = document.createElement('a');
    a.href = url;
    a.download = f.filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}

const destination = () => (getApi().transport === 'electron' ? 'dialog' : 'download');

export function EncoderPanel({ runId }: { runId: string }) {
  return (
    <>
      <EncoderActions runId={runId} />
      <EmbeddingMaps runId={runId} />
      <ImageSearch runId={runId} />
    </>
  );
}

function EncoderActions({ runId }: { runId: string }) {
  const id = useId();
  const [format, setFormat] = useState<'onnx' | 'tfjs'>('onnx');
  const [teacher, setTeacher] = useState(false);
  const exporter = useMutation({
    mutationFn: () => call('encoder.export', { id: runId, format, teacher, destination: destination() }),
    onSuccess: (r) => saveBase64(r.downloads),
  });
  const datasets = useDatasets();
  const [dataset, setDataset] = useState('');
  const [split, setSplit] = useState<'train' | 'test' | 'all'>('test');
  const [embedFormat, setEmbedFormat] = useState<'npy' | 'csv'>('npy');
  const [jobId, setJobId] = useState<string | null>(null);
  const progress = useJobProgress(jobId);
  const embedder = useMutation({
    mutationFn: (job: string) =>
      call('encoder.embed', {
        id: runId,
        jobId: job,
        dataset: dataset || (datasets.data?.[0]?.id ?? ''),
        split,
        format: embedFormat,
        destination: destination(),
      }),
    onSuccess: (r) => saveBase64(r.downloads),
    onSettled: () => setJobId(null),
  });

  return (
    <section className="card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Use the encoder</h2>
      <p className="small muted" data-testid="export-feed-note">
        The export is the model and a JSON describing it. Feed it pixels in [0, 1], resized bilinearly (see the
        JSON&apos;s <code>input.resize</code>): the run&apos;s mean/std normalisation is already inside the model, so do
        not apply it yourself.
      </p>
      <div className="toolbar">
        <label>
          Format
          <select value={format} onChange={(e) => setFormat(e.target.value as 'onnx' | 'tfjs')}>
            <option value="onnx">ONNX</option>
            <option value="tfjs">TF.js</option>
          </select>
        </label>
        <label>
          <input type="checkbox" checked={teacher} onChange={(e) => setTeacher(e.target.checked)} /> teacher
          <span className="small muted"> (the EMA teacher instead of the student, which the kNN scores)</span>
        </label>
        <button type="button" onClick={() => exporter.mutate()} disabled={exporter.isPending}>
          {exporter.isPending ? 'Exporting…' : 'Export encoder'}
        </button>
        {exporter.data && (exporter.data.path || exporter.data.downloads.length > 0) && (
          <span role="status">
            exported step {exporter.data.checkpoint.step} in {exporter.data.seconds.toFixed(1)} s
            {exporter.data.path ? ` to ${exporter.data.path}` : ''}
            {exporter.data.downloads.length > 1
              ? `: ${exporter.data.downloads.map((d) => d.filename).join(', ')} (if the browser asks, allow the ${exporter.data.downloads.length} downloads)`
              : ''}
          </span>
        )}
        {exporter.error && <span role="alert">{errorMessage(exporter.error)}</span>}
      </div>
      <div className="toolbar">
        <label>
          Dataset
          <select value={dataset} onChange={(e) => setDataset(e.target.value)}>
            {(datasets.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Split
          <select value={split} onChange={(e) => setSplit(e.target.value as 'train' | 'test' | 'all')}>
            <option value="test">test</option>
            <option value="train">train</option>
            <option value="all">all</option>
          </select>
        </label>
        <label>
          File
          <select value={embedFormat} onChange={(e) => setEmbedFormat(e.target.value as 'npy' | 'csv')}>
            <option value="npy">.npy + .csv</option>
            <option value="csv">.csv</option>
          </select>
        </label>
        {jobId ? (
          <button type="button" onClick={() => void call('encoder.stop', { jobId })}>
            Stop
          </button>
        ) : (
          <button
            type="button"
            onClick={() => {
              const job = newJobId();
              setJobId(job);
              embedder.mutate(job);
            }}
          >
            Embed a dataset
          </button>
        )}
      </div>
      {jobId && <ProgressLine p={progress} label="Embedding" />}
      {embedder.data && embedder.data.images > 0 && (
        <p role="status">
          {formatNumber(embedder.data.images)} × {embedder.data.dim} features, {embedder.data.imagesPerSec.toFixed(0)}{' '}
          images/s
          {embedder.data.adapted.resizedTo ? `; resized to ${embedder.data.adapted.resizedTo}` : ''}
          {embedder.data.adapted.channels ? `; ${embedder.data.adapted.channels}` : ''}
          {embedder.data.skipped.length > 0 ? `; ${embedder.data.skipped.length} unreadable skipped` : ''}
        </p>
      )}
      {embedder.error && <p role="alert">{errorMessage(embedder.error)}</p>}
    </section>
  );
}
