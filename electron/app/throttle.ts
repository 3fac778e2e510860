/**
 * A latest-value throttle: at most one value per interval goes out, always the newest one pushed,
 * and none is lost (the one held back goes out when its interval ends, or at once on flush()).
 */
export class Throttle<T> {
  private pending: { value: T } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastSentAt = -Infinity;

  constructor(
    private readonly send: (value: T) => void,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Sends `value` now if the interval since the last send has passed (or `immediately`), else holds it as the newest. */
  push(value: T, opts: { immediately?: boolean } = {}): void {
    this.pending = { value };
    const wait = this.lastSentAt + this.intervalMs - this.now();
    if (wait <= 0 || opts.immediately) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, wait);
      this.timer.unref(); // a value held back never keeps the process alive
    }
  }

  /** Sends the value held back, if any, now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.lastSentAt = this.now();
    this.send(p.value);
  }

  /** True while a value waits for its interval. */
  get holding(): boolean {
    return this.pending !== null;
  }
}
