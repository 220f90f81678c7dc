// The rhythm check on a lossy or re-stamped ECG feed (review rv102): a lost segment is no data, never a flat stretch
// of ECG; a device clock set back is a new stretch, not duplicates; a condition that can no longer be judged (no
// signal, noise) ends unconfirmed, not as "no longer seen".
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { WaveformSegment } from '../model/reading.js';
import { AlarmEngine } from './engine.js';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor } from './rhythm.js';
import { AlarmService } from './service.js';
import type { ConditionUpdate } from './types.js';

const T0 = Date.UTC(2026, 11, 5, 8, 0, 0);
const ON = { ...DEFAULT_RHYTHM_CONFIG, enabled: true };
const RATE = 250;
/** IntelliVue-like answers: 64 samples, 256 ms. */
const N = 64;
const SEG_MS = (N / RATE) * 1000;

/** ECG with QRS (1 mV half-sine, 40 ms) at the given times (s), on ±0.01 mV of seeded noise. */
class Ecg {
  beats: number[] = [];
  noise: (t: number) => number = () => 0;
  private s = 7;
  rhythm(bpm: number, fromS: number, toS: number): this {
    for (let t = fromS; t < toS; t += 60 / bpm) this.beats.push(t);
    return this;
  }
  samples(fromS: number, n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = fromS + i / RATE;
      this.s = (this.s * 1103515245 + 12345) % 2147483648;
      let v = (this.s / 2147483648 - 0.5) * 0.02 + this.noise(t);
      for (const b of this.beats) if (t >= b && t < b + 0.04) v += Math.sin((Math.PI * (t - b)) / 0.04);
      out.push(Math.round(v * 1000) / 1000);
    }
    return out;
  }
  /** Index of the 256 ms segment holding the whole QRS of the first beat at or after `s` that fits in one. */
  segOfBeat(s: number): number {
    const fits = (t: number) => Math.floor((t * 1000) / SEG_MS) === Math.floor(((t + 0.04) * 1000) / SEG_MS);
    return Math.floor((this.beats.find((t) => t >= s && fits(t))! * 1000) / SEG_MS);
  }
}

function segment(startMs: number, samples: number[], receivedAt: number): WaveformSegment {
  return {
    kind: 'waveform', deviceId: 'mon-1', bed: 'bed-1', source: 'test', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT,
    startTime: T0 + startMs, sampleRateHz: RATE, samples, receivedAt, quality: { state: 'valid' },
  };
}

const label = (u: ConditionUpdate) => (u.present ? `present:${u.spec.key.split(':').at(-1)}` : `ended:${u.key.split(':').at(-1)}${u.unconfirmed ? ' (unconfirmed)' : ''}`);

/** Streams `toS` of ECG in 256 ms segments, leaving out those `lose` says are lost; the updates (and tick's). */
function lossy(m: RhythmMonitor, ecg: Ecg, toS: number, lose: (i: number) => boolean = () => false): ConditionUpdate[] {
  const out: ConditionUpdate[] = [];
  for (let i = 0; (i + 1) * SEG_MS <= toS * 1000; i++) {
    if (lose(i)) continue;
    const received = T0 + (i + 1) * SEG_MS + 50;
    out.push(...m.waveform(segment(i * SEG_MS, ecg.samples((i * SEG_MS) / 1000, N), received)));
    out.push(...m.tick(received));
  }
  return out;
}

describe('rhythm check: gaps, clock steps back, conditions that can no longer be judged (review rv102)', () => {
  describe('H1: a lost segment is no data', () => {
    it('one lost segment holding a QRS does not make a sinus rhythm of 45 or 60 /min an EXTREME BRADY; each gap is counted', () => {
      const ecg45 = new Ecg().rhythm(45, 0.3, 60);
      const lost45 = ecg45.segOfBeat(30);
      const m = new RhythmMonitor(ON);
      expect(lossy(m, ecg45, 60, (i) => i === lost45).map(label)).toEqual([]);
      expect(m.take().skipped.gap).toBe(1);
      // Two single segments lost, two beats of five.
      const ecg60 = new Ecg().rhythm(60, 0.3, 60);
      const lost60 = new Set([ecg60.segOfBeat(30), ecg60.segOfBeat(32)]);
      const m2 = new RhythmMonitor(ON);
      expect(lossy(m2, ecg60, 60, (i) => lost60.has(i)).map(label)).toEqual([]);
      expect(m2.take().skipped.gap).toBe(2);
    });

    it('a true EXTREME BRADY of 24 /min with one lost beat stays one alarm: no ASYSTOLE, not ended and raised again', () => {
      const ecg = new Ecg().rhythm(24, 0.3, 60);
      const lost = ecg.segOfBeat(30);
      expect(lossy(new RhythmMonitor(ON), ecg, 60, (i) => i === lost).map(label)).toEqual(['present:brady']);
    });

    it('a lossy feed (1 in 8 segments lost, never two in a row) of 50 /min raises nothing; a tachycardia or an asystole on it still is', () => {
      const lose = (i: number) => i % 8 === 5;
      expect(lossy(new RhythmMonitor(ON), new Ecg().rhythm(50, 0.3, 120), 120, lose).map(label)).toEqual([]);
      expect(lossy(new RhythmMonitor(ON), new Ecg().rhythm(170, 0.3, 60), 60, lose).map(label)).toEqual(['present:tachy']);
      expect(lossy(new RhythmMonitor(ON), new Ecg().rhythm(75, 0.3, 20), 40, lose).map(label)).toEqual(['present:asystole']);
    });

    it('the gaps are counted in alarm_rhythm_ecg_skipped_total{reason="gap"} and told once per device', () => {
      const metrics = new Metrics();
      const lines: Array<Record<string, unknown>> = [];
      const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
      const engine = new AlarmEngine({ idPrefix: 't', rhythm: ON });
      const service = new AlarmService(engine, () => undefined, log, metrics, () => T0);
      const ecg = new Ecg().rhythm(75, 0.3, 30);
      for (let i = 0; (i + 1) * SEG_MS <= 30_000; i++) {
        if (i % 10 === 9) continue;
        service.handle([segment(i * SEG_MS, ecg.samples((i * SEG_MS) / 1000, N), T0 + (i + 1) * SEG_MS)]);
      }
      expect(metrics.get('alarm_rhythm_ecg_skipped_total', { reason: 'gap' })).toBe(11);
      expect(lines.map((l) => l.msg)).toEqual([expect.stringMatching(/^ECG from mon-1 \(bed bed-1\) arrives with gaps .*alarm_rhythm_ecg_skipped_total\{reason="gap"\}/)]);
    });
  });

  describe('M3: a device clock set back is not a duplicate', () => {
    /** 1 s segments; from `atS` on, stamped `backS` earlier; tick after each. */
    function stepped(m: RhythmMonitor, ecg: Ecg, toS: number, atS: number, backS: number): ConditionUpdate[] {
      const out: ConditionUpdate[] = [];
      for (let t = 0; t < toS; t++) {
        const received = T0 + t * 1000 + 1050;
        out.push(...m.waveform(segment((t - (t >= atS ? backS : 0)) * 1000, ecg.samples(t, RATE), received)));
        out.push(...m.tick(received));
      }
      return out;
    }

    it('set back 12 s during an asystole: one alarm, not ended as "no ECG" while ECG arrives and raised again', () => {
      const m = new RhythmMonitor(ON);
      const out = stepped(m, new Ecg().rhythm(75, 0.3, 20), 70, 30, 12);
      expect(out.map(label)).toEqual(['present:asystole']);
      expect(m.take().skipped.duplicate).toBe(0);
    });

    it('set back 3 or 8 s: the stretch starts again and is judged (an asystole beginning then is raised), nothing dropped as a duplicate', () => {
      for (const back of [3, 8]) {
        const m = new RhythmMonitor(ON);
        const out = stepped(m, new Ecg().rhythm(75, 0.3, 34), 60, 30, back);
        expect(out.map(label), `${back} s`).toEqual(['present:asystole']);
        // No QRS from 34 s: 4 s later, and 8 s of ECG after the step for the new stretch.
        expect(out[0]!.at, `${back} s`).toBeLessThanOrEqual(T0 + 40_000);
        expect(m.take().skipped.duplicate, `${back} s`).toBe(0);
      }
    });

    it('a segment re-sent (the same start and samples), late or at once, is left out and counted; the feed is not taken for stopped', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Ecg().rhythm(75, 0.3, 20);
      const sent: WaveformSegment[] = [];
      const out: ConditionUpdate[] = [];
      for (let t = 0; t < 40; t++) {
        const s = segment(t * 1000, ecg.samples(t, RATE), T0 + t * 1000 + 1050);
        sent.push(s);
        out.push(...m.waveform(s));
        // Every fifth second the one of 3 s before again.
        if (t % 5 === 4) out.push(...m.waveform({ ...sent[t - 3]!, receivedAt: s.receivedAt }));
      }
      expect(out.map(label)).toEqual(['present:asystole']);
      expect(m.take().skipped.duplicate).toBe(8);
      // Only re-sent segments for 12 s: it is the ECG arriving (the device is there), not a stopped feed.
      for (let k = 0; k < 12; k++) out.push(...m.waveform({ ...sent[35]!, receivedAt: T0 + (41 + k) * 1000 }), ...m.tick(T0 + (41 + k) * 1000 + 10));
      expect(out.map(label)).toEqual(['present:asystole']);
    });
  });

  describe('L1: a condition that can no longer be judged ends unconfirmed', () => {
    it('an asystole whose line becomes exactly constant (a lead off the device does not flag) ends unconfirmed, as no signal', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Ecg().rhythm(75, 0.3, 20);
      const out: ConditionUpdate[] = [];
      for (let t = 0; t < 60; t++) out.push(...m.waveform(segment(t * 1000, t >= 35 ? new Array<number>(RATE).fill(0.123) : ecg.samples(t, RATE), T0 + t * 1000 + 1050)));
      expect(out.map(label)).toEqual(['present:asystole', 'ended:asystole (unconfirmed)']);
      expect(out[1]!.why).toMatch(/no signal/);
      // The last 3.5 s are constant from 38.5 s; 10 s of ECG later.
      expect(out[1]!.at).toBeGreaterThanOrEqual(T0 + 48_000);
    });

    it('an EXTREME TACHY under heavy artefact the two QRS detectors disagree on ends unconfirmed, as noise', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Ecg().rhythm(160, 0.3, 80);
      let s = 99;
      const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
      ecg.noise = (t) => (t >= 30 ? 1.5 * rnd() + 0.8 * Math.sin(2 * Math.PI * 7 * t) : 0);
      const out: ConditionUpdate[] = [];
      for (let t = 0; t < 45; t++) out.push(...m.waveform(segment(t * 1000, ecg.samples(t, RATE), T0 + t * 1000 + 1050)));
      const ended = out.filter((u) => !u.present);
      expect(out.map(label).slice(0, 2)).toEqual(['present:tachy', 'ended:tachy (unconfirmed)']);
      expect(ended[0]!.why).toMatch(/noise/);
    });

    it('an asystole whose silence only artefact breaks (the two QRS detectors disagree) ends unconfirmed, as noise', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Ecg().rhythm(75, 0.3, 20);
      let s = 99;
      const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
      ecg.noise = (t) => (t >= 30 ? 0.3 * rnd() : 0);
      const out: ConditionUpdate[] = [];
      for (let t = 0; t < 60; t++) out.push(...m.waveform(segment(t * 1000, ecg.samples(t, RATE), T0 + t * 1000 + 1050)));
      expect(out.map(label).slice(0, 2)).toEqual(['present:asystole', 'ended:asystole (unconfirmed)']);
      expect(out[1]!.why).toMatch(/noise/);
    });
  });
});
