// A simulated hour stays plausible, couplings hold, the same seed gives the same ward.
import { describe, expect, it } from 'vitest';
import { createSimulator } from './index.js';
import type { SimulatorOptions } from './options.js';
import { fakeContext, num, numerics, T0, waveforms } from './test-helpers.js';

const HOUR = 3_600_000;

async function run(options: SimulatorOptions, ms: number) {
  const ctx = fakeContext();
  const sim = createSimulator(options, ctx, { clock: 'manual', startTime: T0 });
  await sim.start();
  sim.tick(ms);
  await sim.stop();
  return { ctx, sim };
}

/** Plausible ranges for a monitored adult (episodes included), in the units the driver uses. */
const RANGE: Record<string, [number, number]> = {
  MDC_ECG_HEART_RATE: [35, 185],
  MDC_PULS_OXIM_PULS_RATE: [35, 187],
  MDC_PULS_OXIM_SAT_O2: [75, 100],
  MDC_RESP_RATE: [5, 45],
  MDC_PRESS_BLD_NONINV_SYS: [70, 210],
  MDC_PRESS_BLD_NONINV_DIA: [30, 120],
  MDC_PRESS_BLD_NONINV_MEAN: [40, 150],
  MDC_TEMP_BODY: [35, 40],
};

describe('simulator: physiology over a simulated hour', () => {
  for (const seed of [1, 2, 7, 42, 2025]) {
    it(`seed ${seed}: every value is plausible, in its unit, and a null is never marked valid`, async () => {
      const { ctx } = await run({ beds: 4, seed, waveforms: false, episodesPerHour: 3 }, HOUR);
      const all = numerics(ctx.events);
      expect(all.length).toBeGreaterThan(4 * 3600 * 5);
      // Collected, then asserted once: a readable failure and a fast test.
      const bad = all.filter((r) => {
        const range = RANGE[r.mdc!.refid];
        if (!range) return true;
        if (r.value === null) return r.quality.state === 'valid' || !r.quality.reasons?.length;
        return r.quality.state !== 'valid' || typeof r.value !== 'number' || !Number.isFinite(r.value) || r.value < range[0] || r.value > range[1];
      });
      expect(bad).toEqual([]);
      const units = new Map(all.map((r) => [r.mdc!.refid, r.unit.ucum]));
      expect(Object.fromEntries(units)).toEqual({
        MDC_ECG_HEART_RATE: '/min',
        MDC_PULS_OXIM_PULS_RATE: '/min',
        MDC_PULS_OXIM_SAT_O2: '%',
        MDC_RESP_RATE: '/min',
        MDC_PRESS_BLD_NONINV_SYS: 'mm[Hg]',
        MDC_PRESS_BLD_NONINV_DIA: 'mm[Hg]',
        MDC_PRESS_BLD_NONINV_MEAN: 'mm[Hg]',
        MDC_TEMP_BODY: 'Cel',
      });
      expect(new Set(all.map((r) => r.unit.ucum + r.unit.mdc!.refid)).size).toBe(5);
      // One reading per second per bed for the continuous numerics (on connect, plus 3600 periods).
      for (const bed of ['ICU-01', 'ICU-02', 'ICU-03', 'ICU-04']) {
        expect(numerics(ctx.events, 'MDC_ECG_HEART_RATE', bed)).toHaveLength(3601);
        expect(numerics(ctx.events, 'MDC_TEMP_BODY', bed)).toHaveLength(3601);
      }
    });
  }

  it('without episodes, values stay near each patient’s baseline and move slowly', async () => {
    for (const seed of [3, 11, 99]) {
      const { ctx, sim } = await run({ beds: 4, seed, waveforms: false, episodesPerHour: 0 }, HOUR);
      for (const bed of sim.bedNames) {
        const base = sim.snapshot(bed).baseline;
        const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE', bed).map(num);
        const spo2 = numerics(ctx.events, 'MDC_PULS_OXIM_SAT_O2', bed).map(num);
        const temp = numerics(ctx.events, 'MDC_TEMP_BODY', bed).map(num);
        expect(hr.filter((v) => Math.abs(v - base.hr) >= 25)).toEqual([]);
        expect(spo2.filter((v) => v < 88)).toEqual([]);
        // Slow walks: a second-to-second change of HR is a few beats at most; temperature barely moves.
        const steps = (xs: number[]) => xs.slice(1).map((v, i) => Math.abs(v - xs[i]!));
        expect(Math.max(...steps(hr))).toBeLessThanOrEqual(6);
        expect(Math.max(...steps(temp))).toBeLessThanOrEqual(0.1 + 1e-9);
        // ...but they do move (not a constant).
        expect(new Set(hr).size).toBeGreaterThan(5);
      }
    }
  });

  it('pulse rate follows heart rate, and MAP ≈ dia + (sys − dia) / 3', async () => {
    const { ctx, sim } = await run({ beds: 4, seed: 5, waveforms: false, episodesPerHour: 4, episodeKinds: ['tachycardia', 'desaturation'] }, HOUR);
    for (const bed of sim.bedNames) {
      const hr = numerics(ctx.events, 'MDC_ECG_HEART_RATE', bed);
      const pr = numerics(ctx.events, 'MDC_PULS_OXIM_PULS_RATE', bed);
      expect(pr).toHaveLength(hr.length);
      expect(hr.filter((h, i) => h.deviceTime !== pr[i]!.deviceTime || Math.abs(num(pr[i]!) - num(h)) > 2)).toEqual([]);
      const sys = numerics(ctx.events, 'MDC_PRESS_BLD_NONINV_SYS', bed);
      const dia = numerics(ctx.events, 'MDC_PRESS_BLD_NONINV_DIA', bed);
      const map = numerics(ctx.events, 'MDC_PRESS_BLD_NONINV_MEAN', bed);
      expect(sys.length).toBeGreaterThanOrEqual(12);
      sys.forEach((s, i) => {
        const d = num(dia[i]!);
        expect(num(s) - d).toBeGreaterThanOrEqual(15);
        expect(num(map[i]!)).toBe(Math.round(d + (num(s) - d) / 3));
        expect(dia[i]!.deviceTime).toBe(s.deviceTime);
      });
    }
  });

  it('NIBP is intermittent: one cuff cycle per interval, stamped with its measurement time', async () => {
    const { ctx } = await run({ beds: 3, seed: 8, waveforms: false, nibpIntervalS: 600, episodesPerHour: 0 }, HOUR);
    const firsts = new Set<number>();
    for (const bed of ['ICU-01', 'ICU-02', 'ICU-03']) {
      const sys = numerics(ctx.events, 'MDC_PRESS_BLD_NONINV_SYS', bed);
      expect(sys).toHaveLength(6);
      const times = sys.map((r) => r.deviceTime!);
      firsts.add(times[0]!);
      expect(times[0]! - T0).toBeLessThanOrEqual(30_000);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(600_000);
      // Reported with the first numerics after the measurement.
      for (const r of sys) expect(r.receivedAt - r.deviceTime!).toBeLessThan(1000);
    }
    expect(firsts.size).toBe(3); // cuffs do not all inflate together
    const off = await run({ beds: 1, waveforms: false, nibpIntervalS: 0 }, 600_000);
    expect(numerics(off.ctx.events, 'MDC_PRESS_BLD_NONINV_SYS')).toHaveLength(0);
  });

  it('beds are staggered over the period by default, each still sending once per period', async () => {
    const { ctx, sim } = await run({ beds: 4, seed: 1, waveforms: false }, 10_000);
    expect(sim.bedNames.map((b) => sim.snapshot(b).startAt - T0)).toEqual([0, 250, 500, 750]);
    for (const bed of sim.bedNames) {
      const times = numerics(ctx.events, 'MDC_ECG_HEART_RATE', bed).map((r) => r.deviceTime! - T0);
      const first = sim.snapshot(bed).startAt - T0;
      // Every monitor sends its values when it comes online (T0), then on its own phase.
      const grid = Array.from({ length: 10 }, (_, i) => first + (first === 0 ? i + 1 : i) * 1000);
      expect(times).toEqual([0, ...grid]);
    }
    const many = await run({ beds: 25, waveforms: false }, 0);
    expect(new Set(many.sim.bedNames.map((b) => many.sim.snapshot(b).startAt)).size).toBe(10);
  });

  it('baselines differ between patients', async () => {
    const { sim } = await run({ beds: 8, seed: 1, waveforms: false }, 0);
    const hrs = new Set(sim.bedNames.map((b) => Math.round(sim.snapshot(b).baseline.hr)));
    const profiles = new Set(sim.bedNames.map((b) => sim.snapshot(b).profile));
    expect(hrs.size).toBeGreaterThan(4);
    expect(profiles.size).toBeGreaterThan(1);
  });
});

describe('simulator: determinism', () => {
  it('the same seed gives exactly the same events; another seed does not', async () => {
    const opts = { beds: 3, seed: 77, episodesPerHour: 30 };
    const a = await run(opts, 120_000);
    const b = await run(opts, 120_000);
    expect(a.ctx.events.length).toBeGreaterThan(1000);
    expect(b.ctx.events).toEqual(a.ctx.events);
    const c = await run({ ...opts, seed: 78 }, 120_000);
    expect(numerics(c.ctx.events).map((r) => r.value)).not.toEqual(numerics(a.ctx.events).map((r) => r.value));
  });

  it('turning waveforms off does not change the numerics', async () => {
    const on = await run({ beds: 2, seed: 4, episodesPerHour: 20 }, 300_000);
    const off = await run({ beds: 2, seed: 4, episodesPerHour: 20, waveforms: false }, 300_000);
    expect(waveforms(off.ctx.events)).toHaveLength(0);
    expect(numerics(off.ctx.events)).toEqual(numerics(on.ctx.events));
  });

  it('ticking in small or large steps gives the same events', async () => {
    const big = await run({ beds: 2, seed: 9 }, 30_000);
    const ctx = fakeContext();
    const sim = createSimulator({ beds: 2, seed: 9 }, ctx, { clock: 'manual', startTime: T0 });
    await sim.start();
    for (let i = 0; i < 300; i++) sim.tick(100);
    await sim.stop();
    expect(ctx.events).toEqual(big.ctx.events);
  });
});
