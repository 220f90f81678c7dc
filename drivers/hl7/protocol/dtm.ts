// HL7 DTM/TS: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] → epoch milliseconds.
import { Hl7ParseError, type Hl7Position } from './errors.js';

export type DtmPrecision = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'fraction';

export interface HlTime {
  ms: number;
  precision: DtmPrecision;
  /** Offset the value carried, in minutes east of UTC; null when it carried none. */
  offsetMinutes: number | null;
  /** Set when the text is not a standard DTM but was read anyway (what was assumed): callers should note it. */
  note?: string;
}

// The fraction either after '.', as HL7 writes it, or straight after the seconds (`bare`): some senders (a Mindray
// D-series sample: 20190929092149610) write YYYYMMDDHHMMSSmmm. Past the 14 digits of the seconds nothing but a fraction
// can follow, so 1-4 more digits are read as one, with a note.
const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4})|(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/**
 * Parses a DTM. When it has no offset, `assumeOffsetMinutes` is used (the caller decides:
 * the sender's MSH-7 offset, or configuration). Calendar values are checked (no 31 February).
 */
export function parseDtm(text: string, assumeOffsetMinutes = 0, pos: Hl7Position = {}): HlTime {
  const t = text.trim();
  const m = DTM.exec(t);
  if (!m) throw new Hl7ParseError(`'${text}' is not an HL7 date/time (YYYYMMDDHHMMSS[.SSSS][+/-ZZZZ])`, pos);
  const [, y, mo, d, h, mi, s, dotted, bare, off] = m;
  const frac = dotted ?? bare;
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
  const out: HlTime = { ms: fixed - (offsetMinutes ?? assumeOffsetMinutes) * 60_000, precision, offsetMinutes };
  if (bare !== undefined) {
    out.note = `'${t}' has no decimal point before the fraction of a second (DTM: YYYYMMDDHHMMSS.S[S[S[S]]]); read as ${t.slice(0, 14)}.${bare}`;
  }
  return out;
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

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** Whether this system knows `zone` as an IANA time zone (e.g. "Europe/Berlin"). */
export function isTimeZone(zone: string): boolean {
  try {
    zoneFormat(zone);
    return true;
  } catch {
    return false;
  }
}

function zoneFormat(zone: string): Intl.DateTimeFormat {
  let f = zoneFormats.get(zone);
  if (!f) {
    // Throws a RangeError for a zone it does not know.
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    zoneFormats.set(zone, f);
  }
  return f;
}

/** Offset of `zone` from UTC at instant `utcMs`, in minutes east of UTC (daylight saving included). */
export function zoneOffsetMinutes(zone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const p of zoneFormat(zone).formatToParts(new Date(utcMs))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  let wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  if (parts.year! < 100) wall = new Date(wall).setUTCFullYear(parts.year!); // Date.UTC reads 0..99 as 1900..1999
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

/**
 * The instant at which the clocks of `zone` showed `wallMs` (a local date and time written as if it were UTC).
 * In the hour the clocks go back, the earlier of the two instants; in the hour they skip, the time as if the
 * offset before the change still held.
 */
export function wallTimeToUtc(wallMs: number, zone: string): number {
  // A day either side: the true instant is within ±14 h of the wall time read as UTC, so these bracket it.
  const before = zoneOffsetMinutes(zone, wallMs - 86_400_000);
  const after = zoneOffsetMinutes(zone, wallMs + 86_400_000);
  // Try the offsets in force around that day, earlier instant first (the larger offset gives the earlier instant).
  for (const off of before >= after ? [before, after] : [after, before]) {
    const utc = wallMs - off * 60_000;
    if (zoneOffsetMinutes(zone, utc) === off) return utc;
  }
  return wallMs - before * 60_000;
}
