/** The result envelope every request answers with, and the error it carries for a zod failure. */
import type { z } from 'zod';
import { ERROR_CODES, type IsdErrorCode } from '../errors';

/** The codes of electron/errors.ts, where each is described. */
export { ERROR_CODES };
export type ErrorCode = IsdErrorCode;

/** What a failed request carries: never a stack trace. `field` names the input field at fault ("config.lr"). */
export interface ContractError {
  code: ErrorCode;
  field?: string;
  /** The file or folder at fault, when there is one. */
  path?: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: ContractError };

function describeIssue(issue: z.core.$ZodIssue): { field: string; message: string } {
  const base = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...base, issue.keys[0]].join('.');
    return { field, message: `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}` };
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message))
    return { field: base.join('.'), message: 'required' };
  return { field: base.join('.'), message: issue.message };
}

/** The error envelope for a zod failure: the first issue, its field named as a dotted path. */
export function inputError(error: z.ZodError): { ok: false; error: ContractError } {
  const issue = error.issues[0];
  if (!issue) return { ok: false, error: { code: 'BAD_INPUT', message: 'invalid input' } };
  const { field, message } = describeIssue(issue);
  return {
    ok: false,
    error: { code: 'BAD_INPUT', field: field || 'input', message },
  };
}
