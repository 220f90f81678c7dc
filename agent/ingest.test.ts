import { describe, expect, it } from 'vitest';
import { Ingest, IngestRefusedError, normalise, toRecord } from './ingest.js';
import { Outbox } from './store/outbox.js';
import { Metrics } from './metrics.js';
import { MDC, UNITS } from './model/mdc.js';
import type { DriverEvent, NumericReading, WaveformSegment } from './model/reading.js';
import { captureLog } from '../test/support/log.js';

const reading = (value: number | string | null, t = 1000): NumericReading => ({
  kind: 'numeric',
  deviceId: 'dev-1',
  bed: 'ICU-01',
  source: 'test',
  mdc: MDC.ECG_HEART_RATE,
  value,
  unit: UNITS.BEAT_PER_MIN,
  deviceTime: t,
  receivedAt: t,
  quality: { state: 'valid' },
});

function setup(commitIntervalMs = 0, forwardWaveforms = false) {
  const box = new Outbox(':memory:');
  const metrics = new Metrics();
  const cap = captureLog();
  const ingest = new Ingest(box, { commitIntervalMs, forwardWaveforms }, cap.log, metrics);
  const seen: DriverEvent[] = [];
  ingest.subscribe((e) => seen.push(...e));
  return { box, metrics, cap, ingest, seen };
}

describe('Ingest', () => {
  it('resolves only after commit, then passes events downstream', async () => {
    const { box, ingest, seen } = setup(5);
    const p = ingest.accept('test', [reading(72)]);
    expect(box.pending('telemetry').records).toBe(0);
    expect(seen).toHaveLength(0);
    await p;
    expect(box.pending('telemetry').records).toBe(1);
    expect(seen).toHaveLength(1);
  });

  it('turns a non-finite value into null with quality invalid, never a number on screen or in the cloud', async () => {
    const { ingest, seen } = setup();
    await ingest.accept('test', [reading(Number.NaN)]);
    expect(seen[0]).toMatchObject({ value: null, quality: { state: 'invalid', reasons: ['not-a-finite-number'] } });
  });

  it('stores non-finite waveform samples as 0, and tells listeners which they were (the edge model reads them as invalid)', async () => {
    const { ingest, seen } = setup();
    const wave: WaveformSegment = {
      kind: 'waveform', deviceId: 'dev-1', bed: 'ICU-01', source: 'test', mdc: null, unit: { ucum: 'mV' }, startTime: 1000,
      sampleRateHz: 250, samples: [0.1, Number.NaN, 0, Number.POSITIVE_INFINITY, 0.2], receivedAt: 1020, quality: { state: 'valid' },
    };
    await ingest.accept('test', [wave]);
    expect(seen[0]).toMatchObject({ samples: [0.1, 0, 0, 0, 0.2], zeroed: [1, 3], quality: { state: 'questionable', reasons: ['non-finite-samples-zeroed'] } });
    expect(toRecord(seen[0]!, true)!.body).not.toContain('"zeroed"'); // kept for listeners, not stored or forwarded
    expect(normalise(wave)).toMatchObject({ zeroed: [1, 3] });
    expect(normalise({ ...wave, samples: [0.1, 0] })).not.toHaveProperty('zeroed');
  });

  it('stores a batch with an idempotency key once, even when the resend comes in the same group commit', async () => {
    const { box, ingest, seen, metrics, cap } = setup(5);
    await Promise.all([
      ingest.accept('test', [reading(72, 1)], { idempotencyKey: 'hl7:A|B|1|h' }),
      ingest.accept('test', [reading(72, 1)], { idempotencyKey: 'hl7:A|B|1|h' }),
    ]);
    await ingest.accept('test', [reading(72, 1)], { idempotencyKey: 'hl7:A|B|1|h' });
    await ingest.accept('test', [reading(80, 2)], { idempotencyKey: 'hl7:A|B|2|h' });
    expect(box.pending('telemetry').records).toBe(2);
    expect(seen.map((e) => (e as NumericReading).value)).toEqual([72, 80]);
    expect(metrics.get('ingest_duplicates_total')).toBe(2);
    expect(cap.find('resend of an already accepted batch: not stored again')).toMatchObject({ idempotencyKey: 'hl7:A|B|1|h' });
  });

  it('an oversized record in one emit leaves the others committed with it as they are', async () => {
    const { box, ingest, metrics } = setup(5);
    const huge = { ...reading(1), value: 'x'.repeat(300_000) };
    const results = await Promise.allSettled([ingest.accept('test', [reading(72)]), ingest.accept('test', [huge, reading(73)])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(box.pending('telemetry').records).toBe(2);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'too-large' })).toBe(1);
    expect(metrics.get('ingest_refused_total', { reason: 'RecordTooLargeError' })).toBe(0);
  });

  /** A desaturation and the long pleth segment that came with it, in one emit (one HL7 ORU, one device read). */
  function desaturation(samples: number) {
    const spo2: NumericReading = { ...reading(72), mdc: MDC.PULS_OXIM_SAT_O2, unit: UNITS.PERCENT };
    const pleth: WaveformSegment = {
      kind: 'waveform', deviceId: 'dev-1', bed: 'ICU-01', source: 'test', mdc: null, unit: { ucum: '{ratio}' }, startTime: Date.parse('2026-03-01T10:00:00Z'),
      sampleRateHz: 125, samples: Array.from({ length: samples }, (_, i) => Math.round(Math.sin(i / 7) * 1e6) / 1e3 + 0.0001 * i), receivedAt: 1000, quality: { state: 'valid' },
    };
    return { spo2, pleth };
  }

  it('splits a waveform segment whose record is over the store\'s limit into records that fit: same samples, consecutive start times, nothing lost', async () => {
    const { box, ingest, seen, metrics } = setup(5, true);
    const { spo2, pleth } = desaturation(30_000);
    expect(toRecord(pleth, true)!.body.length + JSON.stringify(pleth.samples).length).toBeGreaterThan(box.maxRecordBytes);
    await ingest.accept('test', [spo2, pleth]);
    // The listeners (alarm engine, display) get the emit as it came.
    expect(seen).toEqual([spo2, pleth]);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'too-large' })).toBe(0);
    const env = (id: string, _s: string, entries: string[]) => `{"id":"${id}","records":[${entries.join(',')}]}`;
    const records: { type: string; startTime: string; samples: number[] }[] = [];
    for (let m = box.pack('telemetry', 250_000, env); m; m = box.pack('telemetry', 250_000, env)) {
      records.push(...(JSON.parse(m.body) as { records: typeof records }).records);
      expect(m.body.length).toBeLessThan(box.maxRecordBytes + 1000);
    }
    const parts = records.filter((r) => r.type === 'waveform');
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.flatMap((p) => p.samples)).toEqual(pleth.samples);
    let at = pleth.startTime;
    for (const p of parts) {
      expect(Date.parse(p.startTime)).toBe(Math.floor(at));
      at += (p.samples.length * 1000) / pleth.sampleRateHz;
    }
  });

  it('a record too large that cannot be split is left out: the rest stored, every event passed on, counted, logged and told as a store refusal', async () => {
    const { box, ingest, seen, metrics, cap } = setup(5, true);
    const states: Array<{ reason: string } | null> = [];
    ingest.onStoreState((s) => states.push(s && { reason: s.reason }));
    const { spo2 } = desaturation(1);
    const alarm: DriverEvent = {
      kind: 'alarm', deviceId: 'dev-1', bed: 'ICU-01', source: 'test', alarmId: 'a1', condition: null, text: 'x'.repeat(250_000), priority: 'high',
      category: 'physiological', phase: 'start', receivedAt: 1000, deviceTime: 1000,
    } as DriverEvent;
    // Resolved: a resend could never be stored, so the sender is not asked for one.
    await ingest.accept('test', [spo2, alarm]);
    expect(seen).toEqual([spo2, alarm]);
    expect(box.pending('telemetry').records).toBe(1);
    expect(box.pending('alarms').records).toBe(0);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'too-large' })).toBe(1);
    expect(cap.find('a record over the store\'s record limit was not stored or forwarded (shown and alarmed here); the rest of its emit was stored')).toMatchObject({
      deviceId: 'dev-1', kind: 'alarm', limitBytes: box.maxRecordBytes,
    });
    // The agent raises its latched "Gateway cannot store data (…)" alarm from this.
    expect(states).toEqual([{ reason: expect.stringMatching(/^a record of 250 kB \(alarm\) over the store's 200 kB limit was dropped$/) }, null]);
  });

  it('events the store refuses (disk full) are refused to the driver but still reach the listeners; the store state is told', async () => {
    const { box, ingest, seen, metrics } = setup(5);
    const states: Array<{ reason: string } | null> = [];
    ingest.onStoreState((s) => states.push(s && { reason: s.reason }));
    const append = box.appendBatches.bind(box);
    let full = true;
    box.appendBatches = (...args) => {
      if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return append(...args);
    };
    const results = await Promise.allSettled([ingest.accept('test', [reading(72, 1)]), ingest.accept('test', [reading(75, 2)])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(seen.map((e) => (e as NumericReading).value)).toEqual([72, 75]); // shown and alarmed, though not kept
    expect(metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL' })).toBe(2);
    expect(metrics.get('store_committed_total')).toBe(0);
    expect(states).toEqual([{ reason: 'SQLITE_FULL' }]); // told once, not per refusal
    full = false;
    await ingest.accept('test', [reading(80, 3)]);
    expect(states).toEqual([{ reason: 'SQLITE_FULL' }, null]);
    expect(seen.map((e) => (e as NumericReading).value)).toEqual([72, 75, 80]);
    expect(box.pending('telemetry').records).toBe(1);
  });

  it('a sender\'s resends of a refused message reach the listeners once, also when the store takes it later', async () => {
    const { box, ingest, seen } = setup(5);
    const append = box.appendBatches.bind(box);
    let full = true;
    box.appendBatches = (...args) => {
      if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return append(...args);
    };
    for (let i = 0; i < 3; i++) await expect(ingest.accept('hl7', [reading(72, 1)], { idempotencyKey: 'hl7:A|B|1|h' })).rejects.toBeInstanceOf(IngestRefusedError);
    expect(seen).toHaveLength(1); // not taken for fresh data at each resend
    full = false;
    await ingest.accept('hl7', [reading(72, 1)], { idempotencyKey: 'hl7:A|B|1|h' });
    expect(box.pending('telemetry').records).toBe(1);
    expect(seen).toHaveLength(1); // stored now, shown before
    await ingest.accept('hl7', [reading(75, 2)], { idempotencyKey: 'hl7:A|B|2|h' });
    expect(seen.map((e) => (e as NumericReading).value)).toEqual([72, 75]);
  });

});
