// Writes HL7 v2 messages with escaping. Structure in = structure the parser gives back.
import { encodeLeaf, type ByteEncoder } from './escape.js';
import { Hl7ParseError } from './errors.js';
import { DEFAULT_DELIMITERS, type Delimiters, type Field, type Leaf, type Segment } from './types.js';

/** What a caller may give per field: a value, a list of components, or a full Field. */
export type FieldInput = Leaf | undefined | Leaf[] | Field;

const HEADER_IDS = new Set(['MSH', 'FHS', 'BHS']);

function isField(x: Leaf[] | Field): x is Field {
  return Array.isArray(x[0]);
}

/** Normalises a FieldInput into a Field. */
export function toField(v: FieldInput): Field {
  if (v === undefined) return [[['']]];
  if (v === null || typeof v === 'string') return [[[v]]];
  if (v.length === 0) return [[['']]];
  if (isField(v)) return v;
  return [(v as Leaf[]).map((c) => [c])];
}

/**
 * Builds a segment from field inputs numbered from 1. For MSH/FHS/BHS give fields from 3 on
 * (MSH-1 and MSH-2 come from the delimiters).
 */
export function segment(id: string, fields: FieldInput[], d: Delimiters = DEFAULT_DELIMITERS): Segment {
  const out: Field[] = [[[[id]]]];
  if (HEADER_IDS.has(id)) {
    out.push([[[d.field]]], [[[encodingChars(d)]]]);
  }
  for (const f of fields) out.push(toField(f));
  return { id, fields: out };
}

export function encodingChars(d: Delimiters): string {
  return `${d.component}${d.repetition}${d.escape}${d.subcomponent}${d.truncation ?? ''}`;
}

function encodeField(f: Field, d: Delimiters, bytesOf?: ByteEncoder): string {
  return f.map((rep) => rep.map((comp) => comp.map((s) => encodeLeaf(s, d, bytesOf)).join(d.subcomponent)).join(d.component)).join(d.repetition);
}

/** One segment as text (no terminator). `bytesOf`: characters beyond ASCII written as \Xhh\ of these bytes. */
export function encodeSegment(seg: Segment, d: Delimiters, bytesOf?: ByteEncoder): string {
  if (!/^[A-Z][A-Z0-9]{2}$/.test(seg.id)) throw new Hl7ParseError(`cannot write segment id '${seg.id}'`, { segmentId: seg.id }, 100);
  if (HEADER_IDS.has(seg.id)) {
    const rest = seg.fields.slice(3).map((f) => encodeField(f, d, bytesOf));
    return [`${seg.id}${d.field}${encodingChars(d)}`, ...rest].join(d.field);
  }
  return [seg.id, ...seg.fields.slice(1).map((f) => encodeField(f, d, bytesOf))].join(d.field);
}

/** A whole message (or batch) as text, every segment ended by CR. */
export function encodeSegments(segments: Segment[], d: Delimiters = DEFAULT_DELIMITERS, bytesOf?: ByteEncoder): string {
  let out = '';
  for (const s of segments) out += encodeSegment(s, d, bytesOf) + '\r';
  return out;
}
