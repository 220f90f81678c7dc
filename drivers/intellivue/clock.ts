// Device time. The monitor stamps poll replies with RelativeTime (1/8 ms ticks since an arbitrary
// point, high resolution) and AbsoluteTime (its wall clock, 1 s resolution, no zone). The MDS Create
// event gives a pair (absolute, relative) that maps one onto the other; every poll reply also carries
// both, so a listener that missed the MDS Create still gets device time. We keep the gateway time
// beside it and track the offset (device − gateway), so clock drift is visible.
import { absoluteTimeEpochs, relativeDeltaTicks, type AbsoluteTime } from './protocol/time.js';
import { TICKS_PER_MS } from './protocol/constants.js';

/** A reply whose absolute time disagrees with the mapping by more than this means the base moved (restart, clock set). */
const REBASE_TOLERANCE_MS = 2500;
/** Without absolute times, a device − gateway offset that jumps by more than this is a counter restart, not drift. */
const MAX_OFFSET_JUMP_MS = 300_000;
/** Without device time, a relative time more than this behind the last reply's is a restarted counter, not a late reply. */
const ANCHOR_STEP_BACK_MS = 1000;
/**
 * The anchored timeline is kept at the least latency seen (review rv96 M4): a wave placed after its receipt re-anchors
 * at once; one placed more than this before its receipt, for every reply over ANCHOR_WINDOW_MS, re-anchors at the
 * reply of least latency in that window. Waves so end within about this of their receipt (never after it), whatever
 * the monitor's crystal drift, a gateway clock step or a late first answer (drivers/intellivue/README.md gives the bound).
 */
export const ANCHOR_SLACK_MS = 1000;
/** See ANCHOR_SLACK_MS: long enough that a spell of slow answers on the link is not taken for a clock that drifted. */
export const ANCHOR_WINDOW_MS = 60_000;

export class DeviceClock {
  private base: { absMs: number; rel: number } | null = null;
  /** Latest device − gateway offset in ms (positive: monitor clock ahead), null until known. */
  offsetMs: number | null = null;
  rebases = 0;
  /**
   * Provisional timeline of replies without device time: (receipt time, relative time) of the first such reply, or of
   * the one it was re-anchored at (anchoredTime), moved along with the replies as the base is. Null until such a reply, and again after a reset, a new association
   * (dropAnchor) or once the device time is known.
   */
  private anchor: { at: number; rel: number } | null = null;
  /**
   * Since when (receipt time) every anchored reply has been placed more than ANCHOR_SLACK_MS before its receipt, and
   * the reply of least latency since; null while the latest one was within the slack.
   */
  private slow: { since: number; best: { at: number; rel: number; latency: number } } | null = null;

  constructor(private readonly utcOffsetMinutes: number | null) {}

  get known(): boolean {
    return this.base !== null;
  }

  reset(): void {
    this.base = null;
    this.dropAnchor();
  }

  /** A new association (or the old one lost): its replies without device time start a timeline of their own. */
  dropAnchor(): void {
    this.anchor = null;
    this.slow = null;
  }

  /**
   * Where a reply without device time goes: an anchor's receipt time plus the monitor's relative time since. Replies
   * are so spaced by the monitor's own clock (an answer lost on the link stays a gap, arrival jitter is none); only
   * where the timeline sits is approximate (rv94 M3). Anchored afresh at this receipt when the relative time goes back
   * (a restarted counter) or strays from the gateway's clock by more than MAX_OFFSET_JUMP_MS. Kept at the least
   * latency seen (review rv96 M4): a reply that would end after its receipt (impossible: the anchor's reply came late,
   * or the monitor's clock runs fast, or the gateway's stepped back) is the new anchor; replies that all end more than
   * ANCHOR_SLACK_MS before their receipt for ANCHOR_WINDOW_MS (the monitor's clock runs slow, the gateway's stepped
   * forward) move the anchor to the one of least latency among them. Drift so makes steps of a fraction of a
   * millisecond back, or of about ANCHOR_SLACK_MS forward every few hours (100 ppm: 2.8 h).
   */
  anchoredTime(rel: number, receivedAt: number): number {
    const a = this.anchor;
    if (a) {
      const deltaMs = relativeDeltaTicks(a.rel, rel) / TICKS_PER_MS;
      const t = a.at + deltaMs;
      if (deltaMs >= -ANCHOR_STEP_BACK_MS && t <= receivedAt && receivedAt - t <= MAX_OFFSET_JUMP_MS) {
        // Moved along (exactly) for the same reason as the base: the 32-bit counter is compared modulo 2^32.
        if (deltaMs > 0) this.anchor = { at: t, rel };
        return this.pulledUp(t, rel, receivedAt);
      }
    }
    this.anchor = { at: receivedAt, rel };
    this.slow = null;
    return receivedAt;
  }

  /** `t` (a reply's place on the anchored timeline), or its place once re-anchored if it stayed too early too long. */
  private pulledUp(t: number, rel: number, receivedAt: number): number {
    const latency = receivedAt - t;
    if (latency <= ANCHOR_SLACK_MS) {
      this.slow = null;
      return t;
    }
    const s = (this.slow ??= { since: receivedAt, best: { at: receivedAt, rel, latency } });
    if (latency < s.best.latency) s.best = { at: receivedAt, rel, latency };
    if (receivedAt - s.since < ANCHOR_WINDOW_MS) return t;
    // Every reply of the window was late by more than the slack: the least late shows where the timeline should sit.
    // This reply is then no later than the anchor's (it was among those compared), so it still ends by its receipt.
    const sinceBestMs = relativeDeltaTicks(s.best.rel, rel) / TICKS_PER_MS;
    this.anchor = sinceBestMs > 0 ? { at: s.best.at + sinceBestMs, rel } : { at: s.best.at, rel: s.best.rel };
    this.slow = null;
    return s.best.at + sinceBestMs;
  }

  /** From the MDS Create event's NOM_ATTR_TIME_ABS / NOM_ATTR_TIME_REL; `near` (the gateway's time) places a time read twice. */
  setBase(abs: AbsoluteTime, rel: number, near: number | null = null): void {
    this.base = { absMs: this.toEpoch(abs, near), rel };
  }

  /**
   * A wall-clock time as an instant. In the gateway zone the hour repeated when daylight saving ends reads twice: the
   * reading nearest `near` (the time the relative time predicts, or the gateway's) is taken, not always the first pass,
   * which put an hour of times an hour early and re-based on it (review rv66 L3).
   */
  private toEpoch(abs: AbsoluteTime, near: number | null): number {
    const all = absoluteTimeEpochs(abs, this.utcOffsetMinutes);
    if (near === null || all.length === 1) return all[0] as number;
    return all.reduce((best, t) => (Math.abs(t - near) < Math.abs(best - near) ? t : best));
  }

  fromRelative(rel: number): number | null {
    if (!this.base) return null;
    return Math.round(this.base.absMs + relativeDeltaTicks(this.base.rel, rel) / TICKS_PER_MS);
  }

  /**
   * Device time of a poll reply; re-bases when the reply's absolute time disagrees with the mapping
   * (monitor restarted or its clock was set). Updates the tracked offset against `receivedAt`.
   */
  replyTime(abs: AbsoluteTime | null, rel: number, receivedAt: number): number | null {
    if (abs) {
      const predicted = this.fromRelative(rel);
      const absMs = this.toEpoch(abs, predicted ?? receivedAt);
      if (predicted === null || Math.abs(predicted - absMs) > REBASE_TOLERANCE_MS) {
        if (predicted !== null) this.rebases++;
        this.base = { absMs, rel };
      }
    }
    let t = this.fromRelative(rel);
    // Without an absolute time to check against, a jump of minutes against the gateway's clock means the relative
    // counter restarted (a monitor restart): no device time until the monitor gives one, rather than a wrong one.
    if (!abs && t !== null && this.offsetMs !== null && Math.abs(t - receivedAt - this.offsetMs) > MAX_OFFSET_JUMP_MS) {
      this.base = null;
      this.offsetMs = null;
      this.rebases++;
      t = null;
    }
    if (t !== null) {
      this.offsetMs = t - receivedAt;
      this.anchor = null; // device time again: a later loss of it anchors afresh
    }
    // The base follows the replies (exactly, not rounded): the relative counter is compared with it modulo 2^32
    // ticks, so a base left at the MDS Create would turn every time back 6.2 days once 74.6 h had passed in a session
    // whose replies carry no absolute time.
    if (this.base && relativeDeltaTicks(this.base.rel, rel) > 0) {
      this.base = { absMs: this.base.absMs + relativeDeltaTicks(this.base.rel, rel) / TICKS_PER_MS, rel };
    }
    return t;
  }

  /** A measurement's own time stamp; `near` (the reply's time) places a time read twice. */
  absolute(abs: AbsoluteTime, near: number | null = null): number {
    return this.toEpoch(abs, near);
  }
}
