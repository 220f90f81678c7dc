// What a single-device serial driver's options take (Medibus, IntelliVue): its device id and, unless it replays a
// capture, its port. The agent refuses a config where another driver takes either (agent/config/load.ts). Its bed is
// named too, for the check of per-bed alarm settings (agent/config/check.ts); a patient monitor (IntelliVue, not a
// ventilator) also claims its bed as that bed's monitor, so that two monitors on one bed are warned of (review rv91 M1).
import type { DriverClaims } from '../types.js';

type SerialDeviceOptions = { id?: string; path?: string; replay?: unknown; bed?: string };

export function serialDeviceClaims(o: SerialDeviceOptions): DriverClaims {
  return {
    deviceIds: o.id ? [{ id: o.id, field: 'options.id' }] : [],
    beds: o.bed ? [{ bed: o.bed, field: 'options.bed' }] : [],
    // A replay reads a file; `path` is then not opened.
    serialPorts: o.path && o.replay === undefined ? [{ path: o.path, field: 'options.path' }] : [],
  };
}

/** The claims of a driver that is its bed's whole patient monitor. */
export function patientMonitorClaims(o: SerialDeviceOptions): DriverClaims {
  return { ...serialDeviceClaims(o), monitorBeds: o.bed ? [{ bed: o.bed, field: 'options.bed' }] : [] };
}
