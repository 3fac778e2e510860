/**
 * An accuracy as the app reads it (electron/readings.ts): the value, its standard error over the
 * queries, and its change against step 0 with the verdict; a loss beyond noise is flagged.
 */
import type { EvalPoint, PixelBaseline } from '../../electron/contract';
import { describeChange, describeQueries, formatAccuracy, formatChange, readAccuracy } from '../../electron/readings';
import { formatPercent } from '../lib/format';

export function Accuracy(props: {
  value: number | null | undefined;
  /** The same accuracy at step 0. */
  init: number | null | undefined;
  /** Queries scored (null: unknown, no standard error or verdict). */
  n: number | null | undefined;
  /** Tables: the ± only when the queries are a subset of the test split. */
  compact?: { subset: boolean };
  /** In a table cell the verdict is the change's colour and title only; elsewhere it is also spelled out. */
  inTable?: boolean;
  testId?: string;
}) {
  if (props.value === null || props.value === undefined) return <>—</>;
  const r = readAccuracy(props.value, props.init, props.n);
  const value = props.compact && !props.compact.subset ? formatPercent(r.value) : formatAccuracy(r);
  return (
    <span className="reading" data-testid={props.testId}>
      <span className="reading-value">{value}</span>
      {r.change !== null && (
        <>
          {' '}
          <span
            className={`change change-${r.verdict === null ? 'unknown' : r.verdict.replace(' ', '-')}`}
            data-verdict={r.verdict ?? 'unknown'}
            title={`${describeChange(r)}${r.changeSe !== null ? ` (2 SE = ${(200 * r.changeSe).toFixed(1)} pts)` : ''}`}
          >
            {r.verdict === 'lost' ? '⚠ ' : ''}
            {formatChange(r.change)}
            {/* outside tables the verdict is spelled out: a change alone does not say whether it is noise */}
            {!props.inTable && r.verdict !== null ? `, ${r.verdict}` : ''}
          </span>
        </>
      )}
    </span>
  );
}

/** A table's numeric cell holding an Accuracy. */
export function AccuracyCell(props: Parameters<typeof Accuracy>[0]) {
  return (
    <td className="num">
      <Accuracy {...props} inTable />
    </td>
  );
}

/** One line under a run's accuracies: what they are read against, and over how many queries. */
export function ReadingsNote({ baseline, pixel }: { baseline: EvalPoint | null; pixel: PixelBaseline | null }) {
  if (!baseline && !pixel) return null;
  const subset = pixel ? describeQueries(pixel.testImages, pixel.testSplitImages) : '';
  return (
    <p className="small muted" data-testid="readings-note">
      Changes are against step 0 (the random-init encoder
      {baseline ? `: 20-NN ${formatPercent(baseline.knn20)}` : ''})
      {pixel
        ? `; raw pixels on the same bank and queries: 20-NN ${formatPercent(pixel.pixelKnn20)}, 1-NN ${formatPercent(pixel.pixelKnn1)}`
        : ''}
      .{' '}
      {pixel
        ? `± is one standard error over ${pixel.testImages.toLocaleString('en')} test images${subset ? ` (${subset})` : ''}; `
        : ''}
      “learned” or “lost” only beyond two standard errors of the change.
    </p>
  );
}
