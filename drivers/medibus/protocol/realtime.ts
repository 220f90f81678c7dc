// Medibus.X realtime bytes (top bit set), separated from the slow traffic by the framer.
//
//   1101 ssss  sync byte (D0..DF): a new sample set; bit n set = stream n+1 (of 1..4) has a value
//   1100 cccc  sync command (C0..CF), followed by one argument byte (C0..CF):
//                C4 / C5: streams 5..8 / 9..12 also have values (argument bits 0..3)
//                C6: breath phase, argument C0 = start of inspiration, C1 = start of expiration
//                CF: the device says data is corrupt;  C0 C0: end of a sync-command sequence
//   10vv vvvv  data byte: each value is 12 bits in two such bytes, 6 bits each
//
// Verified against public implementations; NOT verified against a device or the specification:
// the order of the two 6-bit halves (VSCaptureDrgVent reads the low half first, other code high
// first), so it is an option. Values are scaled by the realtime configuration (see scaleSample).
// Every value dropped on the way raises a `corrupt` event (counted as realtime_corrupt): values beyond the streams a
// sync byte announced, a set cut short by the next sync byte (also by half a value), a sync command whose argument
// byte was lost (the byte after it, not C0..CF, is then taken as what it is). Values before the first sync byte
// (joined mid-stream) cannot be placed and are not damage. A set cut short is dropped whole: a byte was lost at an
// unknown place, so the halves after it paired across values (review rv115 M4). `setLost` says a sample time of the
// curves is missing (a set dropped, or values of a set whose sync byte was lost), so that they show a gap there.
export type HalfOrder = 'low-first' | 'high-first';

export type RealtimeEvent =
  | { type: 'samples'; values: Map<number, number> }
  | { type: 'phase'; phase: 'inspiration' | 'expiration' }
  /** `setLost`: a whole sample set (one sample time of every curve) was dropped. */
  | { type: 'corrupt'; detail: string; setLost: boolean };

/**
 * Where the decoder is within a sample set: `idle` before the first sync byte (joined mid-stream: values cannot be
 * placed, and are not counted as damage), `open` while values are expected, `complete` when every announced stream
 * has its value, `overflow` once values beyond them were reported.
 */
type SetPhase = 'idle' | 'open' | 'complete' | 'overflow';

export class RealtimeDecoder {
  private streams: number[] = [];
  private values = new Map<number, number>();
  private half: number | undefined;
  private pendingCommand: number | undefined;
  private phase: SetPhase = 'idle';

  constructor(private readonly order: HalfOrder = 'low-first') {}

  push(bytes: Uint8Array): RealtimeEvent[] {
    const out: RealtimeEvent[] = [];
    for (const b of bytes) {
      const top = b & 0xf0;
      if (this.pendingCommand !== undefined) {
        const cmd = this.pendingCommand;
        this.pendingCommand = undefined;
        if (top === 0xc0) {
          this.command(cmd, b, out);
          continue;
        }
        // The argument was lost: this byte is not one (taking a sync byte as one would lose its whole set).
        out.push({ type: 'corrupt', detail: `sync command 0x${cmd.toString(16)} without its argument (next byte 0x${b.toString(16)})`, setLost: false });
      }
      if (top === 0xd0) {
        this.closeSet(out);
        this.phase = 'open';
        this.streams = [];
        for (let i = 0; i < 4; i++) if (b & (1 << i)) this.streams.push(i);
      } else if (top === 0xc0) {
        this.pendingCommand = b;
      } else if ((b & 0xc0) === 0x80) {
        this.data(b & 0x3f, out);
      } else {
        out.push({ type: 'corrupt', detail: `unexpected realtime byte 0x${b.toString(16)}`, setLost: false });
      }
    }
    return out;
  }

  /** Forgets a sample set in progress (half a value, a pending command): after a reconnect it would join new bytes. */
  reset(): void {
    this.streams = [];
    this.values = new Map();
    this.half = undefined;
    this.pendingCommand = undefined;
    this.phase = 'idle';
  }

  private command(cmd: number, arg: number, out: RealtimeEvent[]): void {
    const bits = (base: number) => {
      for (let i = 0; i < 4; i++) if (arg & (1 << i)) this.streams.push(base + i);
    };
    switch (cmd) {
      case 0xc4:
        bits(4);
        break;
      case 0xc5:
        bits(8);
        break;
      case 0xc6:
        if (arg === 0xc0) out.push({ type: 'phase', phase: 'inspiration' });
        else if (arg === 0xc1) out.push({ type: 'phase', phase: 'expiration' });
        break;
      case 0xcf:
        out.push({ type: 'corrupt', detail: 'device reported corrupt realtime data', setLost: false });
        break;
      default:
        // C0 (end of sequence) and host-side commands (C1..C3) carry nothing for a receiver.
        break;
    }
  }

  private data(six: number, out: RealtimeEvent[]): void {
    if (this.phase === 'idle' || this.phase === 'overflow') return; // cannot be placed / already reported
    if (this.phase === 'complete') {
      out.push({ type: 'corrupt', detail: `values beyond the ${this.streams.length} stream(s) the sync byte announced`, setLost: true });
      this.phase = 'overflow';
      return;
    }
    if (this.half === undefined) {
      this.half = six;
      return;
    }
    const first = this.half;
    this.half = undefined;
    const value = this.order === 'low-first' ? first | (six << 6) : (first << 6) | six;
    const stream = this.streams[this.values.size];
    if (stream === undefined) {
      out.push({ type: 'corrupt', detail: 'more values than announced streams', setLost: true });
      this.phase = 'overflow';
      return;
    }
    this.values.set(stream, value);
    if (this.values.size === this.streams.length) {
      out.push({ type: 'samples', values: this.values });
      this.values = new Map();
      this.phase = 'complete';
    }
  }

  /**
   * A sync byte ends the set before it: values announced but not received (or half a value) are damage, and the set is
   * dropped whole: which value lost a byte cannot be told, and every value after it paired the wrong halves.
   */
  private closeSet(out: RealtimeEvent[]): void {
    if (this.phase === 'open') {
      const got = this.values.size;
      if (got < this.streams.length || this.half !== undefined) {
        const half = this.half !== undefined ? ' and half a value' : '';
        out.push({ type: 'corrupt', detail: `sample set cut short: ${got} of ${this.streams.length} values${half}; the set is dropped`, setLost: true });
      }
    }
    this.values = new Map();
    this.half = undefined;
  }
}

/** Binary value → physical value: min + bin / maxBin × (max − min). */
export function scaleSample(bin: number, cfg: { min: number; max: number; maxBin: number }): number {
  return cfg.min + (bin / cfg.maxBin) * (cfg.max - cfg.min);
}

/** Inverse of scaleSample, for simulators. */
export function unscaleSample(value: number, cfg: { min: number; max: number; maxBin: number }): number {
  const bin = Math.round(((value - cfg.min) / (cfg.max - cfg.min)) * cfg.maxBin);
  return Math.max(0, Math.min(cfg.maxBin, bin));
}

/** Two data bytes for one 12-bit value. */
export function encodeSample(bin: number, order: HalfOrder = 'low-first'): [number, number] {
  const lo = 0x80 | (bin & 0x3f);
  const hi = 0x80 | ((bin >> 6) & 0x3f);
  return order === 'low-first' ? [lo, hi] : [hi, lo];
}
