// The last few seconds of each bed's model channels (ECG leads, pleth, ABP), kept in fixed-size rings so the
// edge model can score the window before an alarm. Bounded: at most `maxBeds` beds and `maxChannelsPerBed`
// channels each; memory is allocated once per channel. When full, a new bed takes the place of a bed that has
// not been fed for BED_IDLE_MS, and is otherwise refused: the beds already kept keep their whole window
// (evicting the least recently fed bed at once would, with more live beds than places, churn every ring and
// leave no bed a usable window). A bed's channel places go by the model's use of them (first two ECG leads,
// PLETH, ABP before extra leads), not by arrival. No timers, no I/O.
import type { NormalisedWaveform } from '../ingest.js';
import type { Channel } from '../../models/features/index.js';
import type { WaveformSegment } from '../model/reading.js';
import { isTimingReason, onlyTimingDoubt } from '../alarms/timing.js';
import { channelOrder, ECG_PREFIX, modelChannel, modelSignal, type ModelChannel } from './channels.js';

export interface RingOptions {
  /** Seconds kept per channel (the model reads the last 30 s). */
  seconds: number;
  maxBeds: number;
  maxChannelsPerBed: number;
  /** Faster channels are not kept (the ring would be too large). */
  maxRateHz: number;
}

export const DEFAULT_RING_OPTIONS: RingOptions = { seconds: 30, maxBeds: 128, maxChannelsPerBed: 6, maxRateHz: 1000 };

/** A gap in device time longer than this (and longer than 3 samples) is filled with invalid samples. */
const GAP_TOLERANCE_MS = 250;
/**
 * Segments without a sender time (HL7 OBX with no time) are placed at their receipt time, whose jitter (0.6–1 s
 * seen through relays) is no gap in the signal: NaN spread through the window's middle made true alarms look false
 * (review rv32). Only a gap longer than this is taken as samples missing.
 */
const RECEIPT_GAP_TOLERANCE_MS = 2000;
/**
 * Segments on a timeline anchored at a receipt and run by the device's own relative clock (IntelliVue without
 * absolute time): spaced exactly, so gaps and overlaps are judged as for device time; placed only approximately,
 * so for cutting the window at an alarm they count as timed on receipt (review rv94 M3).
 */
const ANCHORED_AT_RECEIPT = 'time-anchored-at-receipt';
/**
 * A segment timed by the device that starts more than this before the end of the samples its channel holds is not
 * the channel's next samples (two leads under one code, samples sent again): refused. Smaller steps back are
 * timestamp rounding and jitter. Segments timed on receipt allow RECEIPT_GAP_TOLERANCE_MS, their arrival jitter;
 * segments stamped to the whole second allow COARSE_TIME_MS.
 */
const OVERLAP_TOLERANCE_MS = 100;
/**
 * Resolution of device times to the whole second (HL7 DTM without a fraction), told by a segment's start and the one
 * before it both falling on a whole second. Stamped so, segments in order start less than this before the end of the
 * samples held (two 0.5 s segments stamped the same second: 500 ms back) and less than this after it: a step back of
 * a whole second or more is a re-send; a smaller gap is no missing samples (review rv84 M2: 100 ms refused every
 * other half-second of such a sender). A re-send of a segment shorter than this cannot be told from the next one.
 */
const COARSE_TIME_MS = 1000;
/**
 * Receive-time difference between a channel's last segment and the alarm that is processing on the way (driver,
 * commit; 6 ms in the e2e replay), not missing samples: not padded. Above it, the whole gap is padded.
 */
const ARRIVAL_JITTER_MS = 100;
/** A channel not fed for this long (gateway time) gives its place in the bed to any new channel. */
export const CHANNEL_IDLE_MS = 30_000;
/** When the ring is full, a bed not fed for this long (gateway time) gives its place to a new bed. */
export const BED_IDLE_MS = 60_000;
/** Refused bed keys remembered (to explain a missing assessment); beyond, the oldest is forgotten. */
const MAX_REFUSED_KEYS = 4096;

/** Ring key of a bed: its bed id, or the device when no bed is known (matches how alarms are keyed). */
export function bedKey(bed: string | undefined, deviceId: string): string {
  return bed !== undefined && bed !== 'unassigned' ? `bed:${bed}` : `device:${deviceId}`;
}

/**
 * Why a segment of a signal the model reads was not kept: its bed's channel places hold channels the model needs more
 * (`channel-limit`), it is faster than maxRateHz (`rate`), its unit cannot be converted to the model's (`unit`), or
 * it starts before the end of the samples its channel already holds (`overlap`), or its code is not in the MDC table,
 * so whether the model reads it cannot be told (`unknown-code`: HL7's generic ECG 131328, review rv84 L1), or it has
 * no sample rate, so its samples cannot be placed in time (`rate-unknown`: HL7 with none found, a non-finite rate made
 * 0 by ingest; review rv153 F3).
 */
export type ChannelRefusal = 'channel-limit' | 'rate' | 'rate-unknown' | 'unit' | 'overlap' | 'unknown-code';
export const CHANNEL_REFUSALS: readonly ChannelRefusal[] = ['rate', 'rate-unknown', 'unit', 'channel-limit', 'overlap', 'unknown-code'];

/**
 * A channel of a window holding samples from segments the device marked questionable for their signal (a device flag,
 * calibration, early indication, HL7 result status, a repeated value): how many seconds of the window, and why.
 */
export interface QuestionableSpan {
  channel: string;
  seconds: number;
  /** The segments' reasons, less those about their time alone (onlyTimingDoubt), in the order first met. */
  reasons: string[];
}

/** A bed's window for the model, with the spans of it the device doubted (WaveformRing.windowWithQuality). */
export interface QualifiedWindow {
  channels: Channel[];
  questionable: QuestionableSpan[];
}

/**
 * Why the segment's signal is doubted, or null when it is not: questionable for anything but its time (placed at
 * receipt, on an anchored timeline: the samples are as good as valid ones; alarms/timing.ts, the technical alarms'
 * rule). A questionable segment that gives no reason is doubted. Invalid and unavailable ones are stored as NaN.
 */
function signalDoubt(seg: NormalisedWaveform): string[] | null {
  const q = seg.quality;
  if (q.state !== 'questionable' || onlyTimingDoubt(q)) return null;
  const reasons = (q.reasons ?? []).filter((r) => !isTimingReason(r));
  return reasons.length > 0 ? reasons : ['questionable'];
}

/**
 * The device's own identity of a lead, beside the model's name for it: the model name, and for a lead sent under the
 * generic ECG code (V, MCL, an unnamed chest lead all become "ECG") the device's own code for it (wfdb-replay's signal
 * name, IntelliVue's physio id), so that two such leads of one device keep two rings. A sender that gives nothing
 * more (the MDC code alone) cannot be told apart here. Its second lead is refused as going back (`overlap`) when it
 * starts where the lead just kept starts and came in the same delivery (one message: same receipt time), or goes back
 * beyond the tolerance of its times; leads sent in separate messages, timed on receipt or stamped no finer than
 * their length, are within it and are still spliced into one ring (review rv84 L1).
 */
export function leadIdentity(info: ModelChannel, seg: Pick<WaveformSegment, 'mdc' | 'raw'>): string {
  if (seg.mdc?.refid !== ECG_PREFIX || seg.raw === undefined) return info.name;
  return `${info.name}\u0000${seg.raw.system}\u0000${seg.raw.code}`;
}

/** Whether the segment's times are the gateway's: timed on its receipt, or on a timeline anchored at a receipt. */
function onGatewayClock(seg: NormalisedWaveform): boolean {
  const reasons = seg.quality.reasons ?? [];
  return reasons.includes('time-from-receipt') || reasons.includes(ANCHORED_AT_RECEIPT);
}

/** Devices whose alarm clock is remembered (a ward has tens). */
const MAX_ALARM_CLOCKS = 1000;

class ChannelRing {
  private readonly buf: Float32Array;
  /** Samples ever written (the ring holds the last min(total, capacity)). */
  private total = 0;
  /** Expected device time (ms) of the next sample, to notice gaps. */
  private nextTime: number | null = null;
  /** Device time of the last segment's start, and its receipt time (to tell a second lead of the same message). */
  private lastStart: number | null = null;
  private lastAt: number | null = null;
  /**
   * (gateway receive time, total after that segment, device time of its end — null when the segment was timed on
   * receipt or on a timeline anchored at a receipt —, its device, its sample count, and why the device doubted its
   * signal — signalDoubt —), oldest first, for cutting the window at an alarm and saying what in it is questionable.
   */
  private marks: { receivedAt: number; end: number; deviceEnd: number | null; deviceId: string; n: number; doubt: string[] | null }[] = [];

  constructor(
    readonly info: ModelChannel,
    /** leadIdentity: the model name, and the device's own code for a generic ECG lead. */
    readonly lead: string,
    readonly deviceId: string,
    readonly sampleRateHz: number,
    seconds: number,
  ) {
    this.buf = new Float32Array(Math.ceil(seconds * sampleRateHz));
  }

  /** Whether this segment's start and the last one's are both whole seconds: device times to the second. */
  private coarse(seg: NormalisedWaveform): boolean {
    return this.lastStart !== null && seg.startTime % COARSE_TIME_MS === 0 && this.lastStart % COARSE_TIME_MS === 0;
  }

  /** How far (ms) the segment starts before the end of the samples held, when that is more than jitter; else 0. */
  overlapMs(seg: NormalisedWaveform): number {
    if (this.nextTime === null) return 0;
    const back = this.nextTime - seg.startTime;
    // The same start and receipt time as the segment just kept: another lead under its code in the same message
    // (or the same samples twice), whatever the tolerance of its times.
    if (seg.startTime === this.lastStart && seg.receivedAt === this.lastAt && back > 0) return back;
    if (seg.quality.reasons?.includes('time-from-receipt')) return back > RECEIPT_GAP_TOLERANCE_MS ? back : 0;
    if (this.coarse(seg)) return back >= COARSE_TIME_MS ? back : 0;
    return back > OVERLAP_TOLERANCE_MS ? back : 0;
  }

  /** `scale`: the segment's own unit scale (to mV / mmHg), so a unit change mid-stream (mV, then µV) keeps one scale. */
  push(seg: NormalisedWaveform, scale: number): void {
    const fs = this.sampleRateHz;
    const timedOnReceipt = seg.quality.reasons?.includes('time-from-receipt') ?? false;
    if (this.nextTime !== null) {
      const gapMs = seg.startTime - this.nextTime;
      const tolerance = timedOnReceipt ? RECEIPT_GAP_TOLERANCE_MS : Math.max(GAP_TOLERANCE_MS, 3000 / fs);
      const missing = !timedOnReceipt && this.coarse(seg) ? gapMs >= COARSE_TIME_MS : gapMs > tolerance;
      if (missing) this.fill(Number.NaN, Math.round((gapMs * fs) / 1000));
    }
    // Samples of a segment marked invalid (lead off, sensor off) must not look like signal, nor must the samples the
    // device sent as invalid, which ingest stored as 0 (`zeroed`, ascending): the model was trained with them as NaN.
    const bad = seg.quality.state === 'invalid' || seg.quality.state === 'unavailable';
    const zeroed = seg.zeroed ?? [];
    let z = 0;
    const cap = this.buf.length;
    for (let i = 0; i < seg.samples.length; i++) {
      const v = seg.samples[i];
      const invalid = zeroed[z] === i;
      if (invalid) z++;
      this.buf[this.total % cap] = bad || invalid || typeof v !== 'number' ? Number.NaN : v * scale;
      this.total++;
    }
    this.nextTime = seg.startTime + (seg.samples.length * 1000) / fs;
    this.lastStart = seg.startTime;
    this.lastAt = seg.receivedAt;
    // An anchored timeline is not the device's clock: the device's alarm clock offset does not place it.
    const onDeviceClock = !timedOnReceipt && !(seg.quality.reasons?.includes(ANCHORED_AT_RECEIPT) ?? false);
    // Questionable samples are kept as signal (the device sent them as measured), but the window says how many.
    this.marks.push({ receivedAt: seg.receivedAt, end: this.total, deviceEnd: onDeviceClock ? this.nextTime : null, deviceId: seg.deviceId, n: seg.samples.length, doubt: signalDoubt(seg) });
    while (this.marks.length > 1 && this.marks[0]!.end <= this.total - cap) this.marks.shift();
  }

  private fill(v: number, n: number): void {
    const cap = this.buf.length;
    const k = Math.min(n, cap);
    this.total += n - k; // older than the ring holds anyway
    for (let i = 0; i < k; i++) this.buf[this.total++ % cap] = v;
  }

  /** Last receive time of data in the ring. */
  get lastReceivedAt(): number {
    return this.marks[this.marks.length - 1]?.receivedAt ?? -Infinity;
  }

  /**
   * The samples received up to `until` (gateway time), at most `seconds`, ending at `until`: the time from the
   * last segment received to `until` is padded with invalid samples (beyond ARRIVAL_JITTER_MS, however short), so
   * that every channel ends at the alarm (samples still in transit are missing, not shifted into the alarm). Null
   * when it holds nothing for that window.
   */
  window(
    until: number,
    seconds: number,
    alarmClockOffset: (deviceId: string) => number | undefined = () => undefined,
  ): { channel: Channel; questionable: QuestionableSpan | null } | null {
    const fs = this.sampleRateHz;
    const cap = this.buf.length;
    let end = -1;
    let endAt = -Infinity;
    for (let i = this.marks.length - 1; i >= 0; i--) {
      const m = this.marks[i]!;
      if (m.receivedAt <= until) {
        end = m.end;
        endAt = m.receivedAt;
        // Waveforms that arrive a steady few seconds behind the device's alarms (a relay, a jitter buffer, another
        // path) were received just now, yet end seconds before the alarm. On the device's own clock, set against
        // the gateway's by its alarms (which the same offset makes comparable), they end where they really end.
        const offset = alarmClockOffset(m.deviceId);
        if (m.deviceEnd !== null && offset !== undefined) endAt = Math.min(endAt, m.deviceEnd + offset);
        break;
      }
    }
    if (end < 0) return null;
    const want = Math.floor(seconds * fs);
    const gapMs = until - endAt;
    const pad = gapMs > ARRIVAL_JITTER_MS ? Math.min(want, Math.round((gapMs * fs) / 1000)) : 0;
    if (pad >= want) return null;
    const held = end - Math.max(0, this.total - cap); // samples up to `end` still in the ring
    const n = Math.max(0, Math.min(want - pad, held));
    const out = new Float32Array(n + pad).fill(Number.NaN);
    for (let i = 0; i < n; i++) out[i] = this.buf[(end - n + i) % cap]!;
    return { channel: { name: this.info.name, sampleRateHz: fs, samples: out }, questionable: this.doubted(end - n, end) };
  }

  /** The samples in [from, to) (counted as `total`) from segments whose signal the device doubted, and why. */
  private doubted(from: number, to: number): QuestionableSpan | null {
    let count = 0;
    const reasons = new Set<string>();
    for (const m of this.marks) {
      if (m.doubt === null) continue;
      const k = Math.min(m.end, to) - Math.max(m.end - m.n, from);
      if (k <= 0) continue;
      count += k;
      for (const r of m.doubt) reasons.add(r);
    }
    return count > 0 ? { channel: this.info.name, seconds: count / this.sampleRateHz, reasons: [...reasons] } : null;
  }
}

/**
 * Channels in the order the model needs them: the first two ECG leads it reads (channelOrder: the features' rank),
 * PLETH, ABP — one of each lead identity (leadIdentity) — before extra leads and the same signal from a second device. The extras keep
 * the order of `chs` (the new channel last), so an extra channel never displaces another: no churn of rings.
 */
function rankChannels<T extends { info: ModelChannel; lead: string }>(chs: T[]): T[] {
  const sorted = chs.map((c, i) => ({ c, i })).sort((a, b) => channelOrder(a.c.info, b.c.info) || a.i - b.i);
  const names = new Set<string>();
  let leads = 0;
  const used: T[] = [];
  const extra: { c: T; i: number }[] = [];
  for (const x of sorted) {
    const isLead = x.c.info.kind === 'ecg';
    if (names.has(x.c.lead) || (isLead && leads >= 2)) extra.push(x);
    else {
      names.add(x.c.lead);
      if (isLead) leads++;
      used.push(x.c);
    }
  }
  return [...used, ...extra.sort((a, b) => a.i - b.i).map((x) => x.c)];
}

interface BedRings {
  channels: Map<string, ChannelRing>;
  /** Gateway time of the last segment kept. */
  lastFedAt: number;
}

export class WaveformRing {
  /** In order of last feeding, least recently fed first (re-inserted on every segment). */
  private readonly beds = new Map<string, BedRings>();
  /** Per device: gateway time minus device time of its latest alarm (noteAlarmClock), least recently noted first. */
  private readonly alarmClock = new Map<string, number>();
  /** Beds refused for want of a place (oldest first, bounded). */
  private readonly refused = new Set<string>();

  constructor(
    private readonly opts: RingOptions = DEFAULT_RING_OPTIONS,
    /** Called when a bed is refused for the first time since it last had a place. */
    private readonly onBedRefused: (key: string) => void = () => {},
    /** Called for every segment of a model signal that is not kept, and why (LiveModel counts and logs them). */
    private readonly onChannelRefused: (key: string, channel: string, reason: ChannelRefusal, seg: NormalisedWaveform, overlapMs?: number) => void = () => {},
    /**
     * Called when a channel timed on the gateway's clock starts afresh because that clock stepped back (`stepMs`: how
     * far its segment starts before the samples held end); once per channel and step. Not a refusal (to be logged, info).
     */
    private readonly onClockStepBack: (key: string, channel: string, stepMs: number, seg: NormalisedWaveform) => void = () => {},
  ) {}

  get bedCount(): number {
    return this.beds.size;
  }

  /** Whether this bed's waveforms are being refused because the ring is full of beds still fed. */
  isRefused(key: string): boolean {
    return this.refused.has(key);
  }

  /** Keeps the segment if it is a model channel; returns whether it was kept. */
  add(seg: NormalisedWaveform): boolean {
    const info = modelChannel(seg);
    if (!info) {
      // A signal the model reads, in a unit it cannot convert (e.g. an ECG in '1'): refused, not silently ignored.
      const signal = modelSignal(seg);
      if (signal) this.onChannelRefused(bedKey(seg.bed, seg.deviceId), signal.name, 'unit', seg);
      // A code not in the MDC table may be a signal the model reads (HL7's generic ECG 131328): said, not dropped
      // silently (review rv84 L1).
      else if (seg.mdc === null) this.onChannelRefused(bedKey(seg.bed, seg.deviceId), seg.raw?.text ?? seg.raw?.code ?? '', 'unknown-code', seg);
      return false;
    }
    if (!(seg.sampleRateHz > 0)) {
      this.onChannelRefused(bedKey(seg.bed, seg.deviceId), info.name, 'rate-unknown', seg);
      return false;
    }
    if (seg.sampleRateHz > this.opts.maxRateHz) {
      this.onChannelRefused(bedKey(seg.bed, seg.deviceId), info.name, 'rate', seg);
      return false;
    }
    const key = bedKey(seg.bed, seg.deviceId);
    let bed = this.beds.get(key);
    if (bed) this.beds.delete(key); // re-inserted below: Map order is least recently fed first
    else {
      if (this.beds.size >= this.opts.maxBeds && !this.evictIdle(seg.receivedAt)) {
        if (!this.refused.has(key)) {
          if (this.refused.size >= MAX_REFUSED_KEYS) this.refused.delete(this.refused.values().next().value as string);
          this.refused.add(key);
          this.onBedRefused(key);
        }
        return false;
      }
      this.refused.delete(key);
      bed = { channels: new Map(), lastFedAt: seg.receivedAt };
    }
    this.beds.set(key, bed);
    // One ring per device and lead: two monitors on a bed, or two leads of one monitor that the model names alike
    // (V and MCL), do not interleave their samples (review rv81 H1).
    const lead = leadIdentity(info, seg);
    const chKey = `${seg.deviceId}\u0000${lead}`;
    let ring = bed.channels.get(chKey);
    if (ring && ring.sampleRateHz !== seg.sampleRateHz) ring = undefined; // rate changed: start afresh
    const overlapMs = ring?.overlapMs(seg) ?? 0;
    if (ring && overlapMs > 0) {
      if (onGatewayClock(seg) && seg.receivedAt < ring.lastReceivedAt) {
        // Its start and its receipt are both the gateway's clock, and the receipt went back (receipts come in order):
        // the gateway's clock stepped back (NTP), nothing is wrong with the device. Refused, the channel would be
        // until that clock caught up plus the ring's span (fx114: minutes); the old samples are on the old clock, so
        // the ring starts afresh. A second lead of the same message (same receipt) is still refused below.
        this.onClockStepBack(key, info.name, overlapMs, seg);
      } else if (seg.receivedAt - ring.lastReceivedAt <= this.opts.seconds * 1000) {
        // Appended, it would splice older samples after newer ones. But a ring not fed for its whole span holds no
        // window anyway: then the device's clock has stepped back, and the ring starts afresh on the new clock.
        this.onChannelRefused(key, info.name, 'overlap', seg, overlapMs);
        return false;
      }
      ring = undefined;
    }
    if (!ring) {
      if (!bed.channels.has(chKey) && bed.channels.size >= this.opts.maxChannelsPerBed && !this.makeRoom(bed, info, lead, seg.receivedAt)) {
        this.onChannelRefused(key, info.name, 'channel-limit', seg);
        return false;
      }
      ring = new ChannelRing(info, lead, seg.deviceId, seg.sampleRateHz, this.opts.seconds);
      bed.channels.set(chKey, ring);
    }
    ring.push(seg, info.scale); // samples are stored in the model's units, so a unit change needs no fresh ring
    // The latest receipt, not the greatest: after the gateway's clock stepped back, the greatest is on the old clock
    // and kept a bed that left looking fed for the step's length (segments are added in the order received).
    bed.lastFedAt = seg.receivedAt;
    return true;
  }

  /**
   * Frees a channel place on a full bed for a new channel: the place of a channel not fed for CHANNEL_IDLE_MS
   * (a monitor that left), else of the channel the model needs least, when the new one is needed more.
   * Whether it did.
   */
  private makeRoom(bed: BedRings, info: ModelChannel, lead: string, now: number): boolean {
    for (const [k, r] of bed.channels) {
      if (now - r.lastReceivedAt > CHANNEL_IDLE_MS) {
        bed.channels.delete(k);
        return true;
      }
    }
    const kept = [...bed.channels].map(([key, r]) => ({ key, info: r.info, lead: r.lead }));
    const last = rankChannels([...kept, { key: null, info, lead }]).at(-1)!;
    if (last.key === null) return false;
    bed.channels.delete(last.key);
    return true;
  }

  /** Frees the place of the least recently fed bed if it has been idle for BED_IDLE_MS; whether it did. */
  private evictIdle(now: number): boolean {
    const first = this.beds.entries().next();
    if (first.done || now - first.value[1].lastFedAt < BED_IDLE_MS) return false;
    this.beds.delete(first.value[0]);
    return true;
  }

  /**
   * The model's input for an alarm on this bed: the last `seconds` of each channel received up to `until`
   * (gateway time), in the order the model expects (channelOrder: lead II first). Empty when the bed has no waveforms.
   */
  /**
   * A device's alarm, received at `receivedAt` and stamped `deviceTime` by the device: how its clock stands against
   * the gateway's on the alarm path (path delay included), to place its waveforms against its alarms.
   */
  noteAlarmClock(deviceId: string, receivedAt: number, deviceTime: number): void {
    this.alarmClock.delete(deviceId);
    if (this.alarmClock.size >= MAX_ALARM_CLOCKS) this.alarmClock.delete(this.alarmClock.keys().next().value as string);
    this.alarmClock.set(deviceId, receivedAt - deviceTime);
  }

  window(key: string, until: number, seconds = this.opts.seconds): Channel[] {
    return this.windowWithQuality(key, until, seconds).channels;
  }

  /**
   * window(), with the seconds of each channel's window from segments the device marked questionable for their signal
   * (not for their time alone): the model reads them as signal, so whoever reads its verdict is told (review rv153 F2).
   */
  windowWithQuality(key: string, until: number, seconds = this.opts.seconds): QualifiedWindow {
    const bed = this.beds.get(key);
    if (!bed) return { channels: [], questionable: [] };
    // Rings in the order they were first kept (Map order: arrival, as a record's header order), with a window.
    const held = [...bed.channels.values()]
      .map((r, i) => ({ r, i, w: r.window(until, seconds, (deviceId) => this.alarmClock.get(deviceId)) }))
      .filter((x): x is { r: ChannelRing; i: number; w: { channel: Channel; questionable: QuestionableSpan | null } } => x.w !== null && x.w.channel.samples.length > 0);
    // The same signal from two devices: the freshest device's. Its own leads of one name (V and MCL, both "ECG") all.
    const deviceOf = new Map<string, string>();
    for (const x of [...held].sort((a, b) => b.r.lastReceivedAt - a.r.lastReceivedAt)) {
      if (!deviceOf.has(x.r.info.name)) deviceOf.set(x.r.info.name, x.r.deviceId);
    }
    const firstSeen = new Map<string, number>();
    for (const x of held) if (!firstSeen.has(x.r.info.name)) firstSeen.set(x.r.info.name, x.i);
    // Canonical order (channelOrder); leads of equal rank in the order their signal, then their lead, was first kept.
    const used = held
      .filter((x) => deviceOf.get(x.r.info.name) === x.r.deviceId)
      .sort((a, b) => channelOrder(a.r.info, b.r.info) || firstSeen.get(a.r.info.name)! - firstSeen.get(b.r.info.name)! || a.i - b.i);
    return { channels: used.map((x) => x.w.channel), questionable: used.flatMap((x) => (x.w.questionable ? [x.w.questionable] : [])) };
  }
}
