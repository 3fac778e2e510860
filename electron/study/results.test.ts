import { describe, expect, it } from 'vitest';
import {
  computeStudyResults,
  formatCell,
  mean,
  sampleStd,
  studyResultsCsv,
  studyResultsMarkdown,
  tQuantile975,
  type StudyRunResult,
} from './results';
import { DEFAULT_STUDY_SPEC } from '../contract/study-spec';

/** A run with the same value on 1-NN and 20-NN, and the given frequent/rare 20-NN accuracy. */
function run(
  method: string,
  profile: string,
  seed: number,
  all: number,
  rare?: number,
  frequent?: number,
  linear: number | null = null,
): StudyRunResult {
  return {
    runId: `${method}-${profile}-${seed}`,
    method,
    profile,
    seed,
    all: { knn1: all, knn20: all, linear },
    frequent: frequent === undefined ? null : { knn1: null, knn20: frequent, linear: null },
    rare: rare === undefined ? null : { knn1: null, knn20: rare, linear: null },
  };
}

const SPEC = { methods: ['isd', 'moco'] as ('isd' | 'moco')[], profiles: ['none', 'dominant:3:100'] };

describe('statistics', () => {
  it('sample std divides by n − 1; t quantiles match the tables', () => {
    expect(mean([0.7, 0.74, 0.72])).toBeCloseTo(0.72, 12);
    expect(sampleStd([0.7, 0.74, 0.72])).toBeCloseTo(0.02, 12);
    expect(sampleStd([0.68, 0.71, 0.71])).toBeCloseTo(Math.sqrt(0.0003), 12);
    expect(sampleStd([0.5])).toBeNull();
    expect(mean([])).toBeNull();
    expect(tQuantile975(1)).toBe(12.7062);
    expect(tQuantile975(2)).toBe(4.3027);
    expect(tQuantile975(30)).toBe(2.0423);
    expect(tQuantile975(31)).toBeCloseTo(2.0395, 3);
    expect(tQuantile975(120)).toBeCloseTo(1.9799, 3);
    expect(() => tQuantile975(0)).toThrow(RangeError);
  });
});

describe('computeStudyResults', () => {
  it('gives mean ± sample std, min and max per method × profile, and the paired ISD − MoCo with its 95% CI', () => {
    const results = [
      run('isd', 'dominant:3:100', 0, 0.7, 0.6, 0.8),
      run('isd', 'dominant:3:100', 1, 0.74, 0.62, 0.84),
      run('isd', 'dominant:3:100', 2, 0.72, 0.64, 0.82),
      run('moco', 'dominant:3:100', 0, 0.68, 0.55, 0.79),
      run('moco', 'dominant:3:100', 1, 0.71, 0.56, 0.83),
      run('moco', 'dominant:3:100', 2, 0.71, 0.57, 0.81),
    ];
    const r = computeStudyResults(SPEC, results);
    const cell = (method: string, metric: string, group: string) =>
      r.cells.find(
        (c) => c.method === method && c.profile === 'dominant:3:100' && c.metric === metric && c.group === group,
      )!;
    expect(cell('isd', 'knn20', 'all')).toMatchObject({
      n: 3,
      min: 0.7,
      max: 0.74,
      values: [0.7, 0.74, 0.72],
      seeds: [0, 1, 2],
    });
    expect(cell('isd', 'knn20', 'all').mean).toBeCloseTo(0.72, 12);
    expect(cell('isd', 'knn20', 'all').std).toBeCloseTo(0.02, 12);
    expect(cell('moco', 'knn20', 'all').std).toBeCloseTo(0.017320508, 8);
    expect(cell('isd', 'knn20', 'rare').mean).toBeCloseTo(0.62, 12);
    // 1-NN frequent/rare were not recorded: no cell rather than a made-up one
    expect(r.cells.some((c) => c.metric === 'knn1' && c.group === 'rare')).toBe(false);
    expect(r.cells.some((c) => c.metric === 'linear')).toBe(false);

    // differences .02 .03 .01: mean .02, sd .01, half-width 4.3027 · .01 / √3 = .024841
    const all = r.paired.find((p) => p.profile === 'dominant:3:100' && p.metric === 'knn20' && p.group === 'all')!;
    expect(all.pairs).toBe(3);
    expect(all.mean).toBeCloseTo(0.02, 12);
    expect(all.std).toBeCloseTo(0.01, 12);
    expect(all.ciLow).toBeCloseTo(0.02 - 0.0248415, 6);
    expect(all.ciHigh).toBeCloseTo(0.02 + 0.0248415, 6);
    expect(all.spread).toBeCloseTo(0.02, 12);
    expect(all.verdict).toMatch(
      /^no clear difference at this budget: ISD − MoCo = \+2\.0 points \(95% CI −0\.5 to \+4\.5 points, 3 seeds; the interval includes 0\)$/,
    );

    // rare: .05 .06 .07 → mean .06, sd .01, CI .0352 to .0848, excludes 0, larger than the spread (.02 / .01)
    const rare = r.paired.find((p) => p.profile === 'dominant:3:100' && p.metric === 'knn20' && p.group === 'rare')!;
    expect(rare.mean).toBeCloseTo(0.06, 12);
    expect(rare.ciLow).toBeCloseTo(0.0351585, 6);
    expect(rare.verdict).toBe('ISD higher by 6.0 points (95% CI +3.5 to +8.5 points, 3 seeds)');

    // frequent: .01 .01 .01 → sd 0, CI [.01, .01] excludes 0 but .01 < the spread (isd .02): weak
    const freq = r.paired.find(
      (p) => p.profile === 'dominant:3:100' && p.metric === 'knn20' && p.group === 'frequent',
    )!;
    expect(freq.verdict).toMatch(
      /^ISD higher by 1\.0 points .*smaller than the run-to-run spread of 2\.0 points: weak evidence$/,
    );

    // the balanced profile has no runs yet: its rows say so, and it has no frequent/rare rows at all
    const none = r.paired.filter((p) => p.profile === 'none');
    expect(none.map((p) => `${p.metric}/${p.group}`)).toEqual(['knn1/all', 'knn20/all']);
    expect(none[0].verdict).toMatch(/^not measured yet/);
    expect(r.verdicts.find((v) => v.profile === 'dominant:3:100')!.verdict).toBe(
      'ISD ahead on 20-NN rare classes (+6.0 points, 95% CI +3.5 to +8.5); no clear difference on the other 2 comparisons (3 seeds)',
    );
    expect(r.verdicts.find((v) => v.profile === 'none')!.verdict).toBe('not measured yet');
    expect([all.finding, rare.finding, freq.finding]).toEqual(['none', 'isd', 'weak']);
    expect([all.short, rare.short, freq.short]).toEqual([
      'no clear difference (the CI includes 0)',
      'ISD higher',
      'ISD higher, but by less than the run-to-run spread (2.0 points): weak',
    ]);
  });

  it('with two seeds reports the wide interval honestly, and pairs only seeds where both methods finished', () => {
    const results = [
      run('isd', 'none', 0, 0.8),
      run('isd', 'none', 1, 0.83),
      run('isd', 'none', 2, 0.9),
      run('moco', 'none', 0, 0.78),
      run('moco', 'none', 1, 0.8),
    ];
    const p = computeStudyResults(SPEC, results).paired.find((x) => x.profile === 'none' && x.metric === 'knn20')!;
    // pairs at seeds 0, 1: .02 and .03 → mean .025, sd .0070711, half 12.7062 · .0070711 / √2 = .063531
    expect([p.pairs, p.seeds]).toEqual([2, [0, 1]]);
    expect(p.ciLow).toBeCloseTo(0.025 - 0.063531, 5);
    expect(p.ciHigh).toBeCloseTo(0.025 + 0.063531, 5);
    expect(p.verdict).toContain('no clear difference at this budget');
    expect(computeStudyResults(SPEC, results).verdicts[0].verdict).toBe(
      'no clear difference at this budget (2 seeds): every 95% interval of ISD − MoCo includes 0',
    );
    const weak = computeStudyResults(SPEC, [
      run('isd', 'none', 0, 0.6),
      run('isd', 'none', 1, 0.8),
      run('moco', 'none', 0, 0.58),
      run('moco', 'none', 1, 0.78),
    ]);
    expect(weak.verdicts[0].verdict).toBe(
      'ISD ahead on 1-NN all classes by less than the run-to-run spread (+2.0 points, 95% CI +2.0 to +2.0): weak evidence; ISD ahead on 20-NN all classes by less than the run-to-run spread (+2.0 points, 95% CI +2.0 to +2.0): weak evidence (2 seeds)',
    );
    const one = computeStudyResults(SPEC, [run('isd', 'none', 0, 0.8), run('moco', 'none', 0, 0.85)]).paired.find(
      (x) => x.profile === 'none' && x.metric === 'knn1',
    )!;
    expect([one.ciLow, one.ciHigh]).toEqual([null, null]);
    expect(one.verdict).toBe('one seed only: MoCo higher by 5.0 points, no interval; not enough to tell');
    expect(
      computeStudyResults(SPEC, [run('isd', 'none', 0, 0.8), run('moco', 'none', 0, 0.85)]).verdicts[0].verdict,
    ).toMatch(/^one seed has both methods finished so far/);
  });

  it('adds linear columns only when runs measured them, and skips pairing with one method', () => {
    const r = computeStudyResults(SPEC, [
      run('isd', 'none', 0, 0.8, undefined, undefined, 0.7),
      run('isd', 'none', 1, 0.8, undefined, undefined, 0.72),
    ]);
    expect(r.cells.find((c) => c.metric === 'linear' && c.method === 'isd')!.mean).toBeCloseTo(0.71, 12);
    const single = computeStudyResults({ methods: ['isd'], profiles: ['none'] }, [run('isd', 'none', 0, 0.8)]);
    expect(single.paired).toEqual([]);
    expect(single.verdicts[0].verdict).toMatch(/needs both methods/);
  });
});

describe('exports', () => {
  const results = computeStudyResults(SPEC, [
    run('isd', 'dominant:3:100', 0, 0.7, 0.6, 0.8),
    run('isd', 'dominant:3:100', 1, 0.74, 0.62, 0.84),
    run('moco', 'dominant:3:100', 0, 0.68, 0.55, 0.79),
    run('moco', 'dominant:3:100', 1, 0.71, 0.56, 0.83),
  ]);

  it('CSV: one rectangular table, summary rows then paired rows, fractions', () => {
    const csv = studyResultsCsv('s1', results);
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0]).toBe('study_id,section,profile,method,metric,group,n,mean,std,min,max,ci95_low,ci95_high,verdict');
    expect(lines).toContain('s1,summary,dominant:3:100,isd,knn20,all,2,0.72,0.02828,0.7,0.74,,,');
    const paired = lines.find((l) => l.startsWith('s1,paired,dominant:3:100,isd - moco,knn20,rare,2,0.055,'))!;
    // .05 .06: mean .055, sd .0070711, half .063531
    expect(paired).toContain(',-0.00853,0.11853,');
    expect(lines.every((l) => l.split(',').length >= 14)).toBe(true);
    expect(lines.some((l) => l.startsWith('s1,step 0,') || l.startsWith('s1,raw pixels,'))).toBe(false);
  });

  it('CSV: the step-0 and raw-pixel references of the completed runs, per profile and method, before the paired rows', () => {
    const lines = studyResultsCsv('s1', results, [
      { method: 'isd', profile: 'none', knn20: 0.806, initKnn20: 0.754, pixelKnn20: 0.8245 },
      { method: 'isd', profile: 'none', knn20: 0.76, initKnn20: 0.732, pixelKnn20: 0.8245 },
      { method: 'moco', profile: 'none', knn20: 0.7, initKnn20: 0.754, pixelKnn20: null },
    ])
      .trimEnd()
      .split('\r\n');
    // .754 .732: mean .743, sd .015556
    expect(lines).toContain('s1,step 0,none,isd,knn20,all,2,0.743,0.01556,0.732,0.754,,,');
    expect(lines).toContain('s1,step 0,none,moco,knn20,all,1,0.754,,0.754,0.754,,,');
    expect(lines).toContain('s1,raw pixels,none,isd,knn20,all,2,0.8245,0,0.8245,0.8245,,,');
    expect(lines.some((l) => l.startsWith('s1,raw pixels,none,moco,'))).toBe(false);
    const firstPaired = lines.findIndex((l) => l.startsWith('s1,paired,'));
    expect(lines.findIndex((l) => l.startsWith('s1,raw pixels,'))).toBeLessThan(firstPaired);
  });

  it('Markdown: the spec and budget, a mean ± std (min–max) table and the paired table with verdicts', () => {
    const header = { spec: { ...DEFAULT_STUDY_SPEC, profiles: SPEC.profiles }, total: 8 };
    const md = studyResultsMarkdown(
      {
        ...header,
        id: 's1',
        name: 'imbalance | test',
        completed: 4,
        backend: 'wasm',
        profiles: [
          { profile: 'none', rare: [] },
          { profile: 'dominant:3:100', rare: [3, 4, 5, 6, 7, 8, 9] },
        ],
      },
      results,
    );
    expect(md).toContain('### imbalance \\| test');
    expect(md).toContain('Rare classes, by class index: `dominant:3:100` 3, 4, 5, 6, 7, 8, 9.');
    expect(md).toContain('Runs completed: 4/8; backend wasm.');
    expect(md).toContain('budget per run: resnet20, 3 epoch(s)');
    const at16 = { ...DEFAULT_STUDY_SPEC, budget: { ...DEFAULT_STUDY_SPEC.budget, imageSize: 16 } };
    const plain = studyResultsMarkdown({ id: 's2', name: 'x', spec: at16, completed: 0, total: 8 }, results);
    expect(plain).toContain('budget per run: resnet20 at 16 px, 3 epoch(s)');
    expect(plain).not.toContain('Rare classes');
    const named = studyResultsMarkdown(
      {
        ...header,
        id: 's3',
        name: 'x',
        completed: 0,
        profiles: [{ profile: 'longtail:10', rare: [8, 9] }],
        classNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'Bag | sack', 'Ankle boot'],
      },
      results,
    );
    expect(named).toContain('Rare classes: `longtail:10` Bag \\| sack (8), Ankle boot (9).');
    expect(md).toContain('| profile | method | 1-NN all | 20-NN all | 20-NN frequent | 20-NN rare |');
    expect(md).toContain(
      '| `dominant:3:100` | isd | 72.0 ± 2.8 (70.0–74.0) | 72.0 ± 2.8 (70.0–74.0) | 82.0 ± 2.8 (80.0–84.0) | 61.0 ± 1.4 (60.0–62.0) |',
    );
    expect(md).toContain('| `none` | isd | – | – | – | – |');
    expect(md).toContain(
      '| `dominant:3:100` | 20-NN | rare | 2 | +5.5 | −0.9 to +11.9 | no clear difference (the CI includes 0) |',
    );
    expect(md).toContain(
      '- `dominant:3:100`: no clear difference at this budget (2 seeds): every 95% interval of ISD − MoCo includes 0',
    );
    expect(formatCell(undefined)).toBe('–');
    // Without baselines (runs from before schema 40) the report has no "did it learn" table.
    expect(md).not.toContain('Did it learn');
  });

  it('Markdown: did it learn, against step 0 and raw pixels, per profile and method', () => {
    const header = {
      id: 's1',
      name: 'b',
      spec: { ...DEFAULT_STUDY_SPEC, profiles: SPEC.profiles },
      completed: 3,
      total: 8,
    };
    const md = studyResultsMarkdown(header, results, [
      { method: 'isd', profile: 'none', knn20: 0.806, initKnn20: 0.754, pixelKnn20: 0.8 },
      { method: 'isd', profile: 'none', knn20: 0.76, initKnn20: 0.732, pixelKnn20: 0.8 },
      { method: 'moco', profile: 'none', knn20: 0.7, initKnn20: 0.754, pixelKnn20: null },
    ]);
    expect(md).toContain('| profile | method | runs | step 0 | end | change | raw pixels |');
    // Means over seeds: step 0 (75.4 + 73.2) / 2, end (80.6 + 76.0) / 2, change (+5.2, +2.8).
    expect(md).toContain('| `none` | isd | 2 | 74.3 | 78.3 | +4.0 (+2.8 to +5.2) | 80.0 |');
    expect(md).toContain('| `none` | moco | 1 | 75.4 | 70.0 | −5.4 (−5.4 to −5.4) | – |');
    expect(md).toContain('| `dominant:3:100` | isd | 0 | – | – | – | – |');
    // One run of the two with a pixel baseline ends above it (80.6 against 80.0).
    expect(md).toContain('\n1 of 2 runs end below raw pixels.\n');
    const allBelow = studyResultsMarkdown(header, results, [
      { method: 'isd', profile: 'none', knn20: 0.76, initKnn20: 0.732, pixelKnn20: 0.8245 },
    ]);
    expect(allBelow).toContain(
      'Every run (1) ends below raw pixels: at this budget the encoders are worse kNN features than their input.',
    );
    // It comes before the paired differences.
    expect(md.indexOf('Did it learn')).toBeLessThan(md.indexOf('ISD − MoCo, paired by seed'));
  });
});
