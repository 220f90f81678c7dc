// A small seeded PRNG (mulberry32) so a simulated ward is the same for the same seed, on any machine.
// Not for anything security-related.

export class Prng {
  private state: number;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Standard normal (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    let u = this.next();
    while (u <= Number.EPSILON) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }

  /** One item, by weight. */
  pick<T>(items: readonly { item: T; weight: number }[]): T {
    const total = items.reduce((n, i) => n + i.weight, 0);
    let x = this.next() * total;
    for (const i of items) {
      x -= i.weight;
      if (x < 0) return i.item;
    }
    const last = items[items.length - 1];
    if (!last) throw new Error('pick from an empty list');
    return last.item;
  }
}

/**
 * A 32-bit seed from parts (FNV-1a over their text), so each bed and each purpose (vitals, waveforms,
 * episodes) gets its own independent stream: turning waveforms off does not change the numerics.
 */
export function deriveSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('/')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
