// The ingest hot path writes record JSON by hand; it must be the very text JSON.stringify writes for the records
// of wire.ts, for any reading (the store, the hub and the consumers all see that text).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AlarmEvent, NumericReading, Quality, WaveformSegment } from '../model/reading.js';
import { MDC, UNITS } from '../model/mdc.js';
import { alarmRecord, envelope, iso, messageProperties, numericJson, numericJsonBytes, numericRecord, samplesJson, schemaVersionOf, waveformJson, waveformRecord } from './wire.js';
import { messageSchemaErrors } from '../../test/support/message-schema.js';

const time = fc.integer({ min: -8.64e15, max: 8.64e15 });
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const quality: fc.Arbitrary<Quality> = fc.record(
  { state: fc.constantFrom('valid', 'questionable', 'invalid', 'unavailable'), reasons: fc.array(text, { maxLength: 3 }) },
  { requiredKeys: ['state'] },
);
// Codes and units are drawn from a small pool too, so that the memoised texts are hit, and then missed again
// by a reading whose refid or unit code differs from the memo's.
const mdc = fc.oneof(
  fc.constant(null),
  fc.constantFrom(MDC.ECG_HEART_RATE, MDC.PULS_OXIM_SAT_O2, MDC.ECG_ELEC_POTL_II),
  fc.record({ code: fc.constantFrom(147842, 1, 0), refid: fc.constantFrom('MDC_X', 'MDC_ECG_HEART_RATE', 'MDC_"q"') }),
);
const unit = fc.oneof(
  fc.constantFrom(UNITS.BEAT_PER_MIN, UNITS.PERCENT, UNITS.MILLI_VOLT),
  fc.record({ ucum: fc.constantFrom('/min', '%', 'mV', '', 'µ"'), mdc: fc.record({ code: fc.constantFrom(264864, 7), refid: fc.constant('MDC_DIM_X') }) }, { requiredKeys: ['ucum'] }),
);
const origin = {
  deviceId: fc.constantFrom('dev-1', 'dev-2', 'ünï"code'),
  bed: fc.constantFrom('ICU-01', 'ICU-02', 'b\n'),
  patientId: fc.constantFrom('p1', 'p2'),
  source: fc.constantFrom('sim', 'hl7'),
  context: fc.dictionary(text, fc.oneof(text, fc.integer(), fc.constant(null)), { maxKeys: 2 }),
};
const originKeys = ['deviceId', 'source'] as const;
const raw = fc.record({ system: text, code: text, text }, { requiredKeys: ['system', 'code'] });
const value = fc.oneof(fc.double(), fc.integer(), text, fc.constant(null), fc.constant(-0), fc.constant(Number.NaN));

const numeric: fc.Arbitrary<NumericReading> = fc.record(
  {
    kind: fc.constant('numeric' as const),
    ...origin,
    mdc,
    raw,
    value,
    unit,
    deviceTime: fc.oneof(fc.constant(null), time),
    receivedAt: time,
    quality,
    setting: fc.constant(true as const),
  },
  { requiredKeys: ['kind', ...originKeys, 'mdc', 'value', 'unit', 'deviceTime', 'receivedAt', 'quality'] },
);

// Samples: multiples of 0.001 (the fast path), arbitrary doubles (the fallback) and the odd ones.
const sample = fc.oneof(
  fc.integer({ min: -2_000_000, max: 2_000_000 }).map((k) => k / 1000),
  fc.integer({ min: -1e12, max: 1e12 }).map((k) => k / 1000),
  fc.double(),
  fc.constantFrom(0, -0, 0.1, 0.0005, -0.0005, 999_999_999.999, 1e9, -1e9, 1e21, 5e-324, Number.NaN, Infinity, -Infinity),
);
const waveform: fc.Arbitrary<WaveformSegment> = fc.record(
  {
    kind: fc.constant('waveform' as const),
    ...origin,
    mdc,
    raw,
    unit,
    startTime: time,
    sampleRateHz: fc.constantFrom(250, 125, 62.5, 0), // 0: rate unknown (sample-rate-unknown), sent as is
    samples: fc.array(sample, { maxLength: 40 }),
    receivedAt: time,
    quality,
  },
  { requiredKeys: ['kind', ...originKeys, 'mdc', 'unit', 'startTime', 'sampleRateHz', 'samples', 'receivedAt', 'quality'] },
);

describe('record JSON written by hand (ingest hot path)', () => {
  it('numericJson is JSON.stringify(numericRecord) for any reading', () => {
    fc.assert(fc.property(numeric, (r) => {
      expect(numericJson(r)).toBe(JSON.stringify(numericRecord(r)));
    }), { numRuns: 2000 });
  });

  it('numericJsonBytes is the UTF-8 length of the text numericJson wrote last, whatever came before (its memos)', () => {
    fc.assert(fc.property(fc.array(numeric, { minLength: 1, maxLength: 8 }), (rs) => {
      for (const r of rs) {
        const text = numericJson(r);
        expect(numericJsonBytes()).toBe(Buffer.byteLength(text));
      }
    }), { numRuns: 1000 });
  });

  it('numericJson stays exact over a run of readings that share their times (its memo of the last pair)', () => {
    // An emit's readings share deviceTime and receivedAt; the memo must miss when either one changes.
    const times = fc.tuple(fc.constantFrom(null, 1_790_000_000_000, 1_790_000_000_001), fc.constantFrom(1_790_000_000_000, 1_790_000_000_250));
    fc.assert(fc.property(fc.array(fc.tuple(numeric, times), { maxLength: 20 }), (rs) => {
      for (const [r, [deviceTime, receivedAt]] of rs) {
        const shared = { ...r, deviceTime, receivedAt };
        expect(numericJson(shared)).toBe(JSON.stringify(numericRecord(shared)));
      }
    }), { numRuns: 500 });
  });

  it('waveformJson is JSON.stringify(waveformRecord) for any segment, samples included', () => {
    fc.assert(fc.property(waveform, (w) => {
      expect(waveformJson(w)).toBe(JSON.stringify(waveformRecord(w)));
    }), { numRuns: 2000 });
  });

  it('iso is Date.toISOString for any time, whatever came before (its caches of the last time and second)', () => {
    const near = fc.integer({ min: 1_790_000_000_000, max: 1_790_000_005_000 }); // a few seconds: the caches hit
    const t = fc.oneof(near, time, fc.double({ min: -1e13, max: 1e13, noNaN: true }), fc.constantFrom(0, 253402300799999, 253402300800000, -1));
    fc.assert(fc.property(fc.array(t, { maxLength: 30 }), (ms) => {
      for (const m of ms) expect(iso(m)).toBe(new Date(m).toISOString());
    }), { numRuns: 2000 });
    expect(iso(null)).toBeNull();
    expect(() => iso(9e15)).toThrow(RangeError);
  });

  it('samplesJson is JSON.stringify for samples on a decimal grid and for any other double', () => {
    // Device-like samples (counts times 0.001 … 1, both signs, large and tiny) take the fast path; arbitrary
    // doubles, NaN, ±Infinity and -0 take the fallback; both must give JSON.stringify's very text.
    const grid = fc.tuple(fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }), fc.constantFrom(1, 10, 100, 1000)).map(([n, d]) => n / d);
    const any = fc.oneof(grid, fc.double(), fc.constantFrom(-0, 0.1 + 0.2, 1e-7, 123456789.123, -999999.999, 0.0005));
    fc.assert(fc.property(fc.array(any, { maxLength: 60 }), (xs) => {
      expect(samplesJson(xs)).toBe(JSON.stringify(xs));
    }), { numRuns: 5000 });
    expect(samplesJson([0.017, -0.05, 1.5, -0, 2, 0.1 + 0.2])).toBe('[0.017,-0.05,1.5,0,2,0.30000000000000004]');
  });

  it('throws as JSON.stringify(record) does on an impossible time', () => {
    const r = { kind: 'numeric', deviceId: 'd', source: 's', mdc: null, value: 1, unit: UNITS.PERCENT, deviceTime: null, receivedAt: 9e15, quality: { state: 'valid' } } as NumericReading;
    expect(() => JSON.stringify(numericRecord(r))).toThrow(RangeError);
    expect(() => numericJson(r)).toThrow(RangeError);
  });
});

describe('alarm records', () => {
  const base: AlarmEvent = {
    kind: 'alarm', deviceId: 'vent-1', bed: 'bed-3', source: 'medibus', alarmId: 'vent-1:cp1:APNEA', condition: null,
    raw: { system: 'medibus', code: 'alarm:cp1:APNEA' }, text: 'APNEA', priority: 'high', category: 'physiological',
    phase: 'end', deviceTime: null, receivedAt: Date.UTC(2026, 0, 1, 10, 0, 0),
  };
  const body = (a: AlarmEvent) => JSON.parse(envelope('gw')('m-1', 'alarms', [JSON.stringify(alarmRecord(a))])) as { records: Record<string, unknown>[] };

  it('tell an end the gateway made (link lost), a momentary event and what was done at the device, valid by the published schema', () => {
    const linkLost = body({ ...base, endedBy: 'link-lost' });
    const momentary = body({ ...base, phase: 'start', momentary: true });
    const acknowledged = body({ ...base, phase: 'continue', atDevice: 'acknowledged' });
    const paused = body({ ...base, phase: 'continue', atDevice: 'audio-paused' });
    const latched = body({ ...base, latched: true });
    expect(latched.records[0]).toMatchObject({ phase: 'end', latched: true });
    expect(messageSchemaErrors(latched)).toEqual([]);
    expect(linkLost.records[0]).toMatchObject({ phase: 'end', endedBy: 'link-lost' });
    expect(momentary.records[0]).toMatchObject({ phase: 'start', momentary: true });
    expect(acknowledged.records[0]).toMatchObject({ atDevice: 'acknowledged' });
    expect(paused.records[0]).toMatchObject({ atDevice: 'audio-paused' });
    for (const b of [linkLost, momentary, acknowledged, paused]) expect(messageSchemaErrors(b)).toEqual([]);
    // Additive: an alarm without them is written as before, without the fields.
    const plain = body(base).records[0]!;
    expect(['endedBy', 'momentary', 'latched', 'atDevice'].filter((k) => k in plain)).toEqual([]);
    expect(messageSchemaErrors(body(base))).toEqual([]);
  });
});

describe('waveform records (review rv146 F1)', () => {
  it('a waveform whose sample rate is unknown (sampleRateHz 0, sample-rate-unknown) is valid by the published schema, and so is the body around it', () => {
    const seg: WaveformSegment = {
      kind: 'waveform', deviceId: 'mon-1', bed: 'ICU-01', source: 'hl7', mdc: MDC.PULS_OXIM_SAT_O2, raw: { system: 'MDC', code: '150456' },
      unit: UNITS.PERCENT, startTime: Date.UTC(2026, 0, 1, 8), sampleRateHz: 0, samples: [1, 2, 3],
      receivedAt: Date.UTC(2026, 0, 1, 8, 0, 1), quality: { state: 'questionable', reasons: ['sample-rate-unknown'] },
    };
    const spo2: NumericReading = {
      kind: 'numeric', deviceId: 'mon-1', bed: 'ICU-01', source: 'hl7', mdc: MDC.PULS_OXIM_SAT_O2, value: 97, unit: UNITS.PERCENT,
      deviceTime: null, receivedAt: Date.UTC(2026, 0, 1, 8, 0, 1), quality: { state: 'valid' },
    };
    const body = JSON.parse(envelope('gw')('m-1', 'telemetry', [numericJson(spo2), waveformJson(seg)])) as { records: Record<string, unknown>[] };
    expect(body.records[1]).toMatchObject({ type: 'waveform', sampleRateHz: 0, quality: 'questionable', qualityReasons: ['sample-rate-unknown'] });
    expect(messageSchemaErrors(body)).toEqual([]);
    // Still refused below 0: a negative rate is no device's.
    body.records[1]!.sampleRateHz = -1;
    expect(messageSchemaErrors(body)).not.toEqual([]);
  });
});

describe('message properties', () => {
  it('carry the schema version of the body they travel with; 1 without one', () => {
    expect(messageProperties('telemetry', 'gw').schemaVersion).toBe('1');
    expect(messageProperties('alarms', 'gw', '{"schemaVersion":1,"gatewayId":"gw"}')).toEqual({ kind: 'alarm', schemaVersion: '1', gatewayId: 'gw' });
    expect(messageProperties('telemetry', 'gw', '{"schemaVersion":2,"encoding":"compact"}').schemaVersion).toBe('2');
    expect(schemaVersionOf('not json')).toBe(1);
  });
});

describe('alarm-change records (review rv51 M3)', () => {
  it('say whether the condition is still there, whether it latches and until when its audio is paused; valid against schema 1', async () => {
    const { AlarmEngine } = await import('../alarms/engine.js');
    const { numeric, nurse, s } = await import('../alarms/fixtures.js');
    const { DEFAULT_NEWS2_CONFIG } = await import('../alarms/news2.js');
    const { alarmChangeRecord } = await import('./wire.js');
    const e = new AlarmEngine({ news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } } });
    const changes = [];
    // HR 130: the default high-rate limit alarm; paused by a nurse, then the rate recovers while paused.
    for (let t = 0; t <= 20; t++) changes.push(...e.reading(numeric(MDC.ECG_HEART_RATE, 130, t)), ...e.tick(s(t)));
    const raised = changes.find((c) => c.change === 'raised')!;
    const paused = e.audioPause({ alarmId: raised.alarmId }, nurse, 60, s(21)).changes;
    for (let t = 22; t <= 40; t++) changes.push(...e.reading(numeric(MDC.ECG_HEART_RATE, 80, t)), ...e.tick(s(t)));
    // Not latching: it resolves as its condition ends, its pause with it.
    const ended = changes.find((c) => c.alarmId === raised.alarmId && c.change === 'resolved')!;
    const records = [raised, ...paused, ended].map((c) => JSON.parse(JSON.stringify(alarmChangeRecord(c))) as Record<string, unknown>);
    expect(records.map((r) => [r.change, r.state, r.conditionPresent, r.audioPausedUntil ?? null])).toEqual([
      ['raised', 'active', true, null],
      ['audio-paused', 'audio-paused', true, iso(s(81))],
      ['resolved', 'resolved', false, null],
    ]);
    for (const r of records) expect(r.latching).toBe(false);
    const body = envelope('gw')('m-1', 'alarms', records.map((r) => JSON.stringify(r)));
    expect(messageSchemaErrors(JSON.parse(body))).toEqual([]);
  });
});
