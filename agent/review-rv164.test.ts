// Review rv164: what a validating cloud consumer refused. F1: a device time outside years 0000–9999 (HL7's "no date"
// sentinel 99991231235959-0500) went out as an extended-year string ("+010000-…"), which the schema's date-time
// refuses, the other beds' records in the message with it. F2: an MDC code with a vendor refid (a Modbus
// `mdc: { code, refid }`) went out with that refid, which the schema's `^MDC_` refuses.
import { describe, expect, it } from 'vitest';
import { Ingest, normalise, toRecord } from './ingest.js';
import { Metrics } from './metrics.js';
import { MDC, UNITS } from './model/mdc.js';
import type { AlarmEvent, DriverEvent, NumericReading, WaveformSegment } from './model/reading.js';
import { Outbox } from './store/outbox.js';
import { alarmChangeRecord, alarmRecord, envelope, numericJson, numericRecord, waveformJson, waveformRecord } from './forward/wire.js';
import type { AlarmStateChange } from './alarms/types.js';
import { mapMessage } from '../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../drivers/hl7/protocol/index.js';
import { captureLog } from '../test/support/log.js';
import { messageSchemaErrors } from '../test/support/message-schema.js';

const T = 1_790_000_000_000;
/** 99991231235959-0500: 10000-01-01T04:59:59Z, past what a four-digit year can write. */
const Y10000 = 253402318799000;
/** One ms before 0000-01-01T00:00:00Z. */
const BEFORE_Y0 = -62167219200001;

const hr: NumericReading = {
  kind: 'numeric', deviceId: 'dev-A', bed: 'A1', source: 'test', mdc: MDC.ECG_HEART_RATE, value: 72,
  unit: UNITS.BEAT_PER_MIN, deviceTime: T, receivedAt: T, quality: { state: 'valid' },
};
const alarm: AlarmEvent = {
  kind: 'alarm', deviceId: 'dev-A', bed: 'A1', source: 'test', alarmId: 'a1', condition: null, text: 'HR HIGH', priority: 'medium',
  category: 'physiological', phase: 'start', deviceTime: T, receivedAt: T,
};
const wave: WaveformSegment = {
  kind: 'waveform', deviceId: 'dev-A', bed: 'A1', source: 'test', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT, startTime: T,
  sampleRateHz: 250, samples: [0.1, 0.2], receivedAt: T, quality: { state: 'valid' },
};

function setup() {
  const box = new Outbox(':memory:');
  const metrics = new Metrics();
  const ingest = new Ingest(box, { commitIntervalMs: 60_000, forwardWaveforms: true }, captureLog().log, metrics);
  const seen: DriverEvent[] = [];
  ingest.subscribe((es) => seen.push(...es));
  /** The message body of a stream as the forwarder packs it (schema 1). */
  const body = (stream: 'telemetry' | 'alarms') => {
    const msg = box.pack(stream, 1 << 20, envelope('gw-1'));
    return msg ? (JSON.parse(msg.body) as { records: Record<string, unknown>[] }) : { records: [] };
  };
  return { box, metrics, ingest, seen, body };
}

describe('review rv164 F1: a device time outside years 0000–9999 is no real time', () => {
  it('a numeric and an alarm at 253402318799000 (and before year 0000) go out with deviceTime null, counted as an impossible time; their messages pass the schema', async () => {
    const { ingest, metrics, seen, body, box } = setup();
    const p = ingest.accept('test', [
      { ...hr, deviceTime: Y10000 },
      { ...hr, deviceTime: BEFORE_Y0, mdc: MDC.PULS_OXIM_SAT_O2, value: 97, unit: UNITS.PERCENT },
      { ...hr, deviceId: 'dev-B', bed: 'B2', value: 80 },
      { ...alarm, deviceTime: Y10000 },
      { ...alarm, alarmId: 'a2', deviceTime: BEFORE_Y0 },
    ]);
    ingest.commit();
    await p;
    expect(seen.map((e) => (e.kind === 'numeric' || e.kind === 'alarm' ? e.deviceTime : undefined))).toEqual([null, null, T, null, null]);
    const telemetry = body('telemetry');
    expect(telemetry.records.map((r) => r.deviceTime)).toEqual([null, null, new Date(T).toISOString()]);
    expect(messageSchemaErrors(telemetry)).toEqual([]);
    const alarms = body('alarms');
    expect(alarms.records.map((r) => [r.alarmId, r.deviceTime])).toEqual([['a1', null], ['a2', null]]);
    expect(messageSchemaErrors(alarms)).toEqual([]);
    // Counted as a NaN or ns-as-ms time is: the readings (an alarm's unknown time is not counted, as before).
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'test' })).toBe(2);
    box.close();
  });

  it('a waveform starting at 253402318799000 starts at its receipt, time-from-receipt; a status time or receipt time outside 0000–9999 is the receipt time', async () => {
    const { ingest, metrics, body, box } = setup();
    const p = ingest.accept('test', [
      { ...wave, startTime: Y10000 },
      { ...wave, startTime: BEFORE_Y0, bed: 'A2' },
      { kind: 'device-status', deviceId: 'dev-A', bed: 'A1', source: 'test', state: 'online', detail: '', at: Y10000 },
      { ...hr, receivedAt: BEFORE_Y0, deviceTime: null },
    ]);
    ingest.commit();
    await p;
    const telemetry = body('telemetry');
    expect(telemetry.records.slice(0, 2).map((r) => [r.startTime, r.quality, r.qualityReasons])).toEqual([
      [new Date(T).toISOString(), 'questionable', ['time-from-receipt']],
      [new Date(T).toISOString(), 'questionable', ['time-from-receipt']],
    ]);
    // The status and the receipt: ingest's own receipt time (now), a real time.
    for (const t of [telemetry.records[2]!.at, telemetry.records[3]!.receivedAt]) expect(Math.abs(Date.parse(String(t)) - Date.now())).toBeLessThan(60_000);
    expect(messageSchemaErrors(telemetry)).toEqual([]);
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'test' })).toBe(4);
    box.close();
  });

  it('years 0000 and 9998 are real times, kept as sent; year 9999 is HL7\'s no date, read in any zone: no time (review rv168 F5)', () => {
    for (const t of [-62167219200000, 253370764799999]) expect(normalise({ ...hr, deviceTime: t })).toMatchObject({ deviceTime: t });
    // 99991231235959 read at UTC, at +0100 and at -0500; the first instant of 9999.
    for (const t of [253402300799000, 253402297199000, 253370764800000]) expect(normalise({ ...hr, deviceTime: t })).toMatchObject({ deviceTime: null });
  });

  const now = new Date(T).toISOString().replace(/[-:T]/g, '').slice(0, 14) + '+0000';

  it.each(['99991231235959-0500', '99991231235959+0000', '99991231235959+0100', '99991231235959'])('HL7: a PCD-01 whose OBX-14 is %s, beside a normal bed, through the real mapping and ingest: no device time, bodies pass the schema', async (noDate) => {
    const pcd01 = (bed: string, dev: string, pid: string, spo2Time: string) =>
      [
        `MSH|^~\\&|MON^${dev}^EUI-64|ICU|GW|ICU|${now}||ORU^R01^ORU_R01|m-${bed}|P|2.6|||NE|AL||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO`,
        `PID|||${pid}^^^H^MR`,
        `PV1||I|ICU^^${bed}`,
        `OBR|1|||182777000^monitoring of patient^SNOMED-CT|||${now}`,
        `OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1|||||||X|||||||${dev}^EUI-64`,
        `OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||${now}`,
        `OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.2.1|97|262688^MDC_DIM_PERCENT^MDC|||||R|||${spo2Time}`,
      ].join('\r');
    const { ingest, body, box } = setup();
    for (const text of [pcd01('BED7', '0123456789ABCDEF', '12345', noDate), pcd01('BED8', 'FEDCBA9876543210', '67890', now)]) {
      const m = parseMessage(text);
      const p = ingest.accept('icu-mllp', mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: T }).events);
      ingest.commit();
      await p;
    }
    const telemetry = body('telemetry');
    expect(telemetry.records.map((r) => [r.bed, r.refid, r.deviceTime])).toEqual([
      ['ICU//BED7', 'MDC_ECG_HEART_RATE', new Date(T).toISOString()],
      ['ICU//BED7', 'MDC_PULS_OXIM_SAT_O2', null],
      ['ICU//BED8', 'MDC_ECG_HEART_RATE', new Date(T).toISOString()],
      ['ICU//BED8', 'MDC_PULS_OXIM_SAT_O2', new Date(T).toISOString()],
    ]);
    expect(messageSchemaErrors(telemetry)).toEqual([]);
    box.close();
  });

  it('HL7: a PCD-04 alarm whose OBX-14 is 99991231235959-0500, beside another bed\'s: the alarms body passes the schema', async () => {
    const pcd04 = (id: string, bed: string, t: string) =>
      [
        `MSH|^~\\&|CENTRAL|ICU|||${now}||ORU^R40^ORU_R40|${id}|P|2.6|||AL|NE`,
        `PID|||P${bed}^^^^MR`,
        `PV1||I|ICU^^${bed}`,
        `OBR|1||A${bed}^CENTRAL|196616^MDC_EVT_ALARM^MDC|||${now}`,
        `OBX|1|ST|196670^MDC_EVT_LO^MDC|1.1.1.1|alarm|||PH~SP||F|||${t}`,
        `OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.3|start||||||F`,
        `OBX|3|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.4|active||||||F`,
      ].join('\r');
    const { ingest, body, box } = setup();
    for (const text of [pcd04('A1', '1', '99991231235959-0500'), pcd04('A2', '2', now)]) {
      const m = parseMessage(text);
      const p = ingest.accept('icu-mllp', mapMessage(m, readHeader(m), { source: 'icu-mllp', receivedAt: T }).events);
      ingest.commit();
      await p;
    }
    const alarms = body('alarms');
    expect(alarms.records.map((r) => [r.type, r.bed, r.deviceTime])).toEqual([
      ['alarm', 'ICU//1', null],
      ['alarm', 'ICU//2', new Date(T).toISOString()],
    ]);
    expect(messageSchemaErrors(alarms)).toEqual([]);
    box.close();
  });
});

describe('review rv164 F2: a vendor refid (not MDC_) goes out as refid null, kept as rawCode text', () => {
  const VENDOR = { code: 4261412865, refid: 'VENDOR_FLOW_RATE' };
  const flow: NumericReading = {
    kind: 'numeric', deviceId: 'pump-bed8', bed: 'ICU-08', source: 'modbus-1', mdc: VENDOR, raw: { system: 'modbus', code: '2/holding/0', text: 'flow' },
    value: 25, unit: { ucum: 'mL/h' }, deviceTime: null, receivedAt: T, quality: { state: 'valid' },
  };

  it('a Modbus reading { code, refid: VENDOR_FLOW_RATE } through normalise and toRecord: code kept, refid null, the term in rawCode text; the body passes the schema', () => {
    const body = JSON.parse(envelope('gw-1')('m1', 'telemetry', [toRecord(normalise(flow), true)!.body, toRecord(normalise(hr), true)!.body])) as { records: Record<string, unknown>[] };
    expect(body.records[0]).toMatchObject({ code: 4261412865, refid: null, rawCode: { system: 'modbus', code: '2/holding/0', text: 'VENDOR_FLOW_RATE' } });
    expect(body.records[1]).toMatchObject({ code: MDC.ECG_HEART_RATE.code, refid: 'MDC_ECG_HEART_RATE' });
    expect(body.records[1]).not.toHaveProperty('rawCode');
    expect(messageSchemaErrors(body)).toEqual([]);
  });

  it('without a raw code: rawCode { system MDC, the code, the term as text }; the hot path writes what JSON.stringify of the record writes (numeric, waveform)', () => {
    const bare: NumericReading = { ...flow, raw: undefined };
    delete bare.raw;
    expect(JSON.parse(numericJson(bare))).toMatchObject({ code: 4261412865, refid: null, rawCode: { system: 'MDC', code: '4261412865', text: 'VENDOR_FLOW_RATE' } });
    // Twice: the second is the code memo's text.
    expect(numericJson(bare)).toBe(JSON.stringify(numericRecord(bare)));
    expect(numericJson(bare)).toBe(JSON.stringify(numericRecord(bare)));
    expect(numericJson(flow)).toBe(JSON.stringify(numericRecord(flow)));
    const w: WaveformSegment = { ...wave, mdc: VENDOR };
    expect(waveformJson(w)).toBe(JSON.stringify(waveformRecord(w)));
    expect(JSON.parse(waveformJson(w))).toMatchObject({ code: 4261412865, refid: null, rawCode: { system: 'MDC', code: '4261412865', text: 'VENDOR_FLOW_RATE' } });
    const body = JSON.parse(envelope('gw-1')('m1', 'telemetry', [numericJson(bare), waveformJson(w)])) as unknown;
    expect(messageSchemaErrors(body)).toEqual([]);
  });

  it('an alarm and an alarm change under a vendor condition refid: refid null, the term in rawCode text; bodies pass the schema', () => {
    const a: AlarmEvent = { ...alarm, condition: VENDOR };
    expect(alarmRecord(a)).toMatchObject({ code: 4261412865, refid: null, rawCode: { system: 'MDC', code: '4261412865', text: 'VENDOR_FLOW_RATE' } });
    expect(messageSchemaErrors(JSON.parse(envelope('gw-1')('m1', 'alarms', [JSON.stringify(alarmRecord(a))])))).toEqual([]);
    const change = {
      alarmId: 'x1', seq: 1, change: 'raised', from: null, to: 'active', why: 'device', actor: 'system', at: T,
      alarm: {
        deviceId: 'dev-A', bed: 'A1', source: 'device', condition: { code: VENDOR, text: 'FLOW HIGH' }, priority: 'medium', category: 'technical',
        state: 'active', escalated: false, conditionPresent: true, latching: false, raisedAt: T, annotations: [],
      },
    } as unknown as AlarmStateChange; // only the fields alarmChangeRecord reads
    expect(alarmChangeRecord(change)).toMatchObject({ code: 4261412865, refid: null, rawCode: { system: 'MDC', code: '4261412865', text: 'VENDOR_FLOW_RATE' } });
  });
});
