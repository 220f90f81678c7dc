// A unit term given where a point's metric belongs (review rv114 L3): refused, naming the field.
import { describe, expect, it } from 'vitest';
import { UNITS } from '../../agent/model/mdc.js';
import { buildPlan, planWarnings } from './plan.js';

const map = (mdc: unknown, unit: unknown = 'MMHG') => ({
  buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: 502, devices: [{ id: 'd', unitId: 1, points: [
    { name: 'nibp_sys', table: 'input', address: 0, type: 'uint16', mdc, unit },
  ] }] }],
});

describe('a unit term where a metric belongs (review rv114 L3)', () => {
  it('mdc: MDC_DIM_MMHG is a configuration error naming the field', () => {
    expect(() => buildPlan(map('MDC_DIM_MMHG'))).toThrow(/points\[0\]\.mdc.*"MDC_DIM_MMHG" is a unit, not a metric/s);
  });
  it('an MDC_DIM_* refid is still a unit where a unit belongs', () => {
    const plan = buildPlan(map('MDC_PRESS_BLD_NONINV_SYS', 'MDC_DIM_MMHG'));
    expect(plan.buses[0]!.devices[0]!.groups[0]!.points[0]!.point.unit).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
  });
  it('{code, refid} of a unit term is warned of as not a metric term the agent knows (mdcByCode is metric-only)', () => {
    const o = map({ code: 266016, refid: 'MDC_DIM_MMHG' });
    buildPlan(o);
    expect(planWarnings(o as never)).toEqual([expect.objectContaining({ field: 'options.buses[0].devices[0].points[0].mdc' })]);
  });
});

describe('a unit written as text (review rv125 M2: one spelling of a unit on the wire)', () => {
  const unitOf = (unit: unknown) => buildPlan(map('MDC_PRESS_BLD_NONINV_SYS', unit)).buses[0]!.devices[0]!.groups[0]!.points[0]!.point.unit;
  it('mmHg is the agent\'s mm[Hg], with its MDC term', () => {
    expect(unitOf('mmHg')).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
  });
  it('the object form {ucum} is respelt the same way (review rv127 M2)', () => {
    expect(unitOf({ ucum: 'mmHg' } as never)).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
    expect(unitOf({ ucum: 'mmHg', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } } as never)).toEqual({ ucum: 'mm[Hg]', mdc: { code: 266016, refid: 'MDC_DIM_MMHG' } });
  });
  it('a rate spelling keeps the MDC term it names, beats or breaths (review rv127 L2); another unit is kept as written', () => {
    expect(unitOf('breaths/min')).toEqual(UNITS.RESP_PER_MIN);
    expect(unitOf('beats/min')).toEqual(UNITS.BEAT_PER_MIN);
    expect(unitOf('/min')).toEqual({ ucum: '/min' });
    expect(unitOf('kPa')).toEqual({ ucum: 'kPa', mdc: { code: 265987, refid: 'MDC_DIM_KILO_PASCAL' } });
    expect(unitOf('{drops}/min')).toEqual({ ucum: '{drops}/min' });
  });
});
