/**
 * The teacher's EMA update: θ_t ← m·θ_t + (1−m)·θ_s over the parameters of the backbone and the
 * projection. BatchNorm running statistics are not averaged (each encoder keeps its own, as in the
 * reference), and the student's predictor has no teacher counterpart.
 */
import * as tf from '@tensorflow/tfjs';
import type { ParamStore } from '../models/param-store';

export interface TeacherPair {
  name: string; // the student's name
  student: tf.Variable;
  teacher: tf.Variable;
}

/** Pairs every trainable '<studentPrefix>backbone.*' / 'proj.*' parameter with its '<teacherPrefix>…' twin. */
export function teacherPairs(store: ParamStore, studentPrefix = 'student.', teacherPrefix = 'teacher.'): TeacherPair[] {
  const pairs: TeacherPair[] = [];
  for (const e of store.list(studentPrefix)) {
    const rest = e.name.slice(studentPrefix.length);
    if (!e.trainable || !(rest.startsWith('backbone.') || rest.startsWith('proj.'))) continue;
    const teacher = store.get(teacherPrefix + rest);
    if (teacher.shape.join() !== e.variable.shape.join())
      throw new Error(`teacher ${rest} has shape [${teacher.shape}], student [${e.variable.shape}]`);
    pairs.push({ name: e.name, student: e.variable, teacher });
  }
  return pairs;
}

/** Creates the teacher as a copy of the student's backbone and projection (parameters and running statistics), none trainable. */
export function createTeacherFromStudent(
  store: ParamStore,
  studentPrefix = 'student.',
  teacherPrefix = 'teacher.',
): void {
  for (const e of store.list(studentPrefix)) {
    const rest = e.name.slice(studentPrefix.length);
    if (rest.startsWith('backbone.') || rest.startsWith('proj.'))
      store.add(teacherPrefix + rest, tf.clone(e.variable), false);
  }
}

export function emaUpdate(pairs: TeacherPair[], momentum: number): void {
  tf.tidy(() => {
    for (const p of pairs) p.teacher.assign(tf.add(tf.mul(p.teacher, momentum), tf.mul(p.student, 1 - momentum)));
  });
}
