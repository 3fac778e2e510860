/** The studies table: a named group of runs (runs.study_id) with the study's own JSON spec. */
import { randomUUID } from 'node:crypto';
import { IsdError } from '../errors';
import { checkName } from './checks';
import type { StoreContext } from './context';
import type { StudyRow } from './rows';

type RawStudyRow = Omit<StudyRow, 'spec'> & { spec: string };

const STUDY_SELECT = `SELECT s.id, s.name, s.spec, s.created_at AS createdAt, (SELECT COUNT(*) FROM runs r WHERE r.study_id = s.id) AS runCount FROM studies s`;

export function createStudy(ctx: StoreContext, input: { name: string; spec: unknown }): StudyRow {
  const name = checkName(typeof input.name === 'string' ? input.name.trim() : '');
  let spec: string | undefined;
  try {
    spec = JSON.stringify(input.spec);
  } catch (err) {
    throw new IsdError('BAD_INPUT', `study spec cannot be stored as JSON: ${(err as Error).message}`, {
      field: 'spec',
      cause: err,
    });
  }
  if (spec === undefined) throw new IsdError('BAD_INPUT', 'study spec must be a JSON value', { field: 'spec' });
  const id = randomUUID();
  ctx.sc.get('INSERT INTO studies (id, name, spec, created_at) VALUES (?, ?, ?, ?)').run(id, name, spec, ctx.now());
  return getStudy(ctx, id);
}

export function getStudy(ctx: StoreContext, id: string): StudyRow {
  const row = ctx.sc.get<RawStudyRow>(`${STUDY_SELECT} WHERE s.id = ?`).get(id);
  if (!row) throw new IsdError('NOT_FOUND', `study ${id} not found`, { field: 'studyId' });
  return { ...row, spec: JSON.parse(row.spec) as unknown };
}

export function listStudies(ctx: StoreContext): StudyRow[] {
  return ctx.sc
    .get<RawStudyRow>(`${STUDY_SELECT} ORDER BY s.created_at DESC, s.id`)
    .all()
    .map((r) => ({ ...r, spec: JSON.parse(r.spec) as unknown }));
}
