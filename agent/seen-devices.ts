// The devices the agent has heard from, kept in the store so that after a restart it expects them again: a feed that
// does not come back after an update or a crash is then reported ('No data') like one that goes silent. HL7 senders'
// device ids are learnt from the data, not listed in the config, so without this a restart forgot them for good.
import type { DriverEvent } from './model/reading.js';

export interface SeenDevice {
  /** The driver (config entry name) it came through. */
  source: string;
  bed?: string;
  /** When it was last heard from (gateway time, ms), to the minute. */
  at: number;
}

/** Devices not heard from for this long are no longer expected after a restart (retired, moved to another ward). */
export const EXPECT_AFTER_RESTART_MS = 24 * 3600_000;
/** Last-heard times are kept to the minute: the note is written at most once a minute (at a store check), not per event. */
const GRAIN_MS = 60_000;

export class SeenDevices {
  private readonly devices = new Map<string, SeenDevice>();
  private dirty = false;

  /** The events of one commit, received at `now`. */
  note(events: readonly DriverEvent[], now: number): void {
    const at = now - (now % GRAIN_MS);
    let last = '';
    for (const e of events) {
      if (e.deviceId === last) continue; // an emit's events mostly share one device
      last = e.deviceId;
      const d = this.devices.get(e.deviceId);
      if (d && d.at === at && d.source === e.source && d.bed === e.bed) continue;
      this.devices.set(e.deviceId, { source: e.source, ...(e.bed !== undefined && { bed: e.bed }), at });
      this.dirty = true;
    }
  }

  /** The store refused the last list: offer it again. */
  markDirty(): void {
    this.dirty = true;
  }

  /** The list to store, or null when nothing changed since the last call. */
  takeChanges(now: number): string | null {
    if (!this.dirty) return null;
    this.dirty = false;
    for (const [id, d] of this.devices) if (now - d.at > EXPECT_AFTER_RESTART_MS) this.devices.delete(id);
    return JSON.stringify(Object.fromEntries(this.devices));
  }

  /**
   * The devices a previous run stored, heard from within EXPECT_AFTER_RESTART_MS and coming through a driver that is
   * still configured and enabled; they are kept as seen (so they stay expected at the next restart until they age out).
   */
  restore(stored: string | null, now: number, enabledDrivers: ReadonlySet<string>): Array<[string, SeenDevice]> {
    if (!stored) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(stored);
    } catch {
      return [];
    }
    if (!parsed || typeof parsed !== 'object') return [];
    const out: Array<[string, SeenDevice]> = [];
    for (const [id, v] of Object.entries(parsed as Record<string, unknown>)) {
      const d = v as Partial<SeenDevice>;
      if (typeof d.source !== 'string' || typeof d.at !== 'number' || (d.bed !== undefined && typeof d.bed !== 'string')) continue;
      if (now - d.at > EXPECT_AFTER_RESTART_MS || !enabledDrivers.has(d.source)) continue;
      const device: SeenDevice = { source: d.source, at: d.at, ...(d.bed !== undefined && { bed: d.bed }) };
      this.devices.set(id, device);
      out.push([id, device]);
    }
    return out;
  }
}
