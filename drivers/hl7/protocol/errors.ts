// The one error type the pure HL7 code throws. It says where (segment, field, component) and what.

/** Where in a message a problem sits. Positions are 1-based as HL7 counts them (MSH-10 = field 10). */
export interface Hl7Position {
  /** 1-based index of the segment in the message (or batch). */
  segmentIndex?: number;
  /** Segment id, e.g. "OBX". */
  segmentId?: string;
  field?: number;
  repetition?: number;
  component?: number;
  subcomponent?: number;
  /** Byte or character offset in the input, when that is the clearer pointer. */
  offset?: number;
}

/** HL7 table 0357 error codes we use in ERR-3. */
export type Hl7ErrorCode =
  | 100 // segment sequence error
  | 101 // required field missing
  | 102 // data type error
  | 103 // table value not found
  | 200 // unsupported message type
  | 201 // unsupported event code
  | 202 // unsupported processing id
  | 203 // unsupported version id
  | 207; // application internal error

export class Hl7ParseError extends Error {
  readonly position: Hl7Position;
  readonly reason: string;
  readonly code: Hl7ErrorCode;

  constructor(reason: string, position: Hl7Position = {}, code: Hl7ErrorCode = 102) {
    super(`${formatPosition(position)}: ${reason}`);
    this.name = 'Hl7ParseError';
    this.reason = reason;
    this.position = position;
    this.code = code;
  }
}

/** "segment 3 (OBX) OBX-5.2" style pointer for logs and ERR text. */
export function formatPosition(p: Hl7Position): string {
  const parts: string[] = [];
  if (p.segmentIndex !== undefined) parts.push(`segment ${p.segmentIndex}${p.segmentId ? ` (${p.segmentId})` : ''}`);
  else if (p.segmentId) parts.push(`segment ${p.segmentId}`);
  if (p.field !== undefined) {
    let f = `${p.segmentId ?? '?'}-${p.field}`;
    if (p.repetition !== undefined && p.repetition > 1) f += `[${p.repetition}]`;
    if (p.component !== undefined) f += `.${p.component}`;
    if (p.subcomponent !== undefined) f += `.${p.subcomponent}`;
    parts.push(f);
  }
  if (p.offset !== undefined) parts.push(`offset ${p.offset}`);
  return parts.length ? parts.join(' ') : 'message';
}
