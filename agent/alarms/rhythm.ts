// The agent's own arrhythmia detection on streamed ECG (opt-in, `alarms.rhythm`): asystole, extreme bradycardia and
// extreme tachycardia, by the PhysioNet/CinC 2015 challenge's definitions (no QRS for 4 s; HR under 40 /min for 5
// beats in a row; over 140 /min for 17 beats in a row), from the same QRS detector the edge model's features use
// (models/features/beats.ts), so the model can judge what it raises. A secondary check for devices whose own alarms do
// not reach the gateway: never a replacement for the monitor's arrhythmia analysis.
//
// Honest by construction: only a stretch of ECG marked valid is judged (a lead-off, a questionable segment or a long
// gap makes the window wait until it is clean again); one lead is judged, lead II by preference, falling back to
// another clean lead of the device when that one is off or stops, as a monitor switches its analysis lead (rv77); a
// rate the two QRS detectors disagree on is noise, a line that does not move is no signal; with `pulseVeto`, an asystole with pulses on a clean pleth is not raised; a feed that
// stops ends its conditions unconfirmed (they latch if unanswered) and its silence is the technical monitor's alarm.
// Judged on the data's own time (segment by segment, at most once per second of ECG), so a replay at 40× speed is
// judged as the live signal would be.
// Pure: waveform segments in, condition updates out.
import { detectPulses, detectQrs, matchF1 } from '../../models/features/beats.js';
import { detectWide } from '../../models/features/criteria.js';
import { mean } from '../../models/features/dsp.js';
import { channelRank } from '../../models/features/index.js';
import { ECG_PREFIX, modelChannel } from '../inference/channels.js';
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
  /**
   * Not to raise an asystole while a clean pleth of the same device shows pulses (2 in the last 3 s). Off by default:
   * on the PhysioNet 2015 asystole windows it cut false asystoles from 18 of 80 to 5 but missed 6 more of the 18 true
   * ones (its pleth pulsed, or seemed to); the edge model, which reads the pleth too, judges a raised one instead.
   */
  pulseVeto: boolean;
}

/** PhysioNet/CinC 2015's definitions; off by default (see the schema's description). */
export const DEFAULT_RHYTHM_CONFIG: RhythmConfig = { enabled: false, asystoleS: 4, bradyBpm: 40, tachyBpm: 140, pulseVeto: false };

const BRADY_BEATS = 5;
const TACHY_BEATS = 17;
/** ECG kept per feed, and the longest stretch judged at once. */
const WINDOW_S = 16;
/** Shortest clean stretch judged: 17 beats at 140 /min take 7.3 s; 5 at 40 /min 7.5 s. */
const MIN_WINDOW_S = 8;
/**
 * Where a segment starts against where the last ended: within JITTER of it, it follows on (timestamps jitter: HL7
 * message times, a monitor's poll replies); later by up to GAP_MS, the samples lost are held at the last value so
 * that the beats keep their times (a lost 40 ms segment squeezed out made 130 /min look like 143: rv63 M4; starting
 * over at every such gap left a lossy feed never judged: rv64 H1); further either way (a longer gap, a clock set
 * back or forward), the stretch starts again.
 */
const jitterMs = (rate: number): number => Math.max(30, 2000 / rate);
const GAP_MS = 500;
/** Sample rates judged: ECG below 100 Hz is too coarse for the QRS detector; above 1000 Hz is a fault (rv63 H3). */
const MIN_RATE_HZ = 100;
const MAX_RATE_HZ = 1000;
/**
 * A condition ends only once its criterion has been absent for this much ECG (counted in samples received, not on the
 * device's clock, which may step: rv64): a rate on the edge, or an escape rhythm's pauses, must not raise a new high
 * alarm every few seconds.
 */
const END_AFTER_MS = 10_000;
/** ECG received without a clean stretch (lead off, questionable) that ends what is present, unconfirmed. */
const NOT_CLEAN_MS = 10_000;
/** Hysteresis of the rate criteria, /min: a tachycardia at 141 ends under 135, a bradycardia at 39 over 45. */
const RATE_HYSTERESIS_BPM = 5;
/**
 * A silence whose samples are all the same value is no signal (a lead off the device does not flag, a stuck channel),
 * not an asystole. Exactly constant only: a real asystole's baseline moves (0.020 mV peak to peak at the least in the
 * PhysioNet set's true asystoles), and a coarse device's steps must not hide one (rv64 M1).
 */
const NO_SIGNAL_MV = 1e-6;
/** A feed whose ECG has not arrived for this long (gateway time) is no longer judged: its conditions end unconfirmed. */
const STALE_MS = 10_000;
/**
 * The lead judged is left for another when it has sent this much ECG not valid in a row (lead off, questionable) while
 * another lead's last segment is valid, or when it has not arrived for this long (gateway time) while another does: a
 * monitor switches its analysis lead the same way. Short enough that an asystole on the other lead is raised within
 * seconds (lead II off left the check blind however clean lead I was: rv77 H2); long enough that a single bad segment
 * does not switch.
 */
const SWITCH_AFTER_MS = 2000;
/**
 * ECG leads held per feed (the best ranked: II, I, III, aVR, aVL, aVF, then the others): the one judged and two to fall
 * back on, so a 12-lead stream costs three stretches, not twelve.
 */
const MAX_LEADS = 3;
/** Events kept between two take() calls (it is called after every batch of ingest; a bound all the same). */
const MAX_EVENTS = 1000;
/** Pulses on a clean pleth in its last PULSE_WINDOW_MS that make a silent ECG not an asystole. */
const PULSES_AGAINST_ASYSTOLE = 2;
const PULSE_WINDOW_MS = 3000;
/**
 * Agreement (F1) of the two QRS detectors on a rate alarm's beats under which they are taken for noise (bSQI, as in the
 * PhysioNet 2015 entries). Chosen on the PhysioNet 2015 windows themselves (bench/rhythm.ts; not held out): for extreme
 * tachycardia, 0.8 kept 86 of 105 true ones and raised one in 59 of the monitors' false-alarm windows, 0.9 kept 80 and
 * raised one in 30; used for bradycardia too (a slow "rate" from beats missed in noise).
 */
const MIN_BEAT_AGREEMENT = 0.9;

export type RhythmType = 'asystole' | 'brady' | 'tachy';
/** Why an alarm was held back (see RhythmMonitor.notRaised). */
export type NotRaisedReason = 'pulse' | 'no-signal' | 'noise';
/**
 * Why an ECG segment was not judged: a unit it cannot scale to mV, a sample rate outside 100–1000 Hz, or no lead of its
 * feed clean for NOT_CLEAN_MS (`no-clean-lead`: every lead off, questionable or gappy; each segment of the lead held
 * for judging counted while it lasts).
 */
export type SkipReason = 'unit' | 'rate' | 'no-clean-lead';
export interface SkippedDevice {
  deviceId: string;
  bed: string | undefined;
  reason: 'unit' | 'rate';
  /** The unit or the sample rate. */
  value: string;
}
/** The lead judged changed: the one judged had sent no valid ECG for 2 s (`not-clean`) or had stopped (`stopped`). */
export interface LeadSwitch {
  deviceId: string;
  bed: string;
  from: string;
  to: string;
  reason: 'not-clean' | 'stopped';
}
/** A feed newly without a clean lead for NOT_CLEAN_MS of ECG: not judged until one is clean again (told once). */
export interface NotJudgedFeed {
  deviceId: string;
  bed: string;
  /** The leads it holds. */
  leads: string[];
  /** ECG (s) received without a clean stretch so far. */
  seconds: number;
}

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

  /**
   * Appends a segment: after the samples of a short gap, held; without the samples of an overlap, already held. A
   * segment the stretch already holds (sent twice, re-sent late) is left out ('duplicate'); a new rate, a long gap or a
   * clock step starts the stretch over ('restart').
   */
  add(seg: WaveformSegment, scale: number): 'appended' | 'duplicate' | 'restart' {
    const rate = seg.sampleRateHz;
    const gap = seg.startTime - this.endMs;
    const segMs = (seg.samples.length / rate) * 1000;
    if (rate === this.rate && this.len > 0 && gap < -jitterMs(rate) && seg.startTime >= this.heldFromMs() - jitterMs(rate) && seg.startTime + segMs <= this.endMs + jitterMs(rate)) {
      return 'duplicate';
    }
    const restart = rate !== this.rate || gap < -GAP_MS || gap > GAP_MS;
    if (restart) {
      this.rate = rate;
      this.buf = new Float32Array(Math.ceil(this.capacityS * rate));
      this.len = 0;
      this.cleanFromMs = seg.startTime;
      this.endMs = seg.startTime;
    } else if (gap > jitterMs(rate)) {
      const lost = Math.round((gap / 1000) * rate);
      this.push(new Array<number>(lost).fill(this.len ? this.buf[this.len - 1]! : 0), 1);
      this.endMs += (lost / rate) * 1000;
    }
    // An overlap beyond jitter: its first samples are held already (a segment sent again with more, a clock a little
    // slow against its sample count).
    const overlap = !restart && gap < -jitterMs(rate) ? Math.min(seg.samples.length, Math.round((-gap / 1000) * rate)) : 0;
    const samples = overlap ? seg.samples.slice(overlap) : seg.samples;
    // Placed where the last ended (jitter), so that a stretch's times stay its samples' count.
    const segEnd = this.endMs + (samples.length / rate) * 1000;
    if (seg.quality.state !== 'valid') this.cleanFromMs = segEnd;
    this.push(samples, scale);
    this.endMs = segEnd;
    return restart ? 'restart' : 'appended';
  }

  private push(samples: readonly number[], scale: number): void {
    const cap = this.buf.length;
    const n = samples.length;
    if (n >= cap) {
      for (let i = 0; i < cap; i++) this.buf[i] = samples[n - cap + i]! * scale;
      this.len = cap;
    } else {
      const keep = Math.min(this.len, cap - n);
      this.buf.copyWithin(0, this.len - keep, this.len);
      for (let i = 0; i < n; i++) this.buf[keep + i] = samples[i]! * scale;
      this.len = keep + n;
    }
  }

  /** Data time of the first sample held. */
  private heldFromMs(): number {
    return this.endMs - (this.len / (this.rate || 1)) * 1000;
  }

  /** The clean samples at the end of the stretch, and the data time their first one starts at. */
  clean(): { x: Float32Array; startMs: number } {
    const skip = Math.max(0, Math.ceil(((this.cleanFromMs - this.heldFromMs()) / 1000) * this.rate));
    const x = this.buf.subarray(Math.min(skip, this.len), this.len);
    return { x, startMs: this.endMs - (x.length / this.rate) * 1000 };
  }
}

/** One ECG lead of a feed. */
interface Lead {
  ecg: Stretch;
  /** Gateway time its last segment arrived. */
  receivedAt: number;
  /** Whether its last segment was marked valid. */
  valid: boolean;
  /** ECG (ms of samples) received not valid since its last valid segment. */
  notValidMs: number;
  /** Length (ms) of its last segment: a lead sent in long segments is not "stopped" between two of them. */
  segMs: number;
}

interface Feed {
  bed: string;
  deviceId: string;
  /** The ECG lead judged (see choose()): lead II when the device sends it clean, else another clean lead. */
  lead: string;
  /** The leads held (MAX_LEADS at most), the judged one among them. */
  leads: Map<string, Lead>;
  /** Whether it has been judged on a clean stretch yet (until then lead II is taken as soon as it arrives clean). */
  judged: boolean;
  /** Whether it is without a clean lead for NOT_CLEAN_MS (told once, in notJudged, until judged again). */
  blind: boolean;
  pleth: Stretch | null;
  /** Data time of the last judgement. */
  judgedAtMs: number;
  /** Gateway time the last ECG of any lead held arrived (the feed's ECG arriving: rv77 M1). */
  receivedAt: number;
  /** Conditions present, with how much ECG (ms of samples) has arrived since their criterion was last met. */
  present: Map<RhythmType, number>;
  /** ECG (ms of samples) received since the last clean stretch was judged. */
  notCleanMs: number;
  /** ECG (ms of samples) received since the last judgement. */
  sinceJudgedMs: number;
}

export class RhythmMonitor {
  private readonly feeds = new Map<string, Feed>();
  /**
   * Alarms not raised since the last take(): an asystole while a clean pleth pulses (`pulse`, with pulseVeto), over a
   * line that does not move (`no-signal`: no lead, a stuck channel), a rate the two QRS detectors disagree on (`noise`).
   */
  private notRaised: Record<NotRaisedReason, number> = { pulse: 0, 'no-signal': 0, noise: 0 };
  private skipped: Record<SkipReason, number> = { unit: 0, rate: 0, 'no-clean-lead': 0 };
  private readonly skippedSeen = new Set<string>();
  private skippedNew: SkippedDevice[] = [];
  private leadSwitches: LeadSwitch[] = [];
  private notJudged: NotJudgedFeed[] = [];

  constructor(private readonly config: RhythmConfig = DEFAULT_RHYTHM_CONFIG) {}

  /** Feed a waveform segment of an assigned bed; returns the conditions that changed. */
  waveform(seg: WaveformSegment): ConditionUpdate[] {
    if (!this.config.enabled || seg.bed === undefined) return [];
    const ch = modelChannel(seg);
    const ecg = seg.mdc?.refid.startsWith(ECG_PREFIX) === true;
    // ECG it cannot judge is told (take()), not passed over in silence: a unit it cannot scale to mV, a sample rate
    // outside 100–1000 Hz.
    if (ecg && !ch) return this.skip(seg, 'unit', seg.unit.ucum);
    if (!(seg.sampleRateHz >= MIN_RATE_HZ && seg.sampleRateHz <= MAX_RATE_HZ)) return ecg ? this.skip(seg, 'rate', String(seg.sampleRateHz)) : [];
    if (!ch || ch.kind === 'abp') return [];
    const key = `${seg.deviceId}|${seg.bed}`;
    let f = this.feeds.get(key);
    if (ch.kind === 'ppg') {
      if (!f) return []; // pleth only confirms an ECG finding
      (f.pleth ??= new Stretch(WINDOW_S)).add(seg, ch.scale); // a duplicate or restart of the pleth needs nothing more
      return [];
    }
    if (!f) {
      f = { bed: seg.bed, deviceId: seg.deviceId, lead: ch.name, leads: new Map(), judged: false, blind: false, pleth: null, judgedAtMs: -Infinity, receivedAt: seg.receivedAt, present: new Map(), notCleanMs: 0, sinceJudgedMs: 0 };
      this.feeds.set(key, f);
    }
    const lead = this.leadOf(f, ch.name, seg.receivedAt);
    if (!lead) return [];
    const added = lead.ecg.add(seg, ch.scale);
    if (added === 'duplicate') return [];
    const segMs = (seg.samples.length / seg.sampleRateHz) * 1000;
    lead.receivedAt = seg.receivedAt;
    lead.valid = seg.quality.state === 'valid';
    lead.notValidMs = lead.valid ? 0 : lead.notValidMs + segMs;
    lead.segMs = segMs;
    f.receivedAt = seg.receivedAt; // any lead is the device's ECG arriving (only the judged one counted: rv77 M1)
    this.choose(f, seg.receivedAt);
    if (ch.name !== f.lead) return [];
    // A restart (a gap, a clock set back) is judged afresh: the last judgement's time means nothing then (rv63 H1).
    if (added === 'restart') f.judgedAtMs = -Infinity;
    if (f.blind) this.skipped['no-clean-lead'] += 1;
    f.sinceJudgedMs += segMs;
    if (lead.ecg.endMs - f.judgedAtMs < 1000) return [];
    f.judgedAtMs = lead.ecg.endMs;
    const elapsedMs = f.sinceJudgedMs;
    f.sinceJudgedMs = 0;
    return this.judge(f, lead.ecg, seg.receivedAt, elapsedMs);
  }

  /**
   * The feed's track of lead `name`, made when it is new and there is room: MAX_LEADS at most, a lead that stopped
   * (or, failing that, the worst ranked) making room for a better one; never the lead judged. Null: not held.
   */
  private leadOf(f: Feed, name: string, now: number): Lead | null {
    const held = f.leads.get(name);
    if (held) return held;
    if (f.leads.size >= MAX_LEADS) {
      const others = [...f.leads].filter(([n]) => n !== f.lead);
      const stopped = others.find(([, l]) => hasStopped(l, now));
      const worst = others.sort(([a], [b]) => channelRank(b) - channelRank(a))[0];
      const out = stopped ?? (worst && channelRank(worst[0]) > channelRank(name) ? worst : undefined);
      if (!out) return null; // neither counted nor judged: the leads held are better and arriving
      f.leads.delete(out[0]);
    }
    const lead: Lead = { ecg: new Stretch(WINDOW_S), receivedAt: now, valid: false, notValidMs: 0, segMs: 0 };
    f.leads.set(name, lead);
    return lead;
  }

  /**
   * The lead to judge. Lead II, the usual rhythm lead, as soon as it arrives clean before the first judgement; after
   * that the lead judged is kept until it has sent SWITCH_AFTER_MS of ECG not valid while another lead's last segment is
   * valid (`not-clean`), or has not arrived for SWITCH_AFTER_MS (two of its segments, if longer) while another does
   * (`stopped`: any lead then, valid or not, so that its ECG not being clean is counted as such). The new lead is the one that can be judged at once (a
   * clean stretch of MIN_WINDOW_S), then the best ranked. Present conditions stay across a switch (one episode, not
   * ended and raised again: rv77 M1) until the new lead is judged; if it is not clean, NOT_CLEAN_MS of its ECG ends them
   * unconfirmed, as before a switch: so at most SWITCH_AFTER_MS + NOT_CLEAN_MS (~12 s) of ECG after the old lead failed.
   */
  private choose(f: Feed, now: number): void {
    const ii = f.leads.get('II');
    // Not a lead II that has stopped: it would be taken back at each segment of the lead that replaced it.
    if (!f.judged && f.lead !== 'II' && ii?.valid && !hasStopped(ii, now)) this.switchTo(f, 'II', null);
    const cur = f.leads.get(f.lead);
    let reason: LeadSwitch['reason'] | null = null;
    if (!cur || hasStopped(cur, now)) reason = 'stopped';
    else if (cur.notValidMs >= SWITCH_AFTER_MS) reason = 'not-clean';
    if (!reason) return;
    let best: { name: string; score: number[] } | null = null;
    for (const [name, l] of f.leads) {
      if (name === f.lead || hasStopped(l, now) || (reason === 'not-clean' && !l.valid)) continue;
      const c = l.ecg.clean();
      const score = [l.valid ? 0 : 1, c.x.length / (l.ecg.rate || 1) >= MIN_WINDOW_S ? 0 : 1, channelRank(name)];
      if (!best || compare(score, best.score) < 0) best = { name, score };
    }
    if (best) this.switchTo(f, best.name, reason);
  }

  /** `reason` null: the first choice, not a switch (not told). */
  private switchTo(f: Feed, to: string, reason: LeadSwitch['reason'] | null): void {
    if (reason && this.leadSwitches.length < MAX_EVENTS) this.leadSwitches.push({ deviceId: f.deviceId, bed: f.bed, from: f.lead, to, reason });
    f.lead = to;
    f.judgedAtMs = -Infinity; // judged at its next segment: it may hold a clean stretch already
  }

  private skip(seg: WaveformSegment, reason: SkippedDevice['reason'], value: string): ConditionUpdate[] {
    this.skipped[reason] += 1;
    const key = `${seg.deviceId}|${reason}`;
    if (!this.skippedSeen.has(key) && this.skippedSeen.size < 1000) {
      this.skippedSeen.add(key);
      this.skippedNew.push({ deviceId: seg.deviceId, bed: seg.bed, reason, value });
    }
    return [];
  }

  /**
   * What it did not raise or judge since the last call (for counters and a log line): asystoles and rate alarms held
   * back (pulses on the pleth, no signal, noise), ECG segments it could not judge, and the devices newly found sending
   * such ECG (each device and reason once).
   */
  take(): {
    notRaised: Record<NotRaisedReason, number>;
    skipped: Record<SkipReason, number>;
    newDevices: SkippedDevice[];
    /** Lead switches (for alarm_rhythm_lead_switches_total and a log line each). */
    leadSwitches: LeadSwitch[];
    /** Feeds newly without a clean lead (a log line each; their segments are counted in skipped['no-clean-lead']). */
    notJudged: NotJudgedFeed[];
  } {
    const notRaised = this.notRaised;
    this.notRaised = { pulse: 0, 'no-signal': 0, noise: 0 };
    const skipped = this.skipped;
    this.skipped = { unit: 0, rate: 0, 'no-clean-lead': 0 };
    const newDevices = this.skippedNew;
    this.skippedNew = [];
    const leadSwitches = this.leadSwitches;
    this.leadSwitches = [];
    const notJudged = this.notJudged;
    this.notJudged = [];
    return { notRaised, skipped, newDevices, leadSwitches, notJudged };
  }

  /** Feeds whose ECG (every lead) stopped arriving: their conditions end, unconfirmed. Leads that stopped are let go. */
  tick(now: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const [key, f] of this.feeds) {
      for (const [name, l] of f.leads) if (name !== f.lead && now - l.receivedAt >= STALE_MS) f.leads.delete(name);
      if (now - f.receivedAt < STALE_MS) continue;
      out.push(...this.endAll(f, now, `no ECG from ${f.deviceId} for ${Math.round((now - f.receivedAt) / 1000)} s: the rhythm can no longer be judged`, true));
      this.feeds.delete(key);
    }
    return out;
  }

  /** `elapsedMs`: ECG received since the last judgement (for the end delay and the not-clean limit). */
  private judge(f: Feed, ecg: Stretch, at: number, elapsedMs: number): ConditionUpdate[] {
    const { x } = ecg.clean();
    const rate = ecg.rate;
    const spanS = x.length / rate;
    if (spanS < MIN_WINDOW_S) {
      // Too short a clean stretch says nothing. Present conditions stay while the ECG is briefly not clean (or a lead
      // switched to fills); no lead clean for as long as a silent feed takes ends them, unconfirmed, as a silent feed
      // does (rv63 M6), and is told once (rv77 H2: it was blind without a sign).
      f.notCleanMs += elapsedMs;
      if (f.notCleanMs < NOT_CLEAN_MS) return [];
      if (!f.blind && this.notJudged.length < MAX_EVENTS) this.notJudged.push({ deviceId: f.deviceId, bed: f.bed, leads: [...f.leads.keys()], seconds: Math.round(f.notCleanMs / 1000) });
      f.blind = true;
      if (!f.present.size) return [];
      return this.endAll(f, at, `no clean ECG lead from ${f.deviceId} (${[...f.leads.keys()].join(', ')}) for ${Math.round(f.notCleanMs / 1000)} s (lead off, questionable, gaps): the rhythm can no longer be judged`, true);
    }
    f.notCleanMs = 0;
    f.judged = true;
    f.blind = false;
    const beats = detectQrs(x, rate).times;
    const found = new Map<RhythmType, string>();
    const silentS = spanS - (beats.at(-1) ?? 0);
    if (silentS >= this.config.asystoleS) {
      // Its last seconds (clear of the last QRS's tail): a lead that comes off goes flat at once.
      const silence = x.subarray(x.length - Math.round((this.config.asystoleS - 0.5) * rate));
      if (this.config.pulseVeto && this.pulsesNow(f, ecg.endMs) >= PULSES_AGAINST_ASYSTOLE) this.notRaised.pulse += 1;
      // A line with no noise at all is no ECG (a lead off the device does not flag, a stuck channel): not an asystole.
      else if (peakToPeak(silence) < NO_SIGNAL_MV) this.notRaised['no-signal'] += 1;
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
      // Not the pleth for a bradycardia: a dicrotic wave, or a burst of artefact, read as pulses hid true ones (rv64 H2).
      if (bradyBpm && bradyBpm < bradyLimit) {
        if (this.detectorsDisagree(x, rate, beats, BRADY_BEATS)) this.notRaised.noise += 1;
        else found.set('brady', `HR ${Math.round(bradyBpm)} /min over ${BRADY_BEATS} beats on ECG ${f.lead}`);
      }
      // Not the pleth for a tachycardia: fewer pulses than beats is what a fast rhythm does to perfusion (the true
      // tachycardia of models/fixtures t106s: 142 /min on the ECG, 43 pulses /min on the pleth). Noise counted as beats
      // is told by two QRS detectors disagreeing on the beats (bSQI, as in the PhysioNet 2015 entries): on the
      // challenge's false VT alarms (noisy ECG) the rate criterion alone raised an extreme tachycardia in 50 of 202.
      if (tachyBpm && tachyBpm > tachyLimit) {
        if (this.detectorsDisagree(x, rate, beats, TACHY_BEATS)) this.notRaised.noise += 1;
        else found.set('tachy', `HR ${Math.round(tachyBpm)} /min over ${TACHY_BEATS} beats on ECG ${f.lead}`);
      }
    }
    const out: ConditionUpdate[] = [];
    for (const type of ['asystole', 'brady', 'tachy'] as const) {
      const why = found.get(type);
      if (why !== undefined) {
        if (!f.present.has(type)) out.push({ present: true, at, why, spec: this.spec(f, type, why) });
        f.present.set(type, 0);
        continue;
      }
      const absent = f.present.get(type);
      if (absent === undefined) continue;
      // Ends once absent for END_AFTER_MS of ECG: a rate on the edge, an escape rhythm's 4–6 s pauses, a beat found or
      // missed must not raise a new high alarm every few seconds (rv63 M3, rv65: ending an asystole at the first beat
      // raised 23 in 3 minutes). A rate alarm ends at once when an asystole is found: no rate then.
      if (!(type !== 'asystole' && found.has('asystole')) && absent + elapsedMs < END_AFTER_MS) {
        f.present.set(type, absent + elapsedMs);
        continue;
      }
      f.present.delete(type);
      out.push({ present: false, key: rhythmKey(f.bed, f.deviceId, type), at, why: `${TEXT[type]} no longer seen on ECG ${f.lead}` });
    }
    return out;
  }

  /** Whether the two QRS detectors disagree on the last `n` beats (bSQI under MIN_BEAT_AGREEMENT): noise, not a rate. */
  private detectorsDisagree(x: Float32Array, rate: number, beats: number[], n: number): boolean {
    const from = beats.at(-n)!;
    return matchF1(beats.filter((t) => t >= from), detectWide(x, rate).times.filter((t) => t >= from - 0.15), 0.15) < MIN_BEAT_AGREEMENT;
  }

  /**
   * Pulses on the feed's clean pleth in the last PULSE_WINDOW_MS before `toMs`: the heart beating now, not a pulse that
   * decays after the last beat or a burst of artefact (rv64 H2); 0 when the clean pleth does not cover that window
   * (the two signals' segments need not start together, within a second: rv63 H2).
   */
  private pulsesNow(f: Feed, toMs: number): number {
    const p = f.pleth;
    if (!p || p.endMs < toMs - 1000) return 0;
    const { x, startMs } = p.clean();
    const from = toMs - PULSE_WINDOW_MS;
    if (startMs > from + 500 || x.length < 2 * p.rate) return 0;
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

/**
 * Whether a lead has stopped arriving: nothing for SWITCH_AFTER_MS, or for two of its segments when they are longer
 * (leads sent in 5 s segments a few seconds apart must not switch back and forth).
 */
function hasStopped(l: Lead, now: number): boolean {
  return now - l.receivedAt >= Math.max(SWITCH_AFTER_MS, 2 * l.segMs);
}

/** Lexicographic order of two scores (lower first). */
function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
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
