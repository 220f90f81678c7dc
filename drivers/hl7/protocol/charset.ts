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
  /**
   * MSH-18 was not a table 0211 name: 'alias' (a common spelling of one we read, e.g. UTF-8 or ISO-8859-1), or 'unknown'
   * (a name we do not read, over bytes that are all ASCII: read as ASCII). The parser notes it.
   */
  declaredAs?: 'alias' | 'unknown';
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Hex: HexDecoder = (b) => {
  try {
    return utf8Fatal.decode(b);
  } catch {
    throw new Hl7ParseError('its bytes are not valid UTF-8');
  }
};
/** Empty MSH-18 and no raw byte says otherwise: a hex run is read as raw bytes are, UTF-8 if valid, else Latin-1. */
const guessHex: HexDecoder = (b) => {
  try {
    return utf8Fatal.decode(b);
  } catch {
    return latin1Hex(b);
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

/** Table 0211 names decodeBytes reads, and the charset each is read as. */
const TABLE_NAMES: Record<string, string> = {
  ASCII: 'ASCII',
  'ISO IR6': 'ASCII',
  '8859/1': '8859/1',
  'ISO IR100': '8859/1',
  'UNICODE UTF-8': 'UNICODE UTF-8',
  UNICODE: 'UNICODE UTF-8',
  ...Object.fromEntries(Object.keys(LATIN_PARTS).map((k) => [k, k])),
};
/** Common spellings outside table 0211 (the way IANA and many interfaces write them), separators removed. */
const ALIASES: Record<string, string> = {
  USASCII: 'ASCII',
  ISOIR6: 'ASCII',
  UTF8: 'UNICODE UTF-8',
  UNICODEUTF8: 'UNICODE UTF-8',
  LATIN1: '8859/1',
  ISOLATIN1: '8859/1',
  ISOIR100: '8859/1',
};

/**
 * The charset decodeBytes reads a declared MSH-18 as ('' when empty), and whether the name is a common spelling
 * rather than the table 0211 name (ISO-8859-2, iso8859_2, 8859-2 → 8859/2; UTF-8, utf8 → UNICODE UTF-8); undefined
 * for a name it does not read.
 */
export function canonicalCharset(declared: string): { charset: string; alias: boolean } | undefined {
  const name = declared.trim().toUpperCase();
  const table = name === '' ? '' : TABLE_NAMES[name];
  if (table !== undefined) return { charset: table, alias: false };
  // Case, spaces, '-', '_', '/' and '.' aside: those are what the spellings differ in.
  const key = name.replace(/[\s\-_/.]/g, '');
  const alias = ALIASES[key];
  if (alias) return { charset: alias, alias: true };
  const part = /^(?:ISO)?8859(\d{1,2})$/.exec(key);
  const latin = part ? `8859/${Number(part[1])}` : undefined;
  if (latin && (latin === '8859/1' || latin in LATIN_PARTS)) return { charset: latin, alias: true };
  return undefined;
}

/** A charset name decodeBytes reads as that charset (case and spaces around it aside; common spellings too). */
export function isSupportedCharset(declared: string): boolean {
  return Boolean(canonicalCharset(declared)?.charset);
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
 * Supported: ASCII, 8859/1..9 and 8859/15, UNICODE UTF-8 (and "UNICODE", read as UTF-8), and their common spellings
 * (canonicalCharset). Any other name is read as ASCII when every byte is (7-bit, no ESC, no NUL), else refused (103).
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
  const at = { segmentIndex: mshIndex, segmentId: 'MSH', field: 18 };
  const bad = firstNonAscii(bytes);
  const known = canonicalCharset(declared);
  // A name we do not read says nothing we need when every byte is ASCII: every charset a sender could mean by it
  // reads those as ASCII, except 7-bit ones that switch sets with ESC (ISO 2022, e.g. ISO IR87) or are 16/32-bit (NUL
  // bytes). Those, and any byte over 0x7F, are refused: guessing could change the text.
  const unknownAscii = known === undefined && bad < 0 && !bytes.includes(0x1b) && !bytes.includes(0);
  const declaredAs = known?.alias ? 'alias' : unknownAscii ? 'unknown' : undefined;
  const dec = decodeNamed(bytes, declared, known?.charset ?? (unknownAscii ? 'ASCII' : declared.trim().toUpperCase()), bad, at, afterBom, empty);
  return declaredAs ? { ...dec, declaredAs } : dec;
}

/** decodeBytes for `name`, the charset MSH-18 is read as (canonicalCharset's name, or as declared when not one we read). */
function decodeNamed(bytes: Uint8Array, declared: string, name: string, bad: number, at: Hl7Position, afterBom: boolean, empty: EmptyCharset): CharsetDecoding {
  const asciiOnly = name === 'ASCII' && bad < 0;
  if (afterBom && name !== '' && name !== 'UNICODE UTF-8' && !asciiOnly) {
    throw new Hl7ParseError(`MSH-18 says ${declared.trim()} but the message starts with a UTF-8 byte order mark (EF BB BF)`, at);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (name) {
    case 'ASCII':
      if (bad >= 0) throw new Hl7ParseError(`MSH-18 says ASCII but byte 0x${(bytes[bad] as number).toString(16)} is not ASCII`, { ...at, offset: bad });
      return { text: buf.toString('latin1'), charset: 'ASCII', assumed: false, hex: latin1Hex };
    case '8859/1':
      return { text: buf.toString('latin1'), charset: '8859/1', assumed: false, hex: latin1Hex };
    case 'UNICODE UTF-8':
      return { text: utf8(bytes, bad, at), charset: 'UNICODE UTF-8', assumed: false, hex: utf8Hex };
    case '':
      if (bad < 0) return { text: buf.toString('latin1'), charset: 'ASCII', assumed: true, hex: empty.kind === 'guess' ? guessHex : latin1Hex };
      // Behind a byte order mark the mark is this message's own word: the guess below tries UTF-8 first.
      if (empty.kind === 'inherit' && !afterBom) return inherited(bytes, empty.charset, bad, at);
      if (empty.kind === 'ascii' && !afterBom) {
        throw new Hl7ParseError(
          `MSH-18 is empty (ASCII) but byte 0x${(bytes[bad] as number).toString(16)} is not ASCII; another message of the batch declares its charset, so this one is not guessed`,
          { ...at, offset: bad },
        );
      }
      try {
        // UTF-8 only guessed: a hex run that is not UTF-8 falls back to Latin-1 rather than refusing the message.
        return { text: utf8Fatal.decode(bytes), charset: 'UNICODE UTF-8', assumed: true, hex: guessHex };
      } catch {
        return { text: buf.toString('latin1'), charset: '8859/1', assumed: true, hex: latin1Hex };
      }
  }
  const label = LATIN_PARTS[name];
  if (label) {
    const dec = new TextDecoder(label);
    return { text: dec.decode(bytes), charset: name, assumed: false, hex: (b) => dec.decode(b) };
  }
  const esc = bytes.indexOf(0x1b);
  const why =
    bad >= 0
      ? `; byte 0x${(bytes[bad] as number).toString(16)} is not ASCII, and an unknown charset cannot read it`
      : esc >= 0
        ? '; the bytes hold ESC (0x1b), a character-set switch, so its text cannot be read as ASCII'
        : bytes.includes(0)
          ? '; the bytes hold NUL (a 16- or 32-bit encoding?), so its text cannot be read as ASCII'
          : '';
  throw new Hl7ParseError(`unsupported character set '${declared}' in MSH-18${why}`, bad >= 0 ? { ...at, offset: bad } : at, 103);
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
  // Only a name isSupportedCharset takes is inherited (parse.ts): its spelling aside.
  const name = canonicalCharset(charset)?.charset ?? charset.trim().toUpperCase();
  if (name === 'ASCII') {
    throw new Hl7ParseError(`${lead} byte 0x${(bytes[bad] as number).toString(16)} is not ASCII`, { ...at, offset: bad });
  }
  if (name === 'UNICODE UTF-8') {
    try {
      return { text: utf8Fatal.decode(bytes), charset: 'UNICODE UTF-8', assumed: true, hex: utf8Hex };
    } catch {
      throw new Hl7ParseError(`${lead} the bytes are not valid UTF-8`, at);
    }
  }
  try {
    // 8859 parts: every byte is a character.
    return { ...decodeBytes(bytes, name, at.segmentIndex), assumed: true };
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
