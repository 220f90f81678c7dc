// Medibus checksum: the 8-bit sum of every byte from ESC/SOH through the last data byte, sent as two
// uppercase ASCII hex characters.

export function checksumByte(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + (bytes[i] as number)) & 0xff;
  return sum;
}

const HEX = '0123456789ABCDEF';

export function checksumChars(sum: number): [number, number] {
  return [HEX.charCodeAt((sum >> 4) & 0xf), HEX.charCodeAt(sum & 0xf)];
}

/** Value of two ASCII hex characters; upper or lower case accepted; -1 when not hex. */
export function hexPairValue(hi: number, lo: number): number {
  const h = hexDigit(hi);
  const l = hexDigit(lo);
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}
