// Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF), sent low byte first.
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Append the CRC (low byte first) to a frame body. */
export function withCrc(body: Uint8Array): Buffer {
  const out = Buffer.alloc(body.length + 2);
  out.set(body, 0);
  out.writeUInt16LE(crc16(body), body.length);
  return out;
}

export function crcOk(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const want = (frame[frame.length - 2] as number) | ((frame[frame.length - 1] as number) << 8);
  return crc16(frame.subarray(0, frame.length - 2)) === want;
}
