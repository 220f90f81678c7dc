// Building Medibus messages: ESC code args checksum CR (commands), SOH code data checksum CR (responses).
import { checksumByte, checksumChars } from './checksum.js';
import { CR, ESC, NAK, SOH } from './constants.js';

function frame(start: number, code: number, body: Uint8Array | string): Buffer {
  const data = typeof body === 'string' ? Buffer.from(body, 'latin1') : Buffer.from(body);
  const out = Buffer.alloc(data.length + 5);
  out[0] = start;
  out[1] = code;
  data.copy(out, 2);
  const [hi, lo] = checksumChars(checksumByte(out, 0, data.length + 2));
  out[data.length + 2] = hi;
  out[data.length + 3] = lo;
  out[data.length + 4] = CR;
  return out;
}

export function encodeCommand(code: number, args: Uint8Array | string = ''): Buffer {
  return frame(ESC, code, args);
}

export function encodeResponse(code: number, data: Uint8Array | string = ''): Buffer {
  return frame(SOH, code, data);
}

/** What a receiver sends back for a corrupt command. */
export function encodeNak(): Buffer {
  return frame(SOH, NAK, '');
}

/** Two uppercase ASCII hex characters for a code byte, as data records carry codes. */
export function hex2(code: number): string {
  return (code & 0xff).toString(16).toUpperCase().padStart(2, '0');
}
