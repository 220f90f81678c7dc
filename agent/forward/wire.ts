// The message format cloud consumers see (schema version 1): one JSON envelope per IoT Hub message with an
// array of flat records. Flat records (each carrying its device, bed and codes) keep consumer queries and
// FHIR mapping templates simple. The JSON Schema is in schema/; change both together and bump the version.
// The opt-in compact encoding (schema version 2) is in compact.ts.
import type { AlarmEvent, DeviceStatusEvent, MdcCode, NumericReading, Origin, RawCode, WaveformSegment } from '../model/reading.js';
import type { Stream } from '../store/outbox.js';
import { MODEL_ANNOTATION_KIND, type AlarmAnnotation, type AlarmStateChange } from '../alarms/types.js';
import { encodeCompact } from './compact.js';
import { encodeSamples, samplesText } from '../store/samples.js';

export const SCHEMA_VERSION = 1;

// Readings of one emit share their times, so the last conversion is kept, and so is the text of the last two whole
// seconds (beds emit at different milliseconds of the same second; a waveform segment starts in the second before
// it is received): toISOString is a visible cost at ingest rates of 100k records/s.
let lastIsoMs = Number.NaN;
let lastIso = '';
let lastSecond = Number.NaN;
let lastSecondIso = '';
let prevSecond = Number.NaN;
let prevSecondIso = '';
/** Up to 9999-12-31: beyond, toISOString writes a six-digit year, so those take the slow path. */
const ISO_FAST_MAX_MS = 253402300800000;

export function iso(ms: number | null): string | null {
  if (ms === null) return null;
  if (ms === lastIsoMs) return lastIso;
  if (!(Number.isInteger(ms) && ms >= 0 && ms < ISO_FAST_MAX_MS)) {
    lastIso = new Date(ms).toISOString(); // throws RangeError on an impossible time, as JSON.stringify would
  } else {
    const second = Math.floor(ms / 1000);
    if (second !== lastSecond) {
      const text = second === prevSecond ? prevSecondIso : new Date(second * 1000).toISOString().slice(0, 19); // 2026-11-22T06:00:01
      prevSecond = lastSecond;
      prevSecondIso = lastSecondIso;
      lastSecond = second;
      lastSecondIso = text;
    }
    const milli = ms - second * 1000;
    lastIso = `${lastSecondIso}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  }
  lastIsoMs = ms;
  return lastIso;
}

/**
 * A term's refid as the schema takes it (^MDC_): a vendor term under a code (a Modbus map's `{ code, refid }`) goes out
 * as null, its term kept as rawCode's text and its code in `code`; sent as it was, the schema refused every message
 * that carried it, other beds' records with it (review rv164 F2).
 */
function wireRefid(mdc: MdcCode | null | undefined): string | null {
  return vendorRefid(mdc) !== null ? null : (mdc?.refid ?? null);
}

/** The record's rawCode: the device's own, or for a vendor refid (wireRefid) one that carries the term as its text. */
function wireRaw(mdc: MdcCode | null | undefined, raw: RawCode | undefined): RawCode | undefined {
  const vendor = vendorRefid(mdc);
  if (vendor === null) return raw;
  return raw ? { ...raw, text: vendor } : { system: 'MDC', code: String(mdc!.code), text: vendor }; // a vendor refid: mdc is set
}

/** A refid that is no MDC_ reference id (a Modbus map's vendor term), or null. */
function vendorRefid(mdc: MdcCode | null | undefined): string | null {
  const refid = mdc?.refid;
  return typeof refid === 'string' && !refid.startsWith('MDC_') ? refid : null;
}

function origin(e: Origin) {
  return {
    deviceId: e.deviceId,
    ...(e.bed !== undefined && { bed: e.bed }),
    ...(e.patientId !== undefined && { patientId: e.patientId }),
    source: e.source,
    ...(e.context && { context: e.context }),
  };
}

export function numericRecord(r: NumericReading) {
  const raw = wireRaw(r.mdc, r.raw);
  return {
    type: 'numeric' as const,
    ...origin(r),
    code: r.mdc?.code ?? null,
    refid: wireRefid(r.mdc),
    ...(raw && { rawCode: raw }),
    ...(r.setting && { setting: true }),
    value: r.value,
    unit: r.unit.ucum,
    ...(r.unit.mdc && { unitCode: r.unit.mdc.code }),
    deviceTime: iso(r.deviceTime),
    receivedAt: iso(r.receivedAt),
    quality: r.quality.state,
    ...(r.quality.reasons?.length && { qualityReasons: r.quality.reasons }),
  };
}

// ---- The ingest hot path: the same JSON text as JSON.stringify(numericRecord(r)) / (waveformRecord(w)), written
// out directly, without intermediate objects, reusing the text of what repeats from reading to reading (a device's
// origin, a code, a unit, a time). wire.test.ts proves the texts equal on arbitrary readings.

const q = JSON.stringify;

/** `,"name":value` as JSON.stringify writes an object property, or '' when it would leave it out. */
function prop(name: string, v: unknown): string {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return '';
  return `,"${name}":${q(v)}`;
}

function isoJson(ms: number | null): string {
  const t = iso(ms);
  return t === null ? 'null' : `"${t}"`;
}

/**
 * The same text, made one piece in memory: a memo's text is written by concatenation (a tree of pieces in V8), and each
 * record that holds it would walk that tree again when its own text is flattened (measured, or bound by SQLite): ~30 %
 * of writing and measuring a numeric record. Reading one character flattens a string in place.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/**
 * UTF-8 bytes beyond one per UTF-16 unit in the pieces numericJson has written so far (most pieces are ASCII): with
 * its text's length, its byte length without another pass over the text (Buffer.byteLength flattens it first). A
 * piece is a whole `,"name":value` (its strings escaped by JSON.stringify), so no surrogate pair is cut between two.
 */
let extra = 0;
let numericBytes = 0;

function extraBytes(s: string): number {
  return Buffer.byteLength(s) - s.length;
}

// Memos are bounded: past this many keys they start afresh.
const MEMO_MAX = 4096;

function originText(e: Origin): string {
  let s = prop('deviceId', e.deviceId);
  if (e.bed !== undefined) s += prop('bed', e.bed);
  if (e.patientId !== undefined) s += prop('patientId', e.patientId);
  s += prop('source', e.source);
  if (e.context) s += prop('context', e.context);
  return s;
}

interface OriginMemo {
  bed: string | undefined;
  patientId: string | undefined;
  source: string;
  json: string;
  extra: number;
}
const originMemo = new Map<string, OriginMemo>();
const plain = (v: unknown): boolean => v === undefined || typeof v === 'string';

function originJson(e: Origin): string {
  // Only all-string origins without context are memoised: their text depends on nothing else.
  if (e.context || typeof e.deviceId !== 'string' || typeof e.source !== 'string' || !plain(e.bed) || !plain(e.patientId)) {
    const text = originText(e);
    extra += extraBytes(text);
    return text;
  }
  const m = originMemo.get(e.deviceId);
  if (m && m.bed === e.bed && m.patientId === e.patientId && m.source === e.source) {
    extra += m.extra;
    return m.json;
  }
  const json = flat(originText(e));
  if (originMemo.size >= MEMO_MAX) originMemo.clear();
  const memo = { bed: e.bed, patientId: e.patientId, source: e.source, json, extra: extraBytes(json) };
  originMemo.set(e.deviceId, memo);
  extra += memo.extra;
  return json;
}

function codeText(mdc: NumericReading['mdc'], raw: NumericReading['raw']): string {
  const rawCode = wireRaw(mdc, raw);
  return `,"code":${mdc?.code === undefined ? 'null' : q(mdc.code)},"refid":${mdc?.refid === undefined ? 'null' : q(wireRefid(mdc))}${rawCode ? prop('rawCode', rawCode) : ''}`;
}

const codeMemo = new Map<number, { refid: string; json: string; extra: number }>();

function codeJson(mdc: NumericReading['mdc'], raw: NumericReading['raw']): string {
  if (raw || !mdc || typeof mdc.code !== 'number' || typeof mdc.refid !== 'string') {
    const text = codeText(mdc, raw);
    extra += extraBytes(text);
    return text;
  }
  const m = codeMemo.get(mdc.code);
  if (m && m.refid === mdc.refid) {
    extra += m.extra;
    return m.json;
  }
  const json = flat(codeText(mdc, raw));
  if (codeMemo.size >= MEMO_MAX) codeMemo.clear();
  const memo = { refid: mdc.refid, json, extra: extraBytes(json) };
  codeMemo.set(mdc.code, memo);
  extra += memo.extra;
  return json;
}

function unitText(unit: NumericReading['unit']): string {
  return `${prop('unit', unit.ucum)}${unit.mdc ? prop('unitCode', unit.mdc.code) : ''}`;
}

// By UCUM unit, then MDC unit code: one UCUM unit can carry several (/min is beats/min and breaths/min).
const unitMemo = new Map<string, Map<number | undefined, { json: string; extra: number }>>();

function unitJson(unit: NumericReading['unit']): string {
  const unitCode = unit.mdc?.code;
  if (typeof unit.ucum !== 'string' || (unit.mdc && typeof unitCode !== 'number')) {
    const text = unitText(unit);
    extra += extraBytes(text);
    return text;
  }
  let byCode = unitMemo.get(unit.ucum);
  const hit = byCode?.get(unitCode);
  if (hit !== undefined) {
    extra += hit.extra;
    return hit.json;
  }
  const json = flat(unitText(unit));
  if (!byCode || byCode.size >= MEMO_MAX) {
    if (unitMemo.size >= MEMO_MAX) unitMemo.clear();
    byCode = new Map();
    unitMemo.set(unit.ucum, byCode);
  }
  const memo = { json, extra: extraBytes(json) };
  byCode.set(unitCode, memo);
  extra += memo.extra;
  return json;
}

function valueJson(v: unknown): string {
  // A finite number prints the same either way; String() is the cheaper call.
  if (typeof v === 'number' && Number.isFinite(v)) return `,"value":${String(v)}`;
  const text = prop('value', v);
  extra += extraBytes(text);
  return text;
}

const VALID = ',"quality":"valid"';

function qualityJson(quality: NumericReading['quality']): string {
  if (quality.state === 'valid' && !quality.reasons?.length) return VALID;
  const text = `${prop('quality', quality.state)}${quality.reasons?.length ? prop('qualityReasons', quality.reasons) : ''}`;
  extra += extraBytes(text);
  return text;
}

// The numerics of one emit share both times: the text of the last pair is kept.
let timesDevice: number | null = Number.NaN;
let timesReceived = Number.NaN;
let timesText = '';

/** Times are ASCII (ISO 8601 or null): no extra bytes. */
function timesJson(deviceTime: number | null, receivedAt: number): string {
  if (deviceTime === timesDevice && receivedAt === timesReceived) return timesText;
  timesText = flat(`,"deviceTime":${isoJson(deviceTime)},"receivedAt":${isoJson(receivedAt)}`);
  timesDevice = deviceTime;
  timesReceived = receivedAt;
  return timesText;
}

/** JSON text of numericRecord(r); numericJsonBytes() then tells its UTF-8 bytes. */
export function numericJson(r: NumericReading): string {
  extra = 0;
  const json = `{"type":"numeric"${originJson(r)}${codeJson(r.mdc, r.raw)}${r.setting ? ',"setting":true' : ''}${valueJson(r.value)}${unitJson(r.unit)}${timesJson(r.deviceTime, r.receivedAt)}${qualityJson(r.quality)}}`;
  numericBytes = json.length + extra;
  return json;
}

/** UTF-8 bytes of the text numericJson returned last (Buffer.byteLength of it, counted from its pieces). */
export function numericJsonBytes(): number {
  return numericBytes;
}

/** JSON.stringify(samples), written from the store's binary form (agent/store/samples.ts: one digit writer). */
export function samplesJson(samples: readonly number[]): string {
  return samplesText(encodeSamples(samples));
}

/** JSON text of waveformRecord(w); `samples` replaces the samples' text (the store puts a mark there). */
export function waveformJson(w: WaveformSegment, samples = samplesJson(w.samples)): string {
  return (
    `{"type":"waveform"${originJson(w)}${codeJson(w.mdc, w.raw)}${unitJson(w.unit)}` +
    `,"startTime":${isoJson(w.startTime)}${prop('sampleRateHz', w.sampleRateHz)},"samples":${samples},"receivedAt":${isoJson(w.receivedAt)}` +
    `${qualityJson(w.quality)}}`
  );
}

export function waveformRecord(w: WaveformSegment) {
  const raw = wireRaw(w.mdc, w.raw);
  return {
    type: 'waveform' as const,
    ...origin(w),
    code: w.mdc?.code ?? null,
    refid: wireRefid(w.mdc),
    ...(raw && { rawCode: raw }),
    unit: w.unit.ucum,
    ...(w.unit.mdc && { unitCode: w.unit.mdc.code }),
    startTime: iso(w.startTime),
    sampleRateHz: w.sampleRateHz,
    samples: w.samples,
    receivedAt: iso(w.receivedAt),
    quality: w.quality.state,
    ...(w.quality.reasons?.length && { qualityReasons: w.quality.reasons }),
  };
}

export function alarmRecord(a: AlarmEvent) {
  const raw = wireRaw(a.condition, a.raw);
  return {
    type: 'alarm' as const,
    ...origin(a),
    alarmId: a.alarmId,
    code: a.condition?.code ?? null,
    refid: wireRefid(a.condition),
    ...(raw && { rawCode: raw }),
    text: a.text,
    priority: a.priority,
    category: a.category,
    phase: a.phase,
    // Absent in the common case (the device ended it; an alarm with a start and an end; nothing done at the device).
    ...(a.endedBy && { endedBy: a.endedBy }),
    ...(a.momentary && { momentary: true }),
    ...(a.latched && { latched: true }),
    ...(a.atDevice && { atDevice: a.atDevice }),
    ...(a.sourceMetric && { sourceCode: a.sourceMetric.code, sourceRefid: a.sourceMetric.refid }),
    ...(a.value !== undefined && { value: a.value }),
    ...(a.unit && { unit: a.unit.ucum }),
    deviceTime: iso(a.deviceTime),
    receivedAt: iso(a.receivedAt),
  };
}

export function deviceStatusRecord(s: DeviceStatusEvent) {
  return { type: 'device-status' as const, ...origin(s), state: s.state, detail: s.detail, at: iso(s.at) };
}

/** One audited change of a managed alarm (the agent's own alarm model), on the alarms stream. */
export function alarmChangeRecord(c: AlarmStateChange, patientId: (id: string) => string = (id) => id) {
  const a = c.alarm;
  const raw = wireRaw(a.condition.code, a.condition.raw);
  return {
    type: 'alarm-change' as const,
    deviceId: a.deviceId,
    bed: a.bed,
    ...(a.patientId !== undefined && { patientId: patientId(a.patientId) }),
    source: a.source,
    alarmId: c.alarmId,
    // A device alarm's own id: its `alarm` records carry it as alarmId (review rv125 M3: the join, with deviceId).
    ...(a.sourceAlarmId !== undefined && { sourceAlarmId: a.sourceAlarmId }),
    seq: c.seq,
    change: c.change,
    from: c.from,
    to: c.to,
    why: c.why,
    actor: c.actor,
    at: iso(c.at),
    code: a.condition.code?.code ?? null,
    refid: wireRefid(a.condition.code),
    ...(raw && { rawCode: raw }),
    text: a.condition.text,
    priority: a.priority,
    category: a.category,
    state: a.state,
    escalated: a.escalated,
    // Whether the condition is still there (an acknowledged or paused alarm whose condition ended is not), whether it
    // latches, until when its audio is paused, and a device's own priority where it differs (its "no alarm" signal is
    // carried as low): review rv51 M3, a consumer could not tell these apart.
    conditionPresent: a.conditionPresent,
    latching: a.latching,
    ...(a.audioPausedUntil !== undefined && a.state === 'audio-paused' && { audioPausedUntil: iso(a.audioPausedUntil) }),
    ...(a.reportedPriority !== undefined && a.reportedPriority !== a.priority && { reportedPriority: a.reportedPriority }),
    ...(a.metric && { sourceCode: a.metric.code, sourceRefid: a.metric.refid }),
    ...(a.value !== undefined && { value: a.value }),
    ...(a.unit && { unit: a.unit.ucum }),
    raisedAt: iso(a.raisedAt),
    ...(a.annotations.length && {
      annotations: forwardedAnnotations(c).map((n) => ({ kind: n.kind, values: n.values, ...(n.note && { note: n.note }), by: n.by, at: iso(n.at) })),
      annotationCount: a.annotations.length + (a.annotationsDropped ?? 0),
    }),
  };
}

/**
 * The annotations a change carries (review rv125 H1: all of them, in every change, grew a judged alarm's records
 * without end). An `annotated` change: the one it added (the alarm's latest). Any other: the latest of each kind, and
 * for the edge model also its latest assessment (numeric `probability`) when a later model annotation followed it
 * (a re-assessment, a hold that ended), so one record tells the model's current word and its last verdict. In the
 * order they were added; the whole history is the `annotated` changes, one annotation each.
 */
function forwardedAnnotations(c: AlarmStateChange): AlarmAnnotation[] {
  const all = c.alarm.annotations;
  if (c.change === 'annotated') return all.slice(-1);
  const kept = new Set<AlarmAnnotation>();
  const kinds = new Set<string>();
  for (let i = all.length - 1; i >= 0; i--) {
    const n = all[i]!;
    if (kinds.has(n.kind)) continue;
    kinds.add(n.kind);
    kept.add(n);
  }
  const latestModel = all.findLast((n) => n.kind === MODEL_ANNOTATION_KIND);
  const assessment = all.findLast((n) => n.kind === MODEL_ANNOTATION_KIND && typeof n.values.probability === 'number');
  if (assessment && assessment !== latestModel) kept.add(assessment);
  return all.filter((n) => kept.has(n));
}

/** How message bodies are written: `records` (schema 1, the default) or `compact` (schema 2, opt-in). */
export type Encoding = 'records' | 'compact';

/** The schema version of a body this agent wrote (both encodings start with it). */
export function schemaVersionOf(body: string): number {
  const m = /^\{"schemaVersion":(\d+)/.exec(body);
  return m ? Number(m[1]) : SCHEMA_VERSION;
}

/**
 * Application properties set on every message, for IoT Hub routing queries. With the body, `schemaVersion` is the
 * body's own (a compact agent may still send v1 bodies: packed before a switch, or where compact is not smaller).
 */
export function messageProperties(stream: Stream, gatewayId: string, body?: string, gzipped = false): Record<string, string> {
  const version = body === undefined ? SCHEMA_VERSION : schemaVersionOf(body);
  // The body's own id: one packed before the gateway id changed keeps it in both (review rv133 L1).
  const gw = (body === undefined ? null : gatewayIdOf(body)) ?? gatewayId;
  // A gzipped body is another format on the wire: `1-gzip`, `2-gzip`. Routes written for `schemaVersion = '1'`
  // (the MedTech service's among them) must not take bytes their readers cannot parse, as for compact (`2`).
  return { kind: stream === 'alarms' ? 'alarm' : 'telemetry', schemaVersion: gzipped ? `${version}-gzip` : String(version), gatewayId: gw };
}

/**
 * The gatewayId a body this agent wrote was packed with; null for another body. Both envelopes write it near the
 * start (v1 right after schemaVersion, compact after `"encoding":"compact"`), so the body is not parsed whole.
 */
export function gatewayIdOf(body: string): string | null {
  const m = /^\{"schemaVersion":\d+,(?:"encoding":"compact",)?"gatewayId":("(?:[^"\\]|\\.)*")/.exec(body);
  if (!m) return null;
  try {
    const id: unknown = JSON.parse(m[1]!);
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

/** Builds the envelope around already-serialised records, without re-parsing them. */
export function envelope(gatewayId: string, encoding: Encoding = 'records') {
  const gw = JSON.stringify(gatewayId);
  const v1 = (messageId: string, stream: Stream, entries: string[]): string =>
    `{"schemaVersion":${SCHEMA_VERSION},"gatewayId":${gw},"messageId":${JSON.stringify(messageId)},` +
    `"stream":"${stream}","records":[${entries.join(',')}]}`;
  if (encoding === 'records') return v1;
  // Compact is never larger than v1 (it falls back to it), so the outbox's size budget, counted in v1, holds.
  return (messageId: string, stream: Stream, entries: string[]): string =>
    encodeCompact(gatewayId, messageId, stream, entries, v1(messageId, stream, entries));
}

/**
 * The body of a copy re-sent by the `replay` direct method: the original's, with the copy's own `messageId` (the
 * system message id it travels under, so that de-duplication on it keeps the copy) followed by `replayOf`, the
 * original's id. Both envelopes write `,"messageId":` right after `gatewayId`, and every string before it is
 * JSON-escaped, so its first occurrence is the envelope's own. A body whose messageId is not `originalId` (already
 * rewritten, or not written by this agent) is returned unchanged.
 */
export function replayBody(body: string, originalId: string, copyId: string): string {
  const key = ',"messageId":';
  const at = body.indexOf(key);
  const old = JSON.stringify(originalId);
  if (at < 0 || !body.startsWith(`${old},`, at + key.length)) return body;
  const head = `${key}${JSON.stringify(copyId)},"replayOf":${old}`;
  return body.slice(0, at) + head + body.slice(at + key.length + old.length);
}
