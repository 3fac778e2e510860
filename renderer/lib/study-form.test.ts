import { describe, expect, it } from 'vitest';
import { computeStudyResults, type StudyRunResult } from '../../electron/study/results';
import { DEFAULT_STUDY_SPEC } from '../../electron/contract/study-spec';
import { progressChangesRuns } from '../api/study-queries';
import { href, parseRoute } from './route';
import {
  cellText,
  DEFAULT_STUDY_FORM,
  signedPoints,
  studyChartRows,
  studyFormIssues,
  studyFormSchema,
  toFormValues,
  toSpecInput,
} from './study-form';

describe('study form', () => {
  it('round-trips the default study and validates to exactly the default spec', () => {
    expect(toSpecInput(DEFAULT_STUDY_FORM)).toMatchObject({
      profiles: DEFAULT_STUDY_SPEC.profiles,
      methods: ['isd', 'moco'],
      seeds: 2,
    });
    expect(studyFormSchema.parse(DEFAULT_STUDY_FORM)).toEqual(DEFAULT_STUDY_SPEC);
    expect(studyFormIssues(DEFAULT_STUDY_FORM)).toEqual({});
  });

  it('builds profiles from the toggles and extras, dropping duplicates', () => {
    const v = {
      ...DEFAULT_STUDY_FORM,
      balanced: false,
      dominantLarge: 2,
      dominantPerSmall: 50,
      longtailRho: 20,
      extraProfiles: 'longtail:50, longtail:20.0, none',
    };
    expect(toSpecInput(v).profiles).toEqual(['dominant:2:50', 'longtail:20', 'longtail:50', 'none']);
    expect(toFormValues(studyFormSchema.parse(v))).toMatchObject({
      balanced: true,
      dominantLarge: 2,
      longtailRho: 20,
      extraProfiles: 'longtail:50',
    });
  });

  it('puts each error on its control, in words a user can act on', () => {
    expect(studyFormIssues({ ...DEFAULT_STUDY_FORM, isd: false, moco: false })).toEqual({
      methods: 'choose at least one method',
    });
    expect(studyFormIssues({ ...DEFAULT_STUDY_FORM, balanced: false, dominant: false, longtail: false })).toEqual({
      profiles: 'choose at least one profile',
    });
    expect(studyFormIssues({ ...DEFAULT_STUDY_FORM, seeds: 1 })).toHaveProperty('seeds');
    expect(
      studyFormIssues({ ...DEFAULT_STUDY_FORM, budget: { ...DEFAULT_STUDY_FORM.budget, epochs: Number.NaN } }),
    ).toEqual({ 'budget.epochs': 'enter a number' });
    expect(
      studyFormIssues({ ...DEFAULT_STUDY_FORM, budget: { ...DEFAULT_STUDY_FORM.budget, batchSize: 100 } }),
    ).toHaveProperty(['budget.queueSize']);
    expect(studyFormIssues({ ...DEFAULT_STUDY_FORM, extraProfiles: 'sideways' })).toHaveProperty('profiles');
  });
});

describe('study display', () => {
  const run = (method: string, profile: string, seed: number, all: number, rare: number | null): StudyRunResult => ({
    runId: `${method}${seed}`,
    method,
    profile,
    seed,
    all: { knn1: all, knn20: all, linear: null },
    frequent: rare === null ? null : { knn1: null, knn20: all, linear: null },
    rare: rare === null ? null : { knn1: null, knn20: rare, linear: null },
  });
  const results = computeStudyResults({ methods: ['isd', 'moco'], profiles: ['none', 'dominant:3:100'] }, [
    run('isd', 'none', 0, 0.8, null),
    run('isd', 'none', 1, 0.82, null),
    run('moco', 'none', 0, 0.79, null),
    run('isd', 'dominant:3:100', 0, 0.7, 0.6),
    run('isd', 'dominant:3:100', 1, 0.74, 0.64),
  ]);

  it('charts mean and std per method, all and rare, against profile; null where nothing was measured', () => {
    const rows = studyChartRows(['none', 'dominant:3:100'], ['isd', 'moco'], results, 'knn20');
    expect(rows[0]).toMatchObject({
      profile: 'none',
      isd_all: 81,
      isd_all_sd: 1.41,
      moco_all: 79,
      moco_all_sd: null,
      isd_rare: null,
      moco_rare: null,
    });
    expect(rows[1]).toMatchObject({
      profile: 'dominant:3:100',
      isd_all: 72,
      isd_all_sd: 2.83,
      isd_rare: 62,
      moco_all: null,
    });
  });

  it('formats cells and differences', () => {
    const c = results.cells.find((x) => x.method === 'isd' && x.profile === 'none' && x.metric === 'knn20')!;
    expect(cellText(c)).toEqual({ text: '81.0 ± 1.4', title: '2 runs, min 80.0%, max 82.0%: 80.0, 82.0' });
    expect(cellText(results.cells.find((x) => x.method === 'moco' && x.profile === 'none')).text).toBe('79.0 (1 run)');
    expect(cellText(undefined).text).toBe('—');
    expect([signedPoints(0.0123), signedPoints(-0.005), signedPoints(null)]).toEqual(['+1.2', '−0.5', '—']);
  });

  it('refetches a study only when runs change, not on every step', () => {
    const p = {
      studyId: 's',
      state: 'running' as const,
      total: 4,
      completed: 1,
      failed: 0,
      stopped: 0,
      queued: 2,
      active: {
        runId: 'r',
        key: 'k',
        method: 'isd',
        profile: 'none',
        seed: 0,
        status: 'running' as const,
        step: 3,
        totalSteps: 10,
        imagesPerSec: 40,
      },
      fraction: 0.3,
      etaSec: 60,
      at: 1,
    };
    expect(progressChangesRuns(p, { ...p, active: { ...p.active, step: 4 }, fraction: 0.32 })).toBe(false);
    expect(progressChangesRuns(p, { ...p, completed: 2 })).toBe(true);
    expect(progressChangesRuns(p, { ...p, state: 'incomplete' })).toBe(true);
  });
});

describe('study route', () => {
  it('parses and builds #/study and #/study/<id>', () => {
    expect(parseRoute('#/study')).toEqual({ page: 'study', studyId: null });
    expect(parseRoute('#/study/abc-1')).toEqual({ page: 'study', studyId: 'abc-1' });
    expect(href({ page: 'study', studyId: 'a b' })).toBe('#/study/a%20b');
    expect(parseRoute(href({ page: 'study', studyId: null }))).toEqual({ page: 'study', studyId: null });
  });
});
