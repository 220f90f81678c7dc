// MIB/RS-232 transport framing: bytes in (any chunking), frames out. Pure and total: any input gives
// events, never an exception.
//
//   0xC0 (BOF) | header: protocol id 0x11, message type 0x01, user-data length (u16 BE) | user data |
//   FCS (2 bytes, low first) | 0xC1 (EOF)
//
// Inside a frame 0xC0, 0xC1 and 0x7D are sent as 0x7D, byte XOR 0x20 (transparency). 0x7D 0xC1 aborts
// the frame. The FCS (fcs.ts) covers the unescaped header and user data.
import { IntellivueParseError } from './errors.js';
import { fcs16 } from './fcs.js';

export const BOF = 0xc0;
export const EOF = 0xc1;
export const ESC = 0x7d;
export const PROTOCOL_ID = 0x11;
export const MSG_TYPE_DATA_EXPORT = 0x01;

export type BadFrameReason = 'fcs' | 'too-short' | 'too-long' | 'interrupted' | 'aborted';

export type FrameEvent =
  /** A frame whose FCS checked: `body` is the unescaped header + user data (FCS removed). */
  | { type: 'frame'; body: Buffer }
  | { type: 'bad-frame'; reason: BadFrameReason; detail: string; raw: Buffer }
  /** Bytes outside any frame (line noise, a monitor talking another protocol). */
  | { type: 'noise'; bytes: Buffer };

export interface FramerOptions {
  /** Longest frame body accepted (unescaped, including FCS). MTU is ≤ 1000 on MIB; default 4096. */
  maxFrameBytes?: number;
}

export class IntellivueFramer {
  private buf: number[] | undefined; // undefined: outside a frame
  private escaped = false;
  private overflow = false;
  private readonly max: number;

  constructor(opts: FramerOptions = {}) {
    this.max = opts.maxFrameBytes ?? 4096;
  }

  push(chunk: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = [];
    let noise: number[] = [];
    const flushNoise = () => {
      if (noise.length) out.push({ type: 'noise', bytes: Buffer.from(noise) });
      noise = [];
    };
    for (const b of chunk) {
      if (b === BOF) {
        flushNoise();
        if (this.buf && !this.overflow && this.buf.length > 0) {
          out.push({ type: 'bad-frame', reason: 'interrupted', detail: `a new frame started after ${this.buf.length} byte(s) without EOF`, raw: Buffer.from(this.buf) });
        }
        this.start();
        continue;
      }
      const cur = this.buf;
      if (!cur) {
        noise.push(b);
        continue;
      }
      if (b === EOF) {
        if (this.escaped) {
          out.push({ type: 'bad-frame', reason: 'aborted', detail: `sender aborted the frame (7D C1) after ${cur.length} byte(s)`, raw: Buffer.from(cur) });
        } else if (!this.overflow) {
          out.push(this.finish(cur));
        }
        this.buf = undefined;
        this.escaped = false;
        this.overflow = false;
        continue;
      }
      // The rest of an over-long frame is noise: counted as such (as on the line, escapes included), so that a
      // babbling line shows in full (rv49 L2).
      if (this.overflow) {
        noise.push(b);
        continue;
      }
      if (b === ESC && !this.escaped) {
        this.escaped = true;
        continue;
      }
      const wasEscaped = this.escaped;
      const v = wasEscaped ? b ^ 0x20 : b;
      this.escaped = false;
      if (cur.length >= this.max) {
        out.push({ type: 'bad-frame', reason: 'too-long', detail: `longer than ${this.max} bytes`, raw: Buffer.from(cur) });
        this.overflow = true;
        if (wasEscaped) noise.push(ESC);
        noise.push(b);
        continue;
      }
      cur.push(v);
    }
    flushNoise();
    return out;
  }

  /** Forgets a frame in progress: after a reconnect its rest will never come. */
  reset(): void {
    this.buf = undefined;
    this.escaped = false;
    this.overflow = false;
  }

  private start(): void {
    this.buf = [];
    this.escaped = false;
    this.overflow = false;
  }

  private finish(bytes: number[]): FrameEvent {
    const raw = Buffer.from(bytes);
    if (raw.length < 2) return { type: 'bad-frame', reason: 'too-short', detail: `${raw.length} byte(s) between BOF and EOF; the FCS alone is 2`, raw };
    const end = raw.length - 2;
    const got = (raw[end] as number) | ((raw[end + 1] as number) << 8);
    const want = fcs16(raw, 0, end);
    if (got !== want) {
      return { type: 'bad-frame', reason: 'fcs', detail: `FCS at offset ${end}: got 0x${hex4(got)}, computed 0x${hex4(want)}`, raw };
    }
    return { type: 'frame', body: raw.subarray(0, end) };
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

function needsEscape(b: number): boolean {
  return b === BOF || b === EOF || b === ESC;
}

/** BOF + escaped(body + FCS low byte first) + EOF. `body` is everything the FCS covers. */
export function encodeFrame(body: Uint8Array): Buffer {
  const f = fcs16(body);
  const out: number[] = [BOF];
  const put = (b: number) => {
    if (needsEscape(b)) out.push(ESC, b ^ 0x20);
    else out.push(b);
  };
  for (const b of body) put(b);
  put(f & 0xff);
  put(f >>> 8);
  out.push(EOF);
  return Buffer.from(out);
}

/** A whole transport frame around one Data Export / association message. */
export function encodeMessageFrame(userData: Uint8Array): Buffer {
  if (userData.length > 0xffff) throw new RangeError(`user data of ${userData.length} bytes does not fit a frame`);
  const body = Buffer.alloc(4 + userData.length);
  body[0] = PROTOCOL_ID;
  body[1] = MSG_TYPE_DATA_EXPORT;
  body.writeUInt16BE(userData.length, 2);
  body.set(userData, 4);
  return encodeFrame(body);
}

/** Check the 4-byte transport header of a frame body and return the user data. */
export function parseTransportHeader(body: Buffer): Buffer {
  if (body.length < 4) throw new IntellivueParseError('frame header', 0, 'header', `needs 4 bytes, frame has ${body.length}`);
  if (body[0] !== PROTOCOL_ID) throw new IntellivueParseError('frame header', 0, 'protocol_id', `expected 0x11, got 0x${(body[0] as number).toString(16)}`);
  if (body[1] !== MSG_TYPE_DATA_EXPORT) throw new IntellivueParseError('frame header', 1, 'msg_type', `expected 0x01, got 0x${(body[1] as number).toString(16)}`);
  const len = body.readUInt16BE(2);
  if (len !== body.length - 4) throw new IntellivueParseError('frame header', 2, 'length', `header says ${len} byte(s), frame carries ${body.length - 4}`);
  return body.subarray(4);
}
