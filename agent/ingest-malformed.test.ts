// Malformed driver events (review rv157): a time a Date cannot hold, a sample rate that is not a rate, an event with
// no device id. Each is normalised or refused alone: never a crash after the commit, never a "store failure".
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ingest, normalise } from './ingest.js';
import { Metrics } from './metrics.js';
import { MDC, UNITS } from './model/mdc.js';
import type { AlarmEvent, DriverEvent, NumericReading, WaveformSegment } from './model/reading.js';
import { Outbox } from './store/outbox.js';
import { captureLog } from '../test/support/log.js';

const T = 1_790_000_000_000;
/** Nanoseconds read as milliseconds: finite, past what a Date can hold (±8.64e15 ms). */
const NS = T * 1e6;
const hr: NumericReading = {
  kind: 'numeric', deviceId: 'dev-A', bed: 'A1', source: 'test', mdc: MDC.ECG_HEART_RATE, value: 72,
  unit: UNITS.BEAT_PER_MIN, deviceTime: T, receivedAt: T, quality: { state: 'valid' },
};
const wave = (more: Partial<WaveformSegment> = {}): WaveformSegment => ({
  kind: 'waveform', deviceId: 'dev-A', bed: 'A1', source: 'test', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT, startTime: T,
  sampleRateHz: 250, samples: [0.1, 0.2, 0.3, 0.4], receivedAt: T, quality: { state: 'valid' }, ...more,
});
const alarm: AlarmEvent = {
  kind: 'alarm', deviceId: 'dev-A', bed: 'A1', source: 'test', alarmId: 'a1', condition: null, text: 'HR HIGH', priority: 'medium',
  category: 'physiological', phase: 'start', deviceTime: NS, receivedAt: T,
};

function setup() {
  const box = new Outbox(':memory:');
  const metrics = new Metrics();
  const cap = captureLog();
  const ingest = new Ingest(box, { commitIntervalMs: 60_000, forwardWaveforms: true }, cap.log, metrics);
  const seen: DriverEvent[] = [];
  ingest.subscribe((es) => seen.push(...es));
  const states: unknown[] = [];
  ingest.onStoreState((s) => states.push(s));
  /** The records of a stream as a consumer gets them. */
  const records = (stream: 'telemetry' | 'alarms') => {
    const msg = box.pack(stream, 1 << 20, (id, _s, entries) => `{"id":"${id}","records":[${entries.join(',')}]}`);
    return msg ? (JSON.parse(msg.body) as { records: Record<string, unknown>[] }).records : [];
  };
  return { box, metrics, cap, ingest, seen, states, records };
}

describe('Ingest: malformed driver events (review rv157)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('F1: a device time past what a Date can hold is an unknown time, as NaN is: no crash after the commit, the other bed\'s reading reaches the listeners', async () => {
    const { ingest, seen, metrics, records } = setup();
    const p1 = ingest.accept('test', [{ ...hr, deviceId: 'dev-B', bed: 'B2', value: 30 }]);
    const p2 = ingest.accept('test', [{ ...hr, deviceTime: NS }, { ...hr, deviceTime: -NS, mdc: MDC.PULS_OXIM_SAT_O2, value: 97 }]);
    const p3 = ingest.accept('test', [alarm, wave({ startTime: NS }), wave({ startTime: Number.MAX_VALUE, bed: 'A2' })]);
    expect(() => ingest.commit()).not.toThrow();
    await Promise.all([p1, p2, p3]);
    expect(seen.map((e) => `${e.kind}/${e.bed}`)).toEqual(['numeric/B2', 'numeric/A1', 'numeric/A1', 'alarm/A1', 'waveform/A1', 'waveform/A2']);
    // Listeners never get a time a Date cannot hold.
    expect(seen.map((e) => (e.kind === 'waveform' ? e.startTime : e.kind === 'device-status' ? e.at : e.deviceTime))).toEqual([T, null, null, null, T, T]);
    const telemetry = records('telemetry');
    expect(telemetry.map((r) => [r.type, r.bed, r.type === 'waveform' ? r.startTime : r.deviceTime, r.quality, r.qualityReasons ?? []])).toEqual([
      ['numeric', 'B2', new Date(T).toISOString(), 'valid', []],
      ['numeric', 'A1', null, 'valid', []],
      ['numeric', 'A1', null, 'valid', []],
      ['waveform', 'A1', new Date(T).toISOString(), 'questionable', ['time-from-receipt']],
      ['waveform', 'A2', new Date(T).toISOString(), 'questionable', ['time-from-receipt']],
    ]);
    // The alarm is stored (for the cloud), with its time unknown.
    expect(records('alarms').map((r) => [r.alarmId, r.deviceTime])).toEqual([['a1', null]]);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'unserialisable' })).toBe(0);
    // Counted as a NaN time is (readings only, as for NaN).
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'test' })).toBe(4);
  });

  it('F1: a receipt time or a status time past what a Date can hold is taken as ingest\'s receipt time (fx234; before, left out of the store): all stored, counted', async () => {
    const { ingest, seen, metrics, box, states } = setup();
    const p = ingest.accept('test', [
      { ...hr, receivedAt: NS },
      { kind: 'device-status', deviceId: 'dev-A', bed: 'A1', source: 'test', state: 'online', detail: '', at: NS },
      wave({ startTime: NS, receivedAt: -NS }),
      { ...hr, bed: 'B2', deviceId: 'dev-B' },
    ]);
    expect(() => ingest.commit()).not.toThrow();
    await p;
    expect(box.pending('telemetry').records).toBe(4);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'unserialisable' })).toBe(0);
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'test' })).toBe(3);
    expect(states).toEqual([]);
    expect(seen.map((e) => e.bed)).toEqual(['A1', 'A1', 'A1', 'B2']);
  });

  it('F1: the same on the commit timer: no uncaught exception, every bed shown', async () => {
    const box = new Outbox(':memory:');
    const ingest = new Ingest(box, { commitIntervalMs: 1, forwardWaveforms: false }, captureLog().log, new Metrics());
    const seen: DriverEvent[] = [];
    ingest.subscribe((es) => seen.push(...es));
    await Promise.all([ingest.accept('test', [{ ...hr, bed: 'B2', deviceId: 'dev-B' }]), ingest.accept('test', [{ ...hr, deviceTime: NS }])]);
    expect(seen.map((e) => e.bed)).toEqual(['B2', 'A1']);
    expect(box.pending('telemetry').records).toBe(2);
  });

  it('F1: a fault in the checks after the commit (out of order, device clock) never keeps the events from the listeners: logged and counted', async () => {
    const { ingest, seen, metrics, cap } = setup();
    // Stands for any fault of these checks (a private method: reached through the prototype, typed loosely for that only).
    vi.spyOn(Ingest.prototype as unknown as { checkClock: () => void }, 'checkClock').mockImplementation(() => {
      throw new RangeError('Invalid time value');
    });
    const p = Promise.all([ingest.accept('test', [{ ...hr, bed: 'B2', deviceId: 'dev-B' }]), ingest.accept('test', [hr])]);
    expect(() => ingest.commit()).not.toThrow();
    await p;
    expect(seen.map((e) => e.bed)).toEqual(['B2', 'A1']);
    expect(metrics.get('ingest_after_commit_errors_total')).toBe(1);
    expect(cap.find(/^ingest's checks after a commit failed/)).toMatchObject({ events: 2 });
  });

  it('a gateway time that is no real time (a receipt time NaN, infinite or past a Date, a status time 1e300) is taken as ingest\'s receipt time: stored, forwarded, the listeners get a real time, counted (fx234)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const now = T + 5_000;
    vi.setSystemTime(now);
    const { ingest, seen, metrics, records, states, cap } = setup();
    const p = ingest.accept('test', [
      { ...hr, receivedAt: Number.NaN },
      { kind: 'device-status', deviceId: 'dev-A', bed: 'A1', source: 'test', state: 'online', detail: '', at: 1e300 },
      { ...alarm, deviceTime: T, receivedAt: Number.POSITIVE_INFINITY },
      wave({ startTime: NS, receivedAt: -NS }),
      { ...hr, bed: 'B2', deviceId: 'dev-B' },
    ]);
    expect(() => ingest.commit()).not.toThrow();
    await p;
    // The listeners get real times: the receipt time where the gateway's own was none, the rest as given.
    const gatewayTime = (e: DriverEvent) => (e.kind === 'device-status' ? e.at : e.receivedAt);
    expect(seen.map((e) => [e.kind, e.bed, gatewayTime(e)])).toEqual([
      ['numeric', 'A1', now], ['device-status', 'A1', now], ['alarm', 'A1', now], ['waveform', 'A1', now], ['numeric', 'B2', T],
    ]);
    // Nothing else is changed: the device time is kept, a waveform's start put at receipt as before (marked so).
    expect(seen[0]).toMatchObject({ deviceTime: T, quality: { state: 'valid' } });
    expect(seen[2]).toMatchObject({ deviceTime: T });
    expect(seen[3]).toMatchObject({ startTime: now, quality: { state: 'questionable', reasons: ['time-from-receipt'] } });
    const iso = new Date(now).toISOString();
    expect(records('telemetry').map((r) => [r.type, r.bed, r.type === 'device-status' ? r.at : r.receivedAt, r.quality ?? null])).toEqual([
      ['numeric', 'A1', iso, 'valid'], ['device-status', 'A1', iso, null], ['waveform', 'A1', iso, 'questionable'], ['numeric', 'B2', new Date(T).toISOString(), 'valid'],
    ]);
    expect(records('alarms').map((r) => [r.alarmId, r.receivedAt, r.deviceTime])).toEqual([['a1', iso, new Date(T).toISOString()]]);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'unserialisable' })).toBe(0);
    expect(states).toEqual([]);
    // Counted as a device's impossible time is, one per event, whatever its kind; and said in the same log line.
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'test' })).toBe(4);
    expect(cap.find(/^non-finite values \(NaN, Infinity\) from a device/)?.msg).toMatch(/gateway's own time .* as the receipt time/);
  });

  it('F2: a sample rate of zero or below is unknown (0), questionable, with the reason sample-rate-unknown, as a NaN rate is', async () => {
    const { ingest, records } = setup();
    const known = wave({ sampleRateHz: 0, quality: { state: 'questionable', reasons: ['sample-rate-unknown'] } });
    // Already marked by its driver: unchanged, the reason not added twice.
    expect(normalise(known)).toBe(known);
    expect(normalise(wave({ sampleRateHz: -250, quality: { state: 'invalid', reasons: ['x'] } }))).toMatchObject({
      sampleRateHz: 0, quality: { state: 'invalid', reasons: ['x', 'sample-rate-unknown'] },
    });
    const p = ingest.accept('test', [wave({ sampleRateHz: Number.NaN }), wave({ sampleRateHz: -250 }), wave({ sampleRateHz: 0 }), wave({ sampleRateHz: -0 }), known]);
    ingest.commit();
    await p;
    expect(records('telemetry').map((r) => [r.sampleRateHz, r.quality, r.qualityReasons])).toEqual(
      Array(5).fill([0, 'questionable', ['sample-rate-unknown']]),
    );
  });

  it('F3: an event without a device id is kept as from a stand-in device named after its driver (an alarm is never dropped), counted and logged; the store is not said to refuse', async () => {
    const { ingest, box, metrics, states, cap, seen } = setup();
    const noId = { ...hr, bed: 'B2' } as Partial<NumericReading>;
    delete noId.deviceId;
    const results = Promise.allSettled([
      ingest.accept('test', [hr]),
      ingest.accept('icu-mllp', [noId as DriverEvent, { ...hr, value: 73 }, { ...alarm, deviceId: '', deviceTime: T }]),
    ]);
    ingest.commit();
    expect((await results).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    // Before (rv157 F3): the NOT NULL refused the whole emit as a store failure; nothing of it stored.
    expect(box.pending('telemetry').records).toBe(3);
    expect(box.pending('alarms').records).toBe(1);
    expect(states).toEqual([]);
    expect(metrics.get('ingest_refused_total', { reason: 'SQLITE_CONSTRAINT_NOTNULL', source: 'icu-mllp' })).toBe(0);
    expect(metrics.get('ingest_no_device_id_total', { source: 'icu-mllp' })).toBe(2);
    // A stand-in device id is no non-finite value (the copy once counted as one).
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'icu-mllp' })).toBe(0);
    expect(cap.find(/^an event from a driver without a device id/)).toMatchObject({ source: 'icu-mllp', deviceId: 'icu-mllp:no-device-id', kind: 'numeric', bed: 'B2' });
    // Shown too: the alarm reaches the listeners (alarm engine, display) under the stand-in id.
    expect(seen.map((e) => `${e.kind}:${e.deviceId}`)).toEqual(['numeric:dev-A', 'numeric:icu-mllp:no-device-id', 'numeric:dev-A', 'alarm:icu-mllp:no-device-id']);
  });
});
