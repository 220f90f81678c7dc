// Frame check sequence of the MIB/RS-232 transport: CRC-16/X-25 (the PPP FCS of RFC 1662):
// reflected polynomial 0x8408, initial 0xFFFF, final complement. Sent low byte first.

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x8408 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** FCS over `bytes[start, end)`, already complemented (the value to transmit). */
export function fcs16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number);
  return ~crc & 0xffff;
}
