// MLLP framing: VT (0x0B) payload FS (0x1C) CR (0x0D).
// The framer is pure and bounded: it never holds more than maxFrameBytes of one frame.

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;
export const LF = 0x0a;
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

/**
 * How long a frame read up to its FS, ending mid-segment, waits for the byte after it (MLLP ends a block with FS CR): a
 * CR split from its FS comes within a TCP round trip. Counted only while every byte received has been read (review
 * rv180 M1). A frame whose last segment is complete is taken at its FS, without this wait (review rv180 M3).
 */
export const FS_END_WAIT_MS = 200;

export type FramerEvent =
  /**
   * A complete frame. One whose payload ends with a segment terminator (CR or LF) is delivered at its FS. Any other
   * is held until the byte after its FS (CR, or VT / LF where the CR is missing), or until flush() when none comes:
   * a value cut by an FS never ends in a terminator (review rv180 M2, M3). `innerFs`: the offset in `payload` of the
   * first FS that data followed (not CR, VT or LF): no end block, so the sender's message was cut there (review
   * rv178 M1); the bytes after it are in the payload, up to the FS that ended the frame. `unterminated`: delivered by
   * flush(), its last segment has no terminator and no byte after its FS said it was complete: it may have been cut.
   */
  | { type: 'frame'; payload: Buffer; innerFs?: number; unterminated?: true }
  /** The byte after an FS was VT or LF (or other data after a complete frame), not CR: tolerated, flagged. */
  | { type: 'missing-cr' }
  /**
   * Data (not CR, VT or LF) right after the FS of a frame that flush() delivered as unterminated: that FS may have
   * been inside the message, the frame its cut head. Comes before the 'outside' event of those bytes.
   */
  | { type: 'late-tail' }
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

// 'fs': an FS was just read. A frame ending mid-segment is `held` until the next byte tells whether the FS ended it
// (CR; VT or LF with the CR missing) or was inside it (anything else). Otherwise (delivered at the FS, or after
// flush()) nothing is held, and a CR then is the trailer.
type State = 'idle' | 'in' | 'fs' | 'discard';

export class MllpFramer {
  private state: State = 'idle';
  private parts: Buffer[] = [];
  private size = 0;
  /** The frame read up to an FS, waiting for the byte after it (state 'fs'). */
  private held: Buffer | null = null;
  /** Offset of the first FS inside the current frame (data followed it), if any. */
  private innerFs: number | undefined;
  /** The frame before was delivered by flush(): data right after its FS is a late tail ('late-tail'). */
  private flushed = false;
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

  /** True while a frame read up to its FS, ending mid-segment, waits for the next byte (push) or for flush(). */
  get holding(): boolean {
    return this.held !== null;
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
          if (v >= 0 && v < end && this.innerFs !== undefined) {
            // A frame start after the bytes that followed an FS, with no FS among them: that FS ended the frame after
            // all, and what came between is outside any frame (padding, or a message sent without VT), as before.
            this.endAtInnerFs(buf.subarray(i, v), events);
            i = v;
            break;
          }
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
            this.held = Buffer.concat(this.parts, this.size);
            this.parts = [];
            this.size = 0;
            this.state = 'fs';
            i = k + 1;
            // Its last segment is complete: the FS ends it, whatever follows (a sender ending with FS alone, or
            // padding after it, is answered at once, review rv180 M2, M3). A cut value ends in no terminator.
            const last = this.held[this.held.length - 1];
            if (last === CR || last === LF) this.deliver(events);
          }
          break;
        }
        case 'fs': {
          const b = buf[i] as number;
          if (this.held !== null && b !== CR && b !== VT && b !== LF) {
            // Data after the FS: it was no end block (MLLP ends a block with FS CR) but a byte inside the message, which
            // goes on to the next FS. Kept, so the whole message is answered at once, as cut (review rv178 M1).
            const head = this.held;
            this.held = null;
            this.innerFs ??= head.length;
            this.parts = [head, Buffer.from([FS])];
            this.size = head.length + 1;
            this.state = 'in';
            break;
          }
          if (this.held !== null) this.deliver(events);
          if (b === CR) i++;
          else if (this.flushed && b !== VT && b !== LF) events.push({ type: 'late-tail' });
          else events.push({ type: 'missing-cr' });
          this.flushed = false;
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

  /**
   * Delivers a frame held at its FS when no byte followed it (a sender that leaves out the last CR ends with FS alone
   * and waits for the ACK, or the connection ended), marked `unterminated`: the caller decides how long to wait for
   * that byte. A CR coming later is the trailer; data is a 'late-tail'.
   */
  flush(): FramerEvent[] {
    if (this.held === null) return [];
    const events: FramerEvent[] = [];
    this.deliver(events, true);
    this.flushed = true;
    return events;
  }

  /** Drops any unfinished frame (e.g. after a read timeout); returns how many bytes were dropped. */
  reset(): number {
    const dropped = this.size + (this.held?.length ?? 0);
    this.parts = [];
    this.size = 0;
    this.held = null;
    this.innerFs = undefined;
    this.flushed = false;
    this.state = 'idle';
    return dropped;
  }

  /** Ends the frame at its inner FS: the bytes after it (held, then `more`) are outside any frame. State 'idle'. */
  private endAtInnerFs(more: Buffer, events: FramerEvent[]): void {
    const at = this.innerFs as number;
    const all = Buffer.concat([...this.parts, more]);
    this.held = all.subarray(0, at);
    this.innerFs = undefined;
    this.parts = [];
    this.size = 0;
    this.deliver(events);
    events.push({ type: 'missing-cr' });
    const rest = all.subarray(at + 1);
    this.state = 'idle';
    if (rest.length === 0) return;
    this.counters.outsideBytes += rest.length;
    events.push({ type: 'outside', bytes: rest.length, head: Buffer.from(rest.subarray(0, OUTSIDE_HEAD_BYTES)), messageStarts: this.scanOutside(rest, 0, rest.length) });
  }

  private deliver(events: FramerEvent[], unterminated = false): void {
    const payload = this.held as Buffer;
    events.push({
      type: 'frame',
      payload,
      ...(this.innerFs !== undefined && { innerFs: this.innerFs }),
      ...(unterminated && { unterminated: true as const }),
    });
    this.counters.frames++;
    this.held = null;
    this.innerFs = undefined;
    this.line = 0; // what follows a frame starts a line
  }

  private begin(): void {
    this.parts = [];
    this.size = 0;
    this.innerFs = undefined;
    this.flushed = false;
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
