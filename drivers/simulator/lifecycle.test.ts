// Start, stop, the real clock's single timer, forcing values, and what happens when the pipeline refuses events.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSimulator, simulatorDriver } from './index.js';
import { alarms, fakeContext, num, numerics, statuses, T0, waveforms } from './test-helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('simulator: lifecycle', () => {
  it('real clock: online at start, data every period from one timer, offline at stop, and no timers left', async () => {
    vi.useFakeTimers({ now: T0 });
    const ctx = fakeContext();
    const driver = simulatorDriver.create({ beds: 4 }, ctx);
    expect(driver.health().state).toBe('starting');
    await driver.start();
    expect(statuses(ctx.events).map((s) => [s.deviceId, s.bed, s.state])).toEqual([
      ['sim-monitor-01', 'ICU-01', 'online'],
      ['sim-monitor-02', 'ICU-02', 'online'],
      ['sim-monitor-03', 'ICU-03', 'online'],
      ['sim-monitor-04', 'ICU-04', 'online'],
    ]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(numerics(ctx.events, 'MDC_ECG_HEART_RATE', 'ICU-01')).toHaveLength(6); // at 0..5 s
    expect(waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II', 'ICU-01')).toHaveLength(5);
    expect(vi.getTimerCount()).toBe(1);
    expect(driver.health()).toMatchObject({ state: 'running', devices: { 'sim-monitor-01': { state: 'online', lastDataAt: T0 + 5000 } } });
    // No patient ids unless asked for.
    expect(ctx.events.some((e) => 'patientId' in e)).toBe(false);

    await driver.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(statuses(ctx.events).filter((s) => s.state === 'offline')).toHaveLength(4);
    const n = ctx.events.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ctx.events.length).toBe(n);
    expect(driver.health().state).toBe('stopped');
  });

  it('one emit call per bed per period', async () => {
    vi.useFakeTimers({ now: T0 });
    const ctx = fakeContext();
    const driver = simulatorDriver.create({ beds: 3 }, ctx);
    await driver.start();
    const before = ctx.batches;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ctx.batches - before).toBe(30);
    await driver.stop();
  });

  it('after the clock jumps ahead (suspended process), the gap is skipped and counted, not back-filled', async () => {
    vi.useFakeTimers({ now: T0 });
    const ctx = fakeContext();
    const driver = simulatorDriver.create({ beds: 1 }, ctx);
    await driver.start();
    await vi.advanceTimersByTimeAsync(2000);
    vi.setSystemTime(T0 + 3_600_000); // wall clock jumps an hour; timers did not run
    await vi.advanceTimersByTimeAsync(2000);
    await driver.stop();
    expect(numerics(ctx.events, 'MDC_ECG_HEART_RATE').length).toBeLessThan(10);
    expect(ctx.counters.get('periods_skipped')).toBeGreaterThan(3500);
    const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II');
    const last = ecg[ecg.length - 1]!;
    expect(last.startTime).toBeGreaterThan(T0 + 3_600_000);
    expect(last.samples).toHaveLength(250);
  });

  it('patient ids and prefixes are configurable', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 2, patientIds: true, bedPrefix: 'W3-', deviceIdPrefix: 'mon-' }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    expect(sim.bedNames).toEqual(['W3-01', 'W3-02']);
    expect(numerics(ctx.events, 'MDC_ECG_HEART_RATE', 'W3-01')[0]).toMatchObject({ deviceId: 'mon-01', patientId: 'sim-patient-01', source: 'ward-sim' });
    expect(numerics(ctx.events, 'MDC_ECG_HEART_RATE', 'W3-02')[0]).toMatchObject({ deviceId: 'mon-02', patientId: 'sim-patient-02' });
    await sim.stop();
  });

  it('manual clock: nothing happens without tick, and tick is refused before start and after stop', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 1 }, ctx, { clock: 'manual', startTime: T0 });
    expect(() => sim.tick(1000)).toThrow(/not started/);
    await sim.start();
    const n = ctx.events.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(ctx.events.length).toBe(n);
    sim.tick(1000);
    expect(ctx.events.length).toBeGreaterThan(n);
    expect(sim.now()).toBe(T0 + 1000);
    await sim.stop();
    expect(() => sim.tick(1000)).toThrow(/stopped/);
    const real = createSimulator({ beds: 1 }, fakeContext());
    expect(() => real.tick(1000)).toThrow(/manual clock/);
  });

  it('bad options are refused with the field named', () => {
    expect(() => createSimulator({ beds: 0 }, fakeContext())).toThrow(/options\.beds/);
    expect(() => createSimulator({ episodeKinds: ['fainting' as never] }, fakeContext())).toThrow(/unknown kind "fainting"/);
    expect(() => createSimulator({ scenario: [{ atS: 5, bed: 1, set: { hr: Number.NaN } }] }, fakeContext())).toThrow(/scenario\[0\]\.set\.hr: must be a finite number/);
    expect(() => createSimulator({ scenario: [{ atS: -1, bed: 1 }] }, fakeContext())).toThrow(/scenario\[0\]\.atS/);
  });
});

describe('simulator: stop ends what the monitors had open', () => {
  it('device alarms open at stop get a plain end at the stop time (not link-lost: the engine resolves them) before the offline status', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 2, episodesPerHour: 0, waveforms: false }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.tick(5000);
    sim.startEpisode('ICU-01', 'sensor-off', { durationS: Infinity });
    sim.startEpisode('ICU-01', 'lead-off', { durationS: Infinity });
    sim.startEpisode('ICU-02', 'sensor-off', { durationS: 3 }); // over before the stop: ended by the monitor itself
    sim.tick(8000);
    const before = alarms(ctx.events);
    expect(before.filter((a) => a.phase === 'start')).toHaveLength(3);
    await sim.stop();

    const stopBatch = ctx.events.slice(ctx.events.findIndex((e) => e.kind === 'device-status' && e.state === 'offline') - 2);
    const starts = alarms(ctx.events).filter((a) => a.phase === 'start');
    const ends = alarms(ctx.events).filter((a) => a.phase === 'end');
    // Every start has exactly one end.
    expect(starts.map((a) => a.alarmId).sort()).toEqual(ends.map((a) => a.alarmId).sort());
    // A deliberate stop is no lost link: the made-up patient is gone, so the condition is over (rv95 L1). Ended as
    // link-lost, the engine latched it, and with no clinician user nobody could ever clear it.
    expect(ends.some((a) => a.endedBy !== undefined)).toBe(false);
    const atStop = ends.filter((a) => a.bed === 'ICU-01');
    expect(atStop.map((a) => [a.bed, a.text, a.category, a.priority])).toEqual([
      ['ICU-01', 'ECG LEADS OFF', 'technical', 'low'],
      ['ICU-01', 'SpO2 SENSOR OFF', 'technical', 'low'],
    ]);
    for (const a of atStop) expect(a).toMatchObject({ deviceId: 'sim-monitor-01', source: 'ward-sim', receivedAt: T0 + 13_000, deviceTime: T0 + 13_000 });
    // The ends come before the bed's offline status, in the same batch.
    expect(stopBatch.map((e) => (e.kind === 'alarm' ? `${e.phase} ${e.text}` : `${e.kind} ${(e as { state?: string }).state} ${e.bed}`))).toEqual([
      'end ECG LEADS OFF',
      'end SpO2 SENSOR OFF',
      'device-status offline ICU-01',
      'device-status offline ICU-02',
    ]);
    // The monitor's own end of ICU-02's short episode, at the episode's end.
    expect(ends.find((a) => a.bed === 'ICU-02')!.deviceTime).toBeLessThan(T0 + 13_000);
  });

  it('alarm ids are unique per driver instance, so a restarted simulator never reuses the stopped one\'s (rv95 M2); the same for a given start time', async () => {
    const run = async (startTime: number) => {
      const ctx = fakeContext();
      const sim = createSimulator({ beds: 1, episodesPerHour: 0, waveforms: false }, ctx, { clock: 'manual', startTime });
      await sim.start();
      sim.startEpisode(1, 'sensor-off', { durationS: 5 });
      sim.tick(10_000);
      sim.startEpisode(1, 'sensor-off', { durationS: 5 });
      sim.tick(10_000);
      await sim.stop();
      return alarms(ctx.events).filter((a) => a.phase === 'start').map((a) => a.alarmId);
    };
    const first = await run(T0);
    const restarted = await run(T0 + 8000); // a twin change: the same seed and episodes, a later start
    expect(first).toHaveLength(2);
    expect(new Set(first).size).toBe(2);
    expect(restarted.filter((id) => first.includes(id))).toEqual([]);
    expect(first[0]).toBe(`sim-monitor-01/sensor-off/${T0.toString(36)}-1`);
    // Deterministic for a given start time: seeded runs give the same ids.
    expect(await run(T0)).toEqual(first);
  });
});

describe('simulator: forcing values', () => {
  it('force holds exact values (pulse rate follows HR), release lets the walk go back towards baseline', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 2, seed: 3, episodesPerHour: 0, waveforms: false }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.tick(10_000);
    sim.force('ICU-01', { hr: 150, spo2: 85, rr: 30, temp: 38.6 });
    sim.tick(60_000);
    const last = (refid: string, bed = 'ICU-01') => numerics(ctx.events, refid, bed).at(-1)!;
    expect(num(last('MDC_ECG_HEART_RATE'))).toBe(150);
    expect(Math.abs(num(last('MDC_PULS_OXIM_PULS_RATE')) - 150)).toBeLessThanOrEqual(2);
    expect(num(last('MDC_PULS_OXIM_SAT_O2'))).toBe(85);
    expect(num(last('MDC_RESP_RATE'))).toBe(30);
    expect(num(last('MDC_TEMP_BODY'))).toBe(38.6);
    expect(num(last('MDC_ECG_HEART_RATE', 'ICU-02'))).not.toBe(150);

    const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE', 'ICU-01').slice(11).map(num);
    expect(hr.every((v) => v === 150)).toBe(true);

    sim.release(1, ['hr']);
    sim.tick(1000);
    expect(Math.abs(num(last('MDC_ECG_HEART_RATE')) - 150)).toBeLessThanOrEqual(6); // continues from where it was held
    sim.tick(1_800_000);
    const base = sim.snapshot(1).baseline.hr;
    expect(Math.abs(num(last('MDC_ECG_HEART_RATE')) - base)).toBeLessThan(25);
    expect(num(last('MDC_PULS_OXIM_SAT_O2'))).toBe(85); // still held
    expect(sim.snapshot(1).held).toEqual({ spo2: 85, rr: 30, temp: 38.6 });
    await sim.stop();
  });

  it('pulse rate stays measurable when HR is held at a limit (0 or 300 /min)', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 1, episodesPerHour: 0, waveforms: false }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.force(1, { hr: 0 });
    sim.tick(60_000);
    sim.force(1, { hr: 300 });
    sim.tick(60_000);
    await sim.stop();
    const pr = numerics(ctx.events, 'MDC_PULS_OXIM_PULS_RATE').map(num);
    expect(Math.min(...pr)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...pr)).toBeLessThanOrEqual(300);
    expect(pr).toContain(0);
  });

  it('forced NIBP: measure now, MAP computed from the held sys and dia, stamped at the request', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 1, nibpIntervalS: 0, waveforms: false }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.tick(12_500);
    sim.force(1, { sys: 190, dia: 100 });
    sim.measureNibp(1);
    sim.tick(1000);
    const vals = ['SYS', 'DIA', 'MEAN'].map((k) => numerics(ctx.events, `MDC_PRESS_BLD_NONINV_${k}`));
    expect(vals.map((r) => r.map((x) => [x.value, x.deviceTime, x.receivedAt]))).toEqual([
      [[190, T0 + 12_500, T0 + 13_000]],
      [[100, T0 + 12_500, T0 + 13_000]],
      [[130, T0 + 12_500, T0 + 13_000]],
    ]);
    await sim.stop();
  });

  it('unknown beds and non-finite values are refused', async () => {
    const sim = createSimulator({ beds: 2 }, fakeContext(), { clock: 'manual', startTime: T0 });
    expect(() => sim.force(1, { hr: 100 })).toThrow(/not started/);
    await sim.start();
    expect(() => sim.force(3, { hr: 100 })).toThrow(/unknown bed 3/);
    expect(() => sim.force('ICU-07', { hr: 100 })).toThrow(/unknown bed "ICU-07"/);
    expect(() => sim.force(1, { hr: Number.NaN })).toThrow(/finite/);
    sim.force('sim-monitor-02', { hr: 99 }); // a device id works too
    await sim.stop();
  });
});

describe('simulator: a pipeline that refuses events', () => {
  it('rejected emits are counted and logged with context, never unhandled; the driver keeps going', async () => {
    let refuse = true;
    const ctx = fakeContext((events) => (refuse ? Promise.reject(new Error('disk full')) : Promise.resolve()));
    const sim = createSimulator({ beds: 2, waveforms: false, staggerBeds: false }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.tick(3000);
    await new Promise((r) => setImmediate(r));
    // 2 status + 2 × 4 periods.
    expect(ctx.counters.get('emit_failures')).toBe(10);
    const errors = ctx.logs.filter((l) => l.level === 50);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toMatchObject({ msg: expect.stringMatching(/rejected/), bed: 'ICU-01', deviceId: 'sim-monitor-01', err: { message: 'disk full' } });
    expect(sim.health().state).toBe('degraded');
    refuse = false;
    sim.tick(60_000);
    expect(sim.health().state).toBe('running');
    await sim.stop();
  });

  it('an emit that throws synchronously is handled the same way', async () => {
    const ctx = fakeContext(() => {
      throw new Error('boom');
    });
    const sim = createSimulator({ beds: 1, waveforms: false }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.tick(1000);
    await new Promise((r) => setImmediate(r));
    expect(ctx.counters.get('emit_failures')).toBe(3);
    await sim.stop();
  });
});

describe('simulator: scale', () => {
  it('128 beds with ECG and pleth: every bed gets its full minute of data', async () => {
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 128, seed: 1 }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    sim.tick(60_000);
    await sim.stop();
    const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II');
    expect(new Set(ecg.map((s) => s.deviceId)).size).toBe(128);
    for (const bed of sim.bedNames) {
      const segs = ecg.filter((s) => s.bed === bed);
      const startAt = sim.snapshot(bed).startAt;
      // Whole seconds of ECG since the bed's own start, in 1 s segments of 250 samples.
      expect(segs).toHaveLength(Math.floor((T0 + 60_000 - startAt) / 1000));
      expect(segs.every((s, i) => s.samples.length === 250 && s.startTime === startAt + i * 1000)).toBe(true);
    }
    expect(sim.bedNames.at(-1)).toBe('ICU-128');
    expect(alarms(ctx.events).every((a) => a.category === 'technical')).toBe(true);
  });
});
