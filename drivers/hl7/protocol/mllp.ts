// MLLP framing: VT (0x0B) payload FS (0x1C) CR (0x0D).
// The framer is pure and bounded: it never holds more than maxFrameBytes of one frame.

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;
const LF = 0x0a;
/** "MSH": the header segment that begins every HL7 v2 message (a batch's messages too). */
const MSH = [0x4d, 0x53, 0x48];

/** Bytes of an oversize frame kept so the receiver can read its MSH (control id, ack mode) and answer it. */
export const OVERSIZE_HEAD_BYTES = 2048;
/** Bytes of a run outside frames kept to show in a log line (and to tell an HL7 header sent without framing). */
export const OUTSIDE_HEAD_BYTES = 32;
/**
 * An unfinished frame whose first bytes match this began an HL7 message (as the parser reads one: a byte order mark
 * and blank lines may come first), so dropping it loses a message (review rv137 M1). Read over latin1 bytes.
 */
const MESSAGE_HEAD = /^(?:\xef\xbb\xbf)?[\r\n]*(?:MSH|BHS|FHS)/;

export type FramerEvent =
  /** A complete frame, delivered at its FS (a sender waiting for the ACK may never send the CR). */
  | { type: 'frame'; payload: Buffer }
  /** The byte after an FS was not CR (tolerated, flagged). Comes after that frame's 'frame' event. */
  | { type: 'missing-cr' }
  /** A frame grew past maxFrameBytes; the framer drops it and waits for the next VT. `head`: its first bytes. */
  | { type: 'oversize'; limit: number; head: Buffer }
  /**
   * A VT arrived inside a frame: the unfinished frame is dropped, the new one starts. `message`: the dropped frame
   * began with an HL7 header (MSH, BHS, FHS), so a message was lost, e.g. a sender ending frames without FS.
   */
  | { type: 'abandoned'; bytes: number; message: boolean }
  /**
   * Bytes outside any frame, ignored (one event per run in a chunk; also in counters.outsideBytes). `head`: its first
   * OUTSIDE_HEAD_BYTES bytes. `messageStarts`: HL7 messages begun in it (MSH at the start of a line, also when cut
   * between chunks), i.e. sent without MLLP framing: counted per message, not per byte.
   */
  | { type: 'outside'; bytes: number; head: Buffer; messageStarts: number };

export interface FramerCounters {
  frames: number;
  oversize: number;
  abandoned: number;
  /** Bytes outside any frame (before VT, between frames), ignored. */
  outsideBytes: number;
  /** Bytes thrown away while resyncing after an oversize frame. */
  discardedBytes: number;
  /** Frames begun (VT seen), abandoned ones included (a read timeout runs from the first VT since `frames` last grew). */
  started: number;
}

// 'fs': a frame was just delivered at its FS; a CR right after it belongs to the trailer and is swallowed.
type State = 'idle' | 'in' | 'fs' | 'discard';

export class MllpFramer {
  private state: State = 'idle';
  private parts: Buffer[] = [];
  private size = 0;
  /** Bytes of "MSH" matched at the start of the current line outside frames; -1: this line does not begin a message. */
  private line = 0;
  readonly counters: FramerCounters = { frames: 0, oversize: 0, abandoned: 0, outsideBytes: 0, discardedBytes: 0, started: 0 };

  constructor(private readonly maxFrameBytes: number) {
    if (!(maxFrameBytes > 0)) throw new RangeError('maxFrameBytes must be > 0');
  }

  /** True while a frame has started and not ended (for read timeouts). */
  get inFrame(): boolean {
    return this.state === 'in';
  }

  /** Bytes held for the unfinished frame. */
  get buffered(): number {
    return this.size;
  }

  /** True while the unfinished frame held began with an HL7 header: reset() would drop a message (review rv137 M1). */
  get messageHeld(): boolean {
    return this.state === 'in' && this.startsMessage(Buffer.alloc(0));
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
          const end = j < 0 ? n : j;
          if (end > i) {
            this.counters.outsideBytes += end - i;
            const messageStarts = this.scanOutside(buf, i, end);
            events.push({ type: 'outside', bytes: end - i, head: Buffer.from(buf.subarray(i, Math.min(end, i + OUTSIDE_HEAD_BYTES))), messageStarts });
          }
          if (j < 0) i = n;
          else {
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
            events.push({ type: 'abandoned', bytes: this.size + (v - i), message: this.startsMessage(buf.subarray(i, v)) });
            this.begin();
            i = v + 1;
            break;
          }
          if (this.size + (end - i) > this.maxFrameBytes) {
            this.counters.oversize++;
            events.push({ type: 'oversize', limit: this.maxFrameBytes, head: this.head(buf.subarray(i, end)) });
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
            events.push({ type: 'frame', payload: Buffer.concat(this.parts, this.size) });
            this.counters.frames++;
            this.parts = [];
            this.size = 0;
            this.state = 'fs';
            this.line = 0; // what follows a frame starts a line
            i = k + 1;
          }
          break;
        }
        case 'fs': {
          if (buf[i] === CR) i++;
          else events.push({ type: 'missing-cr' });
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

  /** Counts the lines of buf[from, to) (outside frames) that begin with MSH; the line state carries across chunks. */
  private scanOutside(buf: Buffer, from: number, to: number): number {
    let starts = 0;
    for (let p = from; p < to; p++) {
      const b = buf[p] as number;
      // A raw sender ends segments with CR (some with LF), and some end a message with FS CR without a VT.
      if (b === CR || b === LF || b === FS) this.line = 0;
      else if (this.line >= 0) {
        if (b !== MSH[this.line]) this.line = -1;
        else if (++this.line === MSH.length) {
          starts++;
          this.line = -1;
        }
      }
    }
    return starts;
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
    this.counters.started++;
  }

  /** Whether the held parts followed by `more` begin with an HL7 header (the first OUTSIDE_HEAD_BYTES suffice). */
  private startsMessage(more: Buffer): boolean {
    return MESSAGE_HEAD.test(this.head(more, OUTSIDE_HEAD_BYTES).toString('latin1'));
  }

  /** First `max` bytes of the held parts followed by `more`. */
  private head(more: Buffer, max = OVERSIZE_HEAD_BYTES): Buffer {
    const out: Buffer[] = [];
    let left = max;
    for (const p of [...this.parts, more]) {
      if (left <= 0) break;
      out.push(Buffer.from(p.subarray(0, left)));
      left -= Math.min(left, p.length);
    }
    return Buffer.concat(out);
  }
}

/** Wraps a payload in an MLLP frame. */
export function frame(payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, CR])]);
}
