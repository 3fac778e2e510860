import { describe, expect, it } from 'vitest';
import { Throttle } from './throttle';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Throttle', () => {
  it('sends the first value at once and holds later ones until the interval has passed, keeping only the newest', async () => {
    const sent: { value: number; at: number }[] = [];
    const t = new Throttle<number>((value) => sent.push({ value, at: Date.now() }), 200);
    const start = Date.now();
    t.push(1);
    t.push(2);
    t.push(3);
    expect(sent.map((s) => s.value)).toEqual([1]);
    expect(t.holding).toBe(true);
    await sleep(400);
    expect(sent.map((s) => s.value)).toEqual([1, 3]);
    expect(sent[1].at - start).toBeGreaterThanOrEqual(195);
    expect(t.holding).toBe(false);
  });

  it('flush sends the held value now, once; immediately skips the wait', async () => {
    const sent: string[] = [];
    const t = new Throttle<string>((v) => sent.push(v), 10_000);
    t.push('a');
    t.push('b');
    t.flush();
    t.flush();
    expect(sent).toEqual(['a', 'b']);
    t.push('c', { immediately: true });
    expect(sent).toEqual(['a', 'b', 'c']);
    await sleep(50);
    expect(sent).toEqual(['a', 'b', 'c']);
  });

  it('measures the interval with its clock, from the last send', () => {
    let now = 1000;
    const sent: number[] = [];
    const t = new Throttle<number>(
      (v) => sent.push(v),
      100,
      () => now,
    );
    t.push(1);
    now += 99;
    t.push(2);
    expect(sent).toEqual([1]);
    now += 1;
    t.push(3);
    expect(sent).toEqual([1, 3]);
    t.flush();
    expect(sent).toEqual([1, 3]);
  });
});
