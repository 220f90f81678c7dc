// Readings measured long before others of the same kind a device has already given for the same bed: a sender's
// backlog (an HL7 gateway catching up after an outage of its own, a monitor's stored trend) arriving after live data.
// They are stored and forwarded as they are (device time says when they were measured), but they are not the
// patient's current value: shown or alarmed as current, a 40-minute-old SpO2 78 replaced a live 97 and raised a NEWS2
// alarm (review rv35 §3). Ingest marks them for its listeners (display, rules, NEWS2, technical checks).
//
// Judged per device, bed and metric (a central station relaying many beds under one id has one clock per bed's
// monitor; a temperature charted with the time it was taken is not old against the SpO2 sent since; review rv36):
// a reading more than BEHIND_MS (a minute) older than the newest of its kind is out of order. A device clock that steps back (an
// NTP correction) looks the same at first; it is told from a backlog by pace: after a step, device time advances as
// fast as the readings arrive, where a backlog catching up advances faster. Readings out of order for RESET_AFTER_MS
// at the pace of the clock are believed: the newest time starts again from them. A device time ahead of its receipt
// by more than AHEAD_MS (a clock set wrong, year 2099) never becomes the newest.

/**
 * Older than the newest of its kind by more than this: out of order. Small, as it compares like with like; a clock
 * corrected back by up to this much never hides anything.
 */
export const BEHIND_MS = 60_000;
/** A device time further ahead of its receipt than this is a clock set wrong: never the newest. */
const AHEAD_MS = 5 * 60_000;
/** Out-of-order readings advancing at the clock's pace for this long: the device's clock stepped back; believed. */
export const RESET_AFTER_MS = 60_000;
/** A backlog catching up advances its device time faster than this many times the receipt time (a clock: 1). */
const CLOCK_PACE_MAX = 1.5;
/** Kinds remembered (device × bed × metric); past it the least recently heard from is forgotten. */
const MAX_KINDS = 50_000;

interface Kind {
  /** Its origin (source, device and bed), its metric, and the origin's kinds it is kept in. */
  readonly origin: string;
  readonly metric: number | string;
  readonly of: Map<number | string, Kind>;
  newest: number;
  /** The first out-of-order reading since the last in order (receipt and device time); null when the last was in order. */
  behind: { receivedAt: number; deviceTime: number } | null;
  /** Neighbours in the order kinds were last heard from in order (least recent first). */
  prev: Kind | null;
  next: Kind | null;
}

/**
 * Kinds by origin, then metric, and in a list by when they were last heard from in order: checking a reading builds no
 * key of its own (a device's readings come together, so its origin is looked up once for them), writes no map, and
 * allocates nothing. Both were a visible cost at ingest rates (~0.5 µs a reading with one map keyed by the whole kind).
 */
export class OutOfOrder {
  private readonly origins = new Map<string, Map<number | string, Kind>>();
  private kinds = 0;
  /** Least and most recently heard from in order. */
  private first: Kind | null = null;
  private last: Kind | null = null;
  /** The origin of the last check and its kinds (undefined: none yet). */
  private lastOrigin: string | null = null;
  private lastKinds: Map<number | string, Kind> | undefined;

  /** `maxKinds`: kinds remembered; past it the least recently heard from is forgotten. */
  constructor(private readonly maxKinds = MAX_KINDS) {}

  /**
   * Whether a reading of `metric` from `origin` (source, device and bed, e.g. `hl7|central|bed-1`), measured at
   * `deviceTime` and received at `receivedAt`, is out of order.
   */
  check(origin: string, metric: number | string, deviceTime: number | null, receivedAt: number): boolean {
    if (deviceTime === null || !Number.isFinite(deviceTime)) return false;
    if (origin !== this.lastOrigin) {
      this.lastOrigin = origin;
      this.lastKinds = this.origins.get(origin);
    }
    const k = this.lastKinds?.get(metric);
    if (k && deviceTime < k.newest - BEHIND_MS) {
      k.behind ??= { receivedAt, deviceTime };
      const received = receivedAt - k.behind.receivedAt;
      const measured = deviceTime - k.behind.deviceTime;
      if (received < RESET_AFTER_MS || measured > received * CLOCK_PACE_MAX) return true;
      // A minute of such readings at the clock's own pace: the device's clock stepped back; believe it from now on.
      k.newest = deviceTime;
      k.behind = null;
      return false;
    }
    if (deviceTime > receivedAt + AHEAD_MS) return false; // never the newest: it would put everything after it behind
    if (k) {
      if (deviceTime > k.newest) k.newest = deviceTime;
      k.behind = null;
      this.toLast(k);
      return false;
    }
    if (this.kinds >= this.maxKinds) this.forget(this.first!);
    let of = this.origins.get(origin);
    if (!of) {
      of = new Map();
      this.origins.set(origin, of);
    }
    this.lastOrigin = origin;
    this.lastKinds = of;
    const added: Kind = { origin, metric, of, newest: deviceTime, behind: null, prev: this.last, next: null };
    if (this.last) this.last.next = added;
    else this.first = added;
    this.last = added;
    of.set(metric, added);
    this.kinds++;
    return false;
  }

  /** Moves a kind to the end of the list: the most recently heard from. */
  private toLast(k: Kind): void {
    if (k === this.last) return;
    const { prev, next } = k;
    if (prev) prev.next = next;
    else this.first = next;
    next!.prev = prev;
    k.prev = this.last;
    k.next = null;
    this.last!.next = k;
    this.last = k;
  }

  /** Forgets the least recently heard from kind (the first), and its origin with its last kind. */
  private forget(k: Kind): void {
    this.first = k.next;
    if (this.first) this.first.prev = null;
    else this.last = null;
    k.of.delete(k.metric);
    this.kinds--;
    if (k.of.size > 0) return;
    this.origins.delete(k.origin);
    if (this.lastKinds === k.of) {
      this.lastOrigin = null;
      this.lastKinds = undefined;
    }
  }
}
