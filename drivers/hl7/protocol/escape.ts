// HL7 escape sequences (v2.x chapter 2, "Use of escape sequences in text fields").
//
// Policy, decided for this project:
// - \F\ \S\ \T\ \R\ \E\ (and \P\ when MSH-2 declares a truncation character) become the delimiter.
// - \Xhh..\ becomes the bytes hh.. decoded in the message's charset (UTF-8 or Latin-1); adjacent ones (nothing
//   between them) are decoded together, as one run of bytes.
// - \H\ and \N\ (start/stop highlighting) are dropped: they only style display, the text stays.
// - \.br\ becomes "\n" (line break in formatted text).
// - Everything else (\Cxxyy\, \Mxxyyzz\ charset switches, \Zxx\ locally defined, other \.xx\
//   formatting commands, unknown letters) is kept verbatim, backslashes included, with a warning,
//   so nothing is silently lost or invented.
// - An escape character with no closing escape character (a stray backslash in a name or comment: `O\Neil`) is kept
//   as a literal character, with a warning: refusing the message would throw away its readings for a typo in free text.
import { Hl7ParseError, formatPosition, type Hl7Position } from './errors.js';
import type { Delimiters, Hl7Warning, Leaf } from './types.js';

const HEX = /^(?:[0-9A-Fa-f]{2})+$/;

/** Turns \X..\ hex bytes into text; depends on the message charset. */
export type HexDecoder = (bytes: Uint8Array) => string;

export const latin1Hex: HexDecoder = (bytes) => Buffer.from(bytes).toString('latin1');

/** Decodes one raw leaf (already split on delimiters) into its value; `""` becomes null. */
export function decodeLeaf(
  raw: string,
  d: Delimiters,
  hex: HexDecoder,
  pos: Hl7Position,
  warnings: Hl7Warning[],
  replaceUndecodable = false,
): Leaf {
  if (raw === '""') return null;
  if (!raw.includes(d.escape)) return raw;
  let out = '';
  // Adjacent \X..\ escapes (nothing between them) are one byte run: an encoder may escape a multi-byte character
  // one byte per escape, and only the whole run is valid in the charset.
  let run: { chunks: Buffer[]; escapes: string } | undefined;
  const flush = (): void => {
    if (run) out += decodeHexRun(Buffer.concat(run.chunks), run.escapes, hex, pos, replaceUndecodable ? warnings : undefined);
    run = undefined;
  };
  let i = 0;
  while (i < raw.length) {
    const start = raw.indexOf(d.escape, i);
    if (start < 0) {
      flush();
      out += raw.slice(i);
      break;
    }
    if (start > i) flush();
    out += raw.slice(i, start);
    const end = raw.indexOf(d.escape, start + 1);
    if (end < 0) {
      flush();
      warnings.push({
        kind: 'escape-unterminated',
        detail: `${formatPosition(pos)}: escape character '${d.escape}' at character ${start + 1} of the value has no closing one; kept as a literal character`,
      });
      out += raw.slice(start);
      break;
    }
    const body = raw.slice(start + 1, end);
    if (body.startsWith('X')) {
      const digits = body.slice(1);
      if (!HEX.test(digits)) {
        throw new Hl7ParseError(`bad hex escape \\${body}\\ (needs an even number of hex digits)`, pos);
      }
      run ??= { chunks: [], escapes: '' };
      run.chunks.push(Buffer.from(digits, 'hex')); // chunks, not a spread of bytes: one escape may hold megabytes
      run.escapes += `\\${body}\\`; // shown with '\\' whatever MSH-2 says, as before
    } else {
      flush();
      out += decodeSequence(body, d, pos, warnings);
    }
    i = end + 1;
  }
  flush();
  return out;
}

/** `replacing`: the field is free text no one reads for meaning; bytes its charset cannot read become U+FFFD, noted there. */
function decodeHexRun(bytes: Buffer, escapes: string, hex: HexDecoder, pos: Hl7Position, replacing?: Hl7Warning[]): string {
  try {
    return hex(bytes);
  } catch (e) {
    if (replacing) {
      replacing.push({
        kind: 'escape-undecodable',
        detail: `${formatPosition(pos)}: hex escape ${escapes}: ${e instanceof Hl7ParseError ? e.reason : (e as Error).message}; kept as U+FFFD (a field the mapping does not read)`,
      });
      // Only the UTF-8 decoder refuses bytes (ASCII and 8859 parts read every byte): its lenient form replaces them.
      return bytes.toString('utf8');
    }
    // The decoder knows the charset but not the place: the sender is told where (segment, field, component).
    throw new Hl7ParseError(`hex escape ${escapes}: ${e instanceof Hl7ParseError ? e.reason : (e as Error).message}`, pos);
  }
}

function decodeSequence(body: string, d: Delimiters, pos: Hl7Position, warnings: Hl7Warning[]): string {
  switch (body) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.subcomponent;
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    case 'H':
    case 'N':
      return '';
    case '.br':
      return '\n';
  }
  if (body === 'P' && d.truncation !== undefined) return d.truncation;
  const kept = `${d.escape}${body}${d.escape}`;
  warnings.push({ kind: 'escape-kept', detail: `escape ${kept} kept verbatim` });
  return kept;
}

/** The bytes of a text in some charset (see charset.ts encoderFor). */
export type ByteEncoder = (text: string) => Uint8Array;

/**
 * Escapes a value for writing. CR and LF become \X0D\ / \X0A\ so a value never splits a segment. With `bytesOf`,
 * characters beyond ASCII become \Xhh..\ of their bytes in that charset, so the text stays ASCII (an ACK declares no
 * MSH-18) and a sender decoding the escape in its own charset gets back what it sent.
 */
export function encodeLeaf(value: Leaf, d: Delimiters, bytesOf?: ByteEncoder): string {
  if (value === null) return '""';
  let out = '';
  let run = '';
  const flush = (): void => {
    if (run === '' || !bytesOf) return;
    out += `${d.escape}X${Buffer.from(bytesOf(run)).toString('hex').toUpperCase()}${d.escape}`;
    run = '';
  };
  for (const ch of value) {
    if (bytesOf && (ch.codePointAt(0) as number) > 0x7f) {
      run += ch;
      continue;
    }
    flush();
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (d.truncation !== undefined && ch === d.truncation) out += `${d.escape}P${d.escape}`;
    else if (ch === '\r') out += `${d.escape}X0D${d.escape}`;
    else if (ch === '\n') out += `${d.escape}X0A${d.escape}`;
    // MLLP's block bytes (VT, FS) would cut the frame this text goes out in; a refused frame may hold them.
    else if (ch === '\x0b') out += `${d.escape}X0B${d.escape}`;
    else if (ch === '\x1c') out += `${d.escape}X1C${d.escape}`;
    else out += ch;
  }
  flush();
  return out;
}
