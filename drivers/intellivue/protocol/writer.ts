// Big-endian byte writer for building messages (host requests and the simulator's answers).
export class Writer {
  private bytes: number[] = [];

  get length(): number {
    return this.bytes.length;
  }

  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }

  u16(v: number): this {
    this.bytes.push((v >>> 8) & 0xff, v & 0xff);
    return this;
  }

  u32(v: number): this {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }

  raw(b: Iterable<number>): this {
    for (const x of b) this.bytes.push(x & 0xff);
    return this;
  }

  /** Reserve a u16 length field; call the returned function once the counted bytes are written. */
  lengthU16(): () => void {
    const at = this.bytes.length;
    this.bytes.push(0, 0);
    return () => {
      const n = this.bytes.length - at - 2;
      this.bytes[at] = (n >>> 8) & 0xff;
      this.bytes[at + 1] = n & 0xff;
    };
  }

  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}
