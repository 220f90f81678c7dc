// Readings a device measured long before others it has already given: a sender's backlog (an HL7 gateway catching
// up after an outage, a monitor's stored trend) arriving after live data. They are stored and forwarded as they are
// (device time says when they were measured), but they are not the patient's current value: shown or alarmed as
// current, a 40-minute-old SpO2 78 replaced a live 97 and raised a NEWS2 alarm (review rv35 §3). Ingest marks them
// for its listeners (display, rules, NEWS2), which then leave them out.
//
// Judged per device, by the newest device time it has given: a reading more than BEHIND_MS older than that is out of
// order. A device clock that steps back (an NTP correction) looks the same for a while, so a device whose readings
// have all been out of order for RESET_AFTER_MS (none in order since) is believed: its newest time starts again. A device time
// ahead of its receipt by more than BEHIND_MS (a clock set wrong, year 2099) never becomes the newest.

/** Older than the device's newest reading by more than this: out of order (a cuff measured minutes before it is sent is not). */
export const BEHIND_MS = 5 * 60_000;
/** Only out-of-order readings from a device for this long: its clock stepped back; they are taken as current. */
export const RESET_AFTER_MS = 60_000;
/** Devices remembered; past it the least recently heard from is forgotten. */
const MAX_DEVICES = 10_000;

interface DeviceClock {
  newest: number;
  /** Gateway time of the first out-of-order reading since the last one in order; null when the last was in order. */
  behindSince: number | null;
}

export class OutOfOrder {
  private readonly devices = new Map<string, DeviceClock>();

  /** Whether a reading of `device` measured at `deviceTime` and received at `receivedAt` is out of order. */
  check(device: string, deviceTime: number | null, receivedAt: number): boolean {
    if (deviceTime === null || !Number.isFinite(deviceTime)) return false;
    const d = this.devices.get(device);
    if (d && deviceTime < d.newest - BEHIND_MS) {
      d.behindSince ??= receivedAt;
      if (receivedAt - d.behindSince < RESET_AFTER_MS) return true;
      // Nothing but such readings for a minute: the device's clock stepped back; believe it from now on.
      d.newest = deviceTime;
      d.behindSince = null;
      return false;
    }
    if (deviceTime > receivedAt + BEHIND_MS) return false; // never the newest: it would put everything after it behind
    this.devices.delete(device); // re-inserted last: the map's order is least recently heard from first
    if (this.devices.size >= MAX_DEVICES) this.devices.delete(this.devices.keys().next().value!);
    this.devices.set(device, { newest: d ? Math.max(d.newest, deviceTime) : deviceTime, behindSince: null });
    return false;
  }
}
