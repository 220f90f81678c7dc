// Waveforms: exact sample counts, contiguous segments, beats timed by the heart rate.
import { describe, expect, it } from 'vitest';
import type { WaveformSegment } from '../../agent/model/reading.js';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor } from '../../agent/alarms/rhythm.js';
import { createSimulator } from './index.js';
import type { SimulatorOptions } from './options.js';
import { fakeContext, numerics, T0, waveforms } from './test-helpers.js';

async function run(options: SimulatorOptions, ms: number, before?: (sim: ReturnType<typeof createSimulator>) => void) {
  const ctx = fakeContext();
  const sim = createSimulator({ episodesPerHour: 0, ...options }, ctx, { clock: 'manual', startTime: T0 });
  await sim.start();
  before?.(sim);
  sim.tick(ms);
  await sim.stop();
  return ctx;
}

function checkContiguous(segs: WaveformSegment[], rate: number, durationMs: number, origin = T0): void {
  const total = segs.reduce((n, s) => n + s.samples.length, 0);
  expect(total).toBe((rate * durationMs) / 1000);
  let n = 0;
  for (const s of segs) {
    expect(s.sampleRateHz).toBe(rate);
    // Each segment starts where the samples before it end (to the millisecond).
    expect(s.startTime).toBe(Math.round(origin + (n * 1000) / rate));
    n += s.samples.length;
  }
}

/** Indices of peaks above `threshold`, at least `refractory` samples apart. */
function peaks(xs: number[], threshold: number, refractory: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < xs.length - 1; i++) {
    if (xs[i]! > threshold && xs[i]! >= xs[i - 1]! && xs[i]! > xs[i + 1]! && (out.length === 0 || i - out[out.length - 1]! >= refractory)) out.push(i);
  }
  return out;
}

describe('simulator: waveforms', () => {
  it('ECG 250 Hz and pleth 125 Hz: samples = rate × duration, contiguous, in their units', async () => {
    let sim: ReturnType<typeof createSimulator> | undefined;
    const ctx = await run({ beds: 3, seed: 1 }, 61_000, (s) => (sim = s));
    for (const bed of ['ICU-01', 'ICU-02', 'ICU-03']) {
      // Each bed's first minute (beds are staggered: bed 1 starts at T0, the others a fraction of a second later).
      const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II', bed).slice(0, 60);
      const pleth = waveforms(ctx.events, 'MDC_PULS_OXIM_PLETH', bed).slice(0, 60);
      expect(ecg).toHaveLength(60);
      const origin = sim!.snapshot(bed).startAt;
      checkContiguous(ecg, 250, 60_000, origin);
      checkContiguous(pleth, 125, 60_000, origin);
      expect(ecg[0]!.unit.ucum).toBe('mV');
      expect(pleth[0]!.unit.mdc?.refid).toBe('MDC_DIM_DIMLESS');
      for (const s of [...ecg, ...pleth]) expect(s.quality).toEqual({ state: 'valid' });
      // Plausible amplitudes: R waves around 1 mV, nothing wild.
      const all = ecg.flatMap((s) => s.samples);
      expect(all.every(Number.isFinite) && pleth.every((s) => s.samples.every(Number.isFinite))).toBe(true);
      expect(Math.max(...all)).toBeGreaterThan(0.8);
      expect(Math.max(...all)).toBeLessThan(2);
      expect(Math.min(...all)).toBeGreaterThan(-0.6);
    }
  });

  it('odd rates and chunk lengths still give exact counts (fractional samples carry over)', async () => {
    const ctx = await run({ beds: 1, ecgRateHz: 500, plethRateHz: 125, waveformChunkMs: 300 }, 60_000);
    const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II');
    const pleth = waveforms(ctx.events, 'MDC_PULS_OXIM_PLETH');
    expect(ecg).toHaveLength(200);
    checkContiguous(ecg, 500, 60_000);
    checkContiguous(pleth, 125, 60_000);
    expect(new Set(pleth.map((s) => s.samples.length))).toEqual(new Set([37, 38]));
  });

  it('waveforms can be turned off', async () => {
    const ctx = await run({ beds: 2, waveforms: false }, 10_000);
    expect(waveforms(ctx.events)).toHaveLength(0);
  });

  for (const hr of [60, 120, 160]) {
    it(`beats follow the heart rate: ${hr} /min gives ${hr} R waves and pulses a minute`, async () => {
      const ctx = await run({ beds: 1, seed: hr }, 62_000, (sim) => sim.force(1, { hr }));
      const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II').flatMap((s) => s.samples).slice(250, 250 + 60 * 250);
      const pleth = waveforms(ctx.events, 'MDC_PULS_OXIM_PLETH').flatMap((s) => s.samples).slice(125, 125 + 60 * 125);
      expect(Math.abs(peaks(ecg, 0.6, 50).length - hr)).toBeLessThanOrEqual(2);
      expect(Math.abs(peaks(pleth, 0.5, 25).length - hr)).toBeLessThanOrEqual(2);
    });
  }

  it('beats follow the heart rate below 20 /min: 10 /min gives 10 R waves and pulses a minute (rv95 L2)', async () => {
    const ctx = await run({ beds: 1, seed: 10 }, 62_000, (sim) => sim.force(1, { hr: 10 }));
    const ecg = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II').flatMap((s) => s.samples).slice(250, 250 + 60 * 250);
    const pleth = waveforms(ctx.events, 'MDC_PULS_OXIM_PLETH').flatMap((s) => s.samples).slice(125, 125 + 60 * 125);
    expect(Math.abs(peaks(ecg, 0.6, 50).length - 10)).toBeLessThanOrEqual(1);
    expect(Math.abs(peaks(pleth, 0.5, 25).length - 10)).toBeLessThanOrEqual(1);
  });

  it('HR held at 0 is asystole: no R waves, no pulses, PR 0, and the gateway rhythm check raises an asystole (rv95 L2)', async () => {
    const ctx = await run({ beds: 1, seed: 1, scenario: [{ atS: 0, bed: 1, set: { hr: 0 } }] }, 62_000);
    // From 2 s: the first beat is placed before the hold takes effect.
    const ecgSegs = waveforms(ctx.events, 'MDC_ECG_ELEC_POTL_II').filter((s) => s.startTime >= T0 + 2000);
    const ecg = ecgSegs.flatMap((s) => s.samples);
    const pleth = waveforms(ctx.events, 'MDC_PULS_OXIM_PLETH').filter((s) => s.startTime >= T0 + 2000).flatMap((s) => s.samples);
    expect(ecg.length).toBe(60 * 250);
    expect(peaks(ecg, 0.3, 50)).toEqual([]);
    expect(Math.max(...pleth)).toBeLessThan(0.1);
    // Still a connected lead (baseline wander and noise), marked valid: an asystole, not a lead off.
    expect(ecgSegs.every((s) => s.quality.state === 'valid')).toBe(true);
    const rhythm = new RhythmMonitor({ ...DEFAULT_RHYTHM_CONFIG, enabled: true });
    const raised = ecgSegs.flatMap((s) => rhythm.waveform(s)).filter((u) => u.present).map((u) => (u.present ? u.spec.key.split(':').at(-1) : ''));
    expect(raised).toEqual(['asystole']);
    const last = (refid: string) => numerics(ctx.events, refid).at(-1)!.value;
    expect([last('MDC_ECG_HEART_RATE'), last('MDC_PULS_OXIM_PULS_RATE')]).toEqual([0, 0]);
  });
});
