// What a single-device serial driver's options take (Medibus, IntelliVue): its device id and, unless it replays a
// capture, its port. The agent refuses a config where another driver takes either (agent/config/load.ts). Its bed is
// named too, for the check of per-bed alarm settings (agent/config/check.ts).
import type { DriverClaims } from '../types.js';

export function serialDeviceClaims(o: { id?: string; path?: string; replay?: unknown; bed?: string }): DriverClaims {
  return {
    deviceIds: o.id ? [{ id: o.id, field: 'options.id' }] : [],
    beds: o.bed ? [{ bed: o.bed, field: 'options.bed' }] : [],
    // A replay reads a file; `path` is then not opened.
    serialPorts: o.path && o.replay === undefined ? [{ path: o.path, field: 'options.path' }] : [],
  };
}
