// Episodes change values and quality as a real monitor would; a sensor that is off never shows a normal value.
import { describe, expect, it } from 'vitest';
import { createSimulator, EVT } from './index.js';
import type { SimulatorOptions } from './options.js';
import { alarms, fakeContext, num, numerics, T0, waveforms } from './test-helpers.js';

async function manual(options: SimulatorOptions) {
  const ctx = fakeContext();
  const sim = createSimulator({ waveforms: true, episodesPerHour: 0, ...options }, ctx, { clock: 'manual', startTime: T0 });
  await sim.start();
  return { ctx, sim };
}

const at = (s: number) => T0 + s * 1000;
const during = <T extends { receivedAt: number }>(xs: T[], fromS: number, toS: number) =>
  xs.filter((x) => x.receivedAt >= at(fromS) && x.receivedAt < at(toS));

describe('simulator: technical episodes', () => {
  it('sensor-off: SpO2 and pulse rate null and unavailable, pleth flat and invalid, a technical alarm starts and ends', async () => {
    const { ctx, sim } = await manual({ beds: 2, seed: 3 });
    sim.tick(60_000);
    sim.startEpisode('ICU-01', 'sensor-off', { durationS: 30 });
    sim.tick(120_000);

    const spo2 = numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2', 'ICU-01');
    const pr = numerics(ctx.events, 'MDC_PULS_OXIM_PULS_RATE', 'ICU-01');
    // Everything up to and including 60 s had been emitted when the sensor came off: null from 61 s to 89 s.
    for (const r of [...during(spo2, 61, 90), ...during(pr, 61, 90)]) {
      expect(r.value).toBeNull();
      expect(r.quality).toEqual({ state: 'unavailable', reasons: ['sensor-off'] });
    }
    expect(during(spo2, 61, 90)).toHaveLength(29);
    // Before and after: real values again.
    for (const r of [...during(spo2, 0, 61), ...during(spo2, 90, 180)]) expect(r.quality.state).toBe('valid');
    // ECG-derived values are untouched; the other bed too.
    for (const r of during(numerics(ctx.events, 'MDC_ECG_HEART_RATE', 'ICU-01'), 60, 90)) expect(typeof r.value).toBe('number');
    for (const r of numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2', 'ICU-02')) expect(r.quality.state).toBe('valid');

    const pleth = waveforms(ctx.events, 'MDC_PULS_OXIM_PLETH', 'ICU-01');
    const offSegs = pleth.filter((w) => w.startTime >= at(60) && w.startTime < at(90));
    expect(offSegs).toHaveLength(30);
    for (const w of offSegs) {
      expect(w.quality).toEqual({ state: 'invalid', reasons: ['sensor-off'] });
      expect(w.samples.every((s) => s === 0)).toBe(true);
      expect(w.samples).toHaveLength(125);
    }
    const onSegs = pleth.filter((w) => w.startTime >= at(91));
    for (const w of onSegs) expect(w.quality.state).toBe('valid');
    expect(Math.max(...onSegs[0]!.samples)).toBeGreaterThan(0.5);

    const a = alarms(ctx.events);
    expect(a.map((x) => [x.phase, x.deviceTime])).toEqual([
      ['start', at(60)],
      ['end', at(90)],
    ]);
    expect(a[0]).toMatchObject({ category: 'technical', text: 'SpO2 SENSOR OFF', condition: EVT.SENSOR_DISCONN, deviceId: 'sim-monitor-01', bed: 'ICU-01', source: 'ward-sim' });
    expect(a[1]!.alarmId).toBe(a[0]!.alarmId);
    await sim.stop();
  });

  it('lead-off: HR and respiration rate null and unavailable, ECG flat and invalid, alarm; pulse rate still counted', async () => {
    const { ctx, sim } = await manual({ beds: 1, seed: 4 });
    sim.tick(10_000);
    sim.startEpisode(1, 'lead-off', { durationS: Infinity });
    sim.tick(50_000);
    expect(alarms(ctx.events).map((x) => x.phase)).toEqual(['start']);
    sim.endEpisode(1, 'lead-off');
    sim.tick(20_000);

    for (const refid of ['MDC_ECG_HEART_RATE', 'MDC_RESP_RATE']) {
      const off = during(numerics(ctx.events, refid), 11, 61);
      expect(off).toHaveLength(50);
      for (const r of off) expect(r).toMatchObject({ value: null, quality: { state: 'unavailable', reasons: ['lead-off'] } });
      for (const r of during(numerics(ctx.events, refid), 61, 80)) expect(r.quality.state).toBe('valid');
    }
    for (const r of during(numerics(ctx.events, 'MDC_PULS_OXIM_PULS_RATE'), 10, 60)) expect(num(r)).toBeGreaterThan(30);
    const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II').filter((w) => w.startTime >= at(10) && w.startTime < at(60));
    expect(ecg).toHaveLength(50);
    for (const w of ecg) {
      expect(w.quality).toEqual({ state: 'invalid', reasons: ['lead-off'] });
      expect(w.samples.every((s) => s === 0)).toBe(true);
    }
    const a = alarms(ctx.events);
    expect(a.map((x) => [x.phase, x.deviceTime])).toEqual([
      ['start', at(10)],
      ['end', at(60)],
    ]);
    expect(a[0]).toMatchObject({ category: 'technical', priority: 'low', text: 'ECG LEADS OFF', condition: EVT.LEAD_DISCONN });
    await sim.stop();
  });

  it('spontaneous episodes happen at about the configured rate, and never show a normal value with a sensor off', async () => {
    const { ctx, sim } = await manual({ beds: 4, seed: 12, episodesPerHour: 6, episodeKinds: ['sensor-off', 'lead-off'], waveforms: false });
    sim.tick(3_600_000);
    await sim.stop();
    const starts = alarms(ctx.events).filter((a) => a.phase === 'start');
    expect(starts.length).toBeGreaterThan(8); // 24 expected; Poisson
    expect(starts.length).toBeLessThan(50);
    const nulls = numerics(ctx.events).filter((r) => r.value === null);
    expect(nulls.length).toBeGreaterThan(0);
    expect(nulls.filter((r) => r.quality.state === 'valid')).toEqual([]);
    const offTimes = new Set(nulls.map((r) => `${r.bed}@${r.receivedAt}@${r.quality.reasons![0]}`));
    // While a sensor is off, the readings it feeds are all null at that moment.
    for (const r of numerics(ctx.events)) {
      const feeds = { MDC_PULS_OXIM_SAT_O2: 'sensor-off', MDC_PULS_OXIM_PULS_RATE: 'sensor-off', MDC_ECG_HEART_RATE: 'lead-off', MDC_RESP_RATE: 'lead-off' }[r.mdc!.refid as string];
      if (feeds && offTimes.has(`${r.bed}@${r.receivedAt}@${feeds}`)) expect(r.value).toBeNull();
    }
  });

  it('with numerics less often than waveform chunks, no waveform segment sent valid lies inside a spontaneous sensor-off or lead-off', async () => {
    // Episodes used to start only at the numerics, back-dated, after chunks for their first seconds had gone out valid.
    const { ctx, sim } = await manual({ beds: 1, seed: 1, numericPeriodMs: 5000, waveformChunkMs: 1000, episodesPerHour: 60, episodeKinds: ['sensor-off', 'lead-off'], nibpIntervalS: 0 });
    sim.tick(1_800_000);
    await sim.stop();
    const all = alarms(ctx.events);
    const starts = all.filter((a) => a.phase === 'start');
    expect(starts.length).toBeGreaterThan(5);
    const feeds = { 'SpO2 SENSOR OFF': 'MDC_PULS_OXIM_PLETH', 'ECG LEADS OFF': 'MDC_ECG_ELEC_POTL_II' } as Record<string, string>;
    const inside: string[] = [];
    for (const s of starts) {
      const end = all.find((a) => a.phase === 'end' && a.alarmId === s.alarmId)!;
      const endAt = end.deviceTime ?? end.receivedAt;
      for (const w of waveforms(ctx.events, feeds[s.text])) {
        const wEnd = w.startTime + (w.samples.length * 1000) / w.sampleRateHz;
        if (w.quality.state === 'valid' && w.startTime < endAt && wEnd > s.deviceTime!) inside.push(`${s.alarmId}: ${w.mdc!.refid} ${w.startTime - T0} ms`);
      }
    }
    expect(inside).toEqual([]);
  });
});

describe('simulator: physiological episodes', () => {
  it('desaturation: SpO2 falls to 76–88 % over tens of seconds, then recovers; HR rises with it', async () => {
    for (const seed of [1, 2, 3]) {
      const { ctx, sim } = await manual({ beds: 1, seed, waveforms: false });
      sim.tick(120_000);
      sim.startEpisode(1, 'desaturation');
      sim.tick(600_000);
      await sim.stop();
      const spo2 = numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2');
      const before = during(spo2, 0, 120).map(num);
      const ep = during(spo2, 120, 720).map(num);
      const nadir = Math.min(...ep);
      expect(Math.min(...before)).toBeGreaterThan(88);
      expect(nadir).toBeGreaterThanOrEqual(76);
      expect(nadir).toBeLessThanOrEqual(88);
      // It falls gradually: not at the nadir in the first 15 s.
      expect(Math.min(...ep.slice(0, 15))).toBeGreaterThan(nadir + 1);
      expect(Math.min(...during(spo2, 600, 720).map(num))).toBeGreaterThan(88);
      const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE');
      const meanHr = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const worst = ep.indexOf(nadir);
      expect(num(during(hr, 120, 720)[worst]!)).toBeGreaterThan(meanHr(during(hr, 0, 120).map(num)));
    }
  });

  it('tachycardia: HR rises to 130–160 and comes back; pulse rate follows', async () => {
    const { ctx, sim } = await manual({ beds: 1, seed: 6 });
    sim.tick(60_000);
    sim.startEpisode(1, 'tachycardia', { durationS: 300, target: 145 });
    sim.tick(900_000);
    await sim.stop();
    const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE');
    const peak = during(hr, 160, 260).map(num);
    for (const v of peak) expect(Math.abs(v - 145)).toBeLessThanOrEqual(3);
    expect(Math.max(...during(hr, 700, 960).map(num))).toBeLessThan(125);
    const pr = numerics(ctx.events, 'MDC_PULS_OXIM_PULS_RATE');
    for (const v of during(pr, 160, 260).map(num)) expect(Math.abs(v - 145)).toBeLessThanOrEqual(5);
  });

  it('an episode reaches its target also beyond the walk\'s bounds: desaturation to 70 %, tachycardia to 200 /min', async () => {
    const { ctx, sim } = await manual({ beds: 1, seed: 2, waveforms: false });
    sim.tick(10_000);
    sim.startEpisode(1, 'desaturation', { durationS: 120, target: 70 });
    sim.startEpisode(1, 'tachycardia', { durationS: 120, target: 200 });
    sim.tick(300_000);
    await sim.stop();
    const spo2 = numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2').map(num);
    const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE').map(num);
    expect(Math.min(...spo2)).toBe(70);
    expect(Math.max(...hr)).toBe(200);
    // Back within the walk's bounds afterwards.
    expect(Math.min(...during(numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2'), 200, 310).map(num))).toBeGreaterThanOrEqual(75);
  });

  it('a scenario in the options runs at its time', async () => {
    const { ctx, sim } = await manual({
      beds: 2,
      seed: 2,
      waveforms: false,
      scenario: [
        { atS: 30, bed: 'ICU-02', set: { hr: 170 } },
        { atS: 60, bed: 2, release: 'all', episode: 'sensor-off', durationS: 10 },
        { atS: 65, bed: 2, nibp: true },
      ],
    });
    sim.tick(120_000);
    await sim.stop();
    const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE', 'ICU-02');
    expect(during(hr, 30, 60).map(num)).toEqual(Array(30).fill(170));
    // Released at 60 s (scenario steps act before that second's readings): the walk goes on from 170.
    expect(new Set(during(hr, 60, 120).map(num)).size).toBeGreaterThan(2);
    expect(during(numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2', 'ICU-02'), 60, 70).every((r) => r.value === null)).toBe(true);
    expect(numerics(ctx.events, 'MDC_PRESS_BLD_NONINV_SYS', 'ICU-02').map((r) => r.deviceTime)).toContain(at(65));
  });

  it('a scenario naming an unknown bed is refused when the driver is created, naming the step\'s field', () => {
    const ctx = fakeContext();
    expect(() => createSimulator({ beds: 2, scenario: [{ atS: 1, bed: 'ICU-09', set: { hr: 1 } }] }, ctx, { clock: 'manual', startTime: T0 })).toThrow(
      /^options\.scenario\[0\]\.bed: unknown bed "ICU-09"/,
    );
    expect(ctx.events).toEqual([]);
  });
});
