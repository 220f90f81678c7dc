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

/** A charset name decodeBytes reads (case and spaces around it aside). */
export function isSupportedCharset(declared: string): boolean {
  const name = declared.trim().toUpperCase();
  return ['ASCII', 'ISO IR6', '8859/1', 'ISO IR100', 'UNICODE UTF-8', 'UNICODE'].includes(name) || name in LATIN_PARTS;
}

/** Bytes that are valid UTF-8 (used to note that an inherited 8859 reading may be wrong). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    utf8Fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

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
 * `afterBom`: a UTF-8 byte order mark (stripped by the caller) stood in front of this message. It says UTF-8, so an
 * MSH-18 naming another charset contradicts it: refused rather than guessing which of the two the sender meant. ASCII
 * with only ASCII bytes does not (ASCII is a subset of UTF-8).
 * `empty`: what an empty MSH-18 with non-ASCII bytes means, from the other messages of a batch (see EmptyCharset).
 */
export function decodeBytes(bytes: Uint8Array, declared: string, mshIndex = 1, afterBom = false, empty: EmptyCharset = { kind: 'guess' }): CharsetDecoding {
  const name = declared.trim().toUpperCase();
  const at = { segmentIndex: mshIndex, segmentId: 'MSH', field: 18 };
  const bad = firstNonAscii(bytes);
  const asciiOnly = (name === 'ASCII' || name === 'ISO IR6') && bad < 0;
  if (afterBom && name !== '' && name !== 'UNICODE UTF-8' && name !== 'UNICODE' && !asciiOnly) {
    throw new Hl7ParseError(`MSH-18 says ${declared.trim()} but the message starts with a UTF-8 byte order mark (EF BB BF)`, at);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
      // Behind a byte order mark the mark is this message's own word: the guess below tries UTF-8 first.
      if (empty.kind === 'inherit' && !afterBom) return inherited(bytes, empty.charset, bad, at);
      if (empty.kind === 'ascii' && !afterBom) {
        throw new Hl7ParseError(
          `MSH-18 is empty (ASCII) but byte 0x${(bytes[bad] as number).toString(16)} is not ASCII; another message of the batch declares its charset, so this one is not guessed`,
          { ...at, offset: bad },
        );
      }
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

/**
 * An empty MSH-18 with non-ASCII bytes in a batch (its BHS…BTS; a frame without BHS is one), where only a supported
 * charset name counts as a declaration (an HL7 null "" is empty; a typo refuses its own message only):
 * - 'inherit': an earlier message of the same BHS batch declares `charset` (the nearest one): senders often fill MSH-18 on the
 *   first message only, and a frame was read in its first MSH-18 before messages were read one by one;
 * - 'ascii': none before it does but a later one does: HL7's default (ASCII), as guessing would contradict the sender;
 * - 'guess': no message of the batch declares one: valid UTF-8, else Latin-1 (as for a single message).
 */
export type EmptyCharset = { kind: 'guess' } | { kind: 'ascii' } | { kind: 'inherit'; charset: string };

/** Bytes with non-ASCII bytes and an empty MSH-18, read in the charset an earlier message of the batch declares. */
function inherited(bytes: Uint8Array, charset: string, bad: number, at: Hl7Position): CharsetDecoding {
  const lead = `MSH-18 is empty and an earlier message of the batch declares ${charset.trim()}, but`;
  const name = charset.trim().toUpperCase();
  if (name === 'ASCII' || name === 'ISO IR6') {
    throw new Hl7ParseError(`${lead} byte 0x${(bytes[bad] as number).toString(16)} is not ASCII`, { ...at, offset: bad });
  }
  if (name === 'UNICODE UTF-8' || name === 'UNICODE') {
    try {
      return { text: utf8Fatal.decode(bytes), charset: 'UNICODE UTF-8', assumed: true, hex: utf8Hex };
    } catch {
      throw new Hl7ParseError(`${lead} the bytes are not valid UTF-8`, at);
    }
  }
  try {
    // 8859 parts: every byte is a character.
    return { ...decodeBytes(bytes, charset, at.segmentIndex), assumed: true };
  } catch (e) {
    if (!(e instanceof Hl7ParseError)) throw e;
    throw new Hl7ParseError(`${lead} that character set is not supported`, at, e.code);
  }
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
