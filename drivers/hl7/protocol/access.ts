// Small readers over parsed segments, and the typed MSH header.
import { Hl7ParseError } from './errors.js';
import { decodeLeaf, latin1Hex } from './escape.js';
import { readDelimiters } from './parse.js';
import type { Field, Hl7Message, Leaf, Segment } from './types.js';

/** Field n of a segment (1-based), or undefined when the segment is shorter. */
export function field(seg: Segment, n: number): Field | undefined {
  return seg.fields[n];
}

/** One leaf: field n, repetition rep, component comp, subcomponent sub (all 1-based). */
export function leaf(seg: Segment, n: number, comp = 1, sub = 1, rep = 1): Leaf | undefined {
  return seg.fields[n]?.[rep - 1]?.[comp - 1]?.[sub - 1];
}

/** Leaf as text: '' for absent or HL7 null. */
export function str(seg: Segment, n: number, comp = 1, sub = 1, rep = 1): string {
  return leaf(seg, n, comp, sub, rep) ?? '';
}

/** True when the whole field is the HL7 null `""`. */
export function isNull(seg: Segment, n: number): boolean {
  const f = seg.fields[n];
  return f !== undefined && f.length === 1 && f[0]?.length === 1 && f[0][0]?.length === 1 && f[0][0][0] === null;
}

/** Number of repetitions actually present (0 when empty). */
export function repetitions(seg: Segment, n: number): number {
  const f = seg.fields[n];
  if (!f) return 0;
  if (f.length === 1 && f[0]?.length === 1 && f[0][0]?.length === 1 && f[0][0][0] === '') return 0;
  return f.length;
}

/** Components of one repetition as plain strings (null → ''). */
export function components(seg: Segment, n: number, rep = 1): string[] {
  return (seg.fields[n]?.[rep - 1] ?? []).map((c) => c[0] ?? '');
}

export interface MessageHeader {
  sendingApplication: string[];
  sendingFacility: string[];
  receivingApplication: string[];
  receivingFacility: string[];
  dateTime: string;
  messageCode: string;
  triggerEvent: string;
  messageStructure: string;
  /** MSH-10 exactly as sent (MSA-2 echoes it); trim it for anything that compares ids. */
  controlId: string;
  processingId: string;
  version: string;
  acceptAckType: string;
  applicationAckType: string;
}

/** Typed MSH. Missing MSH-9, MSH-10, MSH-11 or MSH-12 is an error (HL7 code 101) with its position. */
export function readHeader(msg: Hl7Message): MessageHeader {
  const msh = msg.segments[0] as Segment;
  const required = (n: number, what: string): string => {
    const v = str(msh, n).trim();
    if (v === '') throw new Hl7ParseError(`${what} (MSH-${n}) is required`, { segmentIndex: 1, segmentId: 'MSH', field: n }, 101);
    return v;
  };
  const messageCode = required(9, 'message type');
  required(10, 'message control id');
  // As sent, spaces included: MSA-2 must echo it exactly, or a sender comparing ids takes its message as un-ACKed.
  const controlId = str(msh, 10);
  const processingId = required(11, 'processing id');
  const version = required(12, 'version id');
  return {
    sendingApplication: components(msh, 3),
    sendingFacility: components(msh, 4),
    receivingApplication: components(msh, 5),
    receivingFacility: components(msh, 6),
    dateTime: str(msh, 7),
    messageCode,
    triggerEvent: str(msh, 9, 2).trim(),
    messageStructure: str(msh, 9, 3).trim(),
    controlId,
    processingId,
    version,
    acceptAckType: str(msh, 15).trim().toUpperCase(),
    applicationAckType: str(msh, 16).trim().toUpperCase(),
  };
}

/** What an ACK echoes of the message it answers, besides MSA-2: whom it goes to (MSH-5/6), MSH-9.2, MSH-11, MSH-12. */
export type AckAddress = Pick<MessageHeader, 'sendingApplication' | 'sendingFacility' | 'triggerEvent' | 'processingId' | 'version'>;

/** What can be read from a raw MSH line without parsing the message: enough to address an error ACK. */
export interface SniffedHeader extends AckAddress {
  controlId: string;
  acceptAckType: string;
  applicationAckType: string;
}

/** A sniffed field is cut to this many characters: it only goes back in an ACK. */
const SNIFF_MAX = 199;

/**
 * Best-effort MSH-3/4, MSH-9.2, MSH-10, MSH-11, MSH-12 and MSH-15/16 from the first line of a message that failed to
 * parse (or was too large to parse): to address the ACK to its sender, echo its id in MSA-2 and answer in its ack
 * mode, as for a message that parses. Null when the text does not start with MSH, after what the parser skips too: a
 * UTF-8 byte order mark (in a Latin-1 view of the bytes, or decoded) and blank lines.
 */
export function sniffHeader(text: string): SniffedHeader | null {
  const lead = /^(?:\xef\xbb\xbf|\ufeff)?\s*/.exec(text)?.[0].length ?? 0;
  const first = text.slice(lead).split(/[\r\n]/, 1)[0] ?? '';
  if (!first.startsWith('MSH') || first.length < 4) return null;
  const f = first.split(first[3] as string);
  // MSH-2: component, repetition, escape, subcomponent (any may be missing in a broken header).
  const enc = f[1] ?? '';
  const [component, repetition, , subcomponent] = [enc[0], enc[1], enc[2], enc[3]];
  const split = (t: string, sep: string | undefined): string[] => (sep ? t.split(sep) : [t]);
  /** Components of the first repetition of MSH-n (f[n - 1]: MSH-1 is the separator itself), first subcomponents. */
  const parts = (n: number): string[] =>
    split(split((f[n - 1] ?? '').slice(0, SNIFF_MAX), repetition)[0] ?? '', component).map((c) => split(c, subcomponent)[0] ?? '');
  // MSH-9.2, MSH-11.1, MSH-12.1, MSH-15/16 are ID values (R01, P, 2.5, AL): no escapes.
  const id = (n: number, c = 0): string => (parts(n)[c] ?? '').trim();
  return {
    controlId: unescaped((f[9] ?? '').slice(0, SNIFF_MAX), first, 10),
    sendingApplication: parts(3).map((c) => unescaped(c, first, 3)),
    sendingFacility: parts(4).map((c) => unescaped(c, first, 4)),
    triggerEvent: id(9, 1),
    processingId: id(11),
    version: id(12),
    acceptAckType: id(15).toUpperCase(),
    applicationAckType: id(16).toUpperCase(),
  };
}

/**
 * A sniffed leaf with its escapes decoded, as the parser gives it for a message that parses: the ACK escapes it again,
 * so a raw `Q\S\8` would go back as `Q\E\S\E\8` and the sender could not match it. As sent when it cannot be decoded.
 */
function unescaped(raw: string, mshLine: string, field: number): string {
  try {
    const pos = { segmentId: 'MSH', field };
    return decodeLeaf(raw, readDelimiters(mshLine, pos), latin1Hex, pos, []) ?? raw;
  } catch {
    return raw;
  }
}

/** Best-effort MSH-10 for logs and MSA-2 when the message failed to parse fully. */
export function sniffControlId(text: string): string {
  return sniffHeader(text)?.controlId ?? '';
}
