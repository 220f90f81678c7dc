// The agent's own arrhythmia detection on streamed ECG (opt-in, `alarms.rhythm`): asystole, extreme bradycardia and
// extreme tachycardia, by the PhysioNet/CinC 2015 challenge's definitions (no QRS for 4 s; HR under 40 /min for 5
// beats in a row; over 140 /min for 17 beats in a row), from the same QRS detector the edge model's features use
// (models/features/beats.ts), so the model can judge what it raises. It does not detect VT or VF (a VF run the two
// detectors disagree on is counted as `noise`): a partial, secondary check, never a replacement for the monitor's
// arrhythmia analysis (rv191 M2).
//
// Honest by construction: only a stretch of ECG marked valid is judged (a lead-off, a questionable segment or a long
// gap makes the window wait until it is clean again); one lead is judged, lead II by preference, falling back to
// another clean lead of the device when that one is off or stops, as a monitor switches its analysis lead (rv77); a
// rate the two QRS detectors disagree on is noise, an exactly constant line is no signal (a lead off with any noise
// on it is judged, and can raise an asystole: rv191 L1), an asystole while another
// clean lead shows regular QRS is not raised (rv102 M2); with `pulseVeto`, an asystole with pulses on a clean pleth is not raised; a feed that
// stops ends its conditions unconfirmed (they latch if unanswered) and is told (take() `stopped`); while its device
// still sends for the bed, "No ECG from <device>: rhythm check not running" (technical, low) stands until ECG comes
// back: the device is not silent, so no "no data" alarm would say the bed is unchecked (rv102 M4); likewise ECG that
// arrives but goes 30 s unjudged (a flat line, times placed at receipt, gaps) raises "Rhythm check not running on ECG
// <lead> of <device>: <why>" until the check has run again for 30 s (rv191 M1, rv194 L2), or at once when it raises a
// rhythm alarm, or after 32 s of ECG flagged not valid, its LEAD OFF or "not valid" alarm then telling (rv196 M1, rv197 M2).
// Judged on the data's own time (segment by segment, at most once per second of ECG), so a replay at 40× speed is
// judged as the live signal would be.
// Pure: waveform segments in, condition updates out.
import { detectPulses, detectQrs, matchF1 } from '../../models/features/beats.js';
import { detectWide } from '../../models/features/criteria.js';
import { mean } from '../../models/features/dsp.js';
import { channelRank } from '../../models/features/index.js';
import { ECG_PREFIX, modelChannel } from '../inference/channels.js';
import type { WaveformSegment } from '../model/reading.js';
import type { ConditionSpec, ConditionUpdate, ManagedPriority } from './types.js';
import { technicalKey } from './technical.js';
import { onlyTimingDoubt } from './timing.js';

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
 * over at every such gap left a lossy feed never judged: rv64 H1), and marked as held: no data, never a flat
 * stretch of ECG (a QRS lost in one made a false EXTREME BRADY or ASYSTOLE: rv102 H1); earlier by up to GAP_MS, an
 * overlap; further either way (a longer gap, a clock set back or forward), the stretch starts again. Only a segment
 * the stretch holds (the same start, length and samples) is a duplicate (a clock set back 12 s was: rv102 M3).
 */
const jitterMs = (rate: number): number => Math.max(30, 2000 / rate);
const GAP_MS = 500;
/** A QRS this close to a gap (s) may be cut or be the gap's edge: an RR interval from it is unknown too (rv102 H1). */
const QRS_EDGE_S = 0.1;
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
/**
 * ECG flagged not valid in a row that ends "Rhythm check not running" (notValidEnds): a little over the technical
 * monitor's default invalidAfterS (30 s), so that its "not valid" alarm (or LEAD OFF, after 5 s) is up by then (the two
 * are counted differently: ended at 30 s, a second had neither, rv198 L2); ended after 10 s, an artefact burst of
 * 10-29 s left the bed with no alarm saying it was unchecked (review rv197 M2).
 */
const NOT_VALID_ENDS_MS = 32_000;
/** Hysteresis of the rate criteria, /min: a tachycardia at 141 ends under 135, a bradycardia at 39 over 45. */
const RATE_HYSTERESIS_BPM = 5;
/**
 * A silence whose samples are all the same value is no signal (a lead off the device does not flag, a stuck channel),
 * not an asystole. Exactly constant only: a real asystole's baseline moves (0.020 mV peak to peak at the least in the
 * PhysioNet set's true asystoles), and a coarse device's steps must not hide one (rv64 M1).
 */
const NO_SIGNAL_MV = 1e-6;
/**
 * A feed whose ECG has not arrived for this long (gateway time), or for two segments of its judged lead if longer, is no
 * longer judged: its conditions end unconfirmed (see feedStopped()).
 */
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
/**
 * A judged lead whose whole window stays under this peak to peak (mV) is implausibly small for ECG: a low-voltage
 * lead, or a unit or gain error (mV labelled µV, V taken as mV) that makes every judgement an asystole, the QRS
 * detector's floor being an absolute 0.05 mV (rv102 M2). Told once per device after LOW_ECG_TELL_MS of ECG so, so
 * that a true asystole's quiet baseline (0.02 mV at the least in the PhysioNet set) is not told at once.
 */
const LOW_ECG_MV = 0.1;
const LOW_ECG_TELL_MS = 60_000;
/**
 * ECG (ms of samples) of the lead judged, valid or doubted only for its time, received without a stretch judged, after
 * which "Rhythm check not running on ECG <lead> of <device>: <why>" (technical, low) is raised: a flat line marked
 * valid, times placed at receipt, or gaps that never leave 8 s clean keep the check blind while the device sends on,
 * and nothing else at the bedside says so (rv191 M1; as "No ECG" for a feed that stops, rv102 M4). ECG flagged not
 * valid for another reason (lead off, artefact) is not counted: the technical monitor's LEAD OFF or "not valid" alarm
 * tells that. Long enough that a brief lead-off or a restart after a gap (8 s to judge again) does not raise it.
 */
const UNCHECKED_MS = 30_000;
/**
 * Once raised, "Rhythm check not running" ends only after the check has run again for this much ECG (ms of samples of
 * the lead judged) from its first stretch judged, with no UNCHECKED_MS of ECG unjudged in between (which starts the
 * count again): on a lossy feed a single stretch judged among the gaps ended it and the next 30 s raised it anew, a
 * new alarm at the bedside and in the cloud each time, some standing 1 s (review rv194 L2). The same 30 s as raising
 * it, so that it neither comes nor goes on less evidence than the other. It ends at once when the check raises a
 * rhythm alarm on the feed (plainly running: the pair read as an ASYSTOLE from a check not running, review rv196 M1),
 * and when the lead judged has sent NOT_VALID_ENDS_MS of ECG flagged not valid in a row (see notValidEnds()).
 */
const RUNNING_AGAIN_MS = 30_000;
/** A stopped feed whose device sends nothing for the bed is forgotten after this (its "no data" alarm stands). */
const STOPPED_FORGET_MS = 24 * 3600_000;
const MAX_STOPPED = 2000;

export type RhythmType = 'asystole' | 'brady' | 'tachy';
/** Why an alarm was held back (see RhythmMonitor.notRaised). */
export type NotRaisedReason = 'pulse' | 'no-signal' | 'noise' | 'other-lead';
/**
 * Why an ECG segment was not judged: a unit it cannot scale to mV, a sample rate outside 100–1000 Hz, or no lead of its
 * feed clean for NOT_CLEAN_MS (`no-clean-lead`: every lead off, questionable or gappy; each segment of the lead held
 * for judging counted while it lasts). Also counted: each gap of up to GAP_MS in the lead judged, held as no data
 * (`gap`), and each segment of an ECG lead left out as one already held, sent again (`duplicate`).
 */
export type SkipReason = 'unit' | 'rate' | 'no-clean-lead' | 'gap' | 'duplicate';
export interface SkippedDevice {
  deviceId: string;
  bed: string | undefined;
  reason: 'unit' | 'rate' | 'gap';
  /** The unit, the sample rate, or the first gap's length ("300 ms"). */
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
/** A judged lead under LOW_ECG_MV peak to peak for LOW_ECG_TELL_MS of ECG (told once per device). */
export interface LowAmplitudeFeed {
  deviceId: string;
  bed: string;
  lead: string;
  /** Peak to peak of its last window, mV. */
  peakToPeakMv: number;
  /** ECG (s) received so. */
  seconds: number;
}
/** A feed whose ECG stopped arriving (every lead, feedStopped()): not judged until it comes back (told once per stop). */
export interface StoppedFeed {
  deviceId: string;
  bed: string;
  leads: string[];
  /** Seconds since its last ECG. */
  seconds: number;
  /** Whether a rhythm condition was present (ended unconfirmed). */
  hadPresent: boolean;
  /** Whether "No ECG from <device>" was raised at once (its device still sends for the bed). */
  alarmed: boolean;
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

/**
 * Why the lead judged could not be judged (see UNCHECKED_MS): an exactly constant line, ECG doubted for its time (placed
 * at receipt), gaps (or steps of its clock) that restart its stretch or hide a silence, or ECG flagged not valid now and
 * then, which leaves no 8 s clean.
 */
export type UncheckedReason = 'flat' | 'timing' | 'gaps' | 'not-valid';
const UNCHECKED_TEXT: Record<UncheckedReason, string> = {
  flat: 'flat line (ECG exactly constant)',
  timing: 'ECG times not from the device (placed at receipt)',
  gaps: 'gaps in the ECG (no 8 s without one)',
  'not-valid': 'ECG not valid now and then (no 8 s clean)',
};
const TEXT: Record<RhythmType, string> = { asystole: 'ASYSTOLE', brady: 'EXTREME BRADY', tachy: 'EXTREME TACHY' };
const RHYTHM_TYPES = ['asystole', 'brady', 'tachy'] as const;
const GAPS_WHY = 'gaps in the ECG (a QRS may have been lost in them)';
const NOISE_WHY = 'noise (the two QRS detectors disagree)';
/** IEC 60601-1-8: a life-threatening arrhythmia is a high-priority alarm condition. */
const PRIORITY: ManagedPriority = 'high';

/**
 * A stretch of one signal, in its own units scaled for the detectors (ECG in mV): no gap over GAP_MS, shorter ones
 * held and marked as no data.
 */
class Stretch {
  private buf: Float32Array;
  /** 1 where a sample was held for a gap: not received, no evidence of a beat or of a silence (rv102 H1). */
  private held: Uint8Array;
  private len = 0;
  /** Samples pushed since the stretch started: a held segment's place in buf. */
  private pushed = 0;
  /** The segments held (their own start, length, overlap left out, place): a re-sent one is told by them (rv102 M3). */
  private segs: Array<{ startMs: number; n: number; skip: number; at: number }> = [];
  rate = 0;
  /** The gap (ms) the last add() held, 0 if none. */
  gapMs = 0;
  /** Data time (ms) at the end of the last sample. */
  endMs = 0;
  /** Data time (ms) before which the stretch holds samples that were not valid (lead off, questionable). */
  cleanFromMs = 0;
  constructor(private readonly capacityS: number) {
    this.buf = new Float32Array(0);
    this.held = new Uint8Array(0);
  }

  /**
   * Appends a segment: after the samples of a short gap, held (marked); without the samples of an overlap, already
   * held. A segment the stretch already holds (the same start, length and samples: sent twice, re-sent late) is left
   * out ('duplicate'); a new rate, a long gap or a clock step either way starts the stretch over ('restart').
   */
  add(seg: WaveformSegment, scale: number): 'appended' | 'duplicate' | 'restart' {
    const rate = seg.sampleRateHz;
    const gap = seg.startTime - this.endMs;
    this.gapMs = 0;
    if (rate === this.rate && this.len > 0 && gap < -jitterMs(rate) && this.holds(seg, scale)) return 'duplicate';
    // Any other start more than GAP_MS back is the device's clock set back: new ECG, not a duplicate (rv102 M3).
    const restart = rate !== this.rate || gap < -GAP_MS || gap > GAP_MS;
    if (restart) {
      this.rate = rate;
      this.buf = new Float32Array(Math.ceil(this.capacityS * rate));
      this.held = new Uint8Array(this.buf.length);
      this.len = 0;
      this.pushed = 0;
      this.segs = [];
      this.cleanFromMs = seg.startTime;
      this.endMs = seg.startTime;
    } else if (gap > jitterMs(rate)) {
      // Held at the last value for the detectors' filters, marked held so that it is never judged as ECG.
      const lost = Math.round((gap / 1000) * rate);
      this.push(new Array<number>(lost).fill(this.len ? this.buf[this.len - 1]! : 0), 1, true);
      this.endMs += (lost / rate) * 1000;
      this.gapMs = gap;
    }
    // An overlap beyond jitter: its first samples are held already (a segment sent again with more, a clock a little
    // slow against its sample count).
    const overlap = !restart && gap < -jitterMs(rate) ? Math.min(seg.samples.length, Math.round((-gap / 1000) * rate)) : 0;
    const samples = overlap ? seg.samples.slice(overlap) : seg.samples;
    // Placed where the last ended (jitter), so that a stretch's times stay its samples' count.
    const segEnd = this.endMs + (samples.length / rate) * 1000;
    if (seg.quality.state !== 'valid') this.cleanFromMs = segEnd;
    this.segs.push({ startMs: seg.startTime, n: seg.samples.length, skip: overlap, at: this.pushed });
    this.push(samples, scale, false);
    this.endMs = segEnd;
    while (this.segs.length && this.segs[0]!.at < this.pushed - this.len) this.segs.shift();
    return restart ? 'restart' : 'appended';
  }

  /** Whether the stretch holds this segment: one it holds starting there (jitter) with the same samples. */
  private holds(seg: WaveformSegment, scale: number): boolean {
    const first = this.pushed - this.len;
    const r = this.segs.find((h) => Math.abs(h.startMs - seg.startTime) <= jitterMs(this.rate) && h.n === seg.samples.length && h.at >= first);
    if (!r) return false;
    for (let i = r.skip; i < r.n; i++) if (this.buf[r.at - first + i - r.skip] !== Math.fround(seg.samples[i]! * scale)) return false;
    return true;
  }

  private push(samples: readonly number[], scale: number, held: boolean): void {
    const cap = this.buf.length;
    const n = samples.length;
    const mark = held ? 1 : 0;
    if (n >= cap) {
      for (let i = 0; i < cap; i++) this.buf[i] = samples[n - cap + i]! * scale;
      this.held.fill(mark);
      this.len = cap;
    } else {
      const keep = Math.min(this.len, cap - n);
      this.buf.copyWithin(0, this.len - keep, this.len);
      this.held.copyWithin(0, this.len - keep, this.len);
      for (let i = 0; i < n; i++) this.buf[keep + i] = samples[i]! * scale;
      this.held.fill(mark, keep, keep + n);
      this.len = keep + n;
    }
    this.pushed += n;
  }

  /** Data time of the first sample held. */
  private heldFromMs(): number {
    return this.endMs - (this.len / (this.rate || 1)) * 1000;
  }

  /**
   * The clean samples at the end of the stretch, the data time their first one starts at, and the gaps held among
   * them ([from, to) in s from the first): no data there.
   */
  clean(): { x: Float32Array; startMs: number; gaps: Array<[number, number]> } {
    const skip = Math.max(0, Math.ceil(((this.cleanFromMs - this.heldFromMs()) / 1000) * this.rate));
    const from = Math.min(skip, this.len);
    const x = this.buf.subarray(from, this.len);
    const gaps: Array<[number, number]> = [];
    for (let i = from; i < this.len; i++) {
      if (!this.held[i]) continue;
      const a = i;
      while (i < this.len && this.held[i]) i++;
      gaps.push([(a - from) / this.rate, (i - from) / this.rate]);
    }
    return { x, startMs: this.endMs - (x.length / this.rate) * 1000, gaps };
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
  /** What last cut its clean stretch short (a gap, ECG not valid): why it cannot be judged while too short. */
  cut: UncheckedReason | null;
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
  /** ECG (ms of samples) judged in a row whose whole window was under LOW_ECG_MV. */
  lowMs: number;
  /**
   * ECG (ms of samples, see UNCHECKED_MS) received since a stretch was last judged; whether the latest judgement could
   * not judge its stretch, and the latest reason known why (null: none yet, a lead just started).
   */
  uncheckedMs: number;
  unjudged: boolean;
  unchecked: UncheckedReason | null;
  /** Whether "Rhythm check not running" is raised for it (until the check has run again, or its ECG stops). */
  uncheckedRaised: boolean;
  /**
   * While it is raised: ECG (ms of samples) of the lead judged since a stretch was first judged again, with no
   * UNCHECKED_MS unjudged since; null while none has been (RUNNING_AGAIN_MS).
   */
  runningMs: number | null;
  patientId: string | undefined;
}

/** A feed whose ECG stopped (tick): its "No ECG" alarm, raised while its device still sends for the bed. */
interface Stopped {
  deviceId: string;
  bed: string;
  /** Gateway time its last ECG arrived. */
  lastEcgAt: number;
  raised: boolean;
  patientId: string | undefined;
  report: StoppedFeed;
}

/** Whether the device still sends for the bed something received after `since` (the engine's feeds know). */
export type SendsFor = (deviceId: string, bed: string, since: number) => boolean;

export class RhythmMonitor {
  private readonly feeds = new Map<string, Feed>();
  /**
   * Alarms not raised since the last take(): an asystole while a clean pleth pulses (`pulse`, with pulseVeto), over a
   * line exactly constant (`no-signal`: a stuck channel, a lead off that reads a constant), a rate the two QRS detectors disagree on (`noise`).
   */
  private notRaised: Record<NotRaisedReason, number> = { pulse: 0, 'no-signal': 0, noise: 0, 'other-lead': 0 };
  private skipped: Record<SkipReason, number> = { unit: 0, rate: 0, 'no-clean-lead': 0, gap: 0, duplicate: 0 };
  private readonly skippedSeen = new Set<string>();
  private skippedNew: SkippedDevice[] = [];
  private leadSwitches: LeadSwitch[] = [];
  private notJudged: NotJudgedFeed[] = [];
  private lowAmplitude: LowAmplitudeFeed[] = [];
  private readonly lowSeen = new Set<string>();
  private stoppedNew: StoppedFeed[] = [];
  /** Feeds whose ECG stopped, by feed key, until it comes back (or, their device silent for the bed, a day). */
  private readonly stopped = new Map<string, Stopped>();

  constructor(private readonly config: RhythmConfig = DEFAULT_RHYTHM_CONFIG) {}

  /**
   * The gateway's clock stepped (AlarmEngine.shiftClock): the receipt times that tell a lead or a feed stopped move
   * with it. Data times (judgedAtMs, the stretches) are the segments' own, not the gateway's: left alone.
   */
  shiftClock(deltaMs: number): void {
    for (const f of this.feeds.values()) {
      f.receivedAt += deltaMs;
      for (const l of f.leads.values()) l.receivedAt += deltaMs;
    }
    for (const s of this.stopped.values()) s.lastEcgAt += deltaMs;
  }

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
      f = { bed: seg.bed, deviceId: seg.deviceId, lead: ch.name, leads: new Map(), judged: false, blind: false, pleth: null, judgedAtMs: -Infinity, receivedAt: seg.receivedAt, present: new Map(), notCleanMs: 0, sinceJudgedMs: 0, lowMs: 0, uncheckedMs: 0, unjudged: false, unchecked: null, uncheckedRaised: false, runningMs: null, patientId: undefined };
      this.feeds.set(key, f);
    }
    const lead = this.leadOf(f, ch.name, seg.receivedAt);
    if (!lead) return [];
    const added = lead.ecg.add(seg, ch.scale);
    // Any segment, one sent again too, is the device's ECG arriving (rv102 M3: a clock set back taken for re-sent
    // segments left the feed "stopped" while its ECG arrived); any lead (only the judged one counted: rv77 M1).
    lead.receivedAt = seg.receivedAt;
    f.receivedAt = seg.receivedAt;
    if (added === 'duplicate') {
      this.skipped.duplicate += 1;
      return [];
    }
    const segMs = (seg.samples.length / seg.sampleRateHz) * 1000;
    // What cut its clean stretch (a restart of a lead already held is a gap or a clock step; its first segment is none).
    if (added === 'restart' && lead.segMs > 0) lead.cut = 'gaps';
    if (seg.quality.state !== 'valid') lead.cut = onlyTimingDoubt(seg.quality) ? 'timing' : 'not-valid';
    lead.valid = seg.quality.state === 'valid';
    lead.notValidMs = lead.valid ? 0 : lead.notValidMs + segMs;
    lead.segMs = segMs;
    if (seg.patientId !== undefined) f.patientId = seg.patientId;
    this.choose(f, seg.receivedAt);
    if (ch.name !== f.lead) return [];
    // A restart (a gap, a clock set back) is judged afresh: the last judgement's time means nothing then (rv63 H1).
    if (added === 'restart') f.judgedAtMs = -Infinity;
    if (f.blind) this.skipped['no-clean-lead'] += 1;
    // A gap held in the lead judged is no data: counted, and told once per device (rv102 H1: nothing said so).
    if (lead.ecg.gapMs > 0) this.skip(seg, 'gap', `${Math.round(lead.ecg.gapMs)} ms`);
    f.sinceJudgedMs += segMs;
    if (seg.quality.state === 'valid' || onlyTimingDoubt(seg.quality)) f.uncheckedMs += segMs;
    if (f.runningMs !== null) f.runningMs += segMs;
    const ended = this.notValidEnds(f, lead, seg.receivedAt);
    if (lead.ecg.endMs - f.judgedAtMs < 1000) return ended;
    f.judgedAtMs = lead.ecg.endMs;
    const elapsedMs = f.sinceJudgedMs;
    f.sinceJudgedMs = 0;
    return [...ended, ...this.judge(f, lead, seg.receivedAt, elapsedMs)];
  }

  /**
   * "Rhythm check not running" ends once the lead judged has sent NOT_VALID_ENDS_MS of ECG flagged not valid in a row (lead
   * off, artefact; not only doubted for its time): the technical monitor's LEAD OFF or "not valid" alarm tells that, as
   * "No ECG" does for ECG that stops (review rv196 M1: "gaps in the ECG" stood through 5 minutes of lead off). Not at
   * its first such segment: ECG not valid 1 s in 6 keeps the check blind and raises no technical alarm, and ended at
   * each it would come and go. ECG not valid is not counted towards raising it again (UNCHECKED_MS of ECG from here).
   */
  private notValidEnds(f: Feed, lead: Lead, at: number): ConditionUpdate[] {
    if (!f.uncheckedRaised || lead.valid || lead.cut !== 'not-valid' || lead.notValidMs < NOT_VALID_ENDS_MS) return [];
    return this.endUnchecked(f, at, `ECG ${f.lead} from ${f.deviceId} not valid for ${Math.round(lead.notValidMs / 1000)} s: its LEAD OFF or "not valid" alarm tells that`);
  }

  /** Ends "Rhythm check not running"; it is raised again only after UNCHECKED_MS more of ECG unjudged. */
  private endUnchecked(f: Feed, at: number, why: string): ConditionUpdate[] {
    f.uncheckedRaised = false;
    f.runningMs = null;
    f.uncheckedMs = 0;
    return [{ present: false, key: uncheckedKey(f.bed, f.deviceId), at, why }];
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
    const lead: Lead = { ecg: new Stretch(WINDOW_S), receivedAt: now, valid: false, notValidMs: 0, segMs: 0, cut: null };
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
    /** Judged leads implausibly small for ECG (a log line and alarm_rhythm_low_amplitude_total each, once per device). */
    lowAmplitude: LowAmplitudeFeed[];
    /** Feeds whose ECG stopped (a log line and alarm_rhythm_feeds_stopped_total each). */
    stopped: StoppedFeed[];
  } {
    const notRaised = this.notRaised;
    this.notRaised = { pulse: 0, 'no-signal': 0, noise: 0, 'other-lead': 0 };
    const skipped = this.skipped;
    this.skipped = { unit: 0, rate: 0, 'no-clean-lead': 0, gap: 0, duplicate: 0 };
    const newDevices = this.skippedNew;
    this.skippedNew = [];
    const leadSwitches = this.leadSwitches;
    this.leadSwitches = [];
    const notJudged = this.notJudged;
    this.notJudged = [];
    const lowAmplitude = this.lowAmplitude;
    this.lowAmplitude = [];
    const stopped = this.stoppedNew;
    this.stoppedNew = [];
    return { notRaised, skipped, newDevices, leadSwitches, notJudged, lowAmplitude, stopped };
  }

  /**
   * Feeds whose ECG (every lead) stopped arriving: their conditions end, unconfirmed, and the stop is told. Leads that
   * stopped are let go. `sends` (the engine's feeds): whether the device still sends for the bed, for "No ECG".
   * Feeds that arrive but have gone UNCHECKED_MS of ECG without a stretch judged raise "Rhythm check not running"
   * (`uncheckedPriority`). A bed's technical priorities are the engine's: "No ECG" is a missing metric's, this one a
   * "not valid" metric's.
   */
  tick(now: number, sends?: SendsFor, priority: ManagedPriority = 'low', uncheckedPriority: ManagedPriority = 'low'): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const [key, f] of this.feeds) {
      for (const [name, l] of f.leads) if (name !== f.lead && now - l.receivedAt >= STALE_MS) f.leads.delete(name);
      if (!feedStopped(f, now)) {
        out.push(...this.notRunning(f, now, uncheckedPriority));
        continue;
      }
      const report: StoppedFeed = { deviceId: f.deviceId, bed: f.bed, leads: [...f.leads.keys()], seconds: Math.round((now - f.receivedAt) / 1000), hadPresent: f.present.size > 0, alarmed: false };
      if (this.stoppedNew.length < MAX_EVENTS) this.stoppedNew.push(report);
      out.push(...this.endAll(f, now, `no ECG from ${f.deviceId} for ${report.seconds} s: the rhythm can no longer be judged`, true));
      // "No ECG" (below) says it from now on, or the device's "no data" alarm.
      if (f.uncheckedRaised) out.push({ present: false, key: uncheckedKey(f.bed, f.deviceId), at: now, why: `no ECG from ${f.deviceId} for ${report.seconds} s` });
      this.feeds.delete(key);
      // Bounded like the engine's devices: a sender churning device ids must not grow it for a day.
      if (this.stopped.size >= MAX_STOPPED && !this.stopped.has(key)) for (const [k, s] of this.stopped) if (!s.raised) { this.stopped.delete(k); break; }
      this.stopped.set(key, { deviceId: f.deviceId, bed: f.bed, lastEcgAt: f.receivedAt, raised: this.stopped.get(key)?.raised ?? false, patientId: f.patientId, report });
    }
    out.push(...this.noEcg(now, sends, priority));
    return out;
  }

  /**
   * "Rhythm check not running on ECG <lead> of <device>: <why>" for a feed whose ECG arrives but has gone UNCHECKED_MS
   * without a stretch judged, for a reason known (judge() ends it once the check has run again for RUNNING_AGAIN_MS):
   * the same kind of low technical alarm as "No ECG" (rv191 M1).
   */
  private notRunning(f: Feed, now: number, priority: ManagedPriority): ConditionUpdate[] {
    if (f.uncheckedRaised || f.unchecked === null || f.uncheckedMs < UNCHECKED_MS) return [];
    f.uncheckedRaised = true;
    const text = `Rhythm check not running on ECG ${f.lead} of ${f.deviceId}: ${UNCHECKED_TEXT[f.unchecked]}`;
    const spec: ConditionSpec = { key: uncheckedKey(f.bed, f.deviceId), source: 'technical', bed: f.bed, deviceId: f.deviceId, condition: { code: null, raw: { system: 'agent', code: 'technical:invalid', text }, text }, priority, category: 'technical' };
    if (f.patientId !== undefined) spec.patientId = f.patientId;
    return [{ present: true, spec, at: now, why: `no stretch of ECG judged for ${Math.round(f.uncheckedMs / 1000)} s of ECG from ${f.deviceId}, which still sends it: ${UNCHECKED_TEXT[f.unchecked]}` }];
  }

  /**
   * "No ECG from <device>: rhythm check not running" for each stopped feed while its device still sends for the bed
   * (anything received after its last ECG, within the device's interval), as the engine's "No <metric> from <device>";
   * it ends when ECG comes back, or when the device sends nothing for the bed (its "no data" alarm then says so).
   */
  private noEcg(now: number, sends: SendsFor | undefined, priority: ManagedPriority): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const [key, s] of this.stopped) {
      const alarmKey = noEcgKey(s.bed, s.deviceId);
      const back = this.feeds.has(key);
      const sending = !back && sends !== undefined && sends(s.deviceId, s.bed, s.lastEcgAt);
      if (sending && !s.raised) {
        s.raised = true;
        s.report.alarmed = true;
        const text = `No ECG from ${s.deviceId}: rhythm check not running`;
        const spec: ConditionSpec = { key: alarmKey, source: 'technical', bed: s.bed, deviceId: s.deviceId, condition: { code: null, raw: { system: 'agent', code: 'technical:metric-missing', text }, text }, priority, category: 'technical' };
        if (s.patientId !== undefined) spec.patientId = s.patientId;
        out.push({ present: true, spec, at: now, why: `no ECG for ${Math.round((now - s.lastEcgAt) / 1000)} s while ${s.deviceId} still sends for bed ${s.bed}: the rhythm check is not running for it` });
      } else if (!sending && s.raised) {
        s.raised = false;
        out.push({ present: false, key: alarmKey, at: now, why: back ? `ECG from ${s.deviceId} received again` : `no longer monitored: nothing from ${s.deviceId} for bed ${s.bed}` });
      }
      if (back || (!s.raised && now - s.lastEcgAt > STOPPED_FORGET_MS)) this.stopped.delete(key);
    }
    return out;
  }

  /**
   * Judges the lead's stretch (`judgeStretch`), and keeps count of how long the lead has gone without a stretch judged:
   * "Rhythm check not running" (raised by tick()) ends once stretches have been judged for RUNNING_AGAIN_MS, or at
   * once when the stretch raises a rhythm alarm (review rv196 M1).
   */
  private judge(f: Feed, lead: Lead, at: number, elapsedMs: number): ConditionUpdate[] {
    f.unjudged = false;
    const out = this.judgeStretch(f, lead, at, elapsedMs);
    if (f.uncheckedRaised && out.some((u) => u.present)) {
      f.unchecked = null;
      const raised = out.flatMap((u) => (u.present ? [u.spec.condition.raw?.text ?? u.spec.condition.text] : [])).join(', ');
      return [...out, ...this.endUnchecked(f, at, `ECG ${f.lead} from ${f.deviceId} judged: the rhythm check is running (it raised ${raised})`)];
    }
    if (f.unjudged) {
      if (f.uncheckedMs >= UNCHECKED_MS) f.runningMs = null; // blind as long again: the check did not run steadily
      return out;
    }
    f.uncheckedMs = 0;
    f.unchecked = null;
    if (!f.uncheckedRaised) return out;
    if (f.runningMs === null) f.runningMs = 0;
    else if (f.runningMs >= RUNNING_AGAIN_MS) out.push(...this.endUnchecked(f, at, `ECG ${f.lead} from ${f.deviceId} judged again for ${Math.round(RUNNING_AGAIN_MS / 1000)} s: the rhythm check is running`));
    return out;
  }

  /**
   * `elapsedMs`: ECG received since the last judgement (for the end delay and the not-clean limit). Sets f.unjudged
   * when the stretch could not be judged (too short, a flat line, a silence gaps may hide a QRS in), and f.unchecked
   * to why when that is known.
   */
  private judgeStretch(f: Feed, lead: Lead, at: number, elapsedMs: number): ConditionUpdate[] {
    const ecg = lead.ecg;
    const { x, gaps } = ecg.clean();
    const rate = ecg.rate;
    const spanS = x.length / rate;
    if (spanS < MIN_WINDOW_S) {
      f.unjudged = true;
      // A lead that has only just started (nothing cut it) keeps the reason known before (a switch to it).
      if (lead.cut) f.unchecked = lead.cut;
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
    f.judged = true;
    f.blind = false;
    const beats = detectQrs(x, rate).times;
    this.checkAmplitude(f, x, spanS, elapsedMs);
    const found = new Map<RhythmType, string>();
    // Present conditions this ECG cannot show now (why): neither seen nor absent, kept until NOT_CLEAN_MS (rv102 L1).
    const doubt = new Map<RhythmType, string>();
    const cannotJudge = (why: string) => RHYTHM_TYPES.forEach((t) => doubt.set(t, why));
    const silentS = spanS - (beats.at(-1) ?? 0);
    if (silentS >= this.config.asystoleS) {
      // Its last seconds (clear of the last QRS's tail): a lead that comes off goes flat at once.
      const silence = x.subarray(x.length - Math.round((this.config.asystoleS - 0.5) * rate));
      // A QRS may have been lost in a gap: a silence is an asystole only if long enough without its gaps (rv102 H1).
      if (silentS - heldWithin(gaps, spanS - silentS, spanS) < this.config.asystoleS) {
        cannotJudge(GAPS_WHY);
        f.unjudged = true;
        f.unchecked = 'gaps';
      } else if (this.config.pulseVeto && this.pulsesNow(f, ecg.endMs) >= PULSES_AGAINST_ASYSTOLE) {
        this.notRaised.pulse += 1;
        cannotJudge('pulses on the pleth while the ECG shows no QRS');
      }
      // A line with no noise at all is no ECG (a lead off the device does not flag, a stuck channel): not an asystole.
      else if (peakToPeak(silence) < NO_SIGNAL_MV) {
        this.notRaised['no-signal'] += 1;
        cannotJudge('no signal (a line without noise)');
        f.unjudged = true;
        f.unchecked = 'flat';
      }
      // A QRS too small on this lead (its axis, a low-voltage lead) while another lead shows every beat (rv102 M2).
      else if (this.otherLeadBeats(f, ecg.endMs - silentS * 1000, ecg.endMs, at)) this.notRaised['other-lead'] += 1;
      else found.set('asystole', `no QRS for ${silentS.toFixed(1)} s on ECG ${f.lead}`);
    } else {
      // An interval across a gap, or from a QRS at its edge, is unknown: left out, the rate is over the last known ones
      // (rv102 H1: a QRS lost in a gap doubled its interval, and 45 /min became an EXTREME BRADY).
      const known = beats.slice(1).flatMap((t, i) => (touchesGap(gaps, beats[i]!, t) ? [] : [{ from: beats[i]!, rr: t - beats[i]! }]));
      const rr = known.map((k) => k.rr);
      const last = (n: number) => (rr.length >= n - 1 ? rr.slice(-(n - 1)) : null);
      /** Beats counted from the first of the last n - 1 known intervals on (for the detectors' agreement). */
      const since = (n: number) => beats.length - beats.indexOf(known.at(-(n - 1))!.from);
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
        if (this.detectorsDisagree(x, rate, beats, since(BRADY_BEATS))) {
          this.notRaised.noise += 1;
          doubt.set('brady', NOISE_WHY);
        } else found.set('brady', `HR ${Math.round(bradyBpm)} /min over ${BRADY_BEATS} beats on ECG ${f.lead}`);
      }
      // Not the pleth for a tachycardia: fewer pulses than beats is what a fast rhythm does to perfusion (the true
      // tachycardia of models/fixtures t106s: 142 /min on the ECG, 43 pulses /min on the pleth). Noise counted as beats
      // is told by two QRS detectors disagreeing on the beats (bSQI, as in the PhysioNet 2015 entries): on the
      // challenge's false VT alarms (noisy ECG) the rate criterion alone raised an extreme tachycardia in 50 of 202.
      if (tachyBpm && tachyBpm > tachyLimit) {
        if (this.detectorsDisagree(x, rate, beats, since(TACHY_BEATS))) {
          this.notRaised.noise += 1;
          doubt.set('tachy', NOISE_WHY);
        } else found.set('tachy', `HR ${Math.round(tachyBpm)} /min over ${TACHY_BEATS} beats on ECG ${f.lead}`);
      }
      // A present rate alarm not seen on beats that are noise, or with too few intervals known for gaps, is not
      // judged absent either (rv102 L1: it ended as "no longer seen" under heavy artefact).
      for (const [type, n] of [['brady', BRADY_BEATS], ['tachy', TACHY_BEATS]] as const) {
        if (!f.present.has(type) || found.has(type) || doubt.has(type) || beats.length < n) continue;
        if (rr.length < n - 1) doubt.set(type, GAPS_WHY);
        else if (this.detectorsDisagree(x, rate, beats, n)) doubt.set(type, NOISE_WHY);
      }
      // Nor a present asystole whose silence only noise breaks (the detectors disagree on its last seconds' beats).
      const recent = beats.filter((t) => t >= spanS - this.config.asystoleS).length;
      if (f.present.has('asystole') && this.detectorsDisagree(x, rate, beats, recent)) doubt.set('asystole', NOISE_WHY);
    }
    const out: ConditionUpdate[] = [];
    const unjudged: RhythmType[] = [];
    for (const type of RHYTHM_TYPES) {
      const why = found.get(type);
      if (why !== undefined) {
        if (!f.present.has(type)) out.push({ present: true, at, why, spec: this.spec(f, type, why) });
        f.present.set(type, 0);
        continue;
      }
      const absent = f.present.get(type);
      if (absent === undefined) continue;
      if (doubt.has(type) && !(type !== 'asystole' && found.has('asystole'))) {
        unjudged.push(type);
        continue;
      }
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
    // ECG that cannot show what is present is not clean for it: NOT_CLEAN_MS of it ends that, unconfirmed (rv102 L1).
    f.notCleanMs = unjudged.length ? f.notCleanMs + elapsedMs : 0;
    if (f.notCleanMs >= NOT_CLEAN_MS) {
      for (const type of unjudged) {
        f.present.delete(type);
        const why = `${TEXT[type]} can no longer be judged on ECG ${f.lead}: ${doubt.get(type)} for ${Math.round(f.notCleanMs / 1000)} s`;
        out.push({ present: false, key: rhythmKey(f.bed, f.deviceId, type), at, why, unconfirmed: true });
      }
    }
    return out;
  }

  /**
   * Whether another lead held, valid and clean over the same span as the silence on the judged lead (from
   * `silenceFromMs` to within a segment of `toMs`), shows QRS all through it, no pause as long as an asystole, that
   * the two QRS detectors agree on (artefact on the other lead is no beat): a multi-lead monitor's asystole check.
   */
  private otherLeadBeats(f: Feed, silenceFromMs: number, toMs: number, now: number): boolean {
    const pauseMs = this.config.asystoleS * 1000;
    for (const [name, l] of f.leads) {
      if (name === f.lead || !l.valid || hasStopped(l, now)) continue;
      const { x, startMs, gaps } = l.ecg.clean();
      const rate = l.ecg.rate;
      if (x.length < MIN_WINDOW_S * rate || startMs > silenceFromMs + 1000 || l.ecg.endMs < toMs - Math.max(SWITCH_AFTER_MS, l.segMs)) continue;
      // Received all through the silence: a beat at a held gap's edge is not one (rv102 H1).
      if (gaps.some(([, to]) => startMs + to * 1000 > silenceFromMs)) continue;
      const beats = detectQrs(x, rate).times;
      const inSilence = beats.filter((t) => startMs + t * 1000 >= silenceFromMs);
      if (inSilence.length < 2) continue;
      const marks = [silenceFromMs, ...inSilence.map((t) => startMs + t * 1000), l.ecg.endMs];
      if (marks.some((m, i) => i > 0 && m - marks[i - 1]! >= pauseMs)) continue;
      if (!this.detectorsDisagree(x, rate, beats, inSilence.length)) return true;
    }
    return false;
  }

  /**
   * A judged lead whose whole window stays under LOW_ECG_MV for LOW_ECG_TELL_MS of ECG: told once per device (rv102
   * M2). Not a reason to hold an asystole back: on one lead it cannot be told from a true one.
   */
  private checkAmplitude(f: Feed, x: Float32Array, spanS: number, elapsedMs: number): void {
    if (spanS < WINDOW_S - 1) return; // a whole window only
    const p2p = peakToPeak(x);
    f.lowMs = p2p < LOW_ECG_MV ? f.lowMs + elapsedMs : 0;
    if (f.lowMs < LOW_ECG_TELL_MS || this.lowSeen.has(f.deviceId) || this.lowSeen.size >= 1000) return;
    this.lowSeen.add(f.deviceId);
    this.lowAmplitude.push({ deviceId: f.deviceId, bed: f.bed, lead: f.lead, peakToPeakMv: Math.round(p2p * 1e4) / 1e4, seconds: Math.round((f.lowMs / 1000 + spanS)) });
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

/** The key of "No ECG from <device>: rhythm check not running" (technical, as "No <metric> from <device>"). */
export function noEcgKey(bed: string, deviceId: string): string {
  return technicalKey(`${deviceId}|${bed}|ecg`, 'metric-missing');
}

/** The key of "Rhythm check not running on ECG <lead> of <device>: <why>" (technical, as a metric "not valid"). */
export function uncheckedKey(bed: string, deviceId: string): string {
  return technicalKey(`${deviceId}|${bed}|ecg`, 'invalid');
}

/**
 * Whether a lead has stopped arriving: nothing for SWITCH_AFTER_MS, or for two of its segments when they are longer
 * (leads sent in 5 s segments a few seconds apart must not switch back and forth).
 */
function hasStopped(l: Lead, now: number): boolean {
  return now - l.receivedAt >= Math.max(SWITCH_AFTER_MS, 2 * l.segMs);
}

/**
 * Whether a feed's ECG (any lead) has stopped arriving: nothing for STALE_MS, or for two segments of its judged lead
 * when they are longer, as hasStopped() for a lead (10 s segments with transport jitter made "No ECG" flap: rv104 L1).
 */
function feedStopped(f: Feed, now: number): boolean {
  return now - f.receivedAt >= Math.max(STALE_MS, 2 * (f.leads.get(f.lead)?.segMs ?? 0));
}

/** Lexicographic order of two scores (lower first). */
function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Seconds of the gaps within [from, to] (s). */
function heldWithin(gaps: ReadonlyArray<[number, number]>, from: number, to: number): number {
  let s = 0;
  for (const [a, b] of gaps) s += Math.max(0, Math.min(b, to) - Math.max(a, from));
  return s;
}

/** Whether the RR interval from beat `a` to beat `b` (s) spans a gap or has a QRS within QRS_EDGE_S of one. */
function touchesGap(gaps: ReadonlyArray<[number, number]>, a: number, b: number): boolean {
  return gaps.some(([g0, g1]) => g0 < b + QRS_EDGE_S && g1 > a - QRS_EDGE_S);
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
