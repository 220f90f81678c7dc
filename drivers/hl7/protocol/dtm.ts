// HL7 DTM/TS: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] → epoch milliseconds.
import { Hl7ParseError, type Hl7Position } from './errors.js';

export type DtmPrecision = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'fraction';

export interface HlTime {
  ms: number;
  precision: DtmPrecision;
  /** Offset the value carried, in minutes east of UTC; null when it carried none. */
  offsetMinutes: number | null;
}

const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/**
 * Parses a DTM. When it has no offset, `assumeOffsetMinutes` is used (the caller decides:
 * the sender's MSH-7 offset, or configuration). Calendar values are checked (no 31 February).
 */
export function parseDtm(text: string, assumeOffsetMinutes = 0, pos: Hl7Position = {}): HlTime {
  const t = text.trim();
  const m = DTM.exec(t);
  if (!m) throw new Hl7ParseError(`'${text}' is not an HL7 date/time (YYYYMMDDHHMMSS[.SSSS][+/-ZZZZ])`, pos);
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = s === undefined ? 0 : Number(s);
  const ms = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * 1000);
  if (month < 1 || month > 12) throw new Hl7ParseError(`month ${month} out of range in '${text}'`, pos);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysInMonth) throw new Hl7ParseError(`day ${day} out of range in '${text}'`, pos);
  if (hour > 23 || minute > 59 || second > 59) throw new Hl7ParseError(`time of day out of range in '${text}'`, pos);
  let offsetMinutes: number | null = null;
  if (off !== undefined) {
    const sign = off[0] === '-' ? -1 : 1;
    const oh = Number(off.slice(1, 3));
    const om = Number(off.slice(3, 5));
    if (oh > 14 || om > 59) throw new Hl7ParseError(`time zone offset ${off} out of range in '${text}'`, pos);
    offsetMinutes = sign * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC maps years 0..99 to 1900..1999; HL7 years are always 4 digits, so fix that case.
  const fixed = year < 100 ? new Date(utc).setUTCFullYear(year) : utc;
  const precision: DtmPrecision =
    frac !== undefined ? 'fraction' : s !== undefined ? 'second' : mi !== undefined ? 'minute' : h !== undefined ? 'hour' : d !== undefined ? 'day' : mo !== undefined ? 'month' : 'year';
  return { ms: fixed - (offsetMinutes ?? assumeOffsetMinutes) * 60_000, precision, offsetMinutes };
}

/** Offset of a DTM in minutes, or null (no offset, or not a DTM). Never throws. */
export function dtmOffset(text: string): number | null {
  try {
    return parseDtm(text).offsetMinutes;
  } catch {
    return null;
  }
}

/** Formats epoch ms as DTM with seconds and an explicit offset (UTC when 0). */
export function formatDtm(ms: number, offsetMinutes = 0): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const a = Math.abs(offsetMinutes);
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${sign}${p(Math.floor(a / 60))}${p(a % 60)}`
  );
}
