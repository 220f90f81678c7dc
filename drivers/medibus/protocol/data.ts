// Parsers for the data field of Medibus responses. Pure: bytes in, typed records out, or a
// MedibusParseError naming the structure, the offset within the data field, and the field.
//
// Field widths (Medibus 6.00 as public implementations use them):
//   measured data / alarm limits   code(2 hex) value(4)            = 6 per record
//   device settings                code(2 hex) value(5)            = 7 per record
//   alarms                         priority(1) code(2 hex) text(12) = 15 per record
//   text messages                  code(2 hex) length(1, '0'+n) text(n) ETX
//   device identification          id(4) 'name' revision (e.g. "01.03:06.00")
//   date and time                  HH:MM:SS DD-MMM-YY
//   realtime configuration (.X)    code(2 hex) interval(8, µs) min(5) max(5) maxbin(3 hex) = 23
import { hexPairValue } from './checksum.js';
import { ETX } from './constants.js';
import { MedibusParseError } from './errors.js';

export interface ValueRecord {
  code: number;
  /** Verbatim characters, e.g. " 450", "12.5", "----". */
  raw: string;
  /** Parsed number, or null when the field is blank, dashes ("---" = not available; see isNotAvailable) or not a number. */
  value: number | null;
}

export interface AlarmRecord {
  code: number;
  /** Decoded priority; higher is more urgent (1..31 on the devices documented). */
  priority: number;
  priorityChar: string;
  text: string;
}

export interface TextRecord {
  code: number;
  text: string;
}

export interface DeviceIdentification {
  id: string;
  name: string;
  revision: string;
}

export interface DeviceDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  raw: string;
}

export interface RealtimeConfigRecord {
  code: number;
  /** Sample interval in microseconds, as the device states it. */
  intervalUs: number;
  min: number;
  max: number;
  /** The binary value that corresponds to `max`. */
  maxBin: number;
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

export function parseNumber(raw: string): number | null {
  const t = raw.trim();
  return NUMBER.test(t) ? Number(t) : null;
}

/** A field left blank or dashed ("----", "  --"): the device has no value for it now (not measured, no sensor). */
export function isNotAvailable(raw: string): boolean {
  return /^[ -]*$/.test(raw);
}

function code(data: Buffer, offset: number, structure: string): number {
  const v = hexPairValue(data[offset] as number, data[offset + 1] as number);
  if (v < 0) {
    throw new MedibusParseError(structure, offset, 'code', `expected two hex characters, got ${JSON.stringify(data.subarray(offset, offset + 2).toString('latin1'))}`);
  }
  return v;
}

function fixed(data: Buffer, width: number, structure: string): number {
  if (data.length % width !== 0) {
    const whole = data.length - (data.length % width);
    throw new MedibusParseError(structure, whole, 'record', `data length ${data.length} is not a multiple of the ${width}-byte record (trailing ${data.length - whole} bytes)`);
  }
  return data.length / width;
}

function valueRecords(data: Buffer, valueWidth: number, structure: string): ValueRecord[] {
  const width = 2 + valueWidth;
  const n = fixed(data, width, structure);
  const out: ValueRecord[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * width;
    const raw = data.subarray(at + 2, at + width).toString('latin1');
    out.push({ code: code(data, at, structure), raw, value: parseNumber(raw) });
  }
  return out;
}

/** Response to 24H/2BH (measured data) and 25H/26H/2CH/2DH (alarm limits). */
export function parseMeasured(data: Buffer): ValueRecord[] {
  return valueRecords(data, 4, 'measured data');
}

/** Response to 29H (device settings). */
export function parseSettings(data: Buffer): ValueRecord[] {
  return valueRecords(data, 5, 'device settings');
}

/** An alarm record that does not read, set aside so that the others on its page are still used. */
export interface RejectedAlarmRecord {
  /** Offset of the record within the data field. */
  offset: number;
  /** Its code when the two code characters are hex (the alarm can be told), else null. */
  code: number | null;
  /** The two code characters as received. */
  codeChars: string;
  /** The whole 15-byte record as received (latin1). */
  record: string;
  /** What was wrong, and where. */
  reason: string;
}

export interface AlarmPage {
  records: AlarmRecord[];
  rejected: RejectedAlarmRecord[];
}

/** Alarm priority characters: '0' + 1 … '0' + 31 ('1'…'9', ':'…'O'). */
const PRIORITY_MIN = 0x31;
const PRIORITY_MAX = 0x4f;

/**
 * Response to 27H/2EH/23H (current alarms), record by record: a record that does not read (a code that is not hex, a
 * priority outside 1..31) is set aside in `rejected` and the others are kept, so one damaged record hides no alarm
 * beside it. Throws only when the page cannot be cut into records (length not a multiple of 15): then no record can
 * be trusted to start where it seems to.
 * The priority character is taken as '0' + priority (so '1'…'9', ':'…'O' for 10…31); a digit-only reading gives the
 * same result for 1…9.
 */
export function parseAlarmPage(data: Buffer): AlarmPage {
  const n = fixed(data, 15, 'alarms');
  const page: AlarmPage = { records: [], rejected: [] };
  for (let i = 0; i < n; i++) {
    const at = i * 15;
    const p = data[at] as number;
    const c = hexPairValue(data[at + 1] as number, data[at + 2] as number);
    const codeChars = data.subarray(at + 1, at + 3).toString('latin1');
    let reason: string | undefined;
    // Medibus ranks 1..31; anything else says the assumed encoding is wrong here, so it is not taken as a rank (review
    // rv115 M3: '0' read as information, 'P'..'~' as high).
    if (p < PRIORITY_MIN || p > PRIORITY_MAX) {
      const got = p >= 0x30 && p <= 0x7e ? `'${String.fromCharCode(p)}' (${p - 0x30})` : `byte 0x${p.toString(16)}`;
      reason = `priority at offset ${at}: expected '1'..'O' (1..31), got ${got}`;
    }
    else if (c < 0) reason = `code at offset ${at + 1}: expected two hex characters, got ${JSON.stringify(codeChars)}`;
    if (reason !== undefined) {
      page.rejected.push({ offset: at, code: c < 0 ? null : c, codeChars, record: data.subarray(at, at + 15).toString('latin1'), reason });
      continue;
    }
    page.records.push({ priority: p - 0x30, priorityChar: String.fromCharCode(p), code: c, text: data.subarray(at + 3, at + 15).toString('latin1').trim() });
  }
  return page;
}

/** Response to 27H/2EH/23H, all or nothing: throws on the first record that does not read (see parseAlarmPage). */
export function parseAlarms(data: Buffer): AlarmRecord[] {
  const page = parseAlarmPage(data);
  const bad = page.rejected[0];
  if (bad) throw new MedibusParseError('alarms', bad.offset, 'record', bad.reason);
  return page.records;
}

/** Response to 2AH (text messages): code, length character ('0' + n), n characters, ETX. */
export function parseTextMessages(data: Buffer): TextRecord[] {
  const out: TextRecord[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + 3 > data.length) throw new MedibusParseError('text messages', at, 'record', 'truncated record header');
    const c = code(data, at, 'text messages');
    const len = (data[at + 2] as number) - 0x30;
    if (len < 0 || len > 0x4f) throw new MedibusParseError('text messages', at + 2, 'length', `bad length character 0x${(data[at + 2] as number).toString(16)}`);
    const textEnd = at + 3 + len;
    if (textEnd >= data.length) throw new MedibusParseError('text messages', at + 3, 'text', `text of ${len} characters runs past the data`);
    if (data[textEnd] !== ETX) throw new MedibusParseError('text messages', textEnd, 'ETX', `expected ETX after ${len} characters`);
    out.push({ code: c, text: data.subarray(at + 3, textEnd).toString('latin1').trim() });
    at = textEnd + 1;
  }
  return out;
}

/** Response to 52H: 4-character id, 'name' in apostrophes, then the revision text. */
export function parseDeviceId(data: Buffer): DeviceIdentification {
  const s = data.toString('latin1');
  if (s.length < 4) throw new MedibusParseError('device identification', 0, 'id', `need 4 characters, got ${s.length}`);
  const id = s.slice(0, 4).trim();
  const rest = s.slice(4);
  if (!rest.startsWith("'")) return { id, name: '', revision: rest.trim() };
  const close = rest.indexOf("'", 1);
  if (close < 0) throw new MedibusParseError('device identification', 4, 'name', 'opening apostrophe without a closing one');
  return { id, name: rest.slice(1, close), revision: rest.slice(close + 1).trim() };
}

// Dräger documents are German-rooted: accept German month abbreviations too.
const MONTHS: Record<string, number> = {
  JAN: 1, FEB: 2, MAR: 3, MRZ: 3, APR: 4, MAY: 5, MAI: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, OKT: 10, NOV: 11, DEC: 12, DEZ: 12,
};

/** Response to 28H: "HH:MM:SS" then "DD-MMM-YY" (spaces between are tolerated). */
export function parseDateTime(data: Buffer): DeviceDateTime {
  const raw = data.toString('latin1');
  const m = /^\s*(\d{2}):(\d{2}):(\d{2})\s*(\d{2})-([A-Za-z]{3})-(\d{2})\s*$/.exec(raw);
  if (!m) throw new MedibusParseError('date/time', 0, 'format', `expected "HH:MM:SS DD-MMM-YY", got ${JSON.stringify(raw)}`);
  const month = MONTHS[(m[5] as string).toUpperCase()];
  if (month === undefined) throw new MedibusParseError('date/time', raw.indexOf(m[5] as string), 'month', `unknown month ${JSON.stringify(m[5])}`);
  const yy = Number(m[6]);
  const r = { year: 2000 + yy, month, day: Number(m[4]), hour: Number(m[1]), minute: Number(m[2]), second: Number(m[3]), raw };
  if (r.hour > 23 || r.minute > 59 || r.second > 59 || r.day < 1 || r.day > 31) {
    throw new MedibusParseError('date/time', 0, 'range', `out of range: ${JSON.stringify(raw)}`);
  }
  return r;
}

/** Response to 53H (Medibus.X realtime configuration). */
export function parseRealtimeConfig(data: Buffer): RealtimeConfigRecord[] {
  const n = fixed(data, 23, 'realtime configuration');
  const out: RealtimeConfigRecord[] = [];
  for (let i = 0; i < n; i++) {
    const at = i * 23;
    const field = (off: number, len: number, name: string, hex = false): number => {
      const s = data.subarray(at + off, at + off + len).toString('latin1').trim();
      const v = hex ? (/^[0-9A-Fa-f]+$/.test(s) ? parseInt(s, 16) : NaN) : parseNumber(s) ?? NaN;
      if (!Number.isFinite(v)) throw new MedibusParseError('realtime configuration', at + off, name, `not a number: ${JSON.stringify(s)}`);
      return v;
    };
    const rec = { code: code(data, at, 'realtime configuration'), intervalUs: field(2, 8, 'interval'), min: field(10, 5, 'min'), max: field(15, 5, 'max'), maxBin: field(20, 3, 'maxbin', true) };
    if (rec.maxBin <= 0) throw new MedibusParseError('realtime configuration', at + 20, 'maxbin', 'must be positive');
    out.push(rec);
  }
  return out;
}
