// Bounds-checked big-endian reader: every read names the structure and field, so a short or
// malformed message fails with an IntellivueParseError that says where.
import { IntellivueParseError } from './errors.js';

export class Reader {
  private pos: number;

  constructor(
    readonly buf: Uint8Array,
    readonly structure: string,
    start = 0,
    private readonly end = buf.length,
    /** Offset of buf[0] within the enclosing message, so errors point into the whole message. */
    private readonly base = 0,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(field: string, detail: string, at = this.pos): never {
    throw new IntellivueParseError(this.structure, this.base + at, field, detail);
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.end) this.fail(field, `needs ${n} byte(s), ${Math.max(0, this.end - this.pos)} left`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++] as number;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = ((this.buf[this.pos] as number) << 8) | (this.buf[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (((b[p] as number) << 24) | ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number)) >>> 0;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const out = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }

  /** A sub-reader over the next n bytes (a length-prefixed structure); this reader skips past them. */
  sub(n: number, structure: string, field: string): Reader {
    this.need(n, field);
    const r = new Reader(this.buf, structure, this.pos, this.pos + n, this.base);
    this.pos += n;
    return r;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }
}
