// The message format cloud consumers see (schema version 1): one JSON envelope per IoT Hub message with an
// array of flat records. Flat records (each carrying its device, bed and codes) keep consumer queries and
// FHIR mapping templates simple. The JSON Schema is in schemas/; change both together and bump the version.
import type { AlarmEvent, DeviceStatusEvent, NumericReading, Origin, WaveformSegment } from '../model/reading.js';
import type { Stream } from '../store/outbox.js';
import type { AlarmStateChange } from '../alarms/types.js';

export const SCHEMA_VERSION = 1;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
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
  return {
    type: 'numeric' as const,
    ...origin(r),
    code: r.mdc?.code ?? null,
    refid: r.mdc?.refid ?? null,
    ...(r.raw && { rawCode: r.raw }),
    value: r.value,
    unit: r.unit.ucum,
    ...(r.unit.mdc && { unitCode: r.unit.mdc.code }),
    deviceTime: iso(r.deviceTime),
    receivedAt: iso(r.receivedAt),
    quality: r.quality.state,
    ...(r.quality.reasons?.length && { qualityReasons: r.quality.reasons }),
  };
}

export function waveformRecord(w: WaveformSegment) {
  return {
    type: 'waveform' as const,
    ...origin(w),
    code: w.mdc?.code ?? null,
    refid: w.mdc?.refid ?? null,
    ...(w.raw && { rawCode: w.raw }),
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
  return {
    type: 'alarm' as const,
    ...origin(a),
    alarmId: a.alarmId,
    code: a.condition?.code ?? null,
    refid: a.condition?.refid ?? null,
    ...(a.raw && { rawCode: a.raw }),
    text: a.text,
    priority: a.priority,
    category: a.category,
    phase: a.phase,
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
  return {
    type: 'alarm-change' as const,
    deviceId: a.deviceId,
    bed: a.bed,
    ...(a.patientId !== undefined && { patientId: patientId(a.patientId) }),
    source: a.source,
    alarmId: c.alarmId,
    seq: c.seq,
    change: c.change,
    from: c.from,
    to: c.to,
    why: c.why,
    actor: c.actor,
    at: iso(c.at),
    code: a.condition.code?.code ?? null,
    refid: a.condition.code?.refid ?? null,
    ...(a.condition.raw && { rawCode: a.condition.raw }),
    text: a.condition.text,
    priority: a.priority,
    category: a.category,
    state: a.state,
    escalated: a.escalated,
    ...(a.metric && { sourceCode: a.metric.code, sourceRefid: a.metric.refid }),
    ...(a.value !== undefined && { value: a.value }),
    ...(a.unit && { unit: a.unit.ucum }),
    raisedAt: iso(a.raisedAt),
    ...(a.annotations.length && {
      annotations: a.annotations.map((n) => ({ kind: n.kind, values: n.values, ...(n.note && { note: n.note }), by: n.by, at: iso(n.at) })),
    }),
  };
}

/** Application properties set on every message, for IoT Hub routing queries. */
export function messageProperties(stream: Stream, gatewayId: string): Record<string, string> {
  return { kind: stream === 'alarms' ? 'alarm' : 'telemetry', schemaVersion: String(SCHEMA_VERSION), gatewayId };
}

/** Builds the envelope around already-serialised records, without re-parsing them. */
export function envelope(gatewayId: string) {
  const gw = JSON.stringify(gatewayId);
  return (messageId: string, stream: Stream, entries: string[]): string =>
    `{"schemaVersion":${SCHEMA_VERSION},"gatewayId":${gw},"messageId":${JSON.stringify(messageId)},` +
    `"stream":"${stream}","records":[${entries.join(',')}]}`;
}
