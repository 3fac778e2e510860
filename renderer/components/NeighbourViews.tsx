/**
 * What a trained encoder sees for one test image: its nearest training images (from the final
 * checkpoint) and the teacher's soft similarity over the queue (the targets ISD distils).
 */
import { useId, useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { KEYS_BARELY_DIFFER, type NeighbourImage, type TeacherSimilarity } from '../../electron/contract';
import { call } from '../api/isd';
import { formatNumber, formatPercent } from '../lib/format';
import { BarChartCard } from './Charts';
import { QueryView } from './StateViews';
import { useDebounced } from './useDebounced';
import { newJobId, ProgressLine, useJobProgress } from './encoder-jobs';

/** The image the gallery and the teacher look at: a test image, or a training image clicked in the gallery. */
interface Query {
  split: 'train' | 'test';
  index: number;
}

export function NeighbourExplorer({ runId, method }: { runId: string; method: 'isd' | 'moco' }) {
  const inputId = useId();
  const [index, setIndex] = useState(0);
  const [text, setText] = useState('0');
  const [picked, setPicked] = useState<number | null>(null);
  const testIndex = useDebounced(index, 250);
  const query: Query = picked === null ? { split: 'test', index: testIndex } : { split: 'train', index: picked };
  // The first gallery of a run embeds its training images: their progress comes under this job id.
  const [jobId] = useState(newJobId);
  const features = useJobProgress(jobId);
  const gallery = useQuery({
    queryKey: ['runs', 'one', runId, 'neighbours', query.split, query.index],
    queryFn: () => call('runs.neighbours', { id: runId, testIndex: query.index, split: query.split, k: 8, jobId }),
    placeholderData: keepPreviousData,
    staleTime: Infinity,
  });
  const teacher = useQuery({
    queryKey: ['runs', 'one', runId, 'teacher', query.split, query.index],
    queryFn: () =>
      call('runs.teacherSimilarity', { id: runId, testIndex: query.index, split: query.split, bins: 40, top: 8 }),
    placeholderData: keepPreviousData,
    staleTime: Infinity,
  });
  const count = gallery.data?.testCount ?? null;
  const go = (i: number) => {
    const clamped = Math.max(0, count === null ? i : Math.min(count - 1, i));
    setPicked(null);
    setIndex(clamped);
    setText(String(clamped));
  };
  const valid = /^\d+$/.test(text) && (count === null || Number(text) < count);

  return (
    <section className="card" aria-labelledby={`${inputId}-h`}>
      <h2 id={`${inputId}-h`}>Nearest neighbours</h2>
      <div className="toolbar">
        <label htmlFor={inputId}>
          Test image{count !== null ? ` (0–${count - 1})` : ''}
          <input
            id={inputId}
            type="number"
            min={0}
            max={count === null ? undefined : count - 1}
            step={1}
            value={text}
            aria-invalid={!valid || undefined}
            onChange={(e) => {
              setText(e.target.value);
              if (/^\d+$/.test(e.target.value)) go(Number(e.target.value));
            }}
          />
        </label>
        <button type="button" onClick={() => go(index - 1)} disabled={index === 0} aria-label="Previous test image">
          ◀ Previous
        </button>
        <button
          type="button"
          onClick={() => go(index + 1)}
          disabled={count !== null && index >= count - 1}
          aria-label="Next test image"
        >
          Next ▶
        </button>
        <button type="button" onClick={() => count && go(Math.floor(Math.random() * count))} disabled={!count}>
          Random image
        </button>
        {picked !== null && (
          <>
            <span className="small" role="note" data-testid="query-is-training">
              The query is now training image {picked}.
            </span>
            <button type="button" onClick={() => go(index)}>
              Back to test image {index}
            </button>
          </>
        )}
        {(gallery.isFetching || teacher.isFetching) && (
          <span className="small muted" role="status">
            Computing…
          </span>
        )}
      </div>
      {gallery.isPending && features && features.done < features.total && (
        <div data-testid="features-progress">
          <ProgressLine p={features} label="Computing features from the final checkpoint" />
        </div>
      )}
      <QueryView query={gallery} loading="Computing features from the final checkpoint…">
        {(g) => (
          <>
            <p className="small muted">
              From the checkpoint at epoch {g.checkpoint.epoch} (step {g.checkpoint.step.toLocaleString()}). ✓ same
              class as the query, ✗ another class. Click a neighbour to make it the query.
            </p>
            <div className="gallery" data-testid="neighbour-gallery">
              <Picture
                image={g.query}
                caption={picked === null ? 'test image' : 'training image'}
                className="query"
                testId="neighbour-query"
              />
              {g.neighbours.map((n, i) => {
                const same = g.query.label === null || n.label === null ? null : n.label === g.query.label;
                return (
                  <button
                    key={n.index}
                    type="button"
                    className={`neighbour ${same === null ? '' : same ? 'same' : 'other'}`}
                    onClick={() => setPicked(n.index)}
                    title={`Make training image ${n.index} the query`}
                    data-testid="neighbour"
                  >
                    <Picture
                      image={n}
                      caption={`#${i + 1} · ${n.similarity.toFixed(4)}`}
                      mark={same === null ? undefined : same ? '✓' : '✗'}
                      markLabel={same === null ? undefined : same ? 'same class' : 'other class'}
                    />
                  </button>
                );
              })}
            </div>
          </>
        )}
      </QueryView>
      <h3>
        {method === 'isd' ? 'Teacher’s soft similarity over the queue' : 'Key encoder’s similarity over the queue'}
      </h3>
      <QueryView query={teacher} loading="Computing the teacher’s similarities…">
        {(t) => <TeacherView t={t} method={method} onPick={setPicked} />}
      </QueryView>
    </section>
  );
}

function Picture(props: {
  image: NeighbourImage;
  caption: string;
  className?: string;
  testId?: string;
  mark?: string;
  markLabel?: string;
}) {
  const { image, caption } = props;
  const name = image.className ?? (image.label === null ? 'unlabeled' : `class ${image.label}`);
  return (
    <figure className={props.className} data-testid={props.testId}>
      <img
        src={image.dataUrl}
        alt={`${caption}: ${name}, image ${image.index}${props.markLabel ? `, ${props.markLabel}` : ''}`}
      />
      <figcaption>
        {props.mark && (
          <span className="mark" aria-hidden="true">
            {props.mark}{' '}
          </span>
        )}
        {name}
        <br />
        <span className="muted">{caption}</span>
      </figcaption>
    </figure>
  );
}

/** The teacher's similarities; a top anchor's training image can become the query. */
function TeacherView({
  t,
  method,
  onPick,
}: {
  t: TeacherSimilarity;
  method: 'isd' | 'moco';
  onPick: (trainIndex: number) => void;
}) {
  // Bin edges to two significant digits: a tick label, not the value.
  const hist = t.probability.counts.map((count, i) => ({
    bin: formatNumber(Number(t.probability.edges[i]!.toPrecision(2))),
    count,
  }));
  const cos = t.cosine.counts.map((count, i) => ({ bin: t.cosine.edges[i]!.toFixed(2), count }));
  const weight = method === 'isd' ? 'Soft target' : 'Softmax weight';
  return (
    <div data-testid="teacher-similarity">
      <p className="small">
        softmax(k·Qᵀ / {formatNumber(t.temperature)}) over {t.queueSize.toLocaleString()} anchors: the mass sits on
        about <strong>{formatNumber(Number(t.effectiveAnchors.toPrecision(3)))}</strong> anchors (exp of the entropy).
        {method === 'isd'
          ? ' This is the target ISD’s student learns to match.'
          : ' MoCo does not train on it (its target is the query’s own positive key): it shows how the key encoder ranks the queue.'}
      </p>
      <p className="small muted" data-testid="teacher-space-note">
        The {method === 'isd' ? 'teacher' : 'key encoder'} compares projection-head outputs (the space the loss works
        in), not the backbone features the nearest neighbours above use, so its top anchors can differ from them, most
        of all early in training.
      </p>
      {t.anchorMeanCosine > KEYS_BARELY_DIFFER && (
        <p className="small warn" role="note" data-testid="keys-collapsed">
          ⚠ The anchors have a mean cosine of {t.anchorMeanCosine.toFixed(2)} to each other: their keys barely differ
          (the features have collapsed, or have not spread out yet), so this ranking says little.
        </p>
      )}
      <div className="grid-charts">
        <BarChartCard
          title={`${weight} per anchor (histogram, log count)`}
          xKey="bin"
          data={hist}
          logScale
          series={[{ key: 'count', name: 'anchors' }]}
        />
        <BarChartCard
          title="Cosine similarity to the anchors (histogram)"
          xKey="bin"
          data={cos}
          series={[{ key: 'count', name: 'anchors', color: '#009E73' }]}
        />
      </div>
      <h3>Top anchors</h3>
      <div className="table-wrap">
        <table aria-label="Top anchors">
          <thead>
            <tr>
              <th scope="col">Anchor</th>
              <th scope="col">Image</th>
              <th scope="col">Label</th>
              <th scope="col" className="num">
                Cosine
              </th>
              <th scope="col" className="num">
                {weight}
              </th>
            </tr>
          </thead>
          <tbody>
            {t.topAnchors.map((a) => (
              <tr key={a.queueIndex}>
                <td>{a.queueIndex}</td>
                <td>
                  {a.dataUrl && a.trainIndex !== null ? (
                    <button
                      type="button"
                      className="anchor-pick"
                      onClick={() => onPick(a.trainIndex!)}
                      title={`Make training image ${a.trainIndex} the query`}
                      aria-label={`Make training image ${a.trainIndex} the query`}
                    >
                      <img
                        src={a.dataUrl}
                        alt={`anchor ${a.queueIndex}: training image ${a.trainIndex}, ${a.className ?? 'unknown class'}`}
                        width={48}
                        height={48}
                      />
                    </button>
                  ) : (
                    // a random initial key, or a checkpoint from before the queue kept its images
                    <span title="No training image is recorded for this key">—</span>
                  )}
                </td>
                <td>{a.className ?? (a.label === null ? '—' : a.label)}</td>
                <td className="num">{a.cosine.toFixed(3)}</td>
                <td className="num">{formatPercent(a.probability, 2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
