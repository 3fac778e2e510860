import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromFlags } from './cli-train-flags';
import { IsdError } from './errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'isd-config-file-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

/** The IsdError configFromFlags throws for these flags (fails the test when it returns). */
function refusal(flags: Record<string, unknown>): IsdError {
  try {
    configFromFlags({ dataset: 'sample', ...flags });
  } catch (err) {
    if (err instanceof IsdError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('isd train --config: a problem names where it is', () => {
  it('a file that cannot be read or parsed names --config and its path', () => {
    const missing = path.join(dir, 'nope.json');
    expect(refusal({ config: missing })).toMatchObject({ code: 'NOT_FOUND', field: '--config', path: missing });
    const broken = file('broken.json', '{"lr": 0.1');
    expect(refusal({ config: broken })).toMatchObject({ code: 'BAD_INPUT', field: '--config', path: broken });
    expect(refusal({ config: broken }).message).toMatch(/broken\.json: not valid JSON/);
    const list = file('list.json', '[1, 2]');
    expect(refusal({ config: list }).message).toBe(`${list}: must hold a JSON object of run settings`);
  });

  it("a bad value the file set names the file and the file's field, not the flag", () => {
    const blur = file('blur.json', JSON.stringify({ blur: 'soft' }));
    const e = refusal({ config: blur });
    expect(e).toMatchObject({ code: 'BAD_INPUT', field: '--config', path: blur });
    expect(e.message).toMatch(new RegExp(`^${blur.replace(/[.]/g, '\\.')}: field "blur": `));
    // The same value from the flag is the flag's.
    expect(refusal({ blur: 'soft' })).toMatchObject({ field: '--blur' });
  });

  it('an unknown field in the file names the file and the field', () => {
    const bogus = file('bogus.json', JSON.stringify({ bogus: 1 }));
    const e = refusal({ config: bogus });
    expect(e).toMatchObject({ field: '--config', path: bogus, message: `${bogus}: unknown field(s): bogus` });
  });

  it('a flag that fixes the file is taken; a flag that breaks it is named', () => {
    const queue = file('queue.json', JSON.stringify({ queueSize: 100 }));
    expect(refusal({ config: queue }).message).toMatch(
      /queue\.json: field "queueSize": queue size 100 must be a multiple/,
    );
    expect(configFromFlags({ dataset: 'sample', config: queue, queueSize: '256' }).queueSize).toBe(256);
    expect(refusal({ config: queue, queueSize: '50' })).toMatchObject({ field: '--queue-size' });
    // docs/cli.md's example: a value of the wrong type in the file, replaced by its flag.
    const three = file('three.json', JSON.stringify({ epochs: 'three' }));
    expect(refusal({ config: three }).message).toMatch(/three\.json: field "epochs"/);
    expect(configFromFlags({ dataset: 'sample', config: three, epochs: '1' }).epochs).toBe(1);
  });

  it("--method over a file naming the other method says which of the file's settings it replaced", () => {
    const isd = file('isd.json', JSON.stringify({ method: 'isd', augStudent: 'weak', tempTeacher: 0.02, lr: 0.1 }));
    const notes: string[] = [];
    const c = configFromFlags({ dataset: 'sample', config: isd, method: 'moco', tempTeacher: '0.02' }, (m) =>
      notes.push(m),
    );
    expect(c).toMatchObject({ method: 'moco', augStudent: 'strong', tempTeacher: 0.02, lr: 0.1 });
    // tempTeacher was given again as a flag, so only augStudent was replaced.
    expect(notes).toEqual([
      `--method moco: ${isd} set augStudent weak for isd; moco trains with augStudent strong (give them as flags to keep the file's)`,
    ]);
    // The same method, or a file naming none: nothing replaced, nothing said.
    configFromFlags({ dataset: 'sample', config: isd, method: 'isd' }, (m) => notes.push(m));
    const plain = file('plain.json', JSON.stringify({ augStudent: 'weak' }));
    expect(configFromFlags({ dataset: 'sample', config: plain, method: 'moco' }, (m) => notes.push(m)).augStudent).toBe(
      'weak',
    );
    expect(notes).toHaveLength(1);
  });
});
