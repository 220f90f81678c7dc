// MSH-18 character sets: bytes → text. Delimiters and segment ids are ASCII in every supported
// charset, so MSH-18 can be read from a Latin-1 view before the real decoding.
import { Hl7ParseError, type Hl7Position } from './errors.js';
import type { ByteEncoder, HexDecoder } from './escape.js';
import { latin1Hex } from './escape.js';

export interface CharsetDecoding {
  text: string;
  /** Canonical name used: "ASCII", "8859/1", "UNICODE UTF-8", ... */
  charset: string;
  /** True when MSH-18 was empty and we chose one. */
  assumed: boolean;
  hex: HexDecoder;
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Hex: HexDecoder = (b) => {
  try {
    return utf8Fatal.decode(b);
  } catch {
    throw new Hl7ParseError('its bytes are not valid UTF-8');
  }
};

/** ISO 8859 parts that Node's TextDecoder knows, by HL7 table 0211 name. */
const LATIN_PARTS: Record<string, string> = {
  '8859/2': 'iso-8859-2',
  '8859/3': 'iso-8859-3',
  '8859/4': 'iso-8859-4',
  '8859/5': 'iso-8859-5',
  '8859/6': 'iso-8859-6',
  '8859/7': 'iso-8859-7',
  '8859/8': 'iso-8859-8',
  '8859/9': 'windows-1254', // WHATWG maps iso-8859-9 to windows-1254 (a superset)
  '8859/15': 'iso-8859-15',
};

function firstNonAscii(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) if ((bytes[i] as number) > 0x7f) return i;
  return -1;
}

/**
 * Decodes bytes by the declared charset. `declared` is MSH-18 (first repetition), '' when absent.
 * Supported: ASCII, 8859/1..9 and 8859/15, UNICODE UTF-8 (and "UNICODE", read as UTF-8).
 * Empty MSH-18: HL7 default is ASCII; senders often mean UTF-8, so valid UTF-8 is accepted and
 * anything else is read as Latin-1 — both flagged as assumed.
 * `mshIndex`: the place of the MSH that declares it (1 in a single message; later in a batch frame), for the error
 * position (ERR-2 needs the segment's sequence).
 * `afterBom`: the frame started with a UTF-8 byte order mark (stripped by the caller). It says UTF-8, so an MSH-18
 * naming another charset contradicts it: refused rather than guessing which of the two the sender meant.
 */
export function decodeBytes(bytes: Uint8Array, declared: string, mshIndex = 1, afterBom = false): CharsetDecoding {
  const name = declared.trim().toUpperCase();
  const at = { segmentIndex: mshIndex, segmentId: 'MSH', field: 18 };
  if (afterBom && name !== '' && name !== 'UNICODE UTF-8' && name !== 'UNICODE') {
    throw new Hl7ParseError(`MSH-18 says ${declared.trim()} but the message starts with a UTF-8 byte order mark (EF BB BF)`, at);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = firstNonAscii(bytes);
  switch (name) {
    case 'ASCII':
    case 'ISO IR6':
      if (bad >= 0) throw new Hl7ParseError(`MSH-18 says ASCII but byte 0x${(bytes[bad] as number).toString(16)} is not ASCII`, { ...at, offset: bad });
      return { text: buf.toString('latin1'), charset: 'ASCII', assumed: false, hex: latin1Hex };
    case '8859/1':
    case 'ISO IR100':
      return { text: buf.toString('latin1'), charset: '8859/1', assumed: false, hex: latin1Hex };
    case 'UNICODE UTF-8':
    case 'UNICODE':
      return { text: utf8(bytes, bad, at), charset: 'UNICODE UTF-8', assumed: false, hex: utf8Hex };
    case '':
      if (bad < 0) return { text: buf.toString('latin1'), charset: 'ASCII', assumed: true, hex: latin1Hex };
      try {
        return { text: utf8Fatal.decode(bytes), charset: 'UNICODE UTF-8', assumed: true, hex: utf8Hex };
      } catch {
        return { text: buf.toString('latin1'), charset: '8859/1', assumed: true, hex: latin1Hex };
      }
  }
  const label = LATIN_PARTS[name];
  if (label) {
    const dec = new TextDecoder(label);
    return { text: dec.decode(bytes), charset: name, assumed: false, hex: (b) => dec.decode(b) };
  }
  throw new Hl7ParseError(`unsupported character set '${declared}' in MSH-18`, at, 103);
}

function utf8(bytes: Uint8Array, firstHigh: number, at: Hl7Position): string {
  if (firstHigh < 0) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    throw new Hl7ParseError('MSH-18 says UTF-8 but the bytes are not valid UTF-8', at);
  }
}

/** The UTF-8 byte order mark some senders (and editors saving test files) put before the first segment. */
export function hasUtf8Bom(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** Latin-1 bytes; a character it has no byte for (none that a Latin-1 or ASCII decoding gives) is '?'. */
const latin1Bytes: ByteEncoder = (t) => Uint8Array.from(Array.from(t, (c) => ((c.codePointAt(0) as number) <= 0xff ? (c.codePointAt(0) as number) : 0x3f)));
const latinEncoders = new Map<string, ByteEncoder>();

/**
 * Text → bytes in a charset decodeBytes names (the inverse of its decoding), to write what a sender sent back to it
 * as \Xhh\ escapes of its own bytes. ASCII and unknown names: Latin-1 (a text read from raw bytes is their Latin-1 view).
 */
export function encoderFor(charset: string): ByteEncoder {
  if (charset === 'UNICODE UTF-8') return (t) => Buffer.from(t, 'utf8');
  const label = LATIN_PARTS[charset];
  if (!label) return latin1Bytes;
  let enc = latinEncoders.get(label);
  if (!enc) {
    // The part's upper half, read once and turned around.
    const dec = new TextDecoder(label);
    const byChar = new Map<string, number>();
    for (let b = 0xff; b >= 0x80; b--) byChar.set(dec.decode(Uint8Array.of(b)), b);
    enc = (t) => Uint8Array.from(Array.from(t, (c) => ((c.codePointAt(0) as number) < 0x80 ? (c.codePointAt(0) as number) : (byChar.get(c) ?? 0x3f))));
    latinEncoders.set(label, enc);
  }
  return enc;
}
