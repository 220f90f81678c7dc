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
import { detectPulses, detectQrs } from '../../models/features/beats.js';
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
/** A segment starting further than this from where the last ended is a gap: the stretch starts again. */
const GAP_S = 0.5;
/** A feed whose ECG has not arrived for this long (gateway time) is no longer judged: its conditions end unconfirmed. */
const STALE_MS = 10_000;
/** Pulses on a clean pleth within an asystole's silence that make it not an asystole. */
const PULSES_AGAINST_ASYSTOLE = 2;

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

  /** Appends a segment; a new rate or a gap starts the stretch over. */
  add(seg: WaveformSegment, scale: number): void {
    const rate = seg.sampleRateHz;
    if (rate !== this.rate || Math.abs(seg.startTime - this.endMs) > GAP_S * 1000) {
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
  /** Gateway time the last ECG arrived. */
  receivedAt: number;
  present: Set<RhythmType>;
}

export class RhythmMonitor {
  private readonly feeds = new Map<string, Feed>();
  /** Asystoles not raised because a clean pleth showed pulses (a flat ECG with a beating heart: an ECG problem). */
  suppressedByPulse = 0;

  constructor(private readonly config: RhythmConfig = DEFAULT_RHYTHM_CONFIG) {}

  /** Feed a waveform segment of an assigned bed; returns the conditions that changed. */
  waveform(seg: WaveformSegment): ConditionUpdate[] {
    if (!this.config.enabled || seg.bed === undefined || !(seg.sampleRateHz >= 100)) return [];
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
      f = { bed: seg.bed, deviceId: seg.deviceId, lead: ch.name, ecg: new Stretch(WINDOW_S), pleth: null, judgedAtMs: -Infinity, receivedAt: seg.receivedAt, present: new Set() };
      this.feeds.set(key, f);
    }
    if (ch.name !== f.lead) {
      if (ch.name !== 'II' || f.lead === 'II') return [];
      f.lead = 'II'; // lead II when the device sends it: the usual rhythm lead
      f.ecg = new Stretch(WINDOW_S);
    }
    f.ecg.add(seg, ch.scale);
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
    // Too short a clean stretch says nothing: what is present stays (the next clean stretch decides).
    if (spanS < MIN_WINDOW_S) return [];
    const beats = detectQrs(x, rate).times;
    const found = new Map<RhythmType, string>();
    const silentS = spanS - (beats.at(-1) ?? 0);
    if (silentS >= this.config.asystoleS) {
      const pulses = this.pulsesBetween(f, f.ecg.endMs - silentS * 1000, f.ecg.endMs);
      if (pulses >= PULSES_AGAINST_ASYSTOLE) this.suppressedByPulse += 1;
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
      if (bradyBpm && bradyBpm < this.config.bradyBpm) found.set('brady', `HR ${Math.round(bradyBpm)} /min over ${BRADY_BEATS} beats on ECG ${f.lead}`);
      if (tachyBpm && tachyBpm > this.config.tachyBpm) found.set('tachy', `HR ${Math.round(tachyBpm)} /min over ${TACHY_BEATS} beats on ECG ${f.lead}`);
    }
    const out: ConditionUpdate[] = [];
    for (const type of ['asystole', 'brady', 'tachy'] as const) {
      const why = found.get(type);
      if (why !== undefined) {
        if (f.present.has(type)) continue;
        f.present.add(type);
        out.push({ present: true, at, why, spec: this.spec(f, type, why) });
      } else if (f.present.delete(type)) {
        out.push({ present: false, key: rhythmKey(f.bed, f.deviceId, type), at, why: `${TEXT[type]} no longer seen on ECG ${f.lead}` });
      }
    }
    return out;
  }

  /** Pulses on the feed's pleth between two data times, when the pleth is clean over all of it; else 0. */
  private pulsesBetween(f: Feed, fromMs: number, toMs: number): number {
    const p = f.pleth;
    if (!p || p.endMs < toMs - 1000) return 0;
    const { x, startMs } = p.clean();
    if (startMs > fromMs || x.length < 2 * p.rate) return 0;
    const times = detectPulses(x, p.rate).times;
    return times.filter((t) => startMs + t * 1000 >= fromMs && startMs + t * 1000 <= toMs).length;
  }

  private endAll(f: Feed, at: number, why: string, unconfirmed: boolean): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const type of f.present) out.push({ present: false, key: rhythmKey(f.bed, f.deviceId, type), at, why, ...(unconfirmed && { unconfirmed: true as const }) });
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

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
