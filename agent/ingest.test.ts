import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMMIT_AT_EVENTS, Ingest, IngestRefusedError, normalise, toRecord } from './ingest.js';
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

/** The store refuses every append while `full.on` (SQLITE_FULL, as on a full disk). */
function fillStore(box: Outbox): { on: boolean } {
  const append = box.appendBatches.bind(box);
  const full = { on: true };
  box.appendBatches = (...args) => {
    if (full.on) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return append(...args);
  };
  return full;
}

/**
 * A raw code that refers to itself: JSON cannot write it, so its event cannot become a record (the unserialisable
 * path). A gateway time that is none no longer gets there (ingest takes its own receipt time, fx234).
 */
function circularRaw(): { system: string; code: string; self?: unknown } {
  const raw: { system: string; code: string; self?: unknown } = { system: 'vendor', code: 'x' };
  raw.self = raw;
  return raw;
}

/** pino's numeric levels. */
const WARN = 40;
const INFO = 30;

describe('Ingest', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves only after commit, then passes events downstream', async () => {
    const { box, ingest, seen } = setup(5);
    const p = ingest.accept('test', [reading(72)]);
    expect(box.pending('telemetry').records).toBe(0);
    expect(seen).toHaveLength(0);
    await p;
    expect(box.pending('telemetry').records).toBe(1);
    expect(seen).toHaveLength(1);
  });

  it('a window that gathers COMMIT_AT_EVENTS events commits after the current turn, not at the end of the window; one short of it waits', async () => {
    const { box, ingest } = setup(60_000);
    const emits = (n: number, t0: number) => Array.from({ length: n }, (_, i) => [reading(72, t0 + i)]);
    const turn = () => new Promise((r) => setImmediate(r));
    // One event short: nothing is committed until the window (a minute) ends.
    const first = emits(COMMIT_AT_EVENTS - 1, 0).map((e) => ingest.accept('test', e));
    await turn();
    await turn();
    expect(box.pending('telemetry').records).toBe(0);
    // The one that reaches the threshold commits all of them, and one sent in the same turn joins.
    const last = [ingest.accept('test', [reading(72, 1e6)]), ingest.accept('test', [reading(72, 1e6 + 1)])];
    await Promise.all([...first, ...last]);
    expect(box.pending('telemetry').records).toBe(COMMIT_AT_EVENTS + 1);
    // The window starts again: a few events wait for it.
    void ingest.accept('test', [reading(72, 2e6)]);
    await turn();
    await turn();
    expect(box.pending('telemetry').records).toBe(COMMIT_AT_EVENTS + 1);
    ingest.close();
    expect(box.pending('telemetry').records).toBe(COMMIT_AT_EVENTS + 2);
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

  it('a waveform whose start time is not a time is placed at receipt time, marked, and stored; a non-finite sample rate is 0 (review rv114 L5)', async () => {
    const { box, ingest, seen, metrics } = setup(0, true);
    const wave: WaveformSegment = {
      kind: 'waveform', deviceId: 'dev-1', bed: 'ICU-01', source: 'test', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT, startTime: Number.NaN,
      sampleRateHz: 250, samples: [0.1, 0.2], receivedAt: 1_790_000_000_000, quality: { state: 'valid' },
    };
    expect(normalise(wave)).toMatchObject({ startTime: wave.receivedAt, quality: { state: 'questionable', reasons: ['time-from-receipt'] } });
    expect(normalise({ ...wave, startTime: 1000, sampleRateHz: Number.POSITIVE_INFINITY })).toMatchObject({
      startTime: 1000, sampleRateHz: 0, quality: { state: 'questionable', reasons: ['sample-rate-unknown'] },
    });
    const both = normalise({ ...wave, sampleRateHz: Number.NaN, samples: [0.1, Number.NaN], quality: { state: 'invalid', reasons: ['x'] } });
    expect(both).toMatchObject({
      startTime: wave.receivedAt, sampleRateHz: 0, samples: [0.1, 0], zeroed: [1],
      quality: { state: 'invalid', reasons: ['x', 'time-from-receipt', 'sample-rate-unknown', 'non-finite-samples-zeroed'] },
    });
    expect(() => toRecord(both, true)).not.toThrow();
    await ingest.accept('test', [wave, { ...wave, sampleRateHz: Number.NaN }]);
    expect(box.pending('telemetry').records).toBe(2); // stored, not dropped as unserialisable
    expect(metrics.get('ingest_records_dropped_total', { reason: 'unserialisable' })).toBe(0);
    expect(seen).toHaveLength(2);
  });

  it('marks a backlog per device, bed and metric within one commit, a setting apart from its measurement, a raw code by its text', async () => {
    const { ingest, metrics, seen } = setup(5);
    const MIN = 60_000;
    const T = 1_790_000_000_000;
    const at = (r: NumericReading, deviceTime: number, more: Partial<NumericReading> = {}): NumericReading => ({ ...r, deviceTime, receivedAt: T + 1000, ...more });
    const hr = reading(70);
    const bed2 = { ...hr, bed: 'ICU-02' }; // another monitor behind the same id, its clock 30 min slow
    const raw = { ...hr, mdc: null, raw: { system: 'LOCAL', code: 'HR' } };
    await ingest.accept('test', [at(hr, T), at(bed2, T - 30 * MIN), at(raw, T)]);
    seen.length = 0;
    // Then, in one commit: a backlog 40 min old of some kinds, between readings of others.
    await Promise.all([
      ingest.accept('test', [at(hr, T - 40 * MIN), at(bed2, T - 30 * MIN + 1000)]),
      ingest.accept('test', [at(raw, T - 40 * MIN), at(hr, T - 40 * MIN, { setting: true, value: 50 }), at(hr, T - 40 * MIN, { mdc: MDC.PULS_OXIM_SAT_O2 })]),
      ingest.accept('other', [at(hr, T - 40 * MIN, { source: 'other' })]),
    ]);
    expect(seen.map((e) => (e as NumericReading).outOfOrder ?? false)).toEqual([true, false, true, false, false, false]);
    expect(metrics.get('ingest_out_of_order_total', { source: 'test' })).toBe(2);
  });

  it('tells of a device whose time is far from the gateway\'s as its readings arrive (a clock a year off): counted, logged once per device and bed, stored as given', async () => {
    const { box, ingest, metrics, cap } = setup();
    const T = 1_790_000_000_000;
    const YEAR = 365 * 24 * 3600_000;
    const at = (deviceTime: number, receivedAt: number, more: Partial<NumericReading> = {}): NumericReading => ({ ...reading(70), deviceTime, receivedAt, ...more });
    await ingest.accept('test', [at(T - 5 * 60_000, T)]); // 5 min: within what is not worth telling
    expect(metrics.get('ingest_device_clock_off_total', { source: 'test' })).toBe(0);
    await ingest.accept('test', [at(T - YEAR, T), at(T - YEAR, T, { mdc: MDC.PULS_OXIM_SAT_O2 })]);
    await ingest.accept('test', [at(T - YEAR + 1000, T + 1000)]);
    await ingest.accept('test', [at(T + 3 * 3600_000, T + 2000, { bed: 'ICU-02' })]); // another bed: a zone read wrong, ahead
    expect(metrics.get('ingest_device_clock_off_total', { source: 'test' })).toBe(3); // per delivery, not per reading
    const lines = cap.lines.filter((l) => l.level === WARN && /device time is/.test(String(l.msg)));
    expect(lines.map((l) => [l.bed, l.offsetMinutes])).toEqual([['ICU-01', -525600], ['ICU-02', 180]]);
    expect(String(lines[0]!.msg)).toMatch(/525600 min behind the gateway's clock .*stored and forwarded with the device's time; check the device's clock/);
    expect(String(lines[1]!.msg)).toMatch(/180 min ahead of the gateway's clock/);
    expect(box.pending('telemetry').records).toBe(5); // all stored
    // A monitor whose clock is right, sending an NBP measured 25 min ago first, with an HR of now: nothing to tell.
    await ingest.accept('test', [at(T - 25 * 60_000, T, { bed: 'ICU-03', mdc: MDC.PULS_OXIM_SAT_O2 }), at(T - 4000, T, { bed: 'ICU-03' })]);
    expect(metrics.get('ingest_device_clock_off_total', { source: 'test' })).toBe(3);
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
    expect(metrics.get('ingest_refused_total', { reason: 'RecordTooLargeError', source: 'test' })).toBe(0);
  });

  it('a device time that is NaN (a driver fault) is stored as unknown; an event that cannot be written at all is left out, counted, never taken for a store failure (review rv59 L2)', async () => {
    const { box, ingest, metrics, cap } = setup(5, true);
    const states: unknown[] = [];
    ingest.onStoreState((s) => states.push(s));
    const noTime = { ...reading(72), deviceTime: Number.NaN };
    // A raw code JSON cannot write (a circular object, a driver bug). Was: a NaN receipt time, now taken as ingest's (fx234).
    const badWave: WaveformSegment = {
      kind: 'waveform', deviceId: 'dev-1', bed: 'ICU-01', source: 'test', mdc: null, raw: circularRaw(), unit: { ucum: 'mV' }, startTime: 1000,
      sampleRateHz: 250, samples: [0, 0.1], receivedAt: 1000, quality: { state: 'valid' },
    };
    await ingest.accept('test', [noTime, badWave, reading(73)]);
    expect(box.pending('telemetry').records).toBe(2);
    const env = (id: string, _s: string, entries: string[]) => `{"id":"${id}","records":[${entries.join(',')}]}`;
    const stored = (JSON.parse(box.pack('telemetry', 250_000, env)!.body) as { records: { value: number; deviceTime: string | null }[] }).records;
    expect(stored.map((r) => [r.value, r.deviceTime])).toEqual([[72, null], [73, new Date(1000).toISOString()]]);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'unserialisable' })).toBe(1);
    expect(cap.find(/^an event from a driver that cannot be written as a record/)).toMatchObject({ source: 'test', deviceId: 'dev-1', kind: 'waveform' });
    expect(states).toEqual([]); // the store is not said to refuse data
    await ingest.accept('test', [reading(74)]);
    expect(box.pending('telemetry').records).toBe(1); // the two above are packed: the new one is taken
  });

  it('an event that cannot be written is counted and logged once, and only for an emit stored: not per commit attempt, not for a refused emit (review rv74 L1)', async () => {
    const { box, ingest, metrics, cap } = setup(5, true);
    // Cannot be written: a circular raw code (see circularRaw).
    const badWave = (deviceId: string): WaveformSegment => ({
      kind: 'waveform', deviceId, bed: 'ICU-01', source: 'test', mdc: null, raw: circularRaw(), unit: { ucum: 'mV' }, startTime: 1000,
      sampleRateHz: 250, samples: [0, 0.1], receivedAt: 1000, quality: { state: 'valid' },
    });
    // The batch fails for room after serialising every record (the page cap between two checks); retried emit by
    // emit, the first is stored and the second refused (the disk full by then).
    const append = box.appendBatches.bind(box);
    let call = 0;
    box.appendBatches = (batches, ...rest) => {
      call++;
      if (call === 1 || call === 3) {
        for (const b of batches) for (const _ of b.records) void _;
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      }
      return append(batches, ...rest);
    };
    const results = await Promise.allSettled([ingest.accept('test', [badWave('a'), reading(72)]), ingest.accept('test', [badWave('b'), reading(73)])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(box.pending('telemetry').records).toBe(1);
    expect(metrics.get('ingest_records_dropped_total', { reason: 'unserialisable' })).toBe(1);
    const lines = cap.lines.filter((l) => String(l.msg).startsWith('an event from a driver that cannot be written as a record'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ deviceId: 'a' });
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

  it('a record too large that cannot be split is left out: the rest stored, every event passed on, counted, logged and told', async () => {
    const { box, ingest, seen, metrics, cap } = setup(5, true);
    const states: Array<{ reason: string } | null> = [];
    ingest.onStoreState((s) => states.push(s && { reason: s.reason }));
    const dropped: unknown[] = [];
    ingest.onRecordDropped((d) => dropped.push(d));
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
    // Told as a dropped record (the agent raises a latched loss alarm from it), not as a store refusal: the store works.
    expect(dropped).toEqual([{ deviceId: 'dev-1', kind: 'alarm', bytes: expect.any(Number), limitBytes: box.maxRecordBytes }]);
    expect(states).toEqual([]);
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
    expect(metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'test' })).toBe(2);
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

  it('a reading under a code with no MDC mapping is stored and passed on, counted by source, and logged once per source and code as not judged by the alarm rules', async () => {
    const { box, ingest, seen, metrics, cap } = setup();
    const vendor = (deviceId: string, code: string, value: number, extra: Partial<NumericReading> = {}): NumericReading => ({
      ...reading(value), deviceId, mdc: null, raw: { system: '99PHILIPS', code, text: 'SpO2' }, unit: UNITS.PERCENT, ...extra,
    });
    await ingest.accept('icu-mllp', [vendor('mon-1', '0002-4bb8', 78), reading(72)]);
    await ingest.accept('icu-mllp', [vendor('mon-1', '0002-4bb8', 77), vendor('mon-2', '0002-4bb8', 95)]);
    await ingest.accept('icu-mllp', [vendor('mon-1', '0002-4bb9', 30, { setting: true })]);
    await ingest.accept('vent', [vendor('mon-1', '0002-4bb8', 79)]);
    // Kept and passed on as ever.
    expect(seen).toHaveLength(6);
    expect(box.pending('telemetry').records).toBe(6);
    expect(metrics.get('ingest_unmapped_codes_total', { source: 'icu-mllp' })).toBe(4);
    expect(metrics.get('ingest_unmapped_codes_total', { source: 'vent' })).toBe(1);
    const lines = cap.lines.filter((l) => /no IEEE 11073 \(MDC\) mapping.*alarm rules \(limits, NEWS2\) cannot judge this metric/.test(String(l.msg)));
    // Once per source and code, naming the first device: a central station relaying many beds must not fill the cap
    // with one code (review rv43 §4).
    expect(lines.map((l) => [l.level, l.source, l.deviceId, (l.raw as { code: string }).code])).toEqual([
      [WARN, 'icu-mllp', 'mon-1', '0002-4bb8'],
      [INFO, 'icu-mllp', 'mon-1', '0002-4bb9'], // a setting: never judged anyway
      [WARN, 'vent', 'mon-1', '0002-4bb8'],
    ]);
    // 1,000 beds' devices with that code, then a new code: still told.
    await ingest.accept('icu-mllp', Array.from({ length: 1000 }, (_, i) => vendor(`bed-mon-${i}`, '0002-4bb8', 95)));
    await ingest.accept('icu-mllp', [vendor('bed-mon-7', '0002-4bb7', 95)]);
    expect(cap.lines.filter((l) => (l.raw as { code?: string } | undefined)?.code === '0002-4bb7')).toHaveLength(1);
    expect(lines[0]).toMatchObject({ bed: 'ICU-01', kind: 'numeric', unit: '%', raw: { system: '99PHILIPS', code: '0002-4bb8', text: 'SpO2' } });
    expect(lines[1]).toMatchObject({ setting: true });
  });

  it('an unmapped measurement is warned of even when a setting (or a waveform) under its code was logged first (review rv114 L4)', async () => {
    const { ingest, cap } = setup();
    const vent = (value: number, extra: Partial<NumericReading> = {}): NumericReading => ({
      ...reading(value), deviceId: 'vent-1', mdc: null, raw: { system: 'MDC', code: '151586', text: 'MDC_VENT_RESP_RATE' }, unit: UNITS.RESP_PER_MIN, ...extra,
    });
    // An HL7 ventilator sends its set rate (OBX-17 MSET) before the measured rate, under the same code.
    await ingest.accept('hl7', [vent(12, { setting: true }), vent(35)]);
    await ingest.accept('hl7', [vent(12, { setting: true }), vent(36)]);
    const lines = cap.lines.filter((l) => /no IEEE 11073 \(MDC\) mapping/.test(String(l.msg)));
    expect(lines.map((l) => [l.level, l.setting ?? false])).toEqual([[INFO, true], [WARN, false]]);
  });

  it('stops logging new unmapped codes after 1000 (a sender inventing codes), still counting them', async () => {
    const { ingest, metrics, cap } = setup();
    const unmapped = (i: number): NumericReading => ({ ...reading(1), mdc: null, raw: { system: 'x', code: `c${i}` } });
    await ingest.accept('hl7', Array.from({ length: 1500 }, (_, i) => unmapped(i)));
    await ingest.accept('hl7', [unmapped(2000)]);
    expect(metrics.get('ingest_unmapped_codes_total', { source: 'hl7' })).toBe(1501);
    expect(cap.lines.filter((l) => /no IEEE 11073 \(MDC\) mapping/.test(String(l.msg)))).toHaveLength(1000);
    expect(cap.lines.filter((l) => /further ones are only counted/.test(String(l.msg)))).toHaveLength(1);
  });

  it('non-finite values are counted by source and warned about per device: the first at once, then at most every 10 min with the count since', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.UTC(2026, 2, 1, 10);
    vi.setSystemTime(t0);
    const { ingest, metrics, cap } = setup();
    const wave: WaveformSegment = {
      kind: 'waveform', deviceId: 'vent-1', bed: 'ICU-03', source: 'vent', mdc: MDC.PULS_OXIM_PLETH, unit: UNITS.DIMLESS, startTime: t0,
      sampleRateHz: 100, samples: [1, Number.POSITIVE_INFINITY, 2], receivedAt: t0, quality: { state: 'valid' },
    };
    for (let i = 0; i < 5; i++) await ingest.accept('vent', [{ ...reading(Number.NaN), deviceId: 'vent-1' }, wave, { ...reading(70), deviceId: 'vent-1' }]);
    await ingest.accept('vent', [{ ...reading(Number.NaN), deviceId: 'vent-2' }]);
    expect(metrics.get('ingest_nonfinite_values_total', { source: 'vent' })).toBe(11);
    const msg = /^non-finite values \(NaN, Infinity\) from a device/;
    const lines = () => cap.lines.filter((l) => msg.test(String(l.msg)));
    expect(lines().map((l) => [l.level, l.deviceId, l.readings])).toEqual([[WARN, 'vent-1', 1], [WARN, 'vent-2', 1]]);
    expect(lines()[0]).toMatchObject({ source: 'vent', bed: 'ICU-01', kind: 'numeric', metric: 'MDC_ECG_HEART_RATE' });

    vi.setSystemTime(t0 + 10 * 60_000);
    await ingest.accept('vent', [{ ...reading(Number.NaN), deviceId: 'vent-1' }]);
    expect(lines().map((l) => [l.deviceId, l.readings])).toEqual([['vent-1', 1], ['vent-2', 1], ['vent-1', 10]]);
  });

  it('a burst of emits the store refuses gives one error line with its source, then a line a minute with the count; the counter carries source', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = Date.UTC(2026, 2, 1, 10);
    vi.setSystemTime(t0);
    const { box, ingest, metrics, cap } = setup(5);
    const full = fillStore(box);
    const burst = (n: number) =>
      Promise.allSettled(Array.from({ length: n }, (_, i) => ingest.accept(i % 2 ? 'ward-sim' : 'icu-mllp', [reading(72, i), reading(73, i)])));
    expect((await burst(40)).every((r) => r.status === 'rejected')).toBe(true);
    await burst(4);
    const msg = 'store refused events; the sender is told they were not accepted';
    const lines = () => cap.lines.filter((l) => l.msg === msg);
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ code: 'SQLITE_FULL', source: 'icu-mllp', events: 2, devices: ['dev-1'] });
    expect(lines()[0]).not.toHaveProperty('refusedSinceLastLine');
    expect(metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'icu-mllp' })).toBe(44);
    expect(metrics.get('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'ward-sim' })).toBe(44);

    // A minute on: one more line, with what was not logged since the first.
    vi.setSystemTime(t0 + 60_000);
    await burst(2);
    expect(lines()).toHaveLength(2);
    expect(lines()[1]).toMatchObject({ source: 'icu-mllp', refusedSinceLastLine: { emits: 44, events: 88, sources: expect.arrayContaining(['icu-mllp', 'ward-sim']) } });

    // What was refused after the last line is told when the store takes events again; the next refusal is logged at once.
    full.on = false;
    await ingest.accept('icu-mllp', [reading(80, 100)]);
    expect(cap.find('store takes events again')).toMatchObject({ reason: 'SQLITE_FULL', refusedNotLogged: [{ reason: 'SQLITE_FULL', emits: 1, events: 2, sources: ['ward-sim'] }] });
    full.on = true;
    await burst(1);
    expect(lines()).toHaveLength(3);
    expect(lines()[2]).not.toHaveProperty('refusedSinceLastLine');
  });
});
