// When a reading was measured, on the gateway's clock. A device may re-send a value with the time it was measured
// (a blood pressure repeated in every message with the time the cuff took it, or re-sent alone after a reconnect):
// its receipt time would make it look current. Its age is read on the device's own clock, so that a device clock
// set wrong does not age its readings.
//
// The device's clock is learned across deliveries, per device and bed: its offset from the gateway's clock (receipt
// less device time of its newest readings). Judged only within one delivery, an old value re-sent alone was the newest
// of its delivery and counted as just measured, for ever if re-sent every minute (review rv79 M2).
//
// The offset follows the least delay seen within CLOCK_SLACK_MS (delivery delays, device times in whole minutes);
// a reading within that slack of the learned clock is judged against its delivery's newest, as before. A device
// time further off is either an old value (re-sent) or a clock that stepped (NTP, DST, set by hand); one delivery
// cannot tell them apart, a few do: a stepped clock keeps to its new offset, its device time advancing at the
// gateway's pace; an old value re-sent keeps its device time (its offset grows), and a backlog flushed after an
// outage advances its device time faster than the gateway's (its offset shrinks as it drains). A new offset held
// across CLOCK_STEP_DELIVERIES deliveries, spanning CLOCK_STEP_SPAN_MS, at the gateway's pace is the step: believed at
// once (waiting 5 min, the fresh readings after a step back looked an hour old and NEWS2 and the display dropped them;
// review rv83 H1). A value measured before a step and re-sent after it is believed is judged on the new clock (older
// by a step forward, younger by a step back) until the device sends a new measurement: device times before and after
// a step back overlap, so there is no telling. A single wrong time (year 2099) is never believed.
//
// Any reading far behind the learned clock (beyond CLOCK_SLACK_MS) is aged on it, whether its device time is new to
// its metric or not: "new to the metric" is no proof of fresh, since a backlog flushed in order brings only new device
// times (review rv84 H1), and after a restart or a forgotten clock an old value re-sent alone is new to the clocks too
// (rv84 M1). A re-send (a device time the one last seen for its device, bed and metric) in a delivery that holds a new
// measurement of its device is aged as far behind that one as its device time says (a step not yet believed ages
// both alike). A backlog that ingest marks out of order is aged on the clock: old.
import { metricKey } from './labels.js';
import type { DriverEvent, NumericReading } from './reading.js';

/** Within this of the learned clock, a device time is that clock (delays, whole minutes): the delivery judges. */
export const CLOCK_SLACK_MS = 2 * 60_000;
/** Deliveries (each with a newer device time) that a new offset must hold across to be a step of the device's clock. */
export const CLOCK_STEP_DELIVERIES = 3;
/** Gateway time those deliveries must span: a burst (a backlog flushed at once) is no clock. */
export const CLOCK_STEP_SPAN_MS = 5_000;
/**
 * At the gateway's pace: device time advanced within this part of the gateway time since the first (a backlog
 * advances faster, a re-sent value not at all; ingest's out-of-order check uses the same 1.5x).
 */
const CLOCK_STEP_PACE = 0.5;
/** A device and bed unheard from this long: its clock is forgotten, and learned again from its next delivery. */
export const CLOCK_FORGET_AFTER_MS = 24 * 3600_000;
/** Clocks (device × bed) kept; past it the least recently heard from is forgotten. */
export const MAX_CLOCKS = 10_000;
/** Metrics remembered per clock (their last device time); past it the least recently seen is forgotten. */
export const MAX_METRICS_PER_CLOCK = 256;
/** New offsets followed at once per clock: a step, and old values re-sent between, each with its own. */
const MAX_CANDIDATES = 3;

/** An offset other than the learned one, first seen at `since` (receipt), last seen at `last`. */
interface Candidate {
  offset: number;
  since: number;
  last: number;
  /** Deliveries that held it, each with a newer device time than the one before (`device`). */
  count: number;
  device: number;
}

interface Clock {
  /** Gateway time less device time, for the device's current readings. */
  offset: number;
  /** Last receipt from it. */
  heard: number;
  candidates: Candidate[];
  /** The last device time seen per metric (in the order last seen): the same again is a re-send. */
  times: Map<string, number>;
}

const keyOf = (e: { deviceId: string; bed?: string }) => `${e.deviceId}|${e.bed ?? ''}`;
const metricOf = (r: NumericReading) => (r.setting ? `${metricKey(r.mdc, r.raw)}#set` : metricKey(r.mdc, r.raw));
const hasTime = (r: NumericReading) => r.deviceTime !== null && Number.isFinite(r.deviceTime);

/** The learned clocks of devices (per device and bed), shared in kind by NEWS2 and the display: one way to age. */
export class DeviceClocks {
  /** In the order last heard from (least recent first). */
  private readonly clocks = new Map<string, Clock>();

  constructor(private readonly maxClocks = MAX_CLOCKS) {}

  get size(): number {
    return this.clocks.size;
  }

  /**
   * The gateway's clock stepped by `deltaMs` (AlarmService): offsets and receipt times are on the gateway's clock and
   * move with it; device times do not. Else a device's readings would look `deltaMs` old (or new) until a "device
   * clock step" were believed (review rv142 F3: a NEWS2 level ended at the first reading after a 1 h step forward).
   */
  shiftClock(deltaMs: number): void {
    for (const c of this.clocks.values()) {
      c.offset += deltaMs;
      c.heard += deltaMs;
      for (const x of c.candidates) {
        x.offset += deltaMs;
        x.since += deltaMs;
        x.last += deltaMs;
      }
    }
  }

  /**
   * Learns from a delivery (committed events, in one go), then gives when each of its numerics was measured, on the
   * gateway's clock. Call once per delivery, before judging its readings.
   */
  delivery(events: readonly DriverEvent[]): (r: NumericReading) => number {
    // The newest device time per device and bed here: the device's "now" on its own clock.
    const newest = new Map<string, { deviceTime: number; receivedAt: number }>();
    let latest = -Infinity;
    for (const e of events) {
      if (e.kind !== 'numeric' || e.deviceTime === null || !Number.isFinite(e.deviceTime) || e.outOfOrder) continue;
      const k = keyOf(e);
      const n = newest.get(k);
      if (n === undefined || e.deviceTime > n.deviceTime) newest.set(k, { deviceTime: e.deviceTime, receivedAt: e.receivedAt });
      if (e.receivedAt > latest) latest = e.receivedAt;
    }
    // Re-sends (told against what earlier deliveries gave), and the newest new measurement per device and bed.
    const resent = new Set<NumericReading>();
    const freshNewest = new Map<string, NumericReading>();
    for (const e of events) {
      if (e.kind !== 'numeric' || !hasTime(e)) continue;
      const k = keyOf(e);
      const f = freshNewest.get(k);
      if (e.outOfOrder || this.clocks.get(k)?.times.get(metricOf(e)) === e.deviceTime) resent.add(e);
      else if (f === undefined || e.deviceTime! > f.deviceTime!) freshNewest.set(k, e);
    }
    for (const [k, n] of newest) this.learn(k, n.deviceTime, n.receivedAt);
    this.sweep(latest);
    // Judged now, before this delivery's device times are remembered (each reading once, as it came).
    const judged = new Map<NumericReading, number>();
    for (const e of events) {
      if (e.kind !== 'numeric') continue;
      const k = keyOf(e);
      judged.set(e, this.measuredAt(e, newest.get(k)?.deviceTime, resent.has(e), freshNewest.get(k)));
      if (hasTime(e) && !e.outOfOrder) this.remember(k, metricOf(e), e.deviceTime!);
    }
    return (r) => judged.get(r) ?? this.measuredAt(r, newest.get(keyOf(r))?.deviceTime, true, undefined);
  }

  private measuredAt(r: NumericReading, batchNewest: number | undefined, resent: boolean, fresh: NumericReading | undefined): number {
    if (!hasTime(r)) return r.receivedAt;
    const deviceTime = r.deviceTime!;
    // A re-send beside a new measurement of its device: as far behind that one as its device time says.
    if (resent && fresh !== undefined) return this.measuredAt(fresh, batchNewest, false, undefined) - Math.max(0, fresh.deviceTime! - deviceTime);
    // How far behind the newest of its delivery (never negative): all one delivery can tell.
    const behindBatch = batchNewest === undefined ? 0 : Math.max(0, batchNewest - deviceTime);
    const c = this.clocks.get(keyOf(r));
    if (!c) return r.receivedAt - behindBatch;
    const behindClock = r.receivedAt - c.offset - deviceTime;
    // Far behind the learned clock (no step believed): that old, new to its metric or not (a backlog, a re-send after
    // a restart). Within the slack, or ahead (a step forward), the delivery tells, bounded by the clock.
    return r.receivedAt - (behindClock > CLOCK_SLACK_MS ? behindClock : Math.max(0, Math.min(behindBatch, behindClock)));
  }

  /** The last device time of a metric of a clock (bounded per clock: the least recently seen goes). */
  private remember(k: string, metric: string, deviceTime: number): void {
    const c = this.clocks.get(k);
    if (!c) return;
    c.times.delete(metric);
    c.times.set(metric, deviceTime);
    if (c.times.size > MAX_METRICS_PER_CLOCK) c.times.delete(c.times.keys().next().value!);
  }

  /** One delivery's newest device time for this device and bed, with its receipt. */
  private learn(k: string, deviceTime: number, receivedAt: number): void {
    const offset = receivedAt - deviceTime;
    let c = this.clocks.get(k);
    if (c) this.clocks.delete(k); // set again below: the most recently heard from
    if (!c || receivedAt - c.heard > CLOCK_FORGET_AFTER_MS) {
      c = { offset, heard: receivedAt, candidates: [], times: new Map() };
    } else {
      c.heard = Math.max(c.heard, receivedAt);
      if (Math.abs(offset - c.offset) <= CLOCK_SLACK_MS) {
        // The learned clock: follow the least delay (a device time is never newer than its clock). No step under way.
        if (offset < c.offset) c.offset = offset;
        c.candidates = [];
      } else {
        this.candidate(c, offset, receivedAt);
      }
    }
    this.clocks.set(k, c);
    if (this.clocks.size > this.maxClocks) this.clocks.delete(this.clocks.keys().next().value!);
  }

  /** An offset off the learned clock: believed once it holds as a clock does (see CLOCK_STEP_DELIVERIES). */
  private candidate(c: Clock, offset: number, receivedAt: number): void {
    const same = c.candidates.find((x) => Math.abs(offset - x.offset) <= CLOCK_SLACK_MS);
    if (same) {
      same.last = receivedAt;
      const deviceTime = receivedAt - offset;
      if (deviceTime <= same.device) return; // a re-send: no clock advancing
      same.device = deviceTime;
      same.count++;
      // Drift from the first: device time advanced less (a re-send) or more (a backlog) than the gateway's.
      const span = receivedAt - same.since;
      const paced = Math.abs(offset - same.offset) <= span * CLOCK_STEP_PACE;
      if (same.count >= CLOCK_STEP_DELIVERIES && span >= CLOCK_STEP_SPAN_MS && paced) {
        c.offset = offset;
        c.candidates = [];
      }
      return;
    }
    if (c.candidates.length >= MAX_CANDIDATES) {
      // The one least recently seen goes: a re-sent old value's, not a step's steady stream.
      let i = 0;
      for (let j = 1; j < c.candidates.length; j++) if (c.candidates[j]!.last < c.candidates[i]!.last) i = j;
      c.candidates.splice(i, 1);
    }
    c.candidates.push({ offset, since: receivedAt, last: receivedAt, count: 1, device: receivedAt - offset });
  }

  /** Forgets the clocks unheard from for CLOCK_FORGET_AFTER_MS (the least recently heard from come first). */
  private sweep(now: number): void {
    for (const [k, c] of this.clocks) {
      if (now - c.heard <= CLOCK_FORGET_AFTER_MS) break;
      this.clocks.delete(k);
    }
  }
}

/**
 * For this long after a step of the gateway's clock, an event whose time lies nearer the old clock than the new one was
 * stamped before the step and handled after it (AlarmService and WardState move such events onto the new clock).
 */
export const STEP_IN_FLIGHT_MS = 10_000;

/** The gateway time an event was stamped with: a device status's `at`, a reading's `receivedAt`. */
export const stampOf = (e: DriverEvent): number => (e.kind === 'device-status' ? e.at : e.receivedAt);

/** The event with its gateway stamp (stampOf) set to `t`; nothing else changed. */
export function withStamp(e: DriverEvent, t: number): DriverEvent {
  return e.kind === 'device-status' ? { ...e, at: t } : { ...e, receivedAt: t };
}

/**
 * The clock to time durations by beside the wall clock `now`: performance.now() beside Date.now, which no step of the
 * wall clock moves; `now` itself when a test drives the wall clock by hand and gives no other.
 */
export function monotonicBeside(now: () => number): () => number {
  return now === Date.now ? () => performance.now() : now;
}

/**
 * Whether `e` was stamped on the clock before a step of `deltaMs` seen at `ref` (new clock): its time lies nearer the
 * old clock's reading of that moment (`ref - deltaMs`) than the new one's.
 */
export function stampedBeforeStep(e: DriverEvent, deltaMs: number, ref: number): boolean {
  const t = stampOf(e);
  return Math.abs(t - (ref - deltaMs)) < Math.abs(t - ref);
}

/** `events` with those stamped before the step (stampedBeforeStep) moved onto the new clock; the same array if none. */
export function ontoNewClock(events: readonly DriverEvent[], deltaMs: number, ref: number): readonly DriverEvent[] {
  if (!events.some((e) => stampedBeforeStep(e, deltaMs, ref))) return events;
  return events.map((e) => (stampedBeforeStep(e, deltaMs, ref) ? withStamp(e, stampOf(e) + deltaMs) : e));
}

/**
 * Whether a value already held (measured at `held.at`) is newer than a reading measured at `at`, so that the reading
 * is left out. Never when both come from the same source (device and metric) and the reading's device time is not
 * older: that device's own clock says it is as new or newer, whatever age a clock step gave it (review rv83 H1).
 * Used by NEWS2 and the display alike.
 */
export function heldIsNewer(held: { at: number; source: string | undefined; deviceTime: number | undefined }, at: number, source: string, deviceTime: number | null): boolean {
  if (held.at <= at) return false;
  return !(held.source === source && held.deviceTime !== undefined && deviceTime !== null && deviceTime >= held.deviceTime);
}
