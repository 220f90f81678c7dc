// Config → plan: validate a whole register map at start (every problem named by field path) and
// precompute grouped reads and per-value decoders, so polling does no config interpretation.
import { DEFAULT_LIMIT_RULES } from '../../agent/alarms/limits.js';
import { convert } from '../../agent/alarms/units.js';
import { canonicalUcum, mdcByCode, metricByRefid, unitByRefid, UNITS } from '../../agent/model/mdc.js';
import type { MdcCode, RawCode, Unit } from '../../agent/model/reading.js';
import type { DriverWarning } from '../types.js';
import {
  BYTE_ORDERS,
  decodeBit,
  float32Decimal,
  decodeRegisters,
  registerCount,
  VALUE_TYPES,
  type ByteOrder,
  type RegisterSpec,
  type ValueType,
} from './decode.js';
import { ModbusConfigError } from './errors.js';
import { interFrameGapMs, rtuReadWireMs } from './timing.js';
import { TABLES, type ModbusOptions, type Parity, type PointOptions, type SentinelOptions, type Table } from './options.js';

export const DEFAULTS = {
  pollIntervalMs: 1000,
  timeoutMs: 1000,
  tcpPort: 502,
  maxRegistersPerRead: 125,
  maxBitsPerRead: 2000,
  heartbeatMs: 5000,
  offlineAfterFailures: 3,
  backoffInitialMs: 1000,
  backoffMaxMs: 30_000,
} as const;

/**
 * Longest allowed heartbeat. The agent marks a value stale after 10 s (display default) and raises its
 * technical "no data" alarm after 30 s; a steady, filtered value must keep arriving well inside both,
 * even when the heartbeat falls due just after a poll (+ one poll interval).
 */
export const MAX_HEARTBEAT_MS = 5000;

export interface PlannedPoint {
  name: string;
  table: Table;
  address: number;
  /** Registers or bits this value occupies. */
  width: number;
  /** Decode this value from the words/bits of its own span. */
  decode: (data: ArrayLike<number> | ArrayLike<boolean>) => number | string;
  numeric: boolean;
  scale: number;
  offset: number;
  mdc: MdcCode | null;
  unit: Unit;
  raw: RawCode;
  sentinels: SentinelOptions[];
  validRange?: { min?: number; max?: number };
  /** Set on the device, not measured (options `setting`). */
  setting?: true;
  filter: { deadband?: number; reportOnChange: boolean; heartbeatMs: number };
}

export interface ReadGroup {
  table: Table;
  address: number;
  count: number;
  intervalMs: number;
  /** Values in this read, with their start offset inside it. */
  points: Array<{ point: PlannedPoint; at: number }>;
  /** "holding 100..103" for logs and status details. */
  label: string;
}

export interface DevicePlan {
  id: string;
  unitId: number;
  bed?: string;
  groups: ReadGroup[];
}

export type BusPlan =
  | {
      id: string;
      transport: 'tcp';
      host: string;
      port: number;
      timeoutMs: number;
      gapMs: number;
      devices: DevicePlan[];
    }
  | {
      id: string;
      transport: 'rtu';
      path: string;
      baudRate: number;
      dataBits: 7 | 8;
      stopBits: 1 | 2;
      parity: Parity;
      timeoutMs: number;
      gapMs: number;
      devices: DevicePlan[];
    };

export interface Plan {
  buses: BusPlan[];
  offlineAfterFailures: number;
  backoff: { initialMs: number; maxMs: number };
}

type Problems = Array<{ field: string; message: string }>;

// --- small checkers: each records a problem and returns undefined when the value is unusable ---

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(p: Problems, o: Record<string, unknown>, key: string, path: string, min: number, max: number, dflt?: number): number | undefined {
  const v = o[key];
  if (v === undefined) {
    if (dflt === undefined) p.push({ field: `${path}.${key}`, message: 'is required' });
    return dflt;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.push({ field: `${path}.${key}`, message: `must be an integer ${min}..${max}, got ${JSON.stringify(v)}` });
    return undefined;
  }
  return v;
}

function num(p: Problems, o: Record<string, unknown>, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    p.push({ field: `${path}.${key}`, message: `must be a finite number, got ${JSON.stringify(v)}` });
    return undefined;
  }
  return v;
}

function str(p: Problems, o: Record<string, unknown>, key: string, path: string, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined) {
    if (required) p.push({ field: `${path}.${key}`, message: 'is required' });
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0) {
    p.push({ field: `${path}.${key}`, message: `must be a non-empty string, got ${JSON.stringify(v)}` });
    return undefined;
  }
  return v;
}

function oneOf<T extends string>(p: Problems, o: Record<string, unknown>, key: string, path: string, allowed: readonly T[]): T | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    p.push({ field: `${path}.${key}`, message: `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}` });
    return undefined;
  }
  return v as T;
}

function unknownKeys(p: Problems, o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) p.push({ field: `${path}.${k}`, message: 'is not a known option (this driver only reads; there are no write options)' });
  }
}

const POINT_KEYS = ['name', 'table', 'address', 'type', 'order', 'length', 'bit', 'bitLength', 'scale', 'offset', 'mdc', 'unit', 'deadband', 'reportOnChange', 'heartbeatMs', 'pollIntervalMs', 'sentinels', 'validRange', 'setting'] as const;
const DEVICE_KEYS = ['id', 'unitId', 'bed', 'pollIntervalMs', 'order', 'maxGap', 'maxRegistersPerRead', 'maxBitsPerRead', 'points'] as const;
const TCP_KEYS = ['id', 'transport', 'host', 'port', 'timeoutMs', 'devices'] as const;
const RTU_KEYS = ['id', 'transport', 'path', 'baudRate', 'dataBits', 'stopBits', 'parity', 'timeoutMs', 'interFrameGapMs', 'devices'] as const;
const PARITIES: readonly Parity[] = ['none', 'even', 'odd', 'mark', 'space'];

function resolveMdc(p: Problems, v: unknown, field: string): MdcCode | null {
  if (v === undefined) return null;
  if (typeof v === 'string') {
    const t = metricByRefid(v);
    // A unit term where the metric belongs (review rv114 L3): its values would go out as "metric" MDC_DIM_*.
    if (!t && unitByRefid(v)) p.push({ field, message: `${JSON.stringify(v)} is a unit, not a metric: give the metric's refid here (e.g. "MDC_PRESS_BLD_NONINV_SYS") and the unit in unit` });
    else if (!t) p.push({ field, message: `unknown MDC refid ${JSON.stringify(v)}; give {code, refid} for terms the agent does not name` });
    return t ?? null;
  }
  if (isObj(v) && typeof v.code === 'number' && Number.isInteger(v.code) && v.code >= 0 && typeof v.refid === 'string' && v.refid) {
    // A code that is not its known refid's is used as written and warned of (planWarnings): a map that started
    // before must still start.
    return { code: v.code, refid: v.refid };
  }
  p.push({ field, message: 'must be an MDC refid string or {code, refid}' });
  return null;
}

function resolveUnit(p: Problems, v: unknown, field: string): Unit {
  if (v === undefined) return { ucum: '' };
  if (typeof v === 'string') {
    const byKey = (UNITS as Record<string, Unit>)[v];
    if (byKey) return byKey;
    if (v.startsWith('MDC_DIM_')) {
      const u = unitByRefid(v);
      if (!u) p.push({ field, message: `unknown MDC unit refid ${JSON.stringify(v)}` });
      return u ?? { ucum: '' };
    }
    return knownUnit(v);
  }
  if (isObj(v) && typeof v.ucum === 'string') {
    if (v.mdc === undefined) return knownUnit(v.ucum);
    const m = v.mdc;
    if (isObj(m) && typeof m.code === 'number' && typeof m.refid === 'string') {
      return { ucum: canonicalUcum(v.ucum), mdc: { code: m.code, refid: m.refid } };
    }
  }
  p.push({ field, message: 'must be a UNITS key, an MDC_DIM_* refid, a UCUM code or {ucum, mdc?}' });
  return { ucum: '' };
}

/**
 * A unit written as text: another spelling of a unit the agent knows is that unit (`mmHg` is mm[Hg]), so that one
 * spelling goes on the wire whichever way the map writes it (review rv125 M2, rv127 M2). With its MDC term where the
 * spelling tells it: `/min` is both beats and breaths per minute, so `breaths/min` is the one and `beats/min` the other.
 */
function knownUnit(spelling: string): Unit {
  const ucum = canonicalUcum(spelling);
  const terms = Object.values(UNITS as Record<string, Unit>).filter((u) => u.ucum === ucum);
  if (terms.length === 1) return terms[0]!;
  if (ucum === UNITS.RESP_PER_MIN.ucum && /breath|resp/i.test(spelling)) return UNITS.RESP_PER_MIN;
  if (ucum === UNITS.BEAT_PER_MIN.ucum && /beat|puls/i.test(spelling)) return UNITS.BEAT_PER_MIN;
  return { ucum };
}

/** The raw values an integer type decodes to (before scale), and its width in bits. */
function integerRange(type: ValueType, bitLength: number): { min: number; max: number; bits: number } | undefined {
  switch (type) {
    case 'bool':
      return { min: 0, max: 1, bits: 1 };
    case 'int16':
      return { min: -0x8000, max: 0x7fff, bits: 16 };
    case 'uint16':
      return { min: 0, max: 0xffff, bits: 16 };
    case 'int32':
      return { min: -0x8000_0000, max: 0x7fff_ffff, bits: 32 };
    case 'uint32':
      return { min: 0, max: 0xffff_ffff, bits: 32 };
    case 'bitfield':
      return { min: 0, max: 2 ** bitLength - 1, bits: bitLength };
    default:
      return undefined;
  }
}

/** "an int16", "a uint16". */
const aType = (t: ValueType) => (t.startsWith('int') ? `an ${t}` : `a ${t}`);
const hex = (v: number, bits: number) => `0x${v.toString(16).toUpperCase().padStart(Math.ceil(bits / 4), '0')}`;

/**
 * A sentinel as the decoded raw value it must equal, or undefined with a problem recorded. A sentinel the type can
 * never produce would never match, and the device's "no value" code would pass as a valid reading: -1 on a uint16,
 * 32768 on an int16, a scaled value (3276.7), a number on a string or text on a number are refused, with the value
 * meant where it can be told, and so is text a string value can never hold (trailing spaces, too long, not printable
 * ASCII). A hex string ("0xFFFF") gives an integer type's register bits, read as that type reads them ("0x8000" on an
 * int16 is -32768).
 */
function sentinelValue(
  p: Problems,
  value: unknown,
  field: string,
  pt: { type: ValueType; bitLength: number; scale: number; offset: number; length?: number | undefined },
): number | string | undefined {
  const fail = (message: string) => void p.push({ field, message });
  if (pt.type === 'string') {
    if (typeof value !== 'string') return fail(`a string value is compared as text: write the sentinel in quotes, got ${JSON.stringify(value)}`);
    // What decodeAscii (decode.ts) can give: printable ASCII (other bytes read as "?"), trailing spaces removed, at
    // most 2 characters a register.
    if (!/^[\x20-\x7e]*$/.test(value)) return fail(`${JSON.stringify(value)} can never be read: a string value holds printable ASCII only (other bytes are read as "?")`);
    if (value !== value.trimEnd()) return fail(`${JSON.stringify(value)} can never be read: trailing spaces are removed from the text before it is compared; write ${JSON.stringify(value.trimEnd())}`);
    // No length: its own problem is reported, and there is no limit to judge by.
    if (pt.length !== undefined && value.length > 2 * pt.length) {
      return fail(`${JSON.stringify(value)} has ${value.length} characters and can never be read: the value holds at most ${2 * pt.length} (length ${pt.length} registers)`);
    }
    return value;
  }
  const range = integerRange(pt.type, pt.bitLength);
  if (typeof value === 'string') {
    if (!range || !/^0x[0-9a-f]+$/i.test(value)) {
      // A float's NaN patterns ("0x7FC00000") need no sentinel: NaN is always invalid (not-a-number).
      const nan = pt.type === 'float32' ? '; a NaN is already read as invalid (not-a-number) without a sentinel' : '';
      return fail(`must be a number${range ? ` or a hex string such as "0xFFFF"` : ''} for ${aType(pt.type)} value, got ${JSON.stringify(value)}${nan}`);
    }
    const bits = Number.parseInt(value, 16);
    if (bits >= 2 ** range.bits) return fail(`${value} does not fit the ${range.bits} bit(s) of ${aType(pt.type)}`);
    return range.min < 0 && bits > range.max ? bits - 2 ** range.bits : bits;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return fail(`must be a number or string (the raw value before scale), got ${JSON.stringify(value)}`);
  if (!range) {
    if (pt.type === 'float32' && !Number.isFinite(Math.fround(value))) return fail(`${value} is outside the float32 range; a float32 value can never equal it`);
    // A float32 device can only send the nearest float32, which decodes to float32Decimal() of it.
    return pt.type === 'float32' ? float32Decimal(Math.fround(value)) : value;
  }
  if (!Number.isInteger(value)) {
    const raw = Number(((value - pt.offset) / pt.scale).toPrecision(12));
    const meant = Number.isInteger(raw) && raw >= range.min && raw <= range.max ? `; did you mean ${raw}?` : '';
    return fail(`${value} can never be read from ${aType(pt.type)}, which holds whole numbers: a sentinel is the raw register value, before scale and offset${meant}`);
  }
  if (value < range.min || value > range.max) {
    // The same register bits read with the other signedness (-1 and 0xFFFF, 32768 and -32768).
    const signed = range.min < 0;
    const other = signed ? value - 2 ** range.bits : value + 2 ** range.bits;
    const meant = other >= range.min && other <= range.max ? `; did you mean ${other} (${hex(signed ? value : other, range.bits)})?` : '';
    return fail(`${value} can never be read from ${aType(pt.type)} (${range.min}..${range.max})${meant}`);
  }
  return value;
}

function planPoint(p: Problems, raw: unknown, path: string, dev: { unitId: number; order: ByteOrder; intervalMs: number }): (PlannedPoint & { intervalMs: number }) | undefined {
  if (!isObj(raw)) {
    p.push({ field: path, message: 'must be an object' });
    return undefined;
  }
  const before = p.length;
  unknownKeys(p, raw, path, POINT_KEYS);
  const name = str(p, raw, 'name', path, true);
  const table = raw.table === undefined ? (p.push({ field: `${path}.table`, message: 'is required' }), undefined) : oneOf(p, raw, 'table', path, TABLES);
  const address = int(p, raw, 'address', path, 0, 65535);
  const isBitTable = table === 'coil' || table === 'discrete';
  const type: ValueType | undefined = oneOf(p, raw, 'type', path, VALUE_TYPES) ?? (raw.type === undefined ? (isBitTable ? 'bool' : 'uint16') : undefined);
  const order = oneOf(p, raw, 'order', path, BYTE_ORDERS) ?? dev.order;
  const scale = num(p, raw, 'scale', path);
  const offset = num(p, raw, 'offset', path);
  const deadband = num(p, raw, 'deadband', path);
  const intervalMs = int(p, raw, 'pollIntervalMs', path, 1, 86_400_000, dev.intervalMs);
  const heartbeatMs = int(p, raw, 'heartbeatMs', path, 1000, 86_400_000, DEFAULTS.heartbeatMs);
  if (heartbeatMs !== undefined && heartbeatMs > MAX_HEARTBEAT_MS) {
    p.push({ field: `${path}.heartbeatMs`, message: `must be at most ${MAX_HEARTBEAT_MS} ms, got ${heartbeatMs}: an unchanged value must still arrive before the agent shows it stale (10 s) or raises "no data" (30 s)` });
  }
  let length: number | undefined;
  let bit: number | undefined;
  let bitLength: number | undefined;

  if (isBitTable && type !== undefined && type !== 'bool') {
    p.push({ field: `${path}.type`, message: `${table} table holds single bits; type must be bool, got ${type}` });
  }
  if (type === 'string') length = int(p, raw, 'length', path, 1, 125);
  else if (raw.length !== undefined) p.push({ field: `${path}.length`, message: 'applies to type string only' });
  if (type === 'bitfield') {
    bit = int(p, raw, 'bit', path, 0, 15);
    bitLength = int(p, raw, 'bitLength', path, 1, 16, 1);
    if (bit !== undefined && bitLength !== undefined && bit + bitLength > 16) {
      p.push({ field: `${path}.bitLength`, message: `bit ${bit} + bitLength ${bitLength} exceeds the 16-bit register` });
    }
  } else {
    if (raw.bit !== undefined) p.push({ field: `${path}.bit`, message: 'applies to type bitfield only' });
    if (raw.bitLength !== undefined) p.push({ field: `${path}.bitLength`, message: 'applies to type bitfield only' });
  }
  const numeric = type !== 'string' && type !== 'bool';
  if (!numeric && (scale !== undefined || offset !== undefined || deadband !== undefined)) {
    p.push({ field: `${path}.${scale !== undefined ? 'scale' : offset !== undefined ? 'offset' : 'deadband'}`, message: `applies to numeric types only, not ${type}` });
  }
  if (scale === 0) p.push({ field: `${path}.scale`, message: 'must not be 0 (every value would read 0)' });
  if (deadband !== undefined && deadband < 0) p.push({ field: `${path}.deadband`, message: 'must be ≥ 0' });
  for (const flag of ['reportOnChange', 'setting'] as const) {
    if (raw[flag] !== undefined && typeof raw[flag] !== 'boolean') p.push({ field: `${path}.${flag}`, message: 'must be true or false' });
  }
  const sentinels: SentinelOptions[] = [];
  if (raw.sentinels !== undefined) {
    if (!Array.isArray(raw.sentinels)) p.push({ field: `${path}.sentinels`, message: 'must be a list' });
    else
      raw.sentinels.forEach((s: unknown, i: number) => {
        const sp = `${path}.sentinels[${i}]`;
        if (!isObj(s)) return void p.push({ field: sp, message: 'must be an object' });
        unknownKeys(p, s, sp, ['value', 'quality', 'reason']);
        const q = s.quality === undefined ? (p.push({ field: `${sp}.quality`, message: 'is required' }), undefined) : oneOf(p, s, 'quality', sp, ['unavailable', 'invalid', 'questionable'] as const);
        const reason = str(p, s, 'reason', sp, false);
        const match = type === undefined ? undefined : sentinelValue(p, s.value, `${sp}.value`, { type, bitLength: bitLength ?? 1, scale: scale ?? 1, offset: offset ?? 0, length });
        if (q && match !== undefined) sentinels.push({ value: match, quality: q, ...(reason ? { reason } : {}) });
      });
  }
  let validRange: { min?: number; max?: number } | undefined;
  if (raw.validRange !== undefined) {
    const vr = raw.validRange;
    if (!isObj(vr)) p.push({ field: `${path}.validRange`, message: 'must be {min?, max?}' });
    else {
      unknownKeys(p, vr, `${path}.validRange`, ['min', 'max']);
      const min = num(p, vr, 'min', `${path}.validRange`);
      const max = num(p, vr, 'max', `${path}.validRange`);
      if (min !== undefined && max !== undefined && min > max) p.push({ field: `${path}.validRange`, message: 'min is above max' });
      validRange = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
    }
  }
  const mdc = resolveMdc(p, raw.mdc, `${path}.mdc`);
  const unit = resolveUnit(p, raw.unit, `${path}.unit`);

  if (p.length > before || name === undefined || table === undefined || address === undefined || type === undefined || intervalMs === undefined) {
    return undefined;
  }
  const spec: RegisterSpec = { type, order, ...(length !== undefined ? { length } : {}), ...(bit !== undefined ? { bit, bitLength: bitLength ?? 1 } : {}) };
  const width = isBitTable ? 1 : registerCount(spec);
  if (address + width > 65536) {
    p.push({ field: `${path}.address`, message: `value needs ${width} register(s) from ${address}, past the last address 65535` });
    return undefined;
  }
  const field = `${name} (${table} ${address})`;
  const decode = isBitTable
    ? (d: ArrayLike<number> | ArrayLike<boolean>) => decodeBit(d as ArrayLike<boolean>, 0, field)
    : (d: ArrayLike<number> | ArrayLike<boolean>) => decodeRegisters(d as ArrayLike<number>, spec, field);
  return {
    name,
    table,
    address,
    width,
    decode,
    numeric,
    scale: scale ?? 1,
    offset: offset ?? 0,
    mdc,
    unit,
    raw: { system: 'modbus', code: `${dev.unitId}/${table}/${address}`, text: name },
    sentinels,
    ...(validRange ? { validRange } : {}),
    ...(raw.setting === true ? { setting: true as const } : {}),
    filter: {
      ...(deadband !== undefined ? { deadband } : {}),
      reportOnChange: raw.reportOnChange === true,
      heartbeatMs: heartbeatMs ?? DEFAULTS.heartbeatMs,
    },
    intervalMs,
  };
}

/** Sort values of one table+interval by address and merge neighbours into reads within the limits. */
export function groupReads(
  points: Array<PlannedPoint & { intervalMs: number }>,
  limits: { maxGap: number; maxRegisters: number; maxBits: number },
): ReadGroup[] {
  const buckets = new Map<string, Array<PlannedPoint & { intervalMs: number }>>();
  for (const pt of points) {
    const key = `${pt.table}/${pt.intervalMs}`;
    const list = buckets.get(key) ?? [];
    list.push(pt);
    buckets.set(key, list);
  }
  const groups: ReadGroup[] = [];
  for (const list of buckets.values()) {
    list.sort((a, b) => a.address - b.address || b.width - a.width);
    let cur: ReadGroup | undefined;
    for (const pt of list) {
      const max = pt.table === 'coil' || pt.table === 'discrete' ? limits.maxBits : limits.maxRegisters;
      const end = pt.address + pt.width;
      if (cur) {
        const curEnd = cur.address + cur.count;
        const newCount = Math.max(curEnd, end) - cur.address;
        if (pt.address - curEnd <= limits.maxGap && newCount <= max) {
          cur.count = newCount;
          cur.points.push({ point: pt, at: pt.address - cur.address });
          continue;
        }
      }
      cur = { table: pt.table, address: pt.address, count: pt.width, intervalMs: pt.intervalMs, points: [{ point: pt, at: 0 }], label: '' };
      groups.push(cur);
    }
  }
  for (const g of groups) g.label = `${g.table} ${g.address}..${g.address + g.count - 1}`;
  return groups;
}

/** One read of these values (sorted by address, as groupReads leaves them), labelled as groupReads labels. */
function readOf(table: Table, intervalMs: number, points: Array<{ point: PlannedPoint }>): ReadGroup {
  const address = Math.min(...points.map(({ point }) => point.address));
  const end = Math.max(...points.map(({ point }) => point.address + point.width));
  const count = end - address;
  return { table, address, count, intervalMs, points: points.map(({ point }) => ({ point, at: point.address - address })), label: `${table} ${address}..${end - 1}` };
}

/**
 * A merged read the device refused as a whole (exception 2 or 3 applies to the whole request) split in two at a value
 * boundary, so the values it serves can still be read; undefined if its values all start at one address (nothing
 * to split). Halves, not one read per value: a refused read of n values costs about log2(n) reads, not n.
 */
export function splitRead(group: ReadGroup): [ReadGroup, ReadGroup] | undefined {
  const starts = [...new Set(group.points.map(({ point }) => point.address))].sort((a, b) => a - b);
  if (starts.length < 2) return undefined;
  const cut = starts[Math.ceil(starts.length / 2)] as number;
  const low = group.points.filter(({ point }) => point.address < cut);
  const high = group.points.filter(({ point }) => point.address >= cut);
  return [readOf(group.table, group.intervalMs, low), readOf(group.table, group.intervalMs, high)];
}

/** A read and the values it is for, for status details and logs: `holding 2..2 (point "typo")`. */
export function describeRead(group: ReadGroup): string {
  const names = group.points.map(({ point }) => JSON.stringify(point.name)).join(', ');
  return `${group.label} (${group.points.length === 1 ? 'point' : 'points'} ${names})`;
}

/** Most registers and bits one read may take on an RTU line (see lineCap); none on TCP. */
interface LineCap {
  registers: number;
  bits: number;
}

function planDevice(p: Problems, raw: unknown, path: string, line: LineCap | undefined): DevicePlan | undefined {
  if (!isObj(raw)) {
    p.push({ field: path, message: 'must be an object' });
    return undefined;
  }
  const before = p.length;
  unknownKeys(p, raw, path, DEVICE_KEYS);
  const id = str(p, raw, 'id', path, true);
  const unitId = int(p, raw, 'unitId', path, 0, 255);
  const bed = str(p, raw, 'bed', path, false);
  const intervalMs = int(p, raw, 'pollIntervalMs', path, 1, 86_400_000, DEFAULTS.pollIntervalMs);
  const order = oneOf(p, raw, 'order', path, BYTE_ORDERS) ?? 'ABCD';
  const maxGap = int(p, raw, 'maxGap', path, 0, 124, 0);
  const maxRegisters = int(p, raw, 'maxRegistersPerRead', path, 1, 125, DEFAULTS.maxRegistersPerRead);
  const maxBits = int(p, raw, 'maxBitsPerRead', path, 1, 2000, DEFAULTS.maxBitsPerRead);
  if (!Array.isArray(raw.points) || raw.points.length === 0) {
    p.push({ field: `${path}.points`, message: 'must be a non-empty list of values to read' });
    return undefined;
  }
  if (unitId === undefined || intervalMs === undefined) return undefined;
  const pts: Array<PlannedPoint & { intervalMs: number }> = [];
  const names = new Set<string>();
  raw.points.forEach((rp: unknown, i: number) => {
    const pt = planPoint(p, rp, `${path}.points[${i}]`, { unitId, order, intervalMs });
    if (!pt) return;
    if (names.has(pt.name)) p.push({ field: `${path}.points[${i}].name`, message: `duplicate name ${JSON.stringify(pt.name)} in this device` });
    names.add(pt.name);
    if (pt.width > (pt.table === 'coil' || pt.table === 'discrete' ? (maxBits ?? 2000) : (maxRegisters ?? 125))) {
      p.push({ field: `${path}.points[${i}]`, message: `needs ${pt.width} registers, more than maxRegistersPerRead ${maxRegisters}` });
    }
    pts.push(pt);
  });
  if (p.length > before || id === undefined || maxGap === undefined || maxRegisters === undefined || maxBits === undefined) return undefined;
  // On a slow RTU line, reads are also kept short enough to cross it within the timeout (lineCap).
  const limits = { maxGap, maxRegisters: Math.min(maxRegisters, line?.registers ?? 125), maxBits: Math.min(maxBits, line?.bits ?? 2000) };
  return { id, unitId, ...(bed ? { bed } : {}), groups: groupReads(pts, limits) };
}

/** Most registers (or bits) one RTU read may take so that its request and answer cross the line within `budgetMs`. */
function maxCountWithin(budgetMs: number, baudRate: number, bits: boolean, max: number): number {
  for (let n = max; n >= 1; n--) if (rtuReadWireMs(baudRate, bits, n) <= budgetMs) return n;
  return 0;
}

/**
 * RTU: a read whose request and answer alone take longer than the timeout times out every time, and the device
 * shows offline though it answers (a 125-register read takes 1.2 s at 2400 baud). Half of timeoutMs is kept for the
 * device's own turnaround: reads are merged only up to what crosses the line in the other half.
 */
function lineCap(baudRate: number, timeoutMs: number): LineCap {
  const budgetMs = timeoutMs / 2;
  return { registers: maxCountWithin(budgetMs, baudRate, false, 125), bits: maxCountWithin(budgetMs, baudRate, true, 2000) };
}

/** A value too long to cross the line on its own within the timeout (see lineCap): a problem naming timeoutMs. */
function valueTooLongForLine(p: Problems, path: string, devices: DevicePlan[], cap: LineCap, baudRate: number, timeoutMs: number, defaulted: boolean): boolean {
  const isBits = (t: Table) => t === 'coil' || t === 'discrete';
  // The value that needs the most line time, among those that cannot fit: the suggestion must cover it.
  let worst: { device: string; point: string; width: number; bits: boolean; wireMs: number } | undefined;
  for (const d of devices) {
    for (const g of d.groups) {
      for (const { point } of g.points) {
        const bits = isBits(point.table);
        if (point.width <= (bits ? cap.bits : cap.registers)) continue;
        const wireMs = rtuReadWireMs(baudRate, bits, point.width);
        if (!worst || wireMs > worst.wireMs) worst = { device: d.id, point: point.name, width: point.width, bits, wireMs };
      }
    }
  }
  if (worst) {
    const suggested = Math.ceil((2 * worst.wireMs) / 100) * 100;
    const advice = suggested <= 60_000 ? `set it to at least ${suggested}` : 'no timeout up to 60000 gives it time: raise the line\'s baudRate or read a shorter value';
    p.push({
      field: `${path}.timeoutMs`,
      message:
        `${timeoutMs} ms${defaulted ? ' (the default)' : ''} is too short for this line: at ${baudRate} baud, reading ${JSON.stringify(worst.point)} of device ` +
        `${JSON.stringify(worst.device)} (${worst.width} ${worst.bits ? 'bits' : 'registers'}) takes ${Math.round(worst.wireMs)} ms on the wire (request and answer, ` +
        `11 bits a character, with the 3.5-character silences), which must fit in half the timeout to leave the device time to answer; ${advice}`,
    });
    return true;
  }
  return false;
}

/** Validate options and build the polling plan. Throws ModbusConfigError listing every problem. */
export function buildPlan(options: unknown): Plan {
  const p: Problems = [];
  if (!isObj(options)) throw new ModbusConfigError([{ field: 'options', message: 'must be an object' }]);
  unknownKeys(p, options, 'options', ['buses', 'offlineAfterFailures', 'backoff']);
  const offlineAfterFailures = int(p, options, 'offlineAfterFailures', 'options', 1, 100, DEFAULTS.offlineAfterFailures) ?? DEFAULTS.offlineAfterFailures;
  let backoff: { initialMs: number; maxMs: number } = { initialMs: DEFAULTS.backoffInitialMs, maxMs: DEFAULTS.backoffMaxMs };
  if (options.backoff !== undefined) {
    if (!isObj(options.backoff)) p.push({ field: 'options.backoff', message: 'must be {initialMs?, maxMs?}' });
    else {
      unknownKeys(p, options.backoff, 'options.backoff', ['initialMs', 'maxMs']);
      const initialMs = int(p, options.backoff, 'initialMs', 'options.backoff', 10, 3_600_000, DEFAULTS.backoffInitialMs) ?? DEFAULTS.backoffInitialMs;
      const maxMs = int(p, options.backoff, 'maxMs', 'options.backoff', 10, 3_600_000, Math.max(DEFAULTS.backoffMaxMs, initialMs)) ?? DEFAULTS.backoffMaxMs;
      if (maxMs < initialMs) p.push({ field: 'options.backoff.maxMs', message: 'must be ≥ initialMs' });
      backoff = { initialMs, maxMs };
    }
  }
  const buses: BusPlan[] = [];
  if (!Array.isArray(options.buses) || options.buses.length === 0) {
    p.push({ field: 'options.buses', message: 'must be a non-empty list' });
  } else {
    const busIds = new Set<string>();
    const deviceIds = new Set<string>();
    const endpoints = new Set<string>();
    options.buses.forEach((rb: unknown, bi: number) => {
      const path = `options.buses[${bi}]`;
      if (!isObj(rb)) return void p.push({ field: path, message: 'must be an object' });
      const before = p.length;
      const transport = rb.transport === undefined ? (p.push({ field: `${path}.transport`, message: 'is required (tcp or rtu)' }), undefined) : oneOf(p, rb, 'transport', path, ['tcp', 'rtu'] as const);
      if (!transport) return;
      unknownKeys(p, rb, path, transport === 'tcp' ? TCP_KEYS : RTU_KEYS);
      const id = str(p, rb, 'id', path, true);
      if (id !== undefined) {
        if (busIds.has(id)) p.push({ field: `${path}.id`, message: `duplicate bus id ${JSON.stringify(id)}` });
        busIds.add(id);
      }
      const timeoutMs = int(p, rb, 'timeoutMs', path, 10, 60_000, DEFAULTS.timeoutMs);
      // The line before its devices: on RTU, how long a read may be depends on its speed and timeout.
      const baudRate = transport === 'rtu' ? int(p, rb, 'baudRate', path, 50, 4_000_000) : undefined;
      const cap = baudRate && timeoutMs ? lineCap(baudRate, timeoutMs) : undefined;
      const devices: DevicePlan[] = [];
      if (!Array.isArray(rb.devices) || rb.devices.length === 0) p.push({ field: `${path}.devices`, message: 'must be a non-empty list' });
      else {
        const units = new Set<number>();
        rb.devices.forEach((rd: unknown, di: number) => {
          const d = planDevice(p, rd, `${path}.devices[${di}]`, cap);
          if (!d) return;
          if (deviceIds.has(d.id)) p.push({ field: `${path}.devices[${di}].id`, message: `duplicate device id ${JSON.stringify(d.id)}` });
          deviceIds.add(d.id);
          if (units.has(d.unitId)) p.push({ field: `${path}.devices[${di}].unitId`, message: `unit id ${d.unitId} is already used on this bus` });
          units.add(d.unitId);
          // On a serial line 0 is broadcast (never answered); 248..254 are reserved. On TCP, a device addressed by its IP
          // alone takes 255 or 0 (MODBUS Messaging on TCP/IP Implementation Guide 4.4.1.2), so both are allowed there.
          if (transport === 'rtu' && (d.unitId < 1 || d.unitId > 247)) {
            p.push({ field: `${path}.devices[${di}].unitId`, message: `RTU unit ids are 1..247 (0 is broadcast, which never answers; 248..255 are reserved), got ${d.unitId}` });
          }
          if (transport === 'tcp' && d.unitId > 247 && d.unitId !== 255) {
            p.push({ field: `${path}.devices[${di}].unitId`, message: `TCP unit ids are 1..247 for a unit behind a gateway, or 255 (preferred) or 0 for a device addressed by its IP alone (248..254 are reserved), got ${d.unitId}` });
          }
          devices.push(d);
        });
      }
      if (transport === 'tcp') {
        const host = str(p, rb, 'host', path, true);
        const port = int(p, rb, 'port', path, 1, 65535, DEFAULTS.tcpPort);
        if (host !== undefined && port !== undefined) {
          const ep = `tcp:${host}:${port}`;
          if (endpoints.has(ep)) p.push({ field: `${path}.port`, message: `${host}:${port} is already a bus; put its devices on that bus` });
          endpoints.add(ep);
        }
        if (p.length > before || !id || !host || !port || !timeoutMs) return;
        buses.push({ id, transport, host, port, timeoutMs, gapMs: 0, devices });
      } else {
        const path2 = str(p, rb, 'path', path, true);
        let dataBits = int(p, rb, 'dataBits', path, 7, 8, 8) as 7 | 8 | undefined;
        if (dataBits === 7) {
          // Modbus serial line spec §2.5.1: an RTU character is 8-bit binary; every byte above 0x7F (CRC, values)
          // would be mangled. The schema keeps 7 so the error can say this.
          p.push({ field: `${path}.dataBits`, message: 'Modbus RTU uses 8 data bits; 7 is Modbus ASCII, which this driver does not speak' });
          dataBits = undefined;
        }
        const stopBits = int(p, rb, 'stopBits', path, 1, 2, 1) as 1 | 2 | undefined;
        const parity = oneOf(p, rb, 'parity', path, PARITIES) ?? 'none';
        const gapOverride = int(p, rb, 'interFrameGapMs', path, 0, 1000, -1);
        if (path2 !== undefined) {
          if (endpoints.has(`rtu:${path2}`)) p.push({ field: `${path}.path`, message: `${path2} is already a bus; one serial line is one bus with several unit ids` });
          endpoints.add(`rtu:${path2}`);
        }
        if (p.length > before || !id || !path2 || !baudRate || !dataBits || !stopBits || !timeoutMs || gapOverride === undefined) return;
        const gapMs = gapOverride >= 0 ? gapOverride : interFrameGapMs(baudRate);
        if (cap && valueTooLongForLine(p, path, devices, cap, baudRate, timeoutMs, rb.timeoutMs === undefined)) return;
        buses.push({ id, transport, path: path2, baudRate, dataBits, stopBits, parity, timeoutMs, gapMs, devices });
      }
    });
  }
  if (p.length > 0) throw new ModbusConfigError(p);
  return { buses, offlineAfterFailures, backoff };
}

/**
 * Options that do nothing where they are written (review rv176 L3): a range on text, a heartbeat of a value that is
 * not filtered (every poll is reported), a byte order on one bit. Warned, not refused: a map that started before must
 * still start, and they change nothing; the field is named so that it can be removed or put where it works.
 */
function noEffect(point: PointOptions, path: string): DriverWarning[] {
  const out: DriverWarning[] = [];
  const bit = point.table === 'coil' || point.table === 'discrete';
  if (point.validRange !== undefined && point.type === 'string') {
    out.push({ field: `${path}.validRange`, message: 'has no effect on a string value: only numbers are checked against a range; remove it' });
  }
  if (point.heartbeatMs !== undefined && point.deadband === undefined && point.reportOnChange !== true) {
    out.push({ field: `${path}.heartbeatMs`, message: 'has no effect without deadband or reportOnChange: the value is reported at every poll already; remove it, or set the filter it was meant for' });
  }
  if (point.order !== undefined && (bit || point.type === 'bool')) {
    out.push({ field: `${path}.order`, message: `has no effect on ${bit ? `a ${point.table === 'coil' ? 'coil' : 'discrete input'} (a single bit)` : 'a bool (a register read as zero or not)'}: there are no bytes to order; remove it` });
  }
  return out;
}

/** The Modicon numbering's offset per table: register 40001 is holding 0, 30001 input 0, 10001 discrete 0. */
const MODICON_BASE: Record<Table, number> = { holding: 40000, input: 30000, discrete: 10000, coil: Infinity };

/**
 * What a map that builds says about values the alarm rules will not judge, for --check and the start (warned, not
 * refused: a map that started before must still start). A {code, refid} whose code is not its known refid's. A
 * {code, refid} term the agent does not know: no rule has its
 * code. A unit the default rule for the metric cannot convert (`mmhg`: UCUM is case-sensitive; `MMHG` on an SpO2): the rule
 * skips every such reading (agent/alarms/limits.ts, told only once they arrive). Settings are never judged. Call it
 * only with options buildPlan accepted. The code mismatch and the unit are slips, with an `alarm` text (the agent
 * raises a gateway alarm while they are in force); an unknown term is not: vendors' own terms are legitimate. Also: a
 * float a rule judges with no validRange bound for ±Infinity to stand for, Modicon numbers as addresses, and options
 * that have no effect where they are (noEffect).
 */
export function planWarnings(options: ModbusOptions): DriverWarning[] {
  const warnings: DriverWarning[] = [];
  options.buses.forEach((bus, b) =>
    bus.devices.forEach((device, d) =>
      device.points.forEach((point, i) => {
        const path = `options.buses[${b}].devices[${d}].points[${i}]`;
        // Manuals often give Modicon numbers (holding 40001 = protocol address 0); copied as they are, every read is
        // one off or refused by the device ("illegal data address") only at run time (review rv170 L5).
        const modicon = MODICON_BASE[point.table];
        if (point.address > modicon && point.address < modicon + 10000) {
          warnings.push({
            field: `${path}.address`,
            message: `${point.address} looks like a Modicon register number for ${point.table} (${modicon + 1} is protocol address 0): addresses here are zero-based, so that register is address ${point.address - modicon - 1}; leave it if the device's manual gives ${point.address} as the protocol address`,
          });
        }
        warnings.push(...noEffect(point, path));
        if (point.setting === true || point.mdc === undefined) return;
        const mdc = typeof point.mdc === 'string' ? metricByRefid(point.mdc) : point.mdc;
        if (!mdc) return;
        // The alarm rules look a metric up by its code: a typo in the code next to a known refid labels the value
        // rightly on the display while no rule judges it, and the cloud gets the wrong code (review rv89 H3).
        const known = typeof point.mdc === 'string' ? undefined : metricByRefid(mdc.refid);
        if (known && known.code !== mdc.code) {
          warnings.push({
            field: `${path}.mdc`,
            message: `code ${mdc.code} is not ${mdc.refid}, which is ${known.code}: its values go out under ${mdc.code}, and the alarm rules for ${mdc.refid} do not judge them; correct the code, or give the refid alone (${JSON.stringify(mdc.refid)})`,
            alarm: `code ${mdc.code} is not ${mdc.refid}'s ${known.code}: sent under the wrong code, not judged by alarm rules`,
          });
          return;
        }
        if (typeof point.mdc !== 'string' && !mdcByCode(mdc.code)) {
          warnings.push({ field: `${path}.mdc`, message: `${mdc.refid} (${mdc.code}) is not a term the agent knows: its values are shown and forwarded, but no alarm rule will judge it${mdc.refid.startsWith('MDC_') ? '' : `; not an MDC_ refid, so the cloud gets code ${mdc.code} with refid null and ${JSON.stringify(mdc.refid)} as rawCode's text`}` });
          return;
        }
        const judgedBy = DEFAULT_LIMIT_RULES.find((rule) => rule.metrics.includes(mdc.code));
        const type = point.type ?? 'uint16';
        const noMax = point.validRange?.max === undefined;
        const noMin = point.validRange?.min === undefined;
        if (judgedBy && (type === 'float32' || type === 'float64') && (noMax || noMin)) {
          // ±Infinity stands for the validRange bound on its side (readings.ts judge); without one it is invalid, and
          // the limit alarm that a value beyond the device's range calls for is not raised (review rv176 M3).
          const what = point.validRange === undefined ? 'is not set' : `has no ${noMax && noMin ? 'max and no min' : noMax ? 'max' : 'min'}`;
          const inf = noMax && noMin ? '±Infinity' : noMax ? '+Infinity' : '-Infinity';
          const reason = noMax && noMin ? 'over-range or under-range' : noMax ? 'over-range' : 'under-range';
          warnings.push({
            field: `${path}.validRange`,
            message: `${what}: a ${type} the device sends as ${inf} (how some devices signal a value beyond their measuring range) is read as invalid (${reason}), not judged by the alarm rule ${judgedBy.id}, and raises only the technical "not valid" alarm; set validRange to the device's measuring range, and such a value is read as that bound, beyond which it lies (as HL7's ">300"), and judged`,
          });
        }
        if (point.unit === undefined) return; // no unit: taken as the rule's (agent/alarms/units.ts)
        const { ucum } = resolveUnit([], point.unit, '');
        for (const rule of DEFAULT_LIMIT_RULES) {
          if (!rule.metrics.includes(mdc.code) || convert(1, ucum, rule.unit) !== null) continue;
          warnings.push({
            field: `${path}.unit`,
            message: `${JSON.stringify(ucum)} is not a unit the alarm rule ${rule.id} converts to its ${JSON.stringify(rule.unit)}: no limit alarm will judge ${mdc.refid} from this value (UCUM spellings: mm[Hg], %, /min, Cel; or a UNITS key such as MMHG)`,
            alarm: `unit ${JSON.stringify(ucum)} does not convert to ${JSON.stringify(rule.unit)}: ${mdc.refid} not judged by limit alarms`,
          });
          break;
        }
      }),
    ),
  );
  return warnings;
}
