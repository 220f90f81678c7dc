// The compact message encoding (schema version 2, opt-in with `hub.encoding: compact`). Flat v1 records repeat
// their device, bed, codes, unit and two ISO times in every reading (~230 bytes each); IoT Hub bills 4 KB chunks.
// Compact keeps the same content with per-message tables and runs:
//
//   { "schemaVersion": 2, "encoding": "compact", "gatewayId", "messageId", "stream",
//     "t0": ISO time,                              — every time below is an integer ms offset from t0
//     "origins": [ { deviceId, bed?, patientId?, source, context? } ],
//     "codes":   [ { code, refid, rawCode?, unit, unitCode? } ],
//     "items":   [ [origin, deviceTime offset | null, receivedAt offset, [code, value(, quality(, reasons))]...]
//                  — a run: consecutive numerics of one origin with the same times
//                | { ...a v1 record, verbatim }   — anything else (waveforms, alarms, status, the unusual) ] }
//
// Items keep the records' order, so expandCompact() gives back exactly the v1 records, in order. The encoder
// proves that per reading: a numeric goes into a run only if expanding it again gives the very same JSON text;
// otherwise it is carried verbatim. And if a compact body would not be smaller than the v1 body (rare: a message
// of waveforms), the v1 body is sent instead; `schemaVersion` says which one a body is.
import type { Stream } from '../store/outbox.js';

export const COMPACT_SCHEMA_VERSION = 2;

/** A v1 message body (agent/forward/schema/message-v1.schema.json). */
export interface MessageV1 {
  schemaVersion: 1;
  gatewayId: string;
  messageId: string;
  /** A copy re-sent by the replay direct method: the original's id. */
  replayOf?: string;
  stream: Stream;
  records: Record<string, unknown>[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A compact body that cannot be decoded; `path` says where (JSON pointer-like). */
export class CompactFormatError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`compact message ${path}: ${detail}`);
    this.name = 'CompactFormatError';
  }
}

const ORIGIN_KEYS = ['deviceId', 'bed', 'patientId', 'source', 'context'] as const;
const CODE_KEYS = ['code', 'refid', 'rawCode', 'unit', 'unitCode'] as const;

function pick(o: JsonObject, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]!;
  return out;
}

/** The v1 numeric record for one reading of a run, with the key order of wire.ts numericRecord(). */
function numericFrom(origin: JsonObject, code: JsonObject, reading: Json[], deviceTime: string | null, receivedAt: string): JsonObject {
  const r: JsonObject = { type: 'numeric' };
  for (const k of ORIGIN_KEYS) if (origin[k] !== undefined) r[k] = origin[k]!;
  r.code = code.code ?? null;
  r.refid = code.refid ?? null;
  if (code.rawCode !== undefined) r.rawCode = code.rawCode;
  r.value = reading[1] ?? null;
  r.unit = code.unit ?? '';
  if (code.unitCode !== undefined) r.unitCode = code.unitCode;
  r.deviceTime = deviceTime;
  r.receivedAt = receivedAt;
  r.quality = reading.length > 2 ? reading[2]! : 'valid';
  if (reading.length > 3) r.qualityReasons = reading[3]!;
  return r;
}

const isoAt = (ms: number): string => new Date(ms).toISOString();

/** Keys a numeric may have; anything else (a future field) makes it travel verbatim. */
const NUMERIC_KEYS = new Set(['type', ...ORIGIN_KEYS, 'code', 'refid', 'rawCode', 'value', 'unit', 'unitCode', 'deviceTime', 'receivedAt', 'quality', 'qualityReasons']);

class Table {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  add(json: string): number {
    let i = this.index.get(json);
    if (i === undefined) {
      i = this.list.length;
      this.index.set(json, i);
      this.list.push(json);
    }
    return i;
  }
}

/**
 * Encodes already-serialised v1 records (the outbox's entries) as one compact body, or returns the v1 body when
 * compact would not be smaller. `v1Body` is the body the records encoding would send.
 */
export function encodeCompact(gatewayId: string, messageId: string, stream: Stream, entries: readonly string[], v1Body: string): string {
  const origins = new Table();
  const codes = new Table();
  const items: string[] = [];
  let t0: number | null = null;
  // The run being built: its header key and its readings.
  let runKey = '';
  let run: string[] = [];
  const flush = () => {
    if (run.length) items.push(`[${run.join(',')}]`);
    run = [];
    runKey = '';
  };
  for (const { entry, parsed } of recordsOf(entries)) {
    const reading = compactReading(entry, parsed);
    if (!reading) {
      flush();
      items.push(entry);
      continue;
    }
    const { rec, receivedMs, deviceMs } = reading;
    t0 ??= receivedMs;
    const origin = pick(rec, ORIGIN_KEYS);
    const code = pick(rec, CODE_KEYS);
    const r: Json[] = [0, rec.value ?? null];
    if (rec.quality !== 'valid' || rec.qualityReasons !== undefined) r.push(rec.quality!);
    if (rec.qualityReasons !== undefined) r.push(rec.qualityReasons);
    // Lossless by construction: the reading joins a run only if it expands to the very same text.
    const expanded = numericFrom(origin, code, r, deviceMs === null ? null : isoAt(deviceMs), isoAt(receivedMs));
    if (JSON.stringify(expanded) !== entry) {
      flush();
      items.push(entry);
      continue;
    }
    const o = origins.add(JSON.stringify(origin));
    r[0] = codes.add(JSON.stringify(code));
    const key = `${o},${deviceMs === null ? 'null' : deviceMs - t0},${receivedMs - t0}`;
    if (key !== runKey) {
      flush();
      runKey = key;
      run.push(key);
    }
    run.push(JSON.stringify(r));
  }
  flush();
  const body =
    `{"schemaVersion":${COMPACT_SCHEMA_VERSION},"encoding":"compact","gatewayId":${JSON.stringify(gatewayId)},` +
    `"messageId":${JSON.stringify(messageId)},"stream":"${stream}","t0":${t0 === null ? 'null' : `"${isoAt(t0)}"`},` +
    `"origins":[${origins.list.join(',')}],"codes":[${codes.list.join(',')}],"items":[${items.join(',')}]}`;
  return Buffer.byteLength(body) < Buffer.byteLength(v1Body) ? body : v1Body;
}

/**
 * The records of the outbox's entries. An entry is one record or a store row of several joined by commas; those
 * are split by parsing, and each is written again as JSON.stringify writes it, which gives back the text the agent
 * wrote (its records are JSON.stringify's text, or proved equal to it). A split record comes with its parsed value,
 * so that it is not parsed again.
 */
function* recordsOf(entries: readonly string[]): Generator<{ entry: string; parsed?: unknown }> {
  for (const entry of entries) {
    if (!entry.includes('},{')) {
      yield { entry };
      continue;
    }
    let list: unknown[];
    try {
      list = JSON.parse(`[${entry}]`) as unknown[];
    } catch {
      yield { entry }; // not ours to judge: it travels verbatim, as before
      continue;
    }
    for (const r of list) yield { entry: JSON.stringify(r), parsed: r };
  }
}

/** A numeric record that can go into a run, or null (then it travels verbatim). `parsed`: the entry, if parsed. */
function compactReading(entry: string, parsed?: unknown): { rec: JsonObject; receivedMs: number; deviceMs: number | null } | null {
  // Cheap test first: only numerics are compacted.
  if (!entry.startsWith('{"type":"numeric"')) return null;
  let rec: JsonObject;
  try {
    rec = (parsed ?? JSON.parse(entry)) as JsonObject;
  } catch {
    return null;
  }
  for (const k of Object.keys(rec)) if (!NUMERIC_KEYS.has(k)) return null;
  if (typeof rec.receivedAt !== 'string' || typeof rec.quality !== 'string') return null;
  const receivedMs = Date.parse(rec.receivedAt);
  const deviceMs = rec.deviceTime === null ? null : typeof rec.deviceTime === 'string' ? Date.parse(rec.deviceTime) : NaN;
  if (!Number.isFinite(receivedMs) || (deviceMs !== null && !Number.isFinite(deviceMs))) return null;
  return { rec, receivedMs, deviceMs };
}

// ---- decoding ----

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function offset(v: unknown, path: string, nullable: boolean): number | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new CompactFormatError(path, `must be an integer ms offset${nullable ? ' or null' : ''}`);
  return v;
}

function timeAt(t0: number, off: number, path: string): string {
  const ms = t0 + off;
  // Beyond ±8.64e15 ms a Date is invalid and toISOString would throw a RangeError.
  if (!(Math.abs(ms) <= 8.64e15)) throw new CompactFormatError(path, 'time out of range');
  return isoAt(ms);
}

/**
 * Expands a message body (compact, or v1 as it is) into the v1 body with the same records in the same order.
 * Pure; throws only CompactFormatError, naming where the body is wrong.
 */
export function expandCompact(body: unknown): MessageV1 {
  const b: unknown = typeof body === 'string' ? parseBody(body) : body;
  if (!isObject(b)) throw new CompactFormatError('/', 'body must be a JSON object');
  const str = (k: string): string => {
    const v = b[k];
    if (typeof v !== 'string') throw new CompactFormatError(`/${k}`, 'must be a string');
    return v;
  };
  const stream = str('stream');
  if (stream !== 'telemetry' && stream !== 'alarms') throw new CompactFormatError('/stream', 'must be "telemetry" or "alarms"');
  if (b.replayOf !== undefined && typeof b.replayOf !== 'string') throw new CompactFormatError('/replayOf', 'must be a string');
  const head = {
    schemaVersion: 1 as const,
    gatewayId: str('gatewayId'),
    messageId: str('messageId'),
    ...(typeof b.replayOf === 'string' && { replayOf: b.replayOf }),
    stream: stream as Stream,
  };
  if (b.schemaVersion === 1) {
    if (!Array.isArray(b.records) || !b.records.every(isObject)) throw new CompactFormatError('/records', 'must be an array of objects');
    return { ...head, records: b.records };
  }
  if (b.schemaVersion !== COMPACT_SCHEMA_VERSION || b.encoding !== 'compact') {
    throw new CompactFormatError('/schemaVersion', `unsupported (${JSON.stringify(b.schemaVersion)}, encoding ${JSON.stringify(b.encoding)})`);
  }
  const table = (k: string): JsonObject[] => {
    const v = b[k];
    if (!Array.isArray(v) || !v.every(isObject)) throw new CompactFormatError(`/${k}`, 'must be an array of objects');
    return v;
  };
  const origins = table('origins');
  const codes = table('codes');
  if (!Array.isArray(b.items)) throw new CompactFormatError('/items', 'must be an array');
  let t0: number | null = null;
  if (b.t0 !== null) {
    t0 = typeof b.t0 === 'string' ? Date.parse(b.t0) : NaN;
    if (!Number.isFinite(t0)) throw new CompactFormatError('/t0', 'must be an ISO time or null');
  }
  const records: JsonObject[] = [];
  b.items.forEach((item, i) => {
    const path = `/items/${i}`;
    if (isObject(item)) {
      records.push(item);
      return;
    }
    if (!Array.isArray(item) || item.length < 4) throw new CompactFormatError(path, 'must be a v1 record or a run [origin, deviceTime, receivedAt, reading...]');
    if (t0 === null) throw new CompactFormatError('/t0', 'is null but the message has runs');
    const origin = origins[indexIn(item[0], origins.length, `${path}/0`)]!;
    const dOff = offset(item[1], `${path}/1`, true);
    const rOff = offset(item[2], `${path}/2`, false)!;
    const deviceTime = dOff === null ? null : timeAt(t0, dOff, `${path}/1`);
    const receivedAt = timeAt(t0, rOff, `${path}/2`);
    for (let j = 3; j < item.length; j++) {
      const reading = item[j];
      const rp = `${path}/${j}`;
      if (!Array.isArray(reading) || reading.length < 2 || reading.length > 4) throw new CompactFormatError(rp, 'a reading must be [code, value(, quality(, reasons))]');
      const code = codes[indexIn(reading[0], codes.length, `${rp}/0`)]!;
      const v = reading[1];
      if (v !== null && typeof v !== 'number' && typeof v !== 'string') throw new CompactFormatError(`${rp}/1`, 'value must be a number, string or null');
      if (reading.length > 2 && typeof reading[2] !== 'string') throw new CompactFormatError(`${rp}/2`, 'quality must be a string');
      if (reading.length > 3 && !Array.isArray(reading[3])) throw new CompactFormatError(`${rp}/3`, 'quality reasons must be an array');
      records.push(numericFrom(origin, code, reading, deviceTime, receivedAt));
    }
  });
  return { ...head, records };
}

function indexIn(v: unknown, length: number, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= length) throw new CompactFormatError(path, `must be an index below ${length}`);
  return v;
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new CompactFormatError('/', `not JSON: ${(err as Error).message}`);
  }
}
