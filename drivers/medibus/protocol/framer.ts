// Medibus framer: bytes in (any chunking), typed frames out. Pure and total: any input gives events,
// never an exception.
//
// - ESC … CR is a command, SOH … CR a response; the last two bytes before CR are the checksum.
// - XON/XOFF (DC1/DC3) are software handshake and are dropped wherever they appear.
// - Medibus.X realtime bytes (top bit set) interleave with the slow traffic, even inside a message;
//   they are separated out and handed on in arrival order.
// - A command may arrive while a response is being received (the device asks us something mid-way);
//   the response is parked, the command completed, then the response resumed. A "command" there that fails its
//   check was a data byte of the response damaged into ESC: the whole is one damaged response.
// - A start byte (ESC/SOH) followed at once by another start is noise (a stray byte on the line), not a
//   message cut short: nothing of a message was lost, so nothing is to be asked again.
import { checksumByte, checksumChars, hexPairValue } from './checksum.js';
import { CR, ESC, SOH, XOFF, XON } from './constants.js';

export type FrameKind = 'command' | 'response';

export type FrameEvent =
  | { type: 'frame'; kind: FrameKind; code: number; data: Buffer }
  | { type: 'bad-frame'; kind: FrameKind; reason: 'checksum' | 'too-short' | 'too-long' | 'interrupted'; detail: string; raw: Buffer }
  | { type: 'realtime'; bytes: Buffer }
  | { type: 'noise'; bytes: Buffer }
  | { type: 'handshake'; byte: number };

export interface FramerOptions {
  /** Longest message accepted (bytes from start through checksum); longer ones are dropped. */
  maxFrameBytes?: number;
}

interface Partial {
  kind: FrameKind;
  bytes: number[];
}

export class MedibusFramer {
  private current: Partial | undefined;
  private parked: Partial | undefined;
  private overflow = false;
  private readonly maxFrame: number;

  constructor(opts: FramerOptions = {}) {
    this.maxFrame = opts.maxFrameBytes ?? 4096;
  }

  push(chunk: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = [];
    let rt: number[] = [];
    let noise: number[] = [];
    const flushRt = () => {
      if (rt.length) out.push({ type: 'realtime', bytes: Buffer.from(rt) });
      rt = [];
    };
    const flushNoise = () => {
      if (noise.length) out.push({ type: 'noise', bytes: Buffer.from(noise) });
      noise = [];
    };
    for (const b of chunk) {
      if (b >= 0x80) {
        flushNoise();
        rt.push(b);
        continue;
      }
      flushRt();
      if (b === XON || b === XOFF) {
        out.push({ type: 'handshake', byte: b });
        continue;
      }
      if (b === ESC || b === SOH) {
        flushNoise();
        this.start(b === ESC ? 'command' : 'response', out);
        continue;
      }
      const cur = this.current;
      if (!cur) {
        noise.push(b);
        continue;
      }
      if (b === CR) {
        if (!this.overflow) out.push(this.finished(cur));
        this.overflow = false;
        this.current = this.parked;
        this.parked = undefined;
        continue;
      }
      // The rest of an over-long message is noise: counted as such, so that a babbling line shows in full (rv49 L2).
      if (this.overflow) {
        noise.push(b);
        continue;
      }
      if (cur.bytes.length >= this.maxFrame) {
        out.push({ type: 'bad-frame', kind: cur.kind, reason: 'too-long', detail: `longer than ${this.maxFrame} bytes`, raw: Buffer.from(cur.bytes) });
        this.overflow = true;
        noise.push(b);
        continue;
      }
      cur.bytes.push(b);
    }
    flushRt();
    flushNoise();
    return out;
  }

  private start(kind: FrameKind, out: FrameEvent[]): void {
    const cur = this.current;
    if (cur && !this.overflow && cur.bytes.length <= 1) {
      // A lone ESC/SOH with not even a code byte before the next start: line noise, not a message cut short.
      out.push({ type: 'noise', bytes: Buffer.from(cur.bytes) });
    } else if (cur && !this.overflow && kind === 'command' && cur.kind === 'response' && !this.parked) {
      this.parked = cur;
    } else if (cur && !this.overflow) {
      out.push({ type: 'bad-frame', kind: cur.kind, reason: 'interrupted', detail: 'a new message started before CR', raw: Buffer.from(cur.bytes) });
    }
    this.overflow = false;
    this.current = { kind, bytes: [kind === 'command' ? ESC : SOH] };
  }

  /** Forgets a message in progress: after a reconnect its rest will never come. */
  reset(): void {
    this.current = undefined;
    this.parked = undefined;
    this.overflow = false;
  }

  /**
   * A message ended at CR. A "command" that fails inside a parked response was no command: a data byte of the response
   * turned into ESC. The two are one damaged response (asked again as any), not a device command to NAK, and the
   * parked part is not put back to join the next message (review rv115 M1).
   */
  private finished(p: Partial): FrameEvent {
    const ev = this.finish(p);
    const parked = this.parked;
    if (ev.type !== 'bad-frame' || p.kind !== 'command' || !parked) return ev;
    this.parked = undefined;
    const at = parked.bytes.length;
    return { type: 'bad-frame', kind: 'response', reason: ev.reason, detail: `ESC at offset ${at} inside a response, and what followed is no command (${ev.detail})`, raw: Buffer.from([...parked.bytes, ...p.bytes]) };
  }

  private finish(p: Partial): FrameEvent {
    const raw = Buffer.from(p.bytes);
    if (raw.length < 4) {
      return { type: 'bad-frame', kind: p.kind, reason: 'too-short', detail: `${raw.length} bytes before CR; at least start, code and 2 checksum characters are needed`, raw };
    }
    const end = raw.length - 2;
    const got = hexPairValue(raw[end] as number, raw[end + 1] as number);
    const want = checksumByte(raw, 0, end);
    if (got !== want) {
      const [hi, lo] = checksumChars(want);
      const gotText = raw.subarray(end).toString('latin1');
      return {
        type: 'bad-frame',
        kind: p.kind,
        reason: 'checksum',
        detail: `checksum at offset ${end}: got ${JSON.stringify(gotText)}, computed "${String.fromCharCode(hi, lo)}"`,
        raw,
      };
    }
    return { type: 'frame', kind: p.kind, code: raw[1] as number, data: raw.subarray(2, end) };
  }
}
