/**
 * The embedding map of a split (the trained encoder beside its random init) and image search. The
 * map draws on a canvas: one pass of fillRect per point, grouped by colour, so 10,000 points stay smooth.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import type { EncoderMap, EncoderSearch, NeighbourImage } from '../../electron/contract';
import { SEARCH_IMAGE_MAX_BYTES } from '../../electron/contract';
import { call, errorMessage } from '../api/isd';
import { formatNumber } from '../lib/format';
import { newJobId, ProgressLine, useJobProgress } from './encoder-jobs';

/** tab10: one colour per class (classes past ten repeat). */
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
const RARE = '#d62728';
const FREQUENT = '#9db4cc';

export function EmbeddingMaps({ runId }: { runId: string }) {
  const id = useId();
  const [split, setSplit] = useState<'train' | 'test'>('test');
  const [method, setMethod] = useState<'pca' | 'umap'>('pca');
  const [points, setPoints] = useState(2000);
  const [colour, setColour] = useState<'class' | 'rare'>('class');
  const [jobId, setJobId] = useState<string | null>(null);
  const [picked, setPicked] = useState<{ split: 'train' | 'test'; index: number } | null>(null);
  const progress = useJobProgress(jobId);
  const maps = useMutation({
    mutationFn: async () => {
      const job = newJobId();
      setJobId(job);
      const trained = await call('encoder.map', {
        id: runId,
        jobId: job,
        split,
        method,
        model: 'trained',
        maxPoints: points,
      });
      const init = await call('encoder.map', {
        id: runId,
        jobId: job,
        split,
        method,
        model: 'init',
        maxPoints: points,
      });
      return { trained, init };
    },
    onSettled: () => setJobId(null),
  });
  const rare = maps.data?.trained.rareClasses ?? null;

  return (
    <section className="card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Embedding map</h2>
      <div className="toolbar">
        <label>
          Split
          <select value={split} onChange={(e) => setSplit(e.target.value as 'train' | 'test')}>
            <option value="test">test</option>
            <option value="train">train</option>
          </select>
        </label>
        <label>
          Projection
          <select value={method} onChange={(e) => setMethod(e.target.value as 'pca' | 'umap')}>
            <option value="pca">PCA</option>
            <option value="umap">UMAP</option>
          </select>
        </label>
        <label>
          Points
          <input
            type="number"
            min={10}
            max={method === 'umap' ? 10_000 : 100_000}
            step={100}
            value={points}
            onChange={(e) =>
              setPoints(Math.max(10, Math.min(method === 'umap' ? 10_000 : 100_000, Number(e.target.value) || 10)))
            }
          />
        </label>
        {rare && (
          <label>
            Colour
            <select value={colour} onChange={(e) => setColour(e.target.value as 'class' | 'rare')}>
              <option value="class">by class</option>
              <option value="rare">frequent / rare</option>
            </select>
          </label>
        )}
        <button type="button" onClick={() => maps.mutate()} disabled={maps.isPending}>
          {maps.isPending ? 'Computing…' : 'Show map'}
        </button>
        {jobId && (
          <button type="button" onClick={() => void call('encoder.stop', { jobId })}>
            Stop
          </button>
        )}
      </div>
      {jobId && <ProgressLine p={progress} label="Map" />}
      {maps.error && <p role="alert">{errorMessage(maps.error)}</p>}
      {maps.data && (
        <>
          <div className="map-pair" style={{ display: 'flex', gap: 16, flexWrap: 'wrap' }}>
            <MapCanvas
              runId={runId}
              map={maps.data.trained}
              title={`Trained (step ${maps.data.trained.checkpoint.step})`}
              colour={colour}
              onPick={setPicked}
            />
            <MapCanvas
              runId={runId}
              map={maps.data.init}
              title="Random init (step 0)"
              colour={colour}
              onPick={setPicked}
            />
          </div>
          <Legend map={maps.data.trained} colour={colour} />
        </>
      )}
      {picked && <DatasetNeighbours runId={runId} query={picked} />}
    </section>
  );
}

function Legend({ map, colour }: { map: EncoderMap; colour: 'class' | 'rare' }) {
  const entries =
    colour === 'rare'
      ? [
          ['frequent', FREQUENT],
          ['rare', RARE],
        ]
      : (map.classNames ?? []).map((n, i) => [n, PALETTE[i % PALETTE.length]]);
  return (
    <p className="legend">
      {entries.map(([name, c]) => (
        <span key={name} style={{ marginRight: 12 }}>
          <span style={{ display: 'inline-block', width: 10, height: 10, background: c, marginRight: 4 }} />
          {name}
        </span>
      ))}
    </p>
  );
}

const SIDE = 420;

function pointColour(map: EncoderMap, i: number, colour: 'class' | 'rare'): string {
  const y = map.labels?.[i];
  if (y === undefined || y === null) return PALETTE[0];
  if (colour === 'rare') return map.rareClasses?.includes(y) ? RARE : FREQUENT;
  return PALETTE[y % PALETTE.length];
}

/** One map on a canvas; data-draw-ms holds the last full draw's time (the e2e suite reads it). */
function MapCanvas({
  runId,
  map,
  title,
  colour,
  onPick,
}: {
  runId: string;
  map: EncoderMap;
  title: string;
  colour: 'class' | 'rare';
  onPick: (q: { split: 'train' | 'test'; index: number }) => void;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<{ index: number; x: number; y: number } | null>(null);
  const hoverIndex = hover?.index ?? null;
  const thumb = useQuery({
    queryKey: ['encoder', 'image', runId, map.split, hoverIndex],
    queryFn: () => call('encoder.image', { id: runId, split: map.split, index: hoverIndex as number }),
    enabled: hoverIndex !== null,
    staleTime: Infinity,
  });

  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const t0 = performance.now();
    ctx.clearRect(0, 0, SIDE, SIDE);
    const byColour = new Map<string, number[]>();
    for (let i = 0; i < map.count; i++) {
      const c = pointColour(map, i, colour);
      let list = byColour.get(c);
      if (!list) byColour.set(c, (list = []));
      list.push(i);
    }
    for (const [c, list] of byColour) {
      ctx.fillStyle = c;
      for (const i of list)
        ctx.fillRect(4 + map.xy[2 * i] * (SIDE - 8) - 1.5, 4 + (1 - map.xy[2 * i + 1]) * (SIDE - 8) - 1.5, 3, 3);
    }
    if (hoverIndex !== null) {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(
        4 + map.xy[2 * hoverIndex] * (SIDE - 8),
        4 + (1 - map.xy[2 * hoverIndex + 1]) * (SIDE - 8),
        6,
        0,
        2 * Math.PI,
      );
      ctx.stroke();
    }
    canvas.dataset.drawMs = (performance.now() - t0).toFixed(2);
  }, [map, colour, hoverIndex]);

  const nearest = (e: React.MouseEvent<HTMLCanvasElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * SIDE;
    const py = ((e.clientY - box.top) / box.height) * SIDE;
    let best = -1;
    let bestD = 64; // within 8 px
    for (let i = 0; i < map.count; i++) {
      const dx = 4 + map.xy[2 * i] * (SIDE - 8) - px;
      const dy = 4 + (1 - map.xy[2 * i + 1]) * (SIDE - 8) - py;
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best < 0 ? null : { index: best, x: e.clientX - box.left, y: e.clientY - box.top };
  };

  return (
    <figure style={{ position: 'relative', margin: 0 }}>
      <figcaption>
        {title} · {map.method.toUpperCase()} · {formatNumber(map.count)} points
      </figcaption>
      <canvas
        ref={ref}
        width={SIDE}
        height={SIDE}
        data-testid={`map-${map.model}`}
        data-points={map.count}
        aria-label={`${title}: embedding map of ${map.count} ${map.split} images`}
        style={{ border: '1px solid #ccc', cursor: 'crosshair' }}
        onMouseMove={(e) => setHover(nearest(e))}
        onMouseLeave={() => setHover(null)}
        onClick={(e) => {
          const n = nearest(e);
          if (n) onPick({ split: map.split, index: n.index });
        }}
      />
      {hover && (
        <div
          role="tooltip"
          data-testid="map-hover"
          style={{
            position: 'absolute',
            left: hover.x + 12,
            top: hover.y + 24,
            background: '#fff',
            border: '1px solid #999',
            padding: 4,
            pointerEvents: 'none',
          }}
        >
          {thumb.data ? <img src={thumb.data.dataUrl} width={64} height={64} alt="" /> : '…'}
          <div>
            #{hover.index} {thumb.data?.className ?? ''}
          </div>
        </div>
      )}
    </figure>
  );
}

function NeighbourList({ result }: { result: EncoderSearch }) {
  return (
    <div data-testid="search-results">
      <p>
        Nearest of {formatNumber(result.searched)} {result.among} images (step {result.checkpoint.step}):
      </p>
      <ul className="thumbs" style={{ display: 'flex', flexWrap: 'wrap', gap: 8, listStyle: 'none', padding: 0 }}>
        <Thumb image={result.query} caption="query" />
        {result.neighbours.map((n) => (
          <Thumb key={n.index} image={n} caption={`${n.similarity.toFixed(3)}`} />
        ))}
      </ul>
    </div>
  );
}

function Thumb({ image, caption }: { image: NeighbourImage; caption: string }) {
  return (
    <li data-testid="search-neighbour" style={{ textAlign: 'center', fontSize: 12 }}>
      <img src={image.dataUrl} width={64} height={64} alt={image.className ?? 'image'} />
      <div>{image.className ?? '–'}</div>
      <div>{caption}</div>
    </li>
  );
}

function DatasetNeighbours({ runId, query }: { runId: string; query: { split: 'train' | 'test'; index: number } }) {
  const r = useQuery({
    queryKey: ['encoder', 'search', runId, query.split, query.index],
    queryFn: () => call('encoder.search', { id: runId, query: { kind: 'dataset', ...query }, among: 'train', k: 12 }),
    staleTime: Infinity,
  });
  if (r.error) return <p role="alert">{errorMessage(r.error)}</p>;
  if (!r.data) return <p className="muted">Finding the nearest training images…</p>;
  return <NeighbourList result={r.data} />;
}

export function ImageSearch({ runId }: { runId: string }) {
  const id = useId();
  const [problem, setProblem] = useState<string | null>(null);
  const search = useMutation({
    mutationFn: async (file: File) => {
      const bytes = new Uint8Array(await file.arrayBuffer());
      let binary = '';
      for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return call('encoder.search', {
        id: runId,
        query: { kind: 'file', name: file.name, base64: btoa(binary) },
        among: 'train',
        k: 12,
      });
    },
  });
  return (
    <section className="card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Image search</h2>
      <label>
        Find images like this one (PNG, JPEG or WebP, at most 20 MB){' '}
        <input
          type="file"
          accept="image/png,image/jpeg,image/webp"
          onChange={(e) => {
            const file = e.target.files?.[0];
            setProblem(null);
            if (!file) return;
            if (file.size > SEARCH_IMAGE_MAX_BYTES) return setProblem(`${file.name} is larger than 20 MB`);
            search.mutate(file);
          }}
        />
      </label>
      {problem && <p role="alert">{problem}</p>}
      {search.isPending && <p className="muted">Searching…</p>}
      {search.error && <p role="alert">{errorMessage(search.error)}</p>}
      {search.data && <NeighbourList result={search.data} />}
    </section>
  );
}
