// Strict HL7 v2 parser: bytes (or text) in, typed segments out; Hl7ParseError with a position otherwise.
//
// Segment terminator policy: HL7 says CR. If the input contains any CR, CR terminates segments, an LF
// right after a CR is dropped (sloppy CRLF senders, flagged 'crlf-terminators'), and any other LF is
// DATA inside the field (flagged 'lf-in-field'): treating it as a terminator would invent a bogus
// segment out of the rest of the field. Only input with no CR at all is split on LF ('lf-terminators').
import { decodeBytes, hasUtf8Bom, isSupportedCharset, isValidUtf8, type EmptyCharset } from './charset.js';
import { Hl7ParseError, type Hl7Position } from './errors.js';
import { decodeLeaf, latin1Hex, type HexDecoder } from './escape.js';
import type { Component, Delimiters, Field, Hl7Batch, Hl7Message, Hl7Warning, Repetition, Segment } from './types.js';

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;
const HEADER_IDS = new Set(['MSH', 'FHS', 'BHS']);
const ENVELOPE_IDS = new Set(['FHS', 'BHS', 'BTS', 'FTS']);
/** A UTF-8 byte order mark (Latin-1 view of the bytes, or decoded) at the start of a header line (files concatenated). */
const BOM_BEFORE_HEADER = /^(?:\xef\xbb\xbf|\ufeff)(?=MSH|BHS|FHS)/;

interface RawSegment {
  text: string;
  index: number; // 1-based
}

/**
 * What the segments of one message (its MSH and what follows, up to the next header or trailer) were read in: each
 * message of a batch is read in its own MSH-18. The batch envelope (FHS/BHS/BTS/FTS) is a unit too.
 */
interface Unit {
  charset: string;
  hex: HexDecoder;
  /** Its own notes (charset assumed, escapes kept, …); the frame's (terminators, BOM) are in Decoded.warnings. */
  warnings: Hl7Warning[];
  /** Its bytes cannot be read in its MSH-18: its text is their Latin-1 view (to address the refusal), and this refuses it. */
  error?: Hl7ParseError;
}

/** Splits text into segments by the terminator policy above. */
export function splitSegments(text: string, warnings: Hl7Warning[]): RawSegment[] {
  return numberPieces(splitPieces(text, warnings).pieces, warnings);
}

/**
 * The text between terminators, by the policy above, with where each starts in the text; blank pieces are kept
 * (numberPieces drops them).
 */
function splitPieces(text: string, warnings: Hl7Warning[]): { pieces: string[]; starts: number[] } {
  const sep = text.includes('\r') ? '\r' : text.includes('\n') ? '\n' : undefined;
  if (sep === undefined) return { pieces: [text], starts: [0] };
  const pieces = text.split(sep);
  const starts: number[] = [];
  let at = 0;
  let crlf = false;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as string;
    starts.push(at);
    at += p.length + 1;
    if (sep === '\r' && i > 0 && p.startsWith('\n')) {
      pieces[i] = p.slice(1);
      starts[i] = (starts[i] as number) + 1;
      crlf = true;
    }
  }
  if (crlf) warnings.push({ kind: 'crlf-terminators', detail: 'segments end with CR LF; LF after CR ignored' });
  if (sep === '\n') warnings.push({ kind: 'lf-terminators', detail: 'no CR in message; segments split on LF' });
  return { pieces, starts };
}

/** Numbers the pieces that are not blank as segments (1-based); notes blank ones and a missing final terminator. */
function numberPieces(pieces: string[], warnings: Hl7Warning[]): RawSegment[] {
  if (pieces.length > 0 && pieces[pieces.length - 1] !== '' && !/^\s*$/.test(pieces[pieces.length - 1] as string)) {
    warnings.push({ kind: 'no-final-terminator', detail: 'last segment has no terminator' });
  }
  const out: RawSegment[] = [];
  let emptyInside = 0;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as string;
    if (p.trim() === '') {
      if (i < pieces.length - 1) emptyInside++;
      continue;
    }
    out.push({ text: p, index: out.length + 1 });
  }
  // The very last empty piece is the normal final terminator; other blank ones are worth a note.
  if (emptyInside > 0) warnings.push({ kind: 'empty-segment', detail: `${emptyInside} empty segment(s) skipped` });
  return out;
}

/** Segment ids in order, as the parser numbers segments (for error positions in text that did not parse). */
export function segmentIds(text: string): string[] {
  // A byte order mark (in a Latin-1 view of the bytes, or decoded) is not part of the first segment's id, nor of a
  // later header's (decode skips those too).
  return splitSegments(text.replace(/^(?:\xef\xbb\xbf|\ufeff)/, ''), []).map((r) => r.text.replace(BOM_BEFORE_HEADER, '').slice(0, 3));
}

/**
 * Where character `offset` of a frame's text falls, as the parser numbers segments (segmentIds) and fields: its segment
 * (index, id) and field, e.g. for a stray MLLP byte inside a message. The id and field are left out when the segment
 * has no readable id.
 */
export function positionAt(text: string, offset: number): Hl7Position {
  const lead = /^(?:\xef\xbb\xbf|\ufeff)/.exec(text)?.[0].length ?? 0;
  const { pieces, starts } = splitPieces(text.slice(lead), []);
  let index = 0;
  let separator = '|';
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as string;
    if (p.trim() === '') continue;
    index++;
    const skip = BOM_BEFORE_HEADER.test(p) ? 3 : 0;
    const seg = p.slice(skip);
    const id = seg.slice(0, 3);
    if (HEADER_IDS.has(id) && seg.length > 3) separator = seg[3] as string;
    const from = lead + (starts[i] as number) + skip;
    if (offset > from + seg.length && i < pieces.length - 1) continue;
    if (!SEGMENT_ID.test(id)) return { segmentIndex: index };
    if (offset - from <= 3) return { segmentIndex: index, segmentId: id };
    // Field n follows the n-th separator; in a header segment MSH-1 is the separator itself.
    const before = seg.slice(0, Math.max(0, offset - from)).split(separator).length - 1;
    return { segmentIndex: index, segmentId: id, field: HEADER_IDS.has(id) ? before + 1 : before };
  }
  return { segmentIndex: Math.max(1, index) };
}

/**
 * ERR-2.2 (segment sequence): which occurrence of its segment id within its message the segment at 1-based
 * `segmentIndex` is (the second OBX → 2), counting back to the message's header. Undefined when out of range.
 * A frame that starts with MSH is one message (parseFrame), so a second MSH in it is that message's MSH 2; in a batch
 * (BHS/FHS first) each MSH starts a message.
 */
export function segmentSequence(ids: readonly string[], segmentIndex: number): number | undefined {
  const id = ids[segmentIndex - 1];
  if (id === undefined) return undefined;
  const oneMessage = ids[0] === 'MSH';
  let n = 0;
  for (let i = segmentIndex - 1; i >= 0; i--) {
    const sid = ids[i] as string;
    if (sid === id) n++;
    if (HEADER_IDS.has(sid) && !oneMessage) break;
  }
  return n;
}

/** Reads delimiters from an MSH/FHS/BHS segment's first characters. */
export function readDelimiters(segText: string, pos: Hl7Position): Delimiters {
  const field = segText[3];
  if (field === undefined) throw new Hl7ParseError('header segment has no field separator (MSH-1)', { ...pos, field: 1 });
  const end = segText.indexOf(field, 4);
  const enc = end < 0 ? segText.slice(4) : segText.slice(4, end);
  if (enc.length < 4 || enc.length > 5) {
    throw new Hl7ParseError(`encoding characters '${enc}' must be 4 or 5 characters (MSH-2)`, { ...pos, field: 2 });
  }
  const chars = [field, ...enc];
  for (const c of chars) {
    if (/[A-Za-z0-9\s]/.test(c)) throw new Hl7ParseError(`delimiter '${c}' must not be a letter, digit or white space`, { ...pos, field: 2 });
  }
  if (new Set(chars).size !== chars.length) throw new Hl7ParseError(`delimiters '${field}${enc}' are not distinct`, { ...pos, field: 2 });
  const d: Delimiters = {
    field,
    component: enc[0] as string,
    repetition: enc[1] as string,
    escape: enc[2] as string,
    subcomponent: enc[3] as string,
  };
  if (enc.length === 5) d.truncation = enc[4] as string;
  return d;
}

function parseField(raw: string, d: Delimiters, hex: HexDecoder, seg: RawSegment, id: string, fieldNo: number, warnings: Hl7Warning[], lenient?: LenientFields): Field {
  // Fast path: a plain value with no delimiters, escapes or null.
  if (raw !== '""' && !raw.includes(d.component) && !raw.includes(d.repetition) && !raw.includes(d.subcomponent) && !raw.includes(d.escape)) {
    return [[[raw]]];
  }
  const reps = raw.split(d.repetition);
  const field: Field = [];
  for (let r = 0; r < reps.length; r++) {
    const comps = (reps[r] as string).split(d.component);
    const rep: Repetition = [];
    for (let c = 0; c < comps.length; c++) {
      const subs = (comps[c] as string).split(d.subcomponent);
      const comp: Component = [];
      for (let s = 0; s < subs.length; s++) {
        const v = subs[s] as string;
        // Fast path: most leaves hold no escape and are not the "" null; skip building a position.
        if (v !== '""' && !v.includes(d.escape)) comp.push(v);
        else {
          const pos: Hl7Position = { segmentIndex: seg.index, segmentId: id, field: fieldNo, repetition: r + 1, component: c + 1, subcomponent: s + 1 };
          comp.push(decodeLeaf(v, d, hex, pos, warnings, lenient?.(id, fieldNo) === true));
        }
      }
      rep.push(comp);
    }
    field.push(rep);
  }
  return field;
}

function parseSegment(raw: RawSegment, d: Delimiters, hex: HexDecoder, warnings: Hl7Warning[], lenient?: LenientFields): Segment {
  const id = raw.text.slice(0, 3);
  const pos: Hl7Position = { segmentIndex: raw.index, segmentId: id };
  // Only one before MSH, BHS or FHS is skipped (decode): elsewhere it would read as an id of invisible characters.
  if (/^(?:\xef\xbb\xbf|\ufeff)/.test(raw.text)) {
    throw new Hl7ParseError(`a UTF-8 byte order mark (EF BB BF) before segment ${raw.index}, where its id should be`, pos, 100);
  }
  if (!SEGMENT_ID.test(id)) throw new Hl7ParseError(`'${id}' is not a segment id (3 upper-case letters/digits)`, pos, 100);
  const sep = raw.text[3];
  if (sep !== undefined && sep !== d.field) {
    throw new Hl7ParseError(`segment id must be followed by the field separator '${d.field}', found '${sep}'`, pos, 100);
  }
  if (raw.text.includes('\n')) {
    warnings.push({ kind: 'lf-in-field', detail: `segment ${raw.index} (${id}) holds a bare LF; kept as data` });
  }
  const fields: Field[] = [[[[id]]]];
  if (HEADER_IDS.has(id)) {
    const encEnd = raw.text.indexOf(d.field, 4);
    fields.push([[[d.field]]]);
    fields.push([[[encEnd < 0 ? raw.text.slice(4) : raw.text.slice(4, encEnd)]]]);
    if (encEnd < 0) return { id, fields };
    const rest = raw.text.slice(encEnd + 1).split(d.field);
    for (let i = 0; i < rest.length; i++) fields.push(parseField(rest[i] as string, d, hex, raw, id, i + 3, warnings, lenient));
    return { id, fields };
  }
  if (sep === undefined) return { id, fields };
  const parts = raw.text.slice(4).split(d.field);
  for (let i = 0; i < parts.length; i++) fields.push(parseField(parts[i] as string, d, hex, raw, id, i + 1, warnings, lenient));
  return { id, fields };
}

interface Decoded {
  raws: RawSegment[];
  /** The unit of each raw segment (same index). */
  units: Unit[];
  /** The envelope's: what a batch's own segments were read in. */
  envelope: Unit;
  /** Notes on the whole frame (terminators, blank segments, a byte order mark): every message of it has them. */
  warnings: Hl7Warning[];
}

const BOM_WARNING: Hl7Warning = { kind: 'bom', detail: 'UTF-8 byte order mark (EF BB BF) before the message; skipped' };

/** MSH-18 (first repetition) read from a raw MSH line; '' when absent or its delimiters cannot be read. */
function declaredCharset(mshLine: string): string {
  let d: Delimiters;
  try {
    d = readDelimiters(mshLine, { segmentId: 'MSH' });
  } catch {
    return ''; // reported by parseAll against its own message
  }
  const f18 = mshLine.split(d.field)[17] ?? ''; // split index 17 is MSH-18 (MSH-1 is the separator itself)
  const first = f18.split(d.repetition)[0] ?? '';
  // HL7 null: explicitly no value, so the default applies as for an empty field.
  return first.trim() === '""' ? '' : first;
}

/**
 * Decodes bytes message by message, each by its own MSH-18, and splits them into raw segments numbered across the
 * frame. Segment terminators and ids are ASCII in every supported charset (and CR/LF never occur inside a UTF-8
 * sequence), so the frame is split on a Latin-1 view of its bytes and each message's bytes decoded on their own:
 * a batch may mix charsets, and one message's bad bytes refuse that message only. An empty MSH-18 takes the nearest
 * earlier one of its BHS batch (EmptyCharset).
 */
function decode(input: Uint8Array | string): Decoded {
  const warnings: Hl7Warning[] = [];
  if (typeof input === 'string') {
    const unit: Unit = { charset: 'text', hex: latin1Hex, warnings: [] };
    const raws = splitSegments(input, warnings);
    return { raws, units: raws.map(() => unit), envelope: unit, warnings };
  }
  let bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const bom = hasUtf8Bom(bytes);
  // Hid MSH-18 (the first segment did not start with MSH); skipped here, and checked against MSH-18 in decodeBytes.
  if (bom) bytes = bytes.subarray(3);
  const { pieces, starts } = splitPieces(bytes.toString('latin1'), warnings);
  // A mark before a later header (files each saved with one, concatenated) would join that line to the message before
  // it: skipped as well.
  const bomAt = new Set<number>();
  pieces.forEach((p, i) => {
    if (!BOM_BEFORE_HEADER.test(p)) return;
    pieces[i] = p.slice(3);
    starts[i] = (starts[i] as number) + 3;
    bomAt.add(i);
  });
  // Pieces into units: an MSH starts a message, which runs to the next header or trailer; the rest is envelope. A mark
  // belongs to the message it is in front of (the next MSH): it says that message is UTF-8, not the others.
  const unitOf: number[] = []; // per piece: index into groups, -1 for envelope
  // batch: how many BHS came before it. Batches of one file can come from different senders, so the empty MSH-18
  // rules look within one batch only (a frame without BHS is one batch).
  const groups: Array<{ first: number; last: number; bom: boolean; batch: number }> = [];
  let batchNo = 0;
  let inMessage = false;
  let pendingBom = bom;
  let bomsLeft = 0; // marks with no message behind them
  pieces.forEach((p, i) => {
    const id = p.slice(0, 3);
    if (bomAt.has(i)) {
      if (pendingBom) bomsLeft++;
      pendingBom = true;
    }
    if (id === 'BHS') batchNo++;
    if (id === 'MSH') {
      groups.push({ first: i, last: i, bom: pendingBom, batch: batchNo });
      pendingBom = false;
      inMessage = true;
    } else if (ENVELOPE_IDS.has(id)) inMessage = false;
    if (inMessage) (groups[groups.length - 1] as { last: number }).last = i;
    unitOf.push(inMessage ? groups.length - 1 : -1);
  });
  if (pendingBom) bomsLeft++;
  /** MSH-18 of each message, and what an empty one means there (see EmptyCharset). */
  const declared = groups.map((g) => declaredCharset(pieces[g.first] as string).trim());
  // Only a name we read counts: a typo or unsupported name refuses its own message, not the others of the batch.
  // Both found in one pass over the messages (a scan back per message made a large batch quadratic): the nearest
  // earlier declaration of each message's batch, and the batches where any message declares one.
  const nearestEarlier: Array<string | undefined> = [];
  const declaring = new Set<number>();
  let last: { batch: number; charset: string } | undefined;
  groups.forEach((g, k) => {
    nearestEarlier.push(last?.batch === g.batch ? last.charset : undefined);
    if (!isSupportedCharset(declared[k] as string)) return;
    last = { batch: g.batch, charset: declared[k] as string };
    declaring.add(g.batch);
  });
  const emptyMeans = (g: number): EmptyCharset => {
    const charset = nearestEarlier[g];
    if (charset !== undefined) return { kind: 'inherit', charset };
    return declaring.has((groups[g] as { batch: number }).batch) ? { kind: 'ascii' } : { kind: 'guess' };
  };
  /** An offset in a unit's joined bytes as an offset in the frame, as the sender counts its bytes. */
  const withFrameOffset = (e: Hl7ParseError, idx: number[]): Hl7ParseError => {
    let o = e.position.offset;
    if (o === undefined) return e;
    for (const i of idx) {
      const len = (pieces[i] as string).length + 1;
      if (o < len) return new Hl7ParseError(e.reason, { ...e.position, offset: (starts[i] as number) + o + (bom ? 3 : 0) }, e.code);
      o -= len;
    }
    return e;
  };
  // Joined with CR: no piece holds one (split on CR; or no CR at all), and every supported decoding keeps it, so the
  // decoded text splits back into the same pieces.
  const bytesOf = (idx: number[]) => Buffer.from(idx.map((i) => pieces[i] as string).join('\r'), 'latin1');
  const decoded: string[] = pieces.slice();
  const units: Unit[] = groups.map((g, gi) => {
    const idx = Array.from({ length: g.last - g.first + 1 }, (_, k) => g.first + k);
    try {
      const empty = emptyMeans(gi);
      const dec = decodeBytes(bytesOf(idx), declared[gi] as string, 0, g.bom, empty);
      dec.text.split('\r').forEach((t, k) => (decoded[g.first + k] = t));
      const own: Hl7Warning[] = [];
      if (g.bom) own.push({ ...BOM_WARNING });
      const name = (declared[gi] as string).trim();
      if (dec.declaredAs === 'alias') own.push({ kind: 'charset-alias', detail: `MSH-18 '${name}' is not an HL7 table 0211 name; read as ${dec.charset}` });
      if (dec.declaredAs === 'unknown') {
        own.push({ kind: 'charset-unknown', detail: `MSH-18 '${name}' is not a character set this parser reads; every byte is ASCII, so read as ASCII` });
      }
      if (dec.assumed && dec.charset !== 'ASCII') {
        let why = empty.kind === 'inherit' && !g.bom ? ', the MSH-18 of an earlier message of the batch' : '';
        // Valid UTF-8 read as an 8859 part may be a sender that fills MSH-18 per message: worth a look, not a refusal.
        if (why && dec.charset.startsWith('8859/') && isValidUtf8(bytesOf(idx))) why += '; the bytes are also valid UTF-8';
        own.push({ kind: 'charset-assumed', detail: `MSH-18 empty; non-ASCII bytes read as ${dec.charset}${why}` });
      }
      return { charset: dec.charset, hex: dec.hex, warnings: own };
    } catch (e) {
      if (!(e instanceof Hl7ParseError)) throw e;
      // Kept as its bytes (RAW: one character per byte), so its MSH still addresses the refusal; positioned below.
      return { charset: '8859/1', hex: latin1Hex, warnings: [], error: withFrameOffset(e, idx) };
    }
  });
  // The envelope in the charset of the first message read (as one frame was before), else as its bytes.
  const envIdx = unitOf.flatMap((u, i) => (u < 0 ? [i] : []));
  const first = units.find((u) => !u.error)?.charset ?? '';
  // A mark with no message behind it (before BHS|…, BTS|0) is noted on the envelope.
  const envWarnings: Hl7Warning[] = bomsLeft > 0 ? [{ ...BOM_WARNING }] : [];
  let envelope: Unit = { charset: '8859/1', hex: latin1Hex, warnings: envWarnings };
  if (envIdx.length > 0) {
    try {
      const dec = decodeBytes(bytesOf(envIdx), first, 0);
      dec.text.split('\r').forEach((t, k) => (decoded[envIdx[k] as number] = t));
      envelope = { charset: dec.charset, hex: dec.hex, warnings: envWarnings };
    } catch {
      // Bytes not valid in that charset (e.g. ASCII): kept as they are, which is how they go back in a batch reply.
    }
  }
  const raws = numberPieces(decoded, warnings);
  // numberPieces keeps the pieces that are not blank, in order: walk both to give each raw segment its unit.
  const rawUnits: Unit[] = [];
  let r = 0;
  for (let i = 0; i < decoded.length && r < raws.length; i++) {
    if ((decoded[i] as string).trim() === '') continue;
    const g = unitOf[i] as number;
    const unit = g < 0 ? envelope : (units[g] as Unit);
    if (unit.error && g >= 0 && i === (groups[g] as { first: number }).first) {
      // Its MSH's place in the frame, now known (ERR-2 gives its sequence).
      unit.error = new Hl7ParseError(unit.error.reason, { ...unit.error.position, segmentIndex: r + 1 }, unit.error.code);
    }
    rawUnits.push(unit);
    r++;
  }
  return { raws, units: rawUnits, envelope, warnings };
}

/**
 * Parses raw segments, switching delimiters at every header segment (MSH/FHS/BHS). With `bad`, a segment of a
 * message that does not parse becomes a placeholder (id only) and its error is recorded there, so one bad message
 * of a batch does not take the others with it; an error in the batch envelope is still thrown. A message whose bytes
 * could not be read in its charset is parsed from its bytes (its MSH addresses the answer) and recorded with that error.
 */
function parseAll(dec: Decoded, bad?: Map<Segment, Hl7ParseError>, lenient?: LenientFields): Segment[] {
  if (dec.raws.length === 0) throw new Hl7ParseError('no segments', {}, 100);
  let d: Delimiters | undefined;
  const out: Segment[] = [];
  let prev: Unit | undefined;
  dec.raws.forEach((raw, i) => {
    const id = raw.text.slice(0, 3);
    const unit = dec.units[i] as Unit;
    const startsUnit = unit !== prev;
    prev = unit;
    if (unit.error && startsUnit && !bad) throw unit.error;
    try {
      if (HEADER_IDS.has(id)) d = readDelimiters(raw.text, { segmentIndex: raw.index, segmentId: id });
      if (!d) {
        throw new Hl7ParseError(`message must start with MSH (or FHS/BHS for a batch), found '${id}'`, { segmentIndex: raw.index, segmentId: id }, 100);
      }
      out.push(parseSegment(raw, d, unit.hex, unit.warnings, lenient));
    } catch (e) {
      if (!bad || !(e instanceof Hl7ParseError) || ENVELOPE_IDS.has(id) || !d) throw e;
      const placeholder: Segment = { id, fields: [[[[id]]]] };
      bad.set(placeholder, e);
      out.push(placeholder);
    }
    // Its charset error comes first: that is why the rest of it may not parse.
    if (unit.error && startsUnit && bad) bad.set(out[out.length - 1] as Segment, unit.error);
  });
  return out;
}

function delimitersOf(seg: Segment): Delimiters {
  const field = seg.fields[1]?.[0]?.[0]?.[0] ?? '|';
  const enc = seg.fields[2]?.[0]?.[0]?.[0] ?? '^~\\&';
  return readDelimiters(`${seg.id}${field}${enc}`, { segmentId: seg.id });
}

export type ParsedFrame = { kind: 'message'; message: Hl7Message } | { kind: 'batch'; batch: Hl7Batch };

export interface FrameOptions {
  /**
   * A batch whose envelope parses but some of whose messages do not: return it, with those messages in
   * `batch.failed` (each with its first error), instead of throwing. A single message still throws.
   */
  collectMessageErrors?: boolean;
  /**
   * Fields whose text the caller never reads for meaning (a patient name, a comment): a `\X..\` run the charset cannot
   * read becomes U+FFFD there, with an 'escape-undecodable' warning, instead of refusing the message and its readings.
   */
  replaceUndecodableIn?: LenientFields;
}

/** Segment id and field number (1-based, MSH-1 is the field separator) → whether the field is lenient. */
export type LenientFields = (segmentId: string, field: number) => boolean;

/** Parses one MLLP frame or file: a single message, or an FHS/BHS batch. */
export function parseFrame(input: Uint8Array | string, opts: FrameOptions = {}): ParsedFrame {
  const dec = decode(input);
  const isBatch = dec.raws.length > 0 && !(dec.raws[0] as RawSegment).text.startsWith('MSH');
  const bad = opts.collectMessageErrors && isBatch ? new Map<Segment, Hl7ParseError>() : undefined;
  const segs = parseAll(dec, bad, opts.replaceUndecodableIn);
  const first = segs[0] as Segment;
  if (first.id === 'MSH') return { kind: 'message', message: buildMessage(segs, 0, segs.length, dec) };
  const batch = buildBatch(segs, dec);
  if (bad && bad.size > 0) {
    batch.failed = new Map();
    for (const b of batch.batches) {
      for (const m of b.messages) {
        const err = m.segments.map((x) => bad.get(x)).find((x) => x !== undefined);
        if (err) batch.failed.set(m, err);
      }
    }
  }
  return { kind: 'batch', batch };
}

/** Parses exactly one message; a batch or a second MSH is an error. */
export function parseMessage(input: Uint8Array | string): Hl7Message {
  const f = parseFrame(input);
  if (f.kind !== 'message') throw new Hl7ParseError('input is a batch (FHS/BHS), not a single message', { segmentIndex: 1 }, 100);
  return f.message;
}

/** Parses a batch or file (FHS/BHS/BTS/FTS). A bare message is returned as a batch of one. */
export function parseBatch(input: Uint8Array | string): Hl7Batch {
  const f = parseFrame(input);
  if (f.kind === 'batch') return f.batch;
  return { batches: [{ messages: [f.message] }], charset: f.message.charset, warnings: f.message.warnings };
}

function buildMessage(segs: Segment[], from: number, to: number, dec: Decoded): Hl7Message {
  for (let i = from + 1; i < to; i++) {
    const id = (segs[i] as Segment).id;
    if (HEADER_IDS.has(id) || id === 'BTS' || id === 'FTS') {
      throw new Hl7ParseError(`unexpected ${id} inside a message`, { segmentIndex: i + 1, segmentId: id }, 100);
    }
  }
  // segs and dec.units line up: a placeholder takes the place of its segment.
  const unit = dec.units[from] as Unit;
  return {
    delimiters: delimitersOf(segs[from] as Segment),
    segments: segs.slice(from, to),
    charset: unit.charset,
    warnings: [...dec.warnings, ...unit.warnings],
  };
}

function countField(seg: Segment): number | undefined {
  const v = seg.fields[1]?.[0]?.[0]?.[0];
  if (v === undefined || v === null || v.trim() === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Hl7ParseError(`count '${v}' is not a number`, { segmentId: seg.id, field: 1 });
  return Number(v);
}

function buildBatch(segs: Segment[], dec: Decoded): Hl7Batch {
  const batch: Hl7Batch = { batches: [], charset: dec.envelope.charset, warnings: [...dec.warnings, ...dec.envelope.warnings] };
  let i = 0;
  const pos = (k: number): Hl7Position => ({ segmentIndex: k + 1, segmentId: (segs[k] as Segment).id });
  if ((segs[0] as Segment).id === 'FHS') {
    batch.fileHeader = segs[0];
    i = 1;
  }
  let current: Hl7Batch['batches'][number] | undefined;
  while (i < segs.length) {
    const seg = segs[i] as Segment;
    switch (seg.id) {
      case 'FHS':
        throw new Hl7ParseError('FHS is only allowed as the first segment', pos(i), 100);
      case 'BHS':
        if (current && !current.trailer) batch.batches.push(current);
        current = { header: seg, messages: [] };
        i++;
        break;
      case 'MSH': {
        if (!current) current = { messages: [] };
        let j = i + 1;
        while (j < segs.length && !['MSH', 'BHS', 'BTS', 'FTS', 'FHS'].includes((segs[j] as Segment).id)) j++;
        current.messages.push(buildMessage(segs, i, j, dec));
        i = j;
        break;
      }
      case 'BTS': {
        if (!current) throw new Hl7ParseError('BTS without a batch', pos(i), 100);
        const n = countField(seg);
        if (n !== undefined && n !== current.messages.length) {
          throw new Hl7ParseError(`BTS-1 says ${n} messages, batch holds ${current.messages.length}`, { ...pos(i), field: 1 });
        }
        current.trailer = seg;
        batch.batches.push(current);
        current = undefined;
        i++;
        break;
      }
      case 'FTS': {
        if (current) {
          batch.batches.push(current);
          current = undefined;
        }
        const n = countField(seg);
        if (n !== undefined && n !== batch.batches.length) {
          throw new Hl7ParseError(`FTS-1 says ${n} batches, file holds ${batch.batches.length}`, { ...pos(i), field: 1 });
        }
        batch.fileTrailer = seg;
        i++;
        if (i < segs.length) throw new Hl7ParseError('segments after FTS', pos(i), 100);
        break;
      }
      default:
        throw new Hl7ParseError(`segment ${seg.id} outside a message: expected MSH`, pos(i), 100);
    }
  }
  if (current) batch.batches.push(current);
  return batch;
}
