// MLLP framing: VT (0x0B) payload FS (0x1C) CR (0x0D).
// The framer is pure and bounded: it never holds more than maxFrameBytes of one frame.

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type FramerEvent =
  /** A complete frame. `noCr` when FS was not followed by CR (tolerated, flagged). */
  | { type: 'frame'; payload: Buffer; noCr: boolean }
  /** A frame grew past maxFrameBytes; the framer drops it and waits for the next VT. */
  | { type: 'oversize'; limit: number }
  /** A VT arrived inside a frame: the unfinished frame is dropped, the new one starts. */
  | { type: 'abandoned'; bytes: number };

export interface FramerCounters {
  frames: number;
  oversize: number;
  abandoned: number;
  /** Bytes outside any frame (before VT, between frames), ignored. */
  outsideBytes: number;
  /** Bytes thrown away while resyncing after an oversize frame. */
  discardedBytes: number;
}

type State = 'idle' | 'in' | 'fs' | 'discard';

export class MllpFramer {
  private state: State = 'idle';
  private parts: Buffer[] = [];
  private size = 0;
  readonly counters: FramerCounters = { frames: 0, oversize: 0, abandoned: 0, outsideBytes: 0, discardedBytes: 0 };

  constructor(private readonly maxFrameBytes: number) {
    if (!(maxFrameBytes > 0)) throw new RangeError('maxFrameBytes must be > 0');
  }

  /** True while a frame has started and not ended (for read timeouts). */
  get inFrame(): boolean {
    return this.state === 'in' || this.state === 'fs';
  }

  /** Bytes held for the unfinished frame. */
  get buffered(): number {
    return this.size;
  }

  /** Feeds bytes; returns what completed. Never throws on content. */
  push(chunk: Uint8Array): FramerEvent[] {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const events: FramerEvent[] = [];
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case 'idle': {
          const j = buf.indexOf(VT, i);
          if (j < 0) {
            this.counters.outsideBytes += n - i;
            i = n;
          } else {
            this.counters.outsideBytes += j - i;
            this.begin();
            i = j + 1;
          }
          break;
        }
        case 'in': {
          const k = buf.indexOf(FS, i);
          const end = k < 0 ? n : k;
          const v = buf.indexOf(VT, i);
          if (v >= 0 && v < end) {
            this.counters.abandoned++;
            events.push({ type: 'abandoned', bytes: this.size + (v - i) });
            this.begin();
            i = v + 1;
            break;
          }
          if (this.size + (end - i) > this.maxFrameBytes) {
            this.counters.oversize++;
            events.push({ type: 'oversize', limit: this.maxFrameBytes });
            this.counters.discardedBytes += this.size + (end - i);
            this.parts = [];
            this.size = 0;
            this.state = 'discard';
            i = end;
            break;
          }
          if (end > i) {
            // Copy: the socket may reuse its buffer; a slice would pin the whole chunk anyway.
            this.parts.push(Buffer.from(buf.subarray(i, end)));
            this.size += end - i;
          }
          if (k < 0) i = n;
          else {
            this.state = 'fs';
            i = k + 1;
          }
          break;
        }
        case 'fs': {
          const noCr = buf[i] !== CR;
          if (!noCr) i++;
          events.push({ type: 'frame', payload: Buffer.concat(this.parts, this.size), noCr });
          this.counters.frames++;
          this.parts = [];
          this.size = 0;
          this.state = 'idle';
          break;
        }
        case 'discard': {
          const j = buf.indexOf(VT, i);
          if (j < 0) {
            this.counters.discardedBytes += n - i;
            i = n;
          } else {
            this.counters.discardedBytes += j - i;
            this.state = 'idle';
            i = j;
          }
          break;
        }
      }
    }
    return events;
  }

  /** Drops any unfinished frame (e.g. after a read timeout); returns how many bytes were dropped. */
  reset(): number {
    const dropped = this.size;
    this.parts = [];
    this.size = 0;
    this.state = 'idle';
    return dropped;
  }

  private begin(): void {
    this.parts = [];
    this.size = 0;
    this.state = 'in';
  }
}

/** Wraps a payload in an MLLP frame. */
export function frame(payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, CR])]);
}
