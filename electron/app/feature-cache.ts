/**
 * The analysis worker's one cache of encoder features: per run checkpoint (or the random init), encoder,
 * dataset and split, the L2-normalised features of the split's first `count` images, row-major
 * [count, D]. Embed, the embedding map, image search and the neighbour gallery all read it, so
 * flipping between them computes each split once. A request for more rows than cached recomputes.
 */
export interface FeatureRows {
  features: Float32Array; // [count, dim]
  dim: number;
  count: number;
}

/** Total bytes kept before the least recently used entries go (a resnet18 bank of 60,000 is 123 MB). */
const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

export class FeatureCache {
  private readonly entries = new Map<string, FeatureRows>();

  constructor(private readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /** The first `count` rows under `key`, computed by `compute(count)` when not cached with at least as many. */
  async rows(key: string, count: number, compute: (count: number) => Promise<Float32Array>): Promise<FeatureRows> {
    const hit = this.entries.get(key);
    if (hit && hit.count >= count) {
      this.entries.delete(key); // re-insert: most recently used last
      this.entries.set(key, hit);
      return { features: hit.features.subarray(0, count * hit.dim), dim: hit.dim, count };
    }
    const features = await compute(count);
    const entry = { features, dim: features.length / count, count };
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.evict();
    return entry;
  }

  /** Whether `key` holds at least `count` rows (a search then costs one forward pass). */
  has(key: string, count: number): boolean {
    return (this.entries.get(key)?.count ?? 0) >= count;
  }

  /** Drops every entry whose key starts with `prefix` (a run's model was replaced). */
  dropPrefix(prefix: string): void {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  private evict(): void {
    let bytes = 0;
    for (const e of this.entries.values()) bytes += e.features.byteLength;
    for (const [k, e] of this.entries) {
      if (bytes <= this.maxBytes || this.entries.size <= 1) break;
      this.entries.delete(k);
      bytes -= e.features.byteLength;
    }
  }
}
