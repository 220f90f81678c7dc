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
  newest: number;
  /** The first out-of-order reading since the last in order (receipt and device time); null when the last was in order. */
  behind: { receivedAt: number; deviceTime: number } | null;
}

export class OutOfOrder {
  private readonly kinds = new Map<string, Kind>();

  /** Whether a reading of kind `key` (device, bed, metric) measured at `deviceTime`, received at `receivedAt`, is out of order. */
  check(key: string, deviceTime: number | null, receivedAt: number): boolean {
    if (deviceTime === null || !Number.isFinite(deviceTime)) return false;
    const k = this.kinds.get(key);
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
    this.kinds.delete(key); // re-inserted last: the map's order is least recently heard from first
    if (this.kinds.size >= MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
    this.kinds.set(key, { newest: k ? Math.max(k.newest, deviceTime) : deviceTime, behind: null });
    return false;
  }
}
