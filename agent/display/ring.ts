// Fixed-capacity rings of numbers for the display's waveform strips and trends: memory stays bounded however long
// the feed runs, and small. The values live in one Float64Array (8 bytes each); a JS array of non-integer numbers
// costs about three times that (a heap object per value), which at 128 beds was tens of MB. A missing value (null: a
// gap on the strip or trend) is kept as NaN and given back as null.

/** A ring of single values (a waveform's samples), oldest first. */
export class NumberRing {
  private readonly values: Float64Array;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('ring capacity must be >= 1');
    this.values = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(value: number | null): void {
    this.values[(this.start + this.count) % this.capacity] = value ?? Number.NaN;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  toArray(): (number | null)[] {
    const out = new Array<number | null>(this.count);
    for (let i = 0; i < this.count; i++) out[i] = orNull(this.values[(this.start + i) % this.capacity]!);
    return out;
  }
}

/** A ring of time-stamped values (a trend's points: [time, value]), oldest first. */
export class PointRing {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('ring capacity must be >= 1');
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(time: number, value: number | null): void {
    this.set((this.start + this.count) % this.capacity, time, value);
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** Replaces the newest point (no-op when empty). */
  replaceLast(time: number, value: number | null): void {
    if (this.count) this.set(this.lastIndex(), time, value);
  }

  /** The newest point's time, undefined when empty. */
  lastTime(): number | undefined {
    return this.count ? this.times[this.lastIndex()] : undefined;
  }

  toArray(): [number, number | null][] {
    const out = new Array<[number, number | null]>(this.count);
    for (let i = 0; i < this.count; i++) {
      const j = (this.start + i) % this.capacity;
      out[i] = [this.times[j]!, orNull(this.values[j]!)];
    }
    return out;
  }

  private lastIndex(): number {
    return (this.start + this.count - 1) % this.capacity;
  }

  private set(i: number, time: number, value: number | null): void {
    this.times[i] = time;
    this.values[i] = value ?? Number.NaN;
  }
}

function orNull(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}
