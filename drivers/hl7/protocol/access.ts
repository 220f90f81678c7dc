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

/** What can be read from a raw MSH line without parsing the message: enough to address an error ACK. */
export interface SniffedHeader {
  controlId: string;
  acceptAckType: string;
  applicationAckType: string;
}

/**
 * Best-effort MSH-10 and MSH-15/16 from the first line of a message that failed to parse (or was too large to
 * parse), for MSA-2 and for answering in the sender's ack mode. Null when the text does not start with MSH.
 */
export function sniffHeader(text: string): SniffedHeader | null {
  const first = text.split(/[\r\n]/, 1)[0] ?? '';
  if (!first.startsWith('MSH') || first.length < 4) return null;
  const f = first.split(first[3] as string);
  const component = first[4];
  // f[n - 1] is MSH-n: MSH-1 is the separator itself. MSH-15/16 are ID values (AL, NE, ER, SU): no escapes.
  const id = (n: number): string => ((component ? f[n - 1]?.split(component)[0] : f[n - 1]) ?? '').trim().toUpperCase();
  return { controlId: unescapedId((f[9] ?? '').slice(0, 199), first), acceptAckType: id(15), applicationAckType: id(16) };
}

/**
 * MSH-10 with its escapes decoded, as the parser gives it for a message that parses: the ACK escapes MSA-2 again, so a
 * raw `Q\S\8` would go back as `Q\E\S\E\8` and the sender could not match it. As sent when it cannot be decoded.
 */
function unescapedId(raw: string, mshLine: string): string {
  try {
    const pos = { segmentId: 'MSH', field: 10 };
    return decodeLeaf(raw, readDelimiters(mshLine, pos), latin1Hex, pos, []) ?? raw;
  } catch {
    return raw;
  }
}

/** Best-effort MSH-10 for logs and MSA-2 when the message failed to parse fully. */
export function sniffControlId(text: string): string {
  return sniffHeader(text)?.controlId ?? '';
}
