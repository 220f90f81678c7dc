// The gateway's own arrhythmia check on streamed ECG (alarms.rhythm): asystole, extreme brady- and tachycardia by the
// PhysioNet/CinC 2015 definitions; never on ECG that is not clean, not for a flat ECG while the pleth shows pulses, and
// ended unconfirmed when the ECG stops arriving.
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../model/mdc.js';
import type { Quality, WaveformSegment } from '../model/reading.js';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor, rhythmKey } from './rhythm.js';
import type { ConditionUpdate } from './types.js';

const T0 = Date.UTC(2026, 11, 5, 8, 0, 0);
const RATE = 250;
const ON = { ...DEFAULT_RHYTHM_CONFIG, enabled: true };

/** Deterministic noise of ±0.01 mV: a quiet, connected lead. */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 0.02;
  };
}

/**
 * An ECG (or pleth) second by second: `beatAt(t)` says whether a beat starts in [t, t + 1/RATE). QRS: a 1 mV spike
 * 40 ms wide; pleth: a 1-unit pulse 300 ms wide.
 */
class Signal {
  private readonly rnd = noise(7);
  private beats: number[] = [];
  constructor(private readonly width: number) {}
  /** Beats every 60/bpm s from `fromS`, up to `toS` (bpm 0: none). */
  rhythm(bpm: number, fromS: number, toS: number): this {
    if (bpm > 0) for (let t = fromS; t < toS; t += 60 / bpm) this.beats.push(t);
    return this;
  }
  second(s: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < RATE; i++) {
      const t = s + i / RATE;
      let v = this.rnd();
      for (const b of this.beats) if (t >= b && t < b + this.width) v += Math.sin((Math.PI * (t - b)) / this.width);
      out.push(Math.round(v * 1000) / 1000);
    }
    return out;
  }
}

function segment(kind: 'ecg' | 'pleth', s: number, samples: number[], quality: Quality = { state: 'valid' }): WaveformSegment {
  return {
    kind: 'waveform', deviceId: 'mon-1', bed: 'bed-1', source: 'test', mdc: kind === 'ecg' ? MDC.ECG_ELEC_POTL_II : MDC.PULS_OXIM_PLETH,
    unit: kind === 'ecg' ? UNITS.MILLI_VOLT : { ucum: '{ratio}' }, startTime: T0 + s * 1000, sampleRateHz: RATE, samples, receivedAt: T0 + s * 1000 + 1000, quality,
  };
}

/** Streams seconds [from, to) of the ECG (and pleth) into the monitor; the updates, as "present:type" or "ended:type". */
function stream(m: RhythmMonitor, ecg: Signal, from: number, to: number, opts: { pleth?: Signal; quality?: (s: number) => Quality } = {}): string[] {
  const out: ConditionUpdate[] = [];
  for (let s = from; s < to; s++) {
    if (opts.pleth) out.push(...m.waveform(segment('pleth', s, opts.pleth.second(s))));
    out.push(...m.waveform(segment('ecg', s, ecg.second(s), opts.quality?.(s))));
  }
  return out.map(label);
}

const label = (u: ConditionUpdate) => (u.present ? `present:${u.spec.key.split(':').at(-1)}` : `ended:${u.key.split(':').at(-1)}${u.unconfirmed ? ' (unconfirmed)' : ''}`);

describe('gateway rhythm analysis', () => {
  it('a normal rhythm raises nothing; the QRS detector finds its beats', () => {
    const m = new RhythmMonitor(ON);
    expect(stream(m, new Signal(0.04).rhythm(80, 0, 40), 0, 40)).toEqual([]);
  });

  it('asystole: no QRS for 4 s raises it once, as a high physiological alarm of its own source; beats again end it', () => {
    const m = new RhythmMonitor(ON);
    const ecg = new Signal(0.04).rhythm(75, 0, 12).rhythm(75, 20, 40);
    const updates: ConditionUpdate[] = [];
    for (let s = 0; s < 40; s++) updates.push(...m.waveform(segment('ecg', s, ecg.second(s))));
    expect(updates.map(label)).toEqual(['present:asystole', 'ended:asystole']);
    const raised = updates[0] as Extract<ConditionUpdate, { present: true }>;
    expect(raised.spec).toMatchObject({ key: rhythmKey('bed-1', 'mon-1', 'asystole'), source: 'rhythm', priority: 'high', category: 'physiological', condition: { raw: { system: 'agent', code: 'rhythm:asystole' } } });
    expect(raised.spec.condition.text).toMatch(/^ASYSTOLE \(gateway ECG analysis\): no QRS for 4\.\d s on ECG II$/);
    // Raised on the data's own time: 4 s after the last beat (12 s), judged each second of ECG.
    expect(raised.at).toBeGreaterThanOrEqual(T0 + 16_000);
    expect(raised.at).toBeLessThanOrEqual(T0 + 18_000);
  });

  it('a flat ECG marked not valid (lead off) is never an asystole; judged again only once clean for 8 s', () => {
    const m = new RhythmMonitor(ON);
    const ecg = new Signal(0.04).rhythm(75, 0, 12).rhythm(75, 25, 45);
    const leadOff = (s: number): Quality => (s >= 12 && s < 25 ? { state: 'invalid', reasons: ['lead-off'] } : { state: 'valid' });
    expect(stream(m, ecg, 0, 45, { quality: leadOff })).toEqual([]);
  });

  it('a flat ECG while a clean pleth shows pulses is not raised (counted)', () => {
    const m = new RhythmMonitor(ON);
    const ecg = new Signal(0.04).rhythm(75, 0, 12);
    const pleth = new Signal(0.3).rhythm(75, 0, 30);
    expect(stream(m, ecg, 0, 30, { pleth })).toEqual([]);
    expect(m.suppressedByPulse).toBeGreaterThan(0);
  });

  it('extreme bradycardia (under 40 /min for 5 beats) and extreme tachycardia (over 140 /min for 17 beats)', () => {
    expect(stream(new RhythmMonitor(ON), new Signal(0.04).rhythm(80, 0, 10).rhythm(35, 10, 40), 0, 40)).toEqual(['present:brady']);
    expect(stream(new RhythmMonitor(ON), new Signal(0.04).rhythm(80, 0, 10).rhythm(170, 10, 30).rhythm(80, 30, 50), 0, 50)).toEqual(['present:tachy', 'ended:tachy']);
    // 130 /min is fast, not extreme; 45 /min slow, not extreme.
    expect(stream(new RhythmMonitor(ON), new Signal(0.04).rhythm(130, 0, 30), 0, 30)).toEqual([]);
    expect(stream(new RhythmMonitor(ON), new Signal(0.04).rhythm(45, 0, 30), 0, 30)).toEqual([]);
  });

  it('ECG that stops arriving ends what was present, unconfirmed; nothing is judged when switched off', () => {
    const m = new RhythmMonitor(ON);
    expect(stream(m, new Signal(0.04).rhythm(170, 0, 20), 0, 20)).toEqual(['present:tachy']);
    expect(m.tick(T0 + 25_000).map(label)).toEqual([]);
    expect(m.tick(T0 + 31_000).map(label)).toEqual(['ended:tachy (unconfirmed)']);
    expect(stream(new RhythmMonitor(DEFAULT_RHYTHM_CONFIG), new Signal(0.04).rhythm(75, 0, 5), 0, 20)).toEqual([]);
  });
});
