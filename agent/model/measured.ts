// When a reading was measured, on the gateway's clock. A device may re-send a value with the time it was measured
// (a blood pressure repeated in every message with the time the cuff took it): its receipt time would make it look
// current. Its age is read on the device's own clock, against the newest time the device sent with it, so that a
// device clock set wrong does not age its readings.
import type { DriverEvent, NumericReading } from './reading.js';

/** The newest device time among each device's numerics here, by `device|bed`: the device's "now" on its own clock. */
export function newestDeviceTimes(events: readonly DriverEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) {
    if (e.kind !== 'numeric' || e.deviceTime === null || e.outOfOrder) continue;
    const k = `${e.deviceId}|${e.bed ?? ''}`;
    const t = out.get(k);
    if (t === undefined || e.deviceTime > t) out.set(k, e.deviceTime);
  }
  return out;
}

/** Its receipt, less how far its device time is behind the newest its device sent with it (newestDeviceTimes). */
export function measuredAt(r: NumericReading, newest: ReadonlyMap<string, number>): number {
  if (r.deviceTime === null) return r.receivedAt;
  const n = newest.get(`${r.deviceId}|${r.bed ?? ''}`);
  return n === undefined ? r.receivedAt : r.receivedAt - Math.max(0, n - r.deviceTime);
}
