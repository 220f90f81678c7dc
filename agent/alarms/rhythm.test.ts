// The gateway's own arrhythmia check on streamed ECG (alarms.rhythm): asystole, extreme brady- and tachycardia by the
// PhysioNet/CinC 2015 definitions; never on ECG that is not clean, not for a flat ECG while the pleth shows pulses
// (with pulseVeto), and
// ended unconfirmed when the ECG stops arriving.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRecord } from '../../models/records.js';
import { PACKAGE_ROOT } from '../paths.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { Quality, WaveformSegment } from '../model/reading.js';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor, rhythmKey } from './rhythm.js';
import type { ConditionUpdate } from './types.js';

const T0 = Date.UTC(2026, 11, 5, 8, 0, 0);
const CORPUS = join(PACKAGE_ROOT, '..', 'shared', 'corpus', 'physionet-2015-false-alarms', 'windows-30s');
const corpusPresent = existsSync(CORPUS);
/** Without the corpus (a `git archive` extract) the real-record case is a skip that says why in its name (rv191 L2). */
const NO_CORPUS = corpusPresent ? '' : ` [SKIPPED: no PhysioNet 2015 corpus at ${CORPUS}]`;
const RATE = 250;
const ON = { ...DEFAULT_RHYTHM_CONFIG, enabled: true };
const VETO = { ...ON, pulseVeto: true };

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

  it('a flat ECG while a clean pleth shows pulses: raised (the model reads the pleth), or with pulseVeto not raised (counted)', () => {
    const ecg = new Signal(0.04).rhythm(75, 0, 12);
    const pleth = new Signal(0.3).rhythm(75, 0, 30);
    expect(stream(new RhythmMonitor(ON), ecg, 0, 30, { pleth })).toEqual(['present:asystole']);
    const m = new RhythmMonitor(VETO);
    expect(stream(m, ecg, 0, 30, { pleth })).toEqual([]);
    expect(m.take().notRaised.pulse).toBeGreaterThan(0);
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

  describe('review rv63', () => {
    it('a device clock set back starts the stretch afresh and is judged at once (it was blind for as long as the step)', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(75, 0, 30);
      // The device's clock runs an hour ahead for 20 s, then is set right: its stamps go back an hour. Its ECG goes
      // silent 10 s later.
      const stamped = (s: number, aheadS: number) => ({ ...segment('ecg', s, ecg.second(s)), startTime: T0 + (s + aheadS) * 1000 });
      const out: ConditionUpdate[] = [];
      for (let s = 0; s < 20; s++) out.push(...m.waveform(stamped(s, 3600)));
      for (let s = 20; s < 45; s++) out.push(...m.waveform(stamped(s, 0)));
      expect(out.map(label)).toEqual(['present:asystole']);
    });

    it("an asystole is not raised while the pleth pulses, whichever signal's segments start first; a line without noise is no asystole", () => {
      for (const offsetMs of [1, -1, 300, -300]) {
        const m = new RhythmMonitor(VETO);
        const ecg = new Signal(0.04).rhythm(75, 0, 12);
        const pleth = new Signal(0.3).rhythm(75, 0, 60);
        const out: ConditionUpdate[] = [];
        for (let s = 0; s < 60; s++) {
          out.push(...m.waveform({ ...segment('pleth', s, pleth.second(s)), startTime: T0 + s * 1000 + offsetMs }));
          out.push(...m.waveform(segment('ecg', s, ecg.second(s))));
        }
        expect(out.map(label), `pleth ${offsetMs} ms`).toEqual([]);
      }
      const m = new RhythmMonitor(ON);
      const out: ConditionUpdate[] = [];
      const beats = new Signal(0.04).rhythm(75, 0, 12);
      for (let s = 0; s < 40; s++) out.push(...m.waveform(segment('ecg', s, s < 12 ? beats.second(s) : new Array<number>(RATE).fill(0))));
      expect(out.map(label)).toEqual([]);
      expect(m.take().notRaised['no-signal']).toBeGreaterThan(0);
    });

    it('a segment with an absurd sample rate is not judged (it allocated gigabytes, or threw inside the engine)', () => {
      const m = new RhythmMonitor(ON);
      expect(m.waveform({ ...segment('ecg', 0, [0, 0.1]), sampleRateHz: 4e9 })).toEqual([]);
      expect(m.waveform({ ...segment('ecg', 0, [0, 0.1]), sampleRateHz: 50 })).toEqual([]);
    });

    it('a rate on the edge raises one alarm, not one every few seconds (hysteresis, and 10 s absent before it ends)', () => {
      const ecg = new Signal(0.04);
      for (let t = 0; t < 120; t += 10) ecg.rhythm(t % 20 === 0 ? 143 : 137, t, t + 10);
      expect(stream(new RhythmMonitor(ON), ecg, 0, 120)).toEqual(['present:tachy']);
    });

    it('a lost 40 ms segment is a gap, not squeezed out: 130 /min stays 130 (it became an extreme tachycardia)', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.08).rhythm(130, 0, 40);
      const out: ConditionUpdate[] = [];
      for (let i = 0; i < 1000; i++) {
        if (i % 8 === 7) continue; // one in eight 40 ms segments lost
        const s = Math.floor(i / 25);
        const part = ecg.second(s).slice((i % 25) * 10, (i % 25) * 10 + 10);
        out.push(...m.waveform({ ...segment('ecg', 0, part), startTime: T0 + i * 40, receivedAt: T0 + i * 40 + 1000 }));
      }
      expect(out.map(label)).toEqual([]);
    });

    it('ECG marked not valid for 10 s ends what was present, unconfirmed (it kept a tachycardia alarm through a lead-off)', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(170, 0, 60);
      const leadOff = (s: number): Quality => (s >= 20 ? { state: 'invalid', reasons: ['lead-off'] } : { state: 'valid' });
      expect(stream(m, ecg, 0, 40, { quality: leadOff })).toEqual(['present:tachy', 'ended:tachy (unconfirmed)']);
    });

    it('a pleth with a dicrotic wave (two pulses a beat) does not hide a bradycardia (rv64 H2: the pleth veto of a slow rate went)', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(35, 0, 40);
      const pleth = new Signal(0.15).rhythm(35, 0, 40).rhythm(35, 0.45, 40);
      expect(stream(m, ecg, 0, 40, { pleth })).toEqual(['present:brady']);
    });

  });

  describe('review rv64', () => {
    /** The ECG as 40 ms segments, some lost, start times jittered: a lossy network feed. */
    function lossy(m: RhythmMonitor, ecg: Signal, toS: number, opts: { loseEvery?: number; jitterMs?: number }): string[] {
      const out: ConditionUpdate[] = [];
      let seed = 3;
      for (let i = 0; i < toS * 25; i++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        if (opts.loseEvery && i % opts.loseEvery === opts.loseEvery - 1) continue;
        const s = Math.floor(i / 25);
        const jitter = opts.jitterMs ? Math.round((seed / 2147483648 - 0.5) * 2 * opts.jitterMs) : 0;
        const part = ecg.second(s).slice((i % 25) * 10, (i % 25) * 10 + 10);
        out.push(...m.waveform({ ...segment('ecg', 0, part), startTime: T0 + i * 40 + jitter, receivedAt: T0 + i * 40 + 1000 }));
      }
      return out.map(label);
    }

    it('a lossy feed (1 in 7 segments lost) or jittered start times (±25 ms) is still judged: the asystole is raised', () => {
      const ecg = () => new Signal(0.04).rhythm(75, 0, 20);
      expect(lossy(new RhythmMonitor(ON), ecg(), 40, { loseEvery: 7 })).toEqual(['present:asystole']);
      expect(lossy(new RhythmMonitor(ON), ecg(), 40, { jitterMs: 25 })).toEqual(['present:asystole']);
    });

    it('a rate alarm ends at once when an asystole is found, after 10 s of ECG otherwise, whatever the clock does', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(170, 0, 20).rhythm(75, 30, 60);
      const out = stream(m, ecg, 0, 60);
      expect(out).toEqual(['present:tachy', 'present:asystole', 'ended:tachy', 'ended:asystole']);
      // A tachycardia that ends while the device's clock is set back an hour: it ends after 10 s of ECG all the same.
      const m2 = new RhythmMonitor(ON);
      const ecg2 = new Signal(0.04).rhythm(170, 0, 20).rhythm(80, 20, 80);
      const seen: ConditionUpdate[] = [];
      for (let s = 0; s < 60; s++) seen.push(...m2.waveform({ ...segment('ecg', s, ecg2.second(s)), startTime: T0 + (s < 24 ? s : s - 3600) * 1000 }));
      expect(seen.map(label)).toEqual(['present:tachy', 'ended:tachy']);
    });

    it('an asystole with a near-silent baseline (0.002 mV steps) is raised: only an exactly constant line is no signal', () => {
      const m = new RhythmMonitor(ON);
      const beats = new Signal(0.04).rhythm(75, 0, 12);
      const out: ConditionUpdate[] = [];
      for (let s = 0; s < 30; s++) {
        const x = s < 12 ? beats.second(s) : Array.from({ length: RATE }, (_, i) => (i % 97 < 50 ? 0 : 0.002));
        out.push(...m.waveform(segment('ecg', s, x)));
      }
      expect(out.map(label)).toEqual(['present:asystole']);
    });

    // Synthetic noise does not fool the detectors the way real artefact does: a real window of the shared corpus.
    it.skipIf(!corpusPresent)(`a fast "rate" from noise the two QRS detectors disagree on is not an extreme tachycardia (PhysioNet a145l, a false asystole alarm)${NO_CORPUS}`, () => {
      const rec = readRecord(CORPUS, 'a145l');
      const ecg = rec.channels.find((c) => c.name === 'II')!;
      const m = new RhythmMonitor(ON);
      const out: ConditionUpdate[] = [];
      for (let s = 0; (s + 1) * RATE <= ecg.samples.length; s++) {
        const part = Array.from(ecg.samples.subarray(s * RATE, (s + 1) * RATE), (v) => (Number.isFinite(v) ? v : 0));
        out.push(...m.waveform(segment('ecg', s, part)));
      }
      // With the agreement check off (0) the same stream raised an extreme tachycardia.
      expect(out.map(label)).toEqual([]);
      expect(m.take().notRaised.noise).toBeGreaterThan(0);
    });
  });

  describe('review rv65', () => {
    it("an escape rhythm's 4.5 s pauses give one asystole alarm, not one per pause (it ended at the first beat)", () => {
      const ecg = new Signal(0.04).rhythm(75, 0, 10);
      for (let t = 10; t < 190; t += 4.5) ecg.rhythm(60, t, t + 0.5);
      expect(stream(new RhythmMonitor(ON), ecg, 0, 190)).toEqual(['present:asystole']);
    });

    it('the end delay is 10 s of ECG whatever the segment length (5 s segments ended it after 50 s)', () => {
      const ecg = new Signal(0.04).rhythm(170, 0, 40).rhythm(80, 40, 120);
      const m = new RhythmMonitor(ON);
      const out: ConditionUpdate[] = [];
      for (let s = 0; s < 120; s += 5) {
        const samples = Array.from({ length: 5 }, (_, i) => ecg.second(s + i)).flat();
        out.push(...m.waveform({ ...segment('ecg', s, samples), receivedAt: T0 + (s + 5) * 1000 }));
      }
      const ended = out.find((u) => !u.present);
      expect(out.map(label)).toEqual(['present:tachy', 'ended:tachy']);
      // The 17-beat rate falls under 135 /min a few seconds after 40 s; 10 s of ECG later, at the next 5 s segment.
      expect(ended!.at).toBeLessThanOrEqual(T0 + 65_000);
    });

    it('segments sent twice (one in five), or overlapping the last by 80 ms, are not appended again: the asystole is raised', () => {
      const ecg = new Signal(0.04).rhythm(75, 0, 20);
      const twice = new RhythmMonitor(ON);
      const overlapping = new RhythmMonitor(ON);
      const out1: ConditionUpdate[] = [];
      const out2: ConditionUpdate[] = [];
      for (let s = 0; s < 40; s++) {
        const seg = segment('ecg', s, ecg.second(s));
        out1.push(...twice.waveform(seg));
        if (s % 5 === 4) out1.push(...twice.waveform(seg));
        // Each segment starts 80 ms before the last ended, with those 20 samples again.
        const prev = s > 0 ? ecg.second(s - 1).slice(-20) : [];
        out2.push(...overlapping.waveform({ ...segment('ecg', s, [...prev, ...ecg.second(s)]), startTime: T0 + s * 1000 - (s > 0 ? 80 : 0) }));
      }
      expect(out1.map(label)).toEqual(['present:asystole']);
      expect(out2.map(label)).toEqual(['present:asystole']);
    });
  });


  describe('review rv77', () => {
    type Lead = 'I' | 'II';
    const MDC_OF: Record<Lead, WaveformSegment['mdc']> = { I: MDC.ECG_ELEC_POTL_I, II: MDC.ECG_ELEC_POTL_II };
    const VALID: Quality = { state: 'valid' };
    const LEAD_OFF: Quality = { state: 'invalid', reasons: ['lead-off'] };
    const flat = () => new Signal(0.04); // a connected lead without beats (noise only)
    /** Second `s` of each lead given (a lead given null is not sent that second), then a tick; updates with their second. */
    function leads(m: RhythmMonitor, from: number, to: number, send: (s: number) => Partial<Record<Lead, { ecg: Signal; quality?: Quality } | null>>): string[] {
      const out: string[] = [];
      for (let s = from; s < to; s++) {
        for (const [lead, x] of Object.entries(send(s)) as [Lead, { ecg: Signal; quality?: Quality } | null][]) {
          if (x) out.push(...m.waveform({ ...segment('ecg', s, x.ecg.second(s), x.quality ?? VALID), mdc: MDC_OF[lead] }).map((u) => `${s}s ${label(u)}`));
        }
        out.push(...m.tick(T0 + (s + 1) * 1000).map((u) => `${s}s ${label(u)}`));
      }
      return out;
    }

    it('lead II lead-off while lead I is clean: it switches to lead I (counted, told) and raises the asystole seen there (it judged nothing)', () => {
      const m = new RhythmMonitor(ON);
      const lead1 = new Signal(0.04).rhythm(70, 0, 40); // the heart stops at 40 s
      const lead2 = new Signal(0.04).rhythm(70, 0, 20);
      const out = leads(m, 0, 120, (s) => ({ II: { ecg: s < 20 ? lead2 : flat(), quality: s < 20 ? VALID : LEAD_OFF }, I: { ecg: lead1 } }));
      expect(out.map((x) => x.replace(/^\d+s /, ''))).toEqual(['present:asystole']);
      // Raised on the data's time, about 4 s after the last beat (39.x s), judged each second.
      expect(Number(out[0]!.split('s ')[0])).toBeLessThanOrEqual(45);
      const taken = m.take();
      expect(taken.leadSwitches).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', from: 'II', to: 'I', reason: 'not-clean' }]);
      expect(taken.notJudged).toEqual([]);
      expect(taken.skipped['no-clean-lead']).toBe(0);
    });

    it('the asystole raised on lead I says so', () => {
      const m = new RhythmMonitor(ON);
      const updates: ConditionUpdate[] = [];
      const lead1 = new Signal(0.04).rhythm(70, 0, 30);
      for (let s = 0; s < 45; s++) {
        updates.push(...m.waveform({ ...segment('ecg', s, flat().second(s), LEAD_OFF), mdc: MDC.ECG_ELEC_POTL_II }));
        updates.push(...m.waveform({ ...segment('ecg', s, lead1.second(s)), mdc: MDC.ECG_ELEC_POTL_I }));
      }
      const raised = updates.filter((u): u is Extract<ConditionUpdate, { present: true }> => u.present);
      expect(raised.map((u) => u.spec.condition.text)).toEqual([expect.stringMatching(/no QRS for 4\.\d s on ECG I$/)]);
    });

    it('no lead clean for 10 s: what was present ends unconfirmed, and "not judged: no clean lead" is counted and told once', () => {
      const m = new RhythmMonitor(ON);
      const fast = new Signal(0.04).rhythm(170, 0, 60);
      const q = (s: number) => (s < 20 ? VALID : LEAD_OFF);
      const out = leads(m, 0, 60, (s) => ({ II: { ecg: fast, quality: q(s) }, I: { ecg: fast, quality: q(s) } }));
      expect(out.map((x) => x.replace(/^\d+s /, ''))).toEqual(['present:tachy', 'ended:tachy (unconfirmed)']);
      const taken = m.take();
      expect(taken.leadSwitches).toEqual([]);
      expect(taken.notJudged).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', leads: ['II', 'I'], seconds: 10 }]);
      expect(taken.skipped['no-clean-lead']).toBeGreaterThan(20);
      // Told once per episode: the next take() has no new one while it stays blind.
      leads(m, 60, 70, (s) => ({ II: { ecg: fast, quality: q(s) }, I: { ecg: fast, quality: q(s) } }));
      expect(m.take().notJudged).toEqual([]);
    });

    it('lead II stops and lead I goes on: the asystole stays one alarm (it ended as "no ECG" and was raised again 8 s later)', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(70, 0, 15); // asystole from 15 s on both leads
      const out = leads(m, 0, 90, (s) => ({ II: s < 30 ? { ecg } : null, I: { ecg } }));
      expect(out.map((x) => x.replace(/^\d+s /, ''))).toEqual(['present:asystole']);
      expect(m.take().leadSwitches).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', from: 'II', to: 'I', reason: 'stopped' }]);
    });

    it('on a switch to a lead with no clean stretch yet, a present condition is kept until that lead is judged (within 10 s of ECG)', () => {
      const fast = new Signal(0.04).rhythm(170, 0, 80);
      // Lead I starts only when lead II stops: 8 s of it are needed before it is judged.
      const m = new RhythmMonitor(ON);
      expect(leads(m, 0, 80, (s) => ({ II: s < 20 ? { ecg: fast } : null, I: s >= 20 ? { ecg: fast } : null })).map((x) => x.replace(/^\d+s /, ''))).toEqual(['present:tachy']);
      // Lead I never clean: ended, unconfirmed, once 10 s of ECG have gone without a judgement.
      const m2 = new RhythmMonitor(ON);
      const out = leads(m2, 0, 60, (s) => ({ II: s < 20 ? { ecg: fast } : null, I: s >= 20 ? { ecg: fast, quality: LEAD_OFF } : null }));
      expect(out.map((x) => x.replace(/^\d+s /, ''))).toEqual(['present:tachy', 'ended:tachy (unconfirmed)']);
      expect(Number(out[1]!.split('s ')[0])).toBeLessThanOrEqual(34);
    });

    it('three leads held per device, the best ranked: a fourth better one takes the place of the worst; the switch goes to the best ranked clean one', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(70, 0, 40);
      const V5 = { ...MDC.ECG_ELEC_POTL_I, refid: 'MDC_ECG_ELEC_POTL_V5' };
      const AVF = { ...MDC.ECG_ELEC_POTL_I, refid: 'MDC_ECG_ELEC_POTL_AVF' };
      const out: ConditionUpdate[] = [];
      for (let s = 0; s < 60; s++) {
        for (const mdc of [V5, AVF, MDC.ECG_ELEC_POTL_I, MDC.ECG_ELEC_POTL_II]) {
          const off = mdc === MDC.ECG_ELEC_POTL_II && s >= 20;
          out.push(...m.waveform({ ...segment('ecg', s, off ? flat().second(s) : ecg.second(s), off ? LEAD_OFF : VALID), mdc }));
        }
        out.push(...m.tick(T0 + (s + 1) * 1000));
      }
      expect(out.map(label)).toEqual(['present:asystole']);
      expect(m.take().leadSwitches).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', from: 'II', to: 'I', reason: 'not-clean' }]);
    });

    it('leads sent in 5 s segments 2.5 s apart do not switch back and forth', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(70, 0, 30);
      const out: ConditionUpdate[] = [];
      for (let s = 0; s < 60; s += 5) {
        const samples = Array.from({ length: 5 }, (_, i) => ecg.second(s + i)).flat();
        out.push(...m.waveform({ ...segment('ecg', s, samples), receivedAt: T0 + (s + 5) * 1000 }));
        out.push(...m.waveform({ ...segment('ecg', s, samples), mdc: MDC.ECG_ELEC_POTL_I, receivedAt: T0 + (s + 7.5) * 1000 }));
        out.push(...m.tick(T0 + (s + 7.5) * 1000));
      }
      expect(out.map(label)).toEqual(['present:asystole']);
      expect(m.take().leadSwitches).toEqual([]);
    });

    it('lead II preferred at the start whichever lead arrives first; a clean lead II is kept while lead I is off', () => {
      const m = new RhythmMonitor(ON);
      const ecg = new Signal(0.04).rhythm(70, 0, 30);
      const out = leads(m, 0, 45, (s) => ({ I: { ecg, quality: s >= 5 ? LEAD_OFF : VALID }, II: { ecg } }));
      expect(out.map((x) => x.replace(/^\d+s /, ''))).toEqual(['present:asystole']);
      expect(m.take().leadSwitches).toEqual([]);
    });
  });
});
