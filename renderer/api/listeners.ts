/**
 * Listeners by key: add returns the function that removes one; emit calls each, and one that throws
 * is logged without keeping the others from hearing. The WebSocket client keeps its events and its
 * connection changes here; the sandboxed preload, which can require nothing but 'electron', keeps its own.
 */
export class Listeners<K, A extends unknown[]> {
  private readonly byKey = new Map<K, Set<(...args: A) => void>>();

  add(key: K, listener: (...args: A) => void): () => void {
    const set = this.byKey.get(key) ?? new Set();
    this.byKey.set(key, set.add(listener));
    return () => void set.delete(listener);
  }

  emit(key: K, ...args: A): void {
    for (const l of this.byKey.get(key) ?? []) {
      try {
        l(...args);
      } catch (e) {
        console.error(`listener for ${String(key)} failed`, e);
      }
    }
  }
}
