// The agent's own arrhythmia detection on streamed ECG (opt-in, `alarms.rhythm`): asystole, extreme bradycardia and
// extreme tachycardia, by the PhysioNet/CinC 2015 challenge's definitions (no QRS for 4 s; HR under 40 /min for 5
// beats in a row; over 140 /min for 17 beats in a row), from the same QRS detector the edge model's features use
// (models/features/beats.ts), so the model can judge what it raises. A secondary check for devices whose own alarms do
// not reach the gateway: never a replacement for the monitor's arrhythmia analysis.
//
// Honest by construction: only a stretch of ECG marked valid and without gaps is judged (a lead-off, a questionable
// segment or a gap makes the window wait until it is clean again); an asystole with pulses on a clean pleth at the same
// time is not raised (counted as `suppressedByPulse`); a feed that stops ends its conditions unconfirmed (they latch
// if unanswered) and its silence is the technical monitor's alarm. Judged on the data's own time (segment by segment,
// at most once per second of ECG), so a replay at 40× speed is judged as the live signal would be.
// Pure: waveform segments in, condition updates out.
import { detectPulses, detectQrs, matchF1 } from '../../models/features/beats.js';
import { detectWide } from '../../models/features/criteria.js';
import { modelChannel } from '../inference/channels.js';
import type { WaveformSegment } from '../model/reading.js';
import type { ConditionUpdate, ManagedPriority } from './types.js';

export interface RhythmConfig {
  enabled: boolean;
  /** No QRS for this long is asystole (seconds). */
  asystoleS: number;
  /** Heart rate under this for `bradyBeats` beats in a row is extreme bradycardia (/min). */
  bradyBpm: number;
  /** Heart rate over this for `tachyBeats` beats in a row is extreme tachycardia (/min). */
  tachyBpm: number;
}

/** PhysioNet/CinC 2015's definitions; off by default (see the schema's description). */
export const DEFAULT_RHYTHM_CONFIG: RhythmConfig = { enabled: false, asystoleS: 4, bradyBpm: 40, tachyBpm: 140 };

const BRADY_BEATS = 5;
const TACHY_BEATS = 17;
/** ECG kept per feed, and the longest stretch judged at once. */
const WINDOW_S = 16;
/** Shortest clean stretch judged: 17 beats at 140 /min take 7.3 s; 5 at 40 /min 7.5 s. */
const MIN_WINDOW_S = 8;
/**
 * A segment starting further than this from where the last ended (or before it: a clock set back) is a gap: the stretch
 * starts again. Two samples, at least 20 ms (timestamps rounded to the millisecond): a lost 40 ms segment squeezed out
 * made 130 /min look like 143 (review rv63 M4).
 */
const gapMs = (rate: number): number => Math.max(20, 2000 / rate);
/** Sample rates judged: ECG below 100 Hz is too coarse for the QRS detector; above 1000 Hz is a fault (rv63 H3). */
const MIN_RATE_HZ = 100;
const MAX_RATE_HZ = 1000;
/** A condition ends only once its criterion has been absent for this long of ECG: a rate on the edge must not flap. */
const END_AFTER_MS = 10_000;
/** Hysteresis of the rate criteria, /min: a tachycardia at 141 ends under 135, a bradycardia at 39 over 45. */
const RATE_HYSTERESIS_BPM = 5;
/** Peak-to-peak under this (mV) over a silence is no signal at all (a lead off the device does not flag), not asystole. */
const NO_SIGNAL_MV = 0.005;
/** A feed whose ECG has not arrived for this long (gateway time) is no longer judged: its conditions end unconfirmed. */
const STALE_MS = 10_000;
/** Pulses on a clean pleth within an asystole's silence that make it not an asystole. */
const PULSES_AGAINST_ASYSTOLE = 2;
/**
 * Agreement (F1) of the two QRS detectors on a tachycardia's beats under which they are taken for noise. Chosen on the
 * PhysioNet 2015 windows themselves (bench/rhythm.ts; not held out): 0.8 kept 86 of 105 true extreme tachycardias
 * and raised one in 59 of the monitors' false-alarm windows, 0.9 kept 80 and raised one in 30.
 */
const MIN_BEAT_AGREEMENT = 0.9;
/** A clean pleth's pulse rate this far (/min) above a bradycardia's limit makes the ECG's slow rate an artefact. */
const PULSE_DISAGREES_BPM = 20;

export type RhythmType = 'asystole' | 'brady' | 'tachy';

const TEXT: Record<RhythmType, string> = { asystole: 'ASYSTOLE', brady: 'EXTREME BRADY', tachy: 'EXTREME TACHY' };
/** IEC 60601-1-8: a life-threatening arrhythmia is a high-priority alarm condition. */
const PRIORITY: ManagedPriority = 'high';

/** A stretch of one signal without gaps, in its own units scaled for the detectors (ECG in mV). */
class Stretch {
  private buf: Float32Array;
  private len = 0;
  rate = 0;
  /** Data time (ms) at the end of the last sample. */
  endMs = 0;
  /** Data time (ms) before which the stretch holds samples that were not valid (lead off, questionable). */
  cleanFromMs = 0;
  constructor(private readonly capacityS: number) {
    this.buf = new Float32Array(0);
  }

  /** Appends a segment; a new rate or a gap starts the stretch over (then returns true). */
  add(seg: WaveformSegment, scale: number): boolean {
    const rate = seg.sampleRateHz;
    const restart = rate !== this.rate || Math.abs(seg.startTime - this.endMs) > gapMs(rate);
    if (restart) {
      this.rate = rate;
      this.buf = new Float32Array(Math.ceil(this.capacityS * rate));
      this.len = 0;
      this.cleanFromMs = seg.startTime;
    }
    const segEnd = seg.startTime + (seg.samples.length / rate) * 1000;
    if (seg.quality.state !== 'valid') this.cleanFromMs = segEnd;
    const cap = this.buf.length;
    const n = seg.samples.length;
    if (n >= cap) {
      for (let i = 0; i < cap; i++) this.buf[i] = seg.samples[n - cap + i]! * scale;
      this.len = cap;
    } else {
      const keep = Math.min(this.len, cap - n);
      this.buf.copyWithin(0, this.len - keep, this.len);
      for (let i = 0; i < n; i++) this.buf[keep + i] = seg.samples[i]! * scale;
      this.len = keep + n;
    }
    this.endMs = segEnd;
    return restart;
  }

  /** The clean samples at the end of the stretch, and the data time their first one starts at. */
  clean(): { x: Float32Array; startMs: number } {
    const heldFromMs = this.endMs - (this.len / this.rate) * 1000;
    const skip = Math.max(0, Math.ceil(((this.cleanFromMs - heldFromMs) / 1000) * this.rate));
    const x = this.buf.subarray(Math.min(skip, this.len), this.len);
    return { x, startMs: this.endMs - (x.length / this.rate) * 1000 };
  }
}

interface Feed {
  bed: string;
  deviceId: string;
  /** The ECG lead judged: lead II when the device sends it, else the first lead it sent. */
  lead: string;
  ecg: Stretch;
  pleth: Stretch | null;
  /** Data time of the last judgement. */
  judgedAtMs: number;
  /** Data time of the end of the last clean stretch judged. */
  judgedCleanMs: number;
  /** Gateway time the last ECG arrived. */
  receivedAt: number;
  /** Conditions present, with the data time since when their criterion has been absent (null: still met). */
  present: Map<RhythmType, number | null>;
}

export class RhythmMonitor {
  private readonly feeds = new Map<string, Feed>();
  /** Asystoles not raised because a clean pleth showed pulses (a flat ECG with a beating heart: an ECG problem). */
  suppressedByPulse = 0;
  /** Extreme tachycardias not raised because the two QRS detectors disagreed on the beats (noise counted as beats). */
  noisyRate = 0;
  /** Asystoles not raised because the ECG had no signal at all (a line without noise: no lead, a stuck channel). */
  noSignal = 0;

  constructor(private readonly config: RhythmConfig = DEFAULT_RHYTHM_CONFIG) {}

  /** Feed a waveform segment of an assigned bed; returns the conditions that changed. */
  waveform(seg: WaveformSegment): ConditionUpdate[] {
    if (!this.config.enabled || seg.bed === undefined || !(seg.sampleRateHz >= MIN_RATE_HZ && seg.sampleRateHz <= MAX_RATE_HZ)) return [];
    const ch = modelChannel(seg);
    if (!ch || ch.kind === 'abp') return [];
    const key = `${seg.deviceId}|${seg.bed}`;
    let f = this.feeds.get(key);
    if (ch.kind === 'ppg') {
      if (!f) return []; // pleth only confirms an ECG finding
      (f.pleth ??= new Stretch(WINDOW_S)).add(seg, ch.scale);
      return [];
    }
    if (!f) {
      f = { bed: seg.bed, deviceId: seg.deviceId, lead: ch.name, ecg: new Stretch(WINDOW_S), pleth: null, judgedAtMs: -Infinity, judgedCleanMs: seg.startTime, receivedAt: seg.receivedAt, present: new Map() };
      this.feeds.set(key, f);
    }
    if (ch.name !== f.lead) {
      if (ch.name !== 'II' || f.lead === 'II') return [];
      f.lead = 'II'; // lead II when the device sends it: the usual rhythm lead
      f.ecg = new Stretch(WINDOW_S);
    }
    // A restart (a gap, a clock set back) is judged afresh: the last judgement's time means nothing then (rv63 H1).
    if (f.ecg.add(seg, ch.scale)) f.judgedAtMs = -Infinity;
    f.receivedAt = seg.receivedAt;
    if (f.ecg.endMs - f.judgedAtMs < 1000) return [];
    f.judgedAtMs = f.ecg.endMs;
    return this.judge(f, seg.receivedAt);
  }

  /** Feeds whose ECG stopped arriving: their conditions end, unconfirmed. */
  tick(now: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const [key, f] of this.feeds) {
      if (now - f.receivedAt < STALE_MS) continue;
      out.push(...this.endAll(f, now, `no ECG from ${f.deviceId} for ${Math.round((now - f.receivedAt) / 1000)} s: the rhythm can no longer be judged`, true));
      this.feeds.delete(key);
    }
    return out;
  }

  private judge(f: Feed, at: number): ConditionUpdate[] {
    const { x } = f.ecg.clean();
    const rate = f.ecg.rate;
    const spanS = x.length / rate;
    if (spanS < MIN_WINDOW_S) {
      // Too short a clean stretch says nothing. Present conditions stay while the ECG is briefly not clean; ECG not
      // clean for as long as a silent feed takes ends them, unconfirmed, as a silent feed does (rv63 M6).
      if (f.present.size && f.ecg.endMs - f.judgedCleanMs >= STALE_MS) {
        return this.endAll(f, at, `ECG ${f.lead} from ${f.deviceId} without a clean stretch (lead off, questionable, gaps) for ${Math.round((f.ecg.endMs - f.judgedCleanMs) / 1000)} s: the rhythm can no longer be judged`, true);
      }
      return [];
    }
    f.judgedCleanMs = f.ecg.endMs;
    const beats = detectQrs(x, rate).times;
    const found = new Map<RhythmType, string>();
    const silentS = spanS - (beats.at(-1) ?? 0);
    if (silentS >= this.config.asystoleS) {
      // Its last seconds (clear of the last QRS's tail): a lead that comes off goes flat at once.
      const silence = x.subarray(x.length - Math.round((this.config.asystoleS - 0.5) * rate));
      const pulses = this.pulsesBetween(f, f.ecg.endMs - silentS * 1000, f.ecg.endMs);
      if (pulses >= PULSES_AGAINST_ASYSTOLE) this.suppressedByPulse += 1;
      // A line with no noise at all is no ECG (a lead off the device does not flag, a stuck channel): not an asystole.
      else if (peakToPeak(silence) < NO_SIGNAL_MV) this.noSignal += 1;
      else found.set('asystole', `no QRS for ${silentS.toFixed(1)} s on ECG ${f.lead}`);
    } else {
      const rr = beats.slice(1).map((t, i) => t - beats[i]!);
      const last = (n: number) => (rr.length >= n - 1 ? rr.slice(-(n - 1)) : null);
      const brady = last(BRADY_BEATS);
      const tachy = last(TACHY_BEATS);
      // The rate over the run of beats, as a monitor counts it: one beat missed or split by the detector must not
      // decide (judged on each beat's own interval, 19 of 105 true tachycardias of the PhysioNet set were found).
      // A pause as long as an asystole among them is the asystole's (already told), not a slow rhythm.
      const bradyBpm = brady && brady.every((r) => r < this.config.asystoleS) && 60 / mean(brady);
      const tachyBpm = tachy && 60 / mean(tachy);
      // Once present, a rate criterion holds until the rate is clearly back (hysteresis).
      const bradyLimit = this.config.bradyBpm + (f.present.has('brady') ? RATE_HYSTERESIS_BPM : 0);
      const tachyLimit = this.config.tachyBpm - (f.present.has('tachy') ? RATE_HYSTERESIS_BPM : 0);
      // A pulse is never faster than the heart: a clean pleth pulsing well above a bradycardia's rate over the same
      // beats says the ECG misses beats (a small QRS, a lead problem).
      const span = (beatsN: number) => (f.ecg.endMs - (spanS - beats.at(-beatsN)!) * 1000);
      if (bradyBpm && bradyBpm < bradyLimit) {
        const pulse = this.pulseRate(f, span(BRADY_BEATS), f.ecg.endMs);
        if (pulse !== null && pulse > bradyLimit + PULSE_DISAGREES_BPM) this.suppressedByPulse += 1;
        else found.set('brady', `HR ${Math.round(bradyBpm)} /min over ${BRADY_BEATS} beats on ECG ${f.lead}`);
      }
      // Not the pleth for a tachycardia: fewer pulses than beats is what a fast rhythm does to perfusion (the true
      // tachycardia of models/fixtures t106s: 142 /min on the ECG, 43 pulses /min on the pleth). Noise counted as beats
      // is told by two QRS detectors disagreeing on the beats (bSQI, as in the PhysioNet 2015 entries): on the
      // challenge's false VT alarms (noisy ECG) the rate criterion alone raised an extreme tachycardia in 50 of 202.
      if (tachyBpm && tachyBpm > tachyLimit) {
        const from = beats.at(-TACHY_BEATS)!;
        const agree = matchF1(beats.filter((t) => t >= from), detectWide(x, rate).times.filter((t) => t >= from - 0.15), 0.15);
        if (agree < MIN_BEAT_AGREEMENT) this.noisyRate += 1;
        else found.set('tachy', `HR ${Math.round(tachyBpm)} /min over ${TACHY_BEATS} beats on ECG ${f.lead}`);
      }
    }
    const out: ConditionUpdate[] = [];
    for (const type of ['asystole', 'brady', 'tachy'] as const) {
      const why = found.get(type);
      if (why !== undefined) {
        if (!f.present.has(type)) out.push({ present: true, at, why, spec: this.spec(f, type, why) });
        f.present.set(type, null);
        continue;
      }
      if (!f.present.has(type)) continue;
      // Ends once absent for END_AFTER_MS of ECG: a rate on the edge, a beat found or missed, must not raise a new high
      // alarm every few seconds (rv63 M3).
      const absentSince = f.present.get(type) ?? f.ecg.endMs;
      f.present.set(type, absentSince);
      if (f.ecg.endMs - absentSince < END_AFTER_MS) continue;
      f.present.delete(type);
      out.push({ present: false, key: rhythmKey(f.bed, f.deviceId, type), at, why: `${TEXT[type]} no longer seen on ECG ${f.lead} for ${END_AFTER_MS / 1000} s` });
    }
    return out;
  }

  /** The pulse rate (/min) on the feed's clean pleth between two data times, or null when it does not cover them. */
  private pulseRate(f: Feed, fromMs: number, toMs: number): number | null {
    const p = f.pleth;
    if (!p || p.endMs < toMs - 2000) return null;
    const { x, startMs } = p.clean();
    if (startMs > fromMs + 1000 || x.length < 2 * p.rate) return null;
    const t = detectPulses(x, p.rate).times.map((s) => startMs + s * 1000).filter((ms) => ms >= fromMs && ms <= toMs);
    // Fewer than 3 pulses over the span: no pulse rate to compare (a flat pleth is not a slow one).
    return t.length < 3 ? null : (60_000 * (t.length - 1)) / (t.at(-1)! - t[0]!);
  }

  /**
   * Pulses on the feed's pleth between two data times, counted where the pleth is clean; 0 when its clean part covers
   * less than an asystole's length of them (the two signals' segments need not start together: rv63 H2).
   */
  private pulsesBetween(f: Feed, fromMs: number, toMs: number): number {
    const p = f.pleth;
    if (!p || p.endMs < toMs - 2000) return 0;
    const { x, startMs } = p.clean();
    const from = Math.max(fromMs, startMs);
    if (Math.min(toMs, p.endMs) - from < this.config.asystoleS * 1000 - 1000 || x.length < 2 * p.rate) return 0;
    const times = detectPulses(x, p.rate).times;
    return times.filter((t) => startMs + t * 1000 >= from && startMs + t * 1000 <= toMs).length;
  }

  private endAll(f: Feed, at: number, why: string, unconfirmed: boolean): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const type of f.present.keys()) out.push({ present: false, key: rhythmKey(f.bed, f.deviceId, type), at, why, ...(unconfirmed && { unconfirmed: true as const }) });
    f.present.clear();
    return out;
  }

  private spec(f: Feed, type: RhythmType, why: string) {
    return {
      key: rhythmKey(f.bed, f.deviceId, type),
      source: 'rhythm' as const,
      bed: f.bed,
      deviceId: f.deviceId,
      condition: { code: null, raw: { system: 'agent', code: `rhythm:${type}`, text: TEXT[type] }, text: `${TEXT[type]} (gateway ECG analysis): ${why}` },
      priority: PRIORITY,
      category: 'physiological' as const,
    };
  }
}

export function rhythmKey(bed: string, deviceId: string, type: RhythmType): string {
  return `rhythm:${bed}:${deviceId}:${type}`;
}

function peakToPeak(x: Float32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return x.length ? hi - lo : 0;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
