// A heart rate mapped with the UCUM unit `1/min` (review rv143 L3): no "unit the alarm rule cannot convert" warning,
// and the reading carries the agent's one spelling, `/min`.
import { expect, it } from 'vitest';
import { buildPlan, planWarnings } from './plan.js';

const map = (unit: string) => ({
  buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: 502, devices: [{ id: 'd', unitId: 1, points: [
    { name: 'hr', table: 'holding', address: 0, type: 'uint16', mdc: 'MDC_ECG_HEART_RATE', unit },
  ] }] }],
});

it('unit 1/min on MDC_ECG_HEART_RATE: no warning, ucum /min', () => {
  expect(planWarnings(map('1/min') as never)).toEqual([]);
  expect(buildPlan(map('1/min')).buses[0]!.devices[0]!.groups[0]!.points[0]!.point.unit.ucum).toBe('/min');
  // `bpm` is another spelling of /min (review rv145 F3, agent/model/mdc.ts UNIT_SPELLINGS): judged, so not warned.
  expect(planWarnings(map('bpm') as never)).toEqual([]);
  expect(buildPlan(map('bpm')).buses[0]!.devices[0]!.groups[0]!.points[0]!.point.unit.ucum).toBe('/min');
  // Still warned: a unit the rule cannot take (Hz is not converted to /min).
  expect(planWarnings(map('Hz') as never)).toEqual([expect.objectContaining({ field: 'options.buses[0].devices[0].points[0].unit' })]);
});
