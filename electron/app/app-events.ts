/**
 * The app's event bus, typed by the contract's events: the runs and datasets services emit, the
 * transports (ipc.ts, host.ts) subscribe to everything and forward it to their clients.
 */
import type { EventName, EventPayload } from '../contract';

export type AnyEventListener = (event: EventName, payload: EventPayload<EventName>) => void;

export class AppEvents {
  private readonly anyListeners = new Set<AnyEventListener>();
  private readonly byName = new Map<EventName, Set<(payload: unknown) => void>>();

  /** One listener for every event (what a transport wants). Returns the function that unsubscribes. */
  onAny(listener: AnyEventListener): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    let set = this.byName.get(event);
    if (!set) this.byName.set(event, (set = new Set()));
    const l = listener as (payload: unknown) => void;
    set.add(l);
    return () => set.delete(l);
  }

  /** Delivers synchronously; a throwing listener is logged and does not stop the others. */
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of this.anyListeners) {
      try {
        l(event, payload);
      } catch (err) {
        console.error(`[isd] event listener for ${event} failed:`, err);
      }
    }
    for (const l of this.byName.get(event) ?? []) {
      try {
        l(payload);
      } catch (err) {
        console.error(`[isd] event listener for ${event} failed:`, err);
      }
    }
  }

  listenerCount(): number {
    let n = this.anyListeners.size;
    for (const s of this.byName.values()) n += s.size;
    return n;
  }

  clear(): void {
    this.anyListeners.clear();
    this.byName.clear();
  }
}
