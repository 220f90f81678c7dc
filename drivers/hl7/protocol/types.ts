// Typed shape of a parsed HL7 v2 message. Values are already unescaped.
import type { Hl7ParseError } from './errors.js';

/**
 * A leaf value: a string ("" when empty or absent), or null for the HL7 null `""`
 * (which means "delete / explicitly no value", not "not sent").
 */
export type Leaf = string | null;
/** Subcomponents of one component (at least one). */
export type Component = Leaf[];
/** Components of one repetition (at least one). */
export type Repetition = Component[];
/** Repetitions of one field (at least one). */
export type Field = Repetition[];

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7 truncation character (5th char of MSH-2), when present. */
  truncation?: string;
}

export const DEFAULT_DELIMITERS: Delimiters = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

export interface Segment {
  id: string;
  /**
   * fields[n] is field n (1-based, as HL7 numbers them); fields[0] is the id itself.
   * For MSH/FHS/BHS, fields[1] is the field separator and fields[2] the encoding characters, both literal.
   */
  fields: Field[];
}

/** Things a lenient-but-honest parser noticed; the driver logs them. */
export type Hl7WarningKind =
  | 'crlf-terminators'
  | 'lf-terminators'
  | 'lf-in-field'
  | 'empty-segment'
  | 'charset-assumed'
  | 'charset-alias'
  | 'charset-unknown'
  | 'bom'
  | 'escape-kept'
  | 'escape-unterminated'
  | 'escape-undecodable'
  | 'no-final-terminator';

export interface Hl7Warning {
  kind: Hl7WarningKind;
  detail: string;
}

export interface Hl7Message {
  delimiters: Delimiters;
  segments: Segment[];
  /** Charset used to decode the bytes (from MSH-18 or assumed). */
  charset: string;
  warnings: Hl7Warning[];
}

export interface Hl7Batch {
  /** FHS segment if present (file header). */
  fileHeader?: Segment;
  batches: Array<{ header?: Segment; trailer?: Segment; messages: Hl7Message[] }>;
  fileTrailer?: Segment;
  charset: string;
  warnings: Hl7Warning[];
  /**
   * Only with parseFrame's collectMessageErrors: messages that did not parse, with their first error. Their
   * unreadable segments are placeholders (id only): answer them, never map them.
   */
  failed?: Map<Hl7Message, Hl7ParseError>;
}
