// `isd study …` in-process on the program of electron/cli.ts: a real SQLite file, real engine workers
// from dist/ (npm test builds first), the bundled sample; engine knobs shrink the encoder and kNN sets.
import { describe, expect, it } from 'vitest';
import { isdOnTempDb, jsonLines } from './cli-test-support';
import { specFromFlags } from './cli-study';
import { IsdError } from './errors';
import { lastResortInstalled } from './app/last-resort';

/** Runs `isd <args>` in this process on a temporary database; returns the exit code and what went to stdout and stderr. */
const { isd } = isdOnTempDb('isd-cli-study-');

describe('isd study', () => {
  it('maps flags to a spec and names the flag at fault', async () => {
    expect(specFromFlags({ profiles: 'none, longtail:10', seeds: '3', epochs: '2', linear: true })).toEqual({
      profiles: ['none', 'longtail:10'],
      seeds: 3,
      budget: { epochs: 2, linearEval: true },
    });
    expect(() => specFromFlags({ epochs: 'two' })).toThrow(IsdError);
    for (const [flags, flag] of [
      [['--seeds', '1'], '--seeds'],
      [['--epochs', 'abc'], '--epochs'],
      [['--profiles', 'none,sideways:3'], '--profiles'],
      [['--batch-size', '100'], '--queue-size'],
    ] as const) {
      const r = await isd('study', 'imbalance', ...flags, '--json');
      expect(r.code).toBe(2);
      expect(jsonLines(r.stdout)[0]).toMatchObject({ type: 'error', code: 'BAD_INPUT', field: flag });
      expect(r.stderr).toContain(`isd: ${flag}: `);
    }
    expect((await isd('study', 'show', 'ffff0000', '--json')).code).toBe(2);
  });

  it('estimates without training', async () => {
    const r = await isd('study', 'imbalance', '--estimate', '--profiles', 'none,dominant:3:100', '--json');
    expect(r.code).toBe(0);
    const [line] = jsonLines(r.stdout);
    expect(line).toMatchObject({
      type: 'estimate',
      estimate: {
        runs: 8,
        perProfile: [
          { profile: 'none', rare: [] },
          { profile: 'dominant:3:100', rare: [3, 4, 5, 6, 7, 8, 9] },
        ],
      },
    });
    expect((await isd('study', 'list', '--json')).stdout.trim()).toBe('[]');
  });

  it('runs a study in-process, streaming JSON lines, then lists, shows, exports and resumes it', async () => {
    expect(lastResortInstalled()).toBe(false); // neither the checks nor the estimate above train
    const r = await isd(
      'study',
      'imbalance',
      '--name',
      'cli tiny',
      '--profiles',
      'dominant:3:100',
      '--seeds',
      '2',
      '--epochs',
      '1',
      '--train-limit',
      '128',
      '--batch-size',
      '32',
      '--queue-size',
      '64',
      '--json',
    );
    expect(r.code).toBe(0);
    // A process that trains keeps a last-resort handler: a stray exception must not end the study's runs.
    expect(lastResortInstalled()).toBe(true);
    const lines = jsonLines(r.stdout);
    expect(lines[0]).toMatchObject({
      type: 'study',
      name: 'cli tiny',
      spec: { profiles: ['dominant:3:100'], seeds: 2, budget: { trainLimit: 128 } },
    });
    const studyId = lines[0].studyId as string;
    expect(lines.filter((l) => l.type === 'run' && l.status === 'completed')).toHaveLength(4);
    expect(lines.some((l) => l.type === 'progress' && typeof l.etaSec === 'number')).toBe(true);
    const done = lines.at(-1)!;
    expect(done).toMatchObject({ type: 'done', studyId, state: 'completed', completed: 4, total: 4 });
    expect((done.results as { paired: unknown[] }).paired.length).toBeGreaterThan(0);

    const listed = JSON.parse((await isd('study', 'list', '--json')).stdout) as { id: string; state: string }[];
    expect(listed).toEqual([expect.objectContaining({ id: studyId, state: 'completed', completed: 4, total: 4 })]);
    const human = await isd('study', 'list');
    expect(human.stdout).toContain(studyId.slice(0, 8));

    const csv = await isd('study', 'show', studyId.slice(0, 8), '--csv');
    expect(csv.code).toBe(0);
    expect(csv.stdout.startsWith('study_id,section,profile,method,metric,group,')).toBe(true);
    const md = await isd('study', 'show', studyId.slice(0, 8), '--markdown');
    expect(md.stdout).toContain('| `dominant:3:100` | moco |');
    const shown = await isd('study', 'show', studyId, '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({ summary: { id: studyId, completed: 4 }, runs: expect.any(Array) });
    const text = await isd('study', 'show', studyId);
    expect(text.stdout).toContain('**Verdicts (ISD − MoCo).**');

    const resumed = await isd('study', 'resume', studyId.slice(0, 8), '--json');
    expect(resumed.code).toBe(0);
    const rl = jsonLines(resumed.stdout);
    expect(rl[0]).toMatchObject({ type: 'study', resumed: { requeued: [], created: [] } });
    expect(rl.some((l) => l.type === 'run')).toBe(false);
    expect(rl.at(-1)).toMatchObject({ type: 'done', state: 'completed', completed: 4 });

    // Without --json stdout is the report alone (`isd study … > report.md`); progress goes to stderr.
    const report = await isd('study', 'resume', studyId.slice(0, 8));
    expect(report.code).toBe(0);
    expect(report.stdout).toBe(md.stdout);
    expect(report.stderr).toContain(`study ${studyId.slice(0, 8)}: 0 run(s) queued again, 0 created, 4 completed`);
    expect(report.stderr).toContain(`Export: isd study show ${studyId.slice(0, 8)} --csv`);
  });
});
