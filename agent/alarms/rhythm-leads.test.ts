// The rhythm check across leads and feeds (review rv102): an asystole on one lead while another held clean shows every
// beat is held back; ECG implausibly small for its unit is told; ECG that stops while the device goes on sending for
// the bed is told, counted and raised as a low technical alarm until it comes back.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { Unit, WaveformSegment } from '../model/reading.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor } from './rhythm.js';
import { AlarmService } from './service.js';
import type { ConditionUpdate } from './types.js';

const RATE = 250;
const ON = { ...DEFAULT_RHYTHM_CONFIG, enabled: true };

/** A connected lead (noise ±0.01 mV) with QRS half-sines of `height` mV, 40 ms wide, at the beats given. */
class Ecg {
  private seed: number;
  private readonly beats: number[] = [];
  constructor(private readonly height = 1, seed = 7) {
    this.seed = seed;
  }
  rhythm(bpm: number, fromS: number, toS: number): this {
    for (let t = fromS; t < toS; t += 60 / bpm) this.beats.push(t);
    return this;
  }
  /** Second `sec`, in mV times `scale`. */
  second(sec: number, scale = 1): number[] {
    const out: number[] = [];
    for (let i = 0; i < RATE; i++) {
      const t = sec + i / RATE;
      this.seed = (this.seed * 1103515245 + 12345) % 2147483648;
      let v = (this.seed / 2147483648 - 0.5) * 0.02;
      for (const b of this.beats) if (t >= b && t < b + 0.04) v += this.height * Math.sin((Math.PI * (t - b)) / 0.04);
      out.push(Math.round(v * scale * 1000) / 1000);
    }
    return out;
  }
}

function seg(sec: number, samples: number[], mdc = MDC.ECG_ELEC_POTL_II, unit: Unit = UNITS.MILLI_VOLT): WaveformSegment {
  return { kind: 'waveform', deviceId: 'mon-1', bed: 'bed-1', source: 'test', mdc, unit, startTime: s(sec), sampleRateHz: RATE, samples, receivedAt: s(sec + 1), quality: { state: 'valid' } };
}

const label = (u: ConditionUpdate) => (u.present ? `present:${u.spec.key.split(':').at(-1)}` : `ended:${u.key.split(':').at(-1)}${u.unconfirmed ? ' (unconfirmed)' : ''}`);

describe('rhythm check across leads and feeds (review rv102)', () => {
  it('M2: lead II with a 0.04 mV QRS while lead I shows every beat: no asystole, counted as other-lead (it raised one for good)', () => {
    const m = new RhythmMonitor(ON);
    const ii = new Ecg(0.04, 7).rhythm(75, 0.3, 120);
    const i1 = new Ecg(1, 11).rhythm(75, 0.3, 120);
    const out: string[] = [];
    for (let t = 0; t < 60; t++) {
      out.push(...m.waveform(seg(t, i1.second(t), MDC.ECG_ELEC_POTL_I)).map(label));
      out.push(...m.waveform(seg(t, ii.second(t))).map(label));
    }
    expect(out).toEqual([]);
    const taken = m.take();
    expect(taken.notRaised['other-lead']).toBeGreaterThan(40);
    expect(taken.leadSwitches).toEqual([]);
  });

  it('M2: an asystole on both leads is raised; so is one while the other lead shows only noise', () => {
    const both = new RhythmMonitor(ON);
    const ii = new Ecg(1, 7).rhythm(75, 0.3, 20);
    const i1 = new Ecg(1, 11).rhythm(75, 0.3, 20);
    const out: string[] = [];
    for (let t = 0; t < 40; t++) {
      out.push(...both.waveform(seg(t, i1.second(t), MDC.ECG_ELEC_POTL_I)).map(label));
      out.push(...both.waveform(seg(t, ii.second(t))).map(label));
    }
    expect(out).toEqual(['present:asystole']);
    expect(both.take().notRaised['other-lead']).toBe(0);
    // Lead I: artefact (bursts of 8–30 Hz of irregular size and spacing), which the two QRS detectors do not agree on.
    const noisy = new RhythmMonitor(ON);
    const ii2 = new Ecg(1, 7).rhythm(75, 0.3, 20);
    let r = 3;
    const rnd = () => ((r = (r * 1103515245 + 12345) % 2147483648) / 2147483648);
    const out2: string[] = [];
    for (let t = 0; t < 40; t++) {
      const art = Array.from({ length: RATE }, (_, i) => Math.round(0.6 * rnd() * Math.sin((2 * Math.PI * (8 + 22 * rnd()) * i) / RATE) * 1000) / 1000);
      out2.push(...noisy.waveform(seg(t, art, MDC.ECG_ELEC_POTL_I)).map(label));
      out2.push(...noisy.waveform(seg(t, ii2.second(t))).map(label));
    }
    expect(out2).toEqual(['present:asystole']);
  });

  it('M2: ECG in mV labelled µV (every judgement an asystole) is told once per device as too small or of a suspect unit', () => {
    const m = new RhythmMonitor(ON);
    const ecg = new Ecg(1).rhythm(75, 0.3, 200);
    const out: string[] = [];
    for (let t = 0; t < 90; t++) out.push(...m.waveform(seg(t, ecg.second(t), MDC.ECG_ELEC_POTL_II, { ucum: 'uV' })).map(label));
    expect(out).toEqual(['present:asystole']); // not to be told from a true asystole on this lead alone
    const taken = m.take();
    expect(taken.lowAmplitude).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', lead: 'II', peakToPeakMv: expect.any(Number) as number, seconds: expect.any(Number) as number }]);
    expect(taken.lowAmplitude[0]!.peakToPeakMv).toBeLessThan(0.01);
    for (let t = 90; t < 150; t++) m.waveform(seg(t, ecg.second(t), MDC.ECG_ELEC_POTL_II, { ucum: 'uV' }));
    expect(m.take().lowAmplitude).toEqual([]);
    // A normal ECG, and a true asystole shorter than the minute it takes, are not told.
    const ok = new RhythmMonitor(ON);
    const brief = new Ecg(1).rhythm(75, 0.3, 30).rhythm(75, 70, 200);
    for (let t = 0; t < 150; t++) ok.waveform(seg(t, brief.second(t)));
    expect(ok.take().lowAmplitude).toEqual([]);
  });

  /** ECG (lead II) until `ecgUntil`, HR and SpO2 each second while `numericsUntil`, the engine ticked twice a second. */
  function wardRun(e: AlarmEngine, from: number, to: number, opts: { ecgUntil?: number; ecgFrom?: number; numericsUntil?: number; ecg: Ecg }): void {
    for (let t = from; t < to; t++) {
      if (t < (opts.numericsUntil ?? Infinity)) {
        e.ingest(numeric(MDC.ECG_HEART_RATE, 75, t));
        e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 97, t));
      }
      if (t >= (opts.ecgFrom ?? 0) && t < (opts.ecgUntil ?? Infinity)) e.ingest(seg(t, opts.ecg.second(t)));
      for (let h = 0; h < 2; h++) e.tick(s(t + 1) + h * 500);
    }
  }

  it('M4: ECG that stops while the device still sends for the bed raises "No ECG from <device>: rhythm check not running" (low) until ECG comes back', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const ecg = new Ecg(1).rhythm(75, 0.3, 20).rhythm(75, 80, 200); // an asystole from 20 s, beats again from 80 s
    wardRun(e, 0, 40, { ecg });
    expect(e.list().filter((a) => a.state !== 'resolved').map((a) => a.source)).toContain('rhythm');
    wardRun(e, 40, 70, { ecg, ecgUntil: 40 });
    const open = () => e.list().filter((a) => a.state !== 'resolved' && a.source === 'technical');
    expect(open().map((a) => [a.condition.text, a.priority, a.category, a.bed, a.deviceId])).toEqual([['No ECG from mon-1: rhythm check not running', 'low', 'technical', 'bed-1', 'mon-1']]);
    expect(e.takeRhythm().stopped).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', leads: ['II'], seconds: 10, hadPresent: true, alarmed: true }]);
    // ECG again: the technical alarm ends (it is not latched: nothing was lost while it stood, only the check).
    wardRun(e, 70, 75, { ecg, ecgFrom: 70 });
    expect(open()).toEqual([]);
    expect(e.takeRhythm().stopped).toEqual([]);
  });

  it('M4: a device that goes silent altogether has its "no data" alarm, not "No ECG" (told, counted all the same)', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const ecg = new Ecg(1).rhythm(75, 0.3, 200);
    wardRun(e, 0, 30, { ecg });
    wardRun(e, 30, 90, { ecg, ecgUntil: 30, numericsUntil: 30 });
    const texts = e.list().filter((a) => a.state !== 'resolved' && a.source === 'technical').map((a) => a.condition.text);
    expect(texts).toEqual([expect.stringMatching(/^No data from mon-1/)]);
    expect(e.takeRhythm().stopped).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', leads: ['II'], seconds: 10, hadPresent: false, alarmed: false }]);
    // It comes back with numerics only: the bed is unchecked again while it sends, so "No ECG" is raised then.
    wardRun(e, 90, 95, { ecg, ecgUntil: 0 });
    expect(e.list().filter((a) => a.state !== 'resolved' && a.source === 'technical').map((a) => a.condition.text)).toContain('No ECG from mon-1: rhythm check not running');
  });

  it('rv104 L1: ECG sent in 10 s segments with 0.5 s of jitter is not taken for stopped ("No ECG" flapped every 20 s); it is after 2 segments, and 1 s segments still after 10 s', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const ecg = new Ecg(1).rhythm(75, 0.3, 300);
    const noEcg = (from = 0) => e.list().filter((a) => a.state !== 'resolved' && a.condition.text.startsWith('No ECG') && a.raisedAt >= s(from));
    const texts: string[] = [];
    let lastEcgS = 0;
    for (let ms = 0; ms <= 150_000; ms += 100) {
      // Segment [k-10, k) arrives at k + 0.6 s or k + 0.1 s, in turn; none after 120 s (the device sends on).
      const k = Math.floor(ms / 10_000) * 10_000;
      const late = (k / 10_000) % 2 === 0 ? 600 : 100;
      if (k >= 10_000 && k <= 120_000 && ms === k + late) {
        const from = (k - 10_000) / 1000;
        const samples = Array.from({ length: 10 }, (_, i) => ecg.second(from + i)).flat();
        texts.push(...e.ingest({ ...seg(from, samples), receivedAt: s(0) + ms }).map((c) => c.alarm.condition.text));
        lastEcgS = ms / 1000;
      }
      if (ms % 1000 === 200) texts.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 75, ms / 1000)).map((c) => c.alarm.condition.text));
      if (ms % 500 === 400) texts.push(...e.tick(s(0) + ms).map((c) => c.alarm.condition.text));
      if (ms === 120_000) {
        expect(texts.filter((t) => t.startsWith('No ECG'))).toEqual([]);
        expect(e.takeRhythm().stopped).toEqual([]);
      }
    }
    // Stopped for real: told after two of its segments (20 s), not one.
    expect(lastEcgS).toBe(120.6);
    const stopped = e.takeRhythm().stopped;
    expect(stopped).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', leads: ['II'], seconds: 20, hadPresent: false, alarmed: true }]);
    expect(noEcg().map((a) => (a.raisedAt - s(0)) / 1000)).toEqual([140.9]);
    // 1 s segments: still 10 s.
    const e1 = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    wardRun(e1, 0, 30, { ecg });
    wardRun(e1, 30, 45, { ecg, ecgUntil: 30 });
    expect(e1.takeRhythm().stopped).toEqual([{ deviceId: 'mon-1', bed: 'bed-1', leads: ['II'], seconds: 10, hadPresent: false, alarmed: true }]);
    expect(e1.list().filter((a) => a.condition.text.startsWith('No ECG')).map((a) => (a.raisedAt - s(0)) / 1000)).toEqual([40]);
  });

  it('M2, M4: the service counts and logs a stopped ECG feed and an implausibly small ECG, each once', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    let now = s(0);
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't', rhythm: ON }), () => undefined, log, metrics, () => now);
    const ecg = new Ecg(1).rhythm(75, 0.3, 200);
    for (let t = 0; t < 120; t++) {
      service.handle([numeric(MDC.ECG_HEART_RATE, 75, t), ...(t < 90 ? [seg(t, ecg.second(t), MDC.ECG_ELEC_POTL_II, { ucum: 'uV' })] : [])]);
      for (let h = 0; h < 2; h++) {
        now = s(t + 1) + h * 500;
        service.tick();
      }
    }
    expect(metrics.get('alarm_rhythm_low_amplitude_total')).toBe(1);
    expect(metrics.get('alarm_rhythm_feeds_stopped_total')).toBe(1);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^ECG II from mon-1 \(bed bed-1\) under 0\.1 mV peak to peak for \d+ s: too small for ECG/),
      expect.stringMatching(/^no ECG from mon-1 \(bed bed-1; II\) for 10 s: the rhythm check is not running for it; its rhythm alarm present ended unconfirmed; "No ECG from mon-1: rhythm check not running" \(low\) raised/),
    ]);
  });
});

describe('rhythm check that cannot judge a feed that keeps arriving (review rv191 M1)', () => {
  const NOT_RUNNING = /^Rhythm check not running on ECG II of mon-1: /;
  type Second = { samples: number[]; quality?: WaveformSegment['quality'] } | null;

  /**
   * Seconds [from, to) of lead II as `ecg(t)` gives them (null: that second lost), SpO2 every second so the device is
   * not silent for the bed, the engine ticked after each; the "Rhythm check not running" alarms raised (text and
   * second), and those ended (second).
   */
  function ward(e: AlarmEngine, from: number, to: number, ecg: (t: number) => Second): { raised: Array<[string, number]>; ended: number[] } {
    const raised: Array<[string, number]> = [];
    const ended: number[] = [];
    for (let t = from; t < to; t++) {
      const sec = ecg(t);
      const events = [numeric(MDC.PULS_OXIM_SAT_O2, 97, t + 0.5), ...(sec ? [{ ...seg(t, sec.samples), receivedAt: s(t) + 500, quality: sec.quality ?? { state: 'valid' as const } }] : [])];
      for (const c of [...e.ingestAll(events), ...e.tick(s(t) + 900)]) {
        if (!NOT_RUNNING.test(c.alarm.condition.text)) continue;
        if (c.from === null) raised.push([c.alarm.condition.text, t]);
        else if (c.to === 'resolved') ended.push(t);
      }
    }
    return { raised, ended };
  }
  const sinus = new Ecg(1, 3).rhythm(75, 0.3, 1000);
  const open = (e: AlarmEngine) => e.list().filter((a) => a.state !== 'resolved');

  it('a flat line marked valid (an exactly constant ECG): raised after 30 s of it unjudged, low technical; ends once stretches have been judged again for 30 s', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const flat = ward(e, 0, 150, (t) => ({ samples: t < 60 ? sinus.second(t) : new Array<number>(RATE).fill(0.3) }));
    expect(flat.raised.map(([text]) => text)).toEqual(['Rhythm check not running on ECG II of mon-1: flat line (ECG exactly constant)']);
    // The first judgements of the flat line still see the last beats; 30 s of ECG after the last judged stretch.
    expect(flat.raised[0]![1]).toBeGreaterThanOrEqual(90);
    expect(flat.raised[0]![1]).toBeLessThanOrEqual(97);
    const alarm = open(e).find((a) => NOT_RUNNING.test(a.condition.text))!;
    expect([alarm.source, alarm.category, alarm.priority, alarm.bed, alarm.deviceId]).toEqual(['technical', 'technical', 'low', 'bed-1', 'mon-1']);
    expect(open(e).filter((a) => a.source === 'rhythm')).toEqual([]); // no asystole raised over it
    // A real ECG again: judged at once (the flat line was clean ECG, its window fills on), and the alarm ends (resolved,
    // not latched) once the check has run for 30 s of it, not at its first judgement (review rv194 L2).
    const back = ward(e, 150, 200, (t) => ({ samples: sinus.second(t) }));
    expect(back.raised).toEqual([]);
    expect(back.ended).toHaveLength(1);
    expect(back.ended[0]!).toBeGreaterThanOrEqual(179);
    expect(back.ended[0]!).toBeLessThanOrEqual(182);
    expect(open(e).filter((a) => NOT_RUNNING.test(a.condition.text))).toEqual([]);
  });

  it('ECG whose times are not from the device (HL7 without OBX-14, placed at receipt): raised after 30 s, says why', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const run = ward(e, 0, 60, (t) => ({ samples: sinus.second(t), quality: { state: 'questionable', reasons: ['time-from-receipt'] } }));
    // Raised at the tick after its 30th second of ECG (seconds 0–29).
    expect(run.raised).toEqual([['Rhythm check not running on ECG II of mon-1: ECG times not from the device (placed at receipt)', 29]]);
  });

  it('a feed losing 1 s in every 6 (never 8 s without a gap): raised, says why; an asystole there is still not judged', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const beatsThenNone = new Ecg(1, 3).rhythm(75, 0.3, 30);
    const run = ward(e, 0, 120, (t) => (t % 6 === 5 ? null : { samples: beatsThenNone.second(t) }));
    expect(run.raised.map(([text]) => text)).toEqual(['Rhythm check not running on ECG II of mon-1: gaps in the ECG (no 8 s without one)']);
    expect(run.raised[0]![1]).toBeLessThanOrEqual(40);
    expect(open(e).filter((a) => a.source === 'rhythm')).toEqual([]);
  });

  it('not raised for a feed judged all along, nor for a lead off the device flags (its LEAD OFF alarm says so)', () => {
    const ok = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    expect(ward(ok, 0, 120, (t) => ({ samples: sinus.second(t) })).raised).toEqual([]);
    const off = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const run = ward(off, 0, 150, (t) => (t < 30 ? { samples: sinus.second(t) } : { samples: new Array<number>(RATE).fill(0), quality: { state: 'invalid', reasons: ['lead-off'] } }));
    expect(run.raised).toEqual([]);
    expect(open(off).map((a) => a.condition.text)).toContain('ECG II LEAD OFF');
  });

  it('not raised and ended within seconds (review rv194 L2): it ends only once the check has run for 30 s of ECG, with no 30 s unjudged between', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const lossy = (t: number): Second => (t % 6 === 5 ? null : { samples: sinus.second(t) });
    expect(ward(e, 0, 60, lossy).raised).toHaveLength(1);
    // 10 s clean among the losses: a stretch or two judged, then none for 30 s again. The alarm stands throughout.
    const blip = ward(e, 60, 70, (t) => ({ samples: sinus.second(t) }));
    const again = ward(e, 70, 130, lossy);
    expect([blip.ended, again.raised, again.ended]).toEqual([[], [], []]);
    // Clean from 126 (the last second lost was 125): judged from 133 on, ended 30 s of ECG later.
    const clean = ward(e, 130, 200, (t) => ({ samples: sinus.second(t) }));
    expect(clean.raised).toEqual([]);
    expect(clean.ended).toHaveLength(1);
    expect(clean.ended[0]!).toBeGreaterThanOrEqual(162);
    expect(clean.ended[0]!).toBeLessThanOrEqual(164);
  });

  it('1 s of ECG lost at random (12 %) for 10 minutes: each "not running" raised stands at least 30 s (review rv194 L2: three stood 1 s)', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    let seed = 11;
    const lost = (): boolean => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 < 0.12;
    const run = ward(e, 0, 600, (t) => (lost() ? null : { samples: sinus.second(t) }));
    expect(run.raised.length).toBeGreaterThan(0); // the pattern does leave the check blind now and then
    const stood = run.raised.map(([, at], i) => (run.ended[i] ?? 600) - at);
    expect(Math.min(...stood)).toBeGreaterThanOrEqual(30);
  });

  // rv196 M1: it stood 30 s beside the ASYSTOLE the check raised, and through 5 minutes of a lead off.
  it('ends at once when the check raises a rhythm alarm: a flat line, then a connected lead with no QRS', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const noQrs = new Ecg(1, 5);
    const log: string[] = [];
    for (let t = 0; t < 160; t++) {
      const samples = t < 60 ? sinus.second(t) : t < 120 ? new Array<number>(RATE).fill(0.3) : noQrs.second(t);
      for (const c of [...e.ingestAll([numeric(MDC.PULS_OXIM_SAT_O2, 97, t + 0.5), { ...seg(t, samples), receivedAt: s(t) + 500 }]), ...e.tick(s(t) + 900)]) {
        if (c.alarm.source === 'rhythm' || NOT_RUNNING.test(c.alarm.condition.text)) log.push(`${t} ${c.to} ${c.alarm.condition.text.split(':')[0]} | ${c.why ?? ''}`);
      }
    }
    expect(log).toHaveLength(3);
    expect(log[0]).toMatch(/^9\d active Rhythm check not running on ECG II of mon-1 \| /);
    const raisedAt = /^(\d+) active ASYSTOLE \(gateway ECG analysis\) \| /.exec(log[1]!)?.[1];
    expect(raisedAt).toBeDefined();
    expect(log[2]).toBe(`${raisedAt} resolved Rhythm check not running on ECG II of mon-1 | ECG II from mon-1 judged: the rhythm check is running (it raised ASYSTOLE)`);
  });

  it('ends once the ECG has been flagged not valid (lead off) for 32 s: its LEAD OFF alarm takes over; not raised again through it, nor after', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const lossy = ward(e, 0, 60, (t) => (t % 6 === 5 ? null : { samples: sinus.second(t) }));
    expect(lossy.raised.map(([text]) => text)).toEqual(['Rhythm check not running on ECG II of mon-1: gaps in the ECG (no 8 s without one)']);
    const off = ward(e, 60, 360, () => ({ samples: new Array<number>(RATE).fill(0), quality: { state: 'invalid', reasons: ['lead-off'] } }));
    expect(off.raised).toEqual([]);
    expect(off.ended).toEqual([91]); // seconds 60–91: 32 s of ECG flagged lead off
    expect(open(e).map((a) => a.condition.text)).toContain('ECG II LEAD OFF');
    expect(ward(e, 360, 450, (t) => ({ samples: sinus.second(t) })).raised).toEqual([]);
  });

  it('artefact without end: the "not valid" alarm of the ECG is up before "not running" ends, no second with neither (review rv198 L2)', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    expect(ward(e, 0, 60, (t) => (t % 6 === 5 ? null : { samples: sinus.second(t) })).raised).toHaveLength(1);
    const artefact = () => ({ samples: sinus.second(0), quality: { state: 'invalid' as const, reasons: ['artifact'] } });
    for (let t = 60; t < 120; t++) {
      const shown = ward(e, t, t + 1, artefact);
      const technical = open(e).filter((a) => a.source === 'technical').map((a) => a.condition.text);
      // At the end of each second the bed shows one or the other (or both) of the two alarms.
      expect(technical.some((x) => NOT_RUNNING.test(x) || /not valid/i.test(x)), `t=${t} ${JSON.stringify(technical)} ${JSON.stringify(shown)}`).toBe(true);
    }
    expect(open(e).some((a) => NOT_RUNNING.test(a.condition.text))).toBe(false);
  });

  it('an artefact burst of 20 s (ECG flagged not valid, no technical alarm yet) does not end it (review rv197 M2)', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const lossy = (t: number) => (t % 6 === 5 ? null : { samples: sinus.second(t) });
    expect(ward(e, 0, 60, lossy).raised).toHaveLength(1);
    const burst = ward(e, 60, 80, () => ({ samples: sinus.second(0), quality: { state: 'invalid' as const, reasons: ['artifact'] } }));
    expect(burst.ended).toEqual([]);
    expect(ward(e, 80, 140, lossy).ended).toEqual([]);
    expect(open(e).map((a) => a.condition.text)).toContain('Rhythm check not running on ECG II of mon-1: gaps in the ECG (no 8 s without one)');
  });

  it('ECG not valid 1 s in every 6 (no 8 s clean, no technical alarm): raised, and not ended at each second not valid', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    const run = ward(e, 0, 300, (t) => ({ samples: sinus.second(t), ...(t % 6 === 5 && { quality: { state: 'invalid' as const, reasons: ['artifact'] } }) }));
    expect(run.raised.map(([text]) => text)).toEqual(['Rhythm check not running on ECG II of mon-1: ECG not valid now and then (no 8 s clean)']);
    expect(run.ended).toEqual([]);
  });

  it('ECG that stops ends it: "No ECG from <device>" takes its place', () => {
    const e = new AlarmEngine({ idPrefix: 't', rhythm: ON });
    ward(e, 0, 60, (t) => ({ samples: sinus.second(t), quality: { state: 'questionable', reasons: ['time-from-receipt'] } }));
    const stop = ward(e, 60, 80, () => null);
    expect(stop.ended).toHaveLength(1);
    expect(open(e).filter((a) => a.source === 'technical').map((a) => a.condition.text)).toEqual(['No ECG from mon-1: rhythm check not running']);
  });
});
