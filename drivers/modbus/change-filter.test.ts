// reportOnChange / deadband pass on a change of quality at once, reasons included: "no breath detected" becoming
// "sensor off" is a different technical alarm (agent/alarms/technical.ts), not a detail for the next heartbeat.
import { describe, expect, it } from 'vitest';
import { ChangeFilter } from './change-filter.js';
import { DeviceRunner } from './device.js';
import { buildPlan } from './plan.js';

describe('modbus change filter and quality reasons', () => {
  it('same state, other reasons: reported at once; unchanged quality and value still held until the heartbeat', () => {
    const f = new ChangeFilter({ reportOnChange: true, heartbeatMs: 5000 });
    expect(f.accept(null, { state: 'unavailable', reasons: ['no-breath-detected'] }, 0)).toBe(true);
    expect(f.accept(null, { state: 'unavailable', reasons: ['no-breath-detected'] }, 1000)).toBe(false);
    expect(f.accept(null, { state: 'unavailable', reasons: ['sensor-off'] }, 2000)).toBe(true);
    expect(f.accept(null, { state: 'unavailable', reasons: ['sensor-off'] }, 3000)).toBe(false);
    expect(f.accept(null, { state: 'unavailable', reasons: ['sensor-off'] }, 7000)).toBe(true); // heartbeat
    // Reasons compared as a set: the same reasons in another order are no change.
    const g = new ChangeFilter({ reportOnChange: true, heartbeatMs: 5000 });
    expect(g.accept(1, { state: 'questionable', reasons: ['a', 'b'] }, 0)).toBe(true);
    expect(g.accept(1, { state: 'questionable', reasons: ['b', 'a'] }, 1000)).toBe(false);
  });

  it('deadband: a questionable value whose reason changes is reported though the value stays inside the band', () => {
    const f = new ChangeFilter({ deadband: 1, reportOnChange: false, heartbeatMs: 5000 });
    expect(f.accept(40, { state: 'questionable', reasons: ['out-of-range'] }, 0)).toBe(true);
    expect(f.accept(40.5, { state: 'questionable', reasons: ['out-of-range'] }, 1000)).toBe(false);
    expect(f.accept(40.5, { state: 'questionable', reasons: ['calibrating'] }, 2000)).toBe(true);
    expect(f.accept(40.5, { state: 'valid' }, 3000)).toBe(true);
    expect(f.accept(40.6, { state: 'valid' }, 4000)).toBe(false);
  });

  it('a device whose etCO2 goes from "no breath detected" to "sensor off" (same quality) is reported at the next poll', () => {
    const plan = buildPlan({
      buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'cap', unitId: 1, points: [{
        name: 'etco2', table: 'holding', address: 0, type: 'int16', reportOnChange: true,
        sentinels: [{ value: -1, quality: 'unavailable', reason: 'no-breath-detected' }, { value: -2, quality: 'unavailable', reason: 'sensor-off' }],
      }] }] }],
    });
    const device = plan.buses[0]!.devices[0]!;
    const dev = new DeviceRunner(device, { source: 's', offlineAfterFailures: 3, backoff: { initialMs: 1000, maxMs: 30_000 } }, 0);
    const read = device.groups[0]!;
    const reasons = (raw: number, t: number) =>
      dev.succeeded(read, [raw & 0xffff], t).events.flatMap((e) => (e.kind === 'numeric' ? [e.quality.reasons ?? []] : []));
    expect(reasons(-1, 0)).toEqual([['no-breath-detected']]);
    expect(reasons(-1, 1000)).toEqual([]);
    expect(reasons(-2, 2000)).toEqual([['sensor-off']]);
    expect(reasons(-2, 3000)).toEqual([]);
    expect(reasons(-1, 4000)).toEqual([['no-breath-detected']]);
  });
});
