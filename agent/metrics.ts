// Named counters and gauges, labelled. Read by the health endpoint, the twin and the logs.
export type Labels = Record<string, string>;

function key(name: string, labels?: Labels): string {
  if (!labels) return name;
  const names = Object.keys(labels);
  // One label is the common case on hot paths (e.g. per source at ingest): no sorting, no array.
  if (names.length === 1) return `${name}{${names[0]}=${JSON.stringify(labels[names[0]!])}}`;
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

export class Metrics {
  private readonly counters = new Map<string, { name: string; labels?: Labels; value: number }>();
  private readonly gauges = new Map<string, { name: string; labels?: Labels; read: () => number }>();

  inc(name: string, labels?: Labels, by = 1): void {
    const k = key(name, labels);
    const c = this.counters.get(k);
    if (c) c.value += by;
    else this.counters.set(k, { name, ...(labels && { labels }), value: by });
  }

  /** A handle on one counter for hot paths (no key built per increment). The counter exists from now, at 0. */
  counter(name: string, labels?: Labels): (by?: number) => void {
    const k = key(name, labels);
    let c = this.counters.get(k);
    if (!c) {
      c = { name, ...(labels && { labels }), value: 0 };
      this.counters.set(k, c);
    }
    const entry = c;
    return (by = 1) => {
      entry.value += by;
    };
  }

  /** A gauge is read when a snapshot is taken, so it is never stale. */
  gauge(name: string, read: () => number, labels?: Labels): void {
    this.gauges.set(key(name, labels), { name, ...(labels && { labels }), read });
  }

  get(name: string, labels?: Labels): number {
    return this.counters.get(key(name, labels))?.value ?? 0;
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.counters) out[k] = c.value;
    for (const [k, g] of this.gauges) out[k] = g.read();
    return out;
  }
}
