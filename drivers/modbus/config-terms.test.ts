// What a register map says about a value's meaning (MDC term, unit) and what the alarm rules can make of it
// (review rv89 H3, L1, L2): a known refid under another code is refused; terms and units the rules cannot judge are
// warned of at --check and at start.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configWarnings } from '../../agent/config/check.js';
import { MDC } from '../../agent/model/mdc.js';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { ModbusConfigError } from './errors.js';
import { modbusDriver } from './index.js';
import type { ModbusOptions, PointOptions } from './options.js';
import { buildPlan, planWarnings } from './plan.js';
import { judge } from './readings.js';

function options(...points: Array<Partial<PointOptions>>): ModbusOptions {
  return {
    buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices: [{ id: 'd', unitId: 1, points: points.map((p, i) => ({ name: `v${i}`, table: 'holding' as const, address: 10 * i, ...p })) }] }],
  };
}

function problems(o: ModbusOptions): Array<{ field: string; message: string }> {
  try {
    buildPlan(o);
  } catch (err) {
    if (err instanceof ModbusConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('MDC terms', () => {
  it('warns of {code, refid} whose refid the agent knows under another code, naming the field and both codes; not refused (a map that started before must still start)', () => {
    const spo2 = MDC.PULS_OXIM_SAT_O2;
    const wrong = options({ mdc: { code: spo2.code + 1, refid: spo2.refid }, unit: 'PERCENT' });
    expect(problems(wrong)).toEqual([]);
    const w = planWarnings(wrong);
    expect(w).toHaveLength(1);
    expect(w[0]!.field).toBe('options.buses[0].devices[0].points[0].mdc');
    expect(w[0]!.message).toContain(String(spo2.code + 1));
    expect(w[0]!.message).toContain(String(spo2.code));
    expect(w[0]!.message).toMatch(/alarm rules .* do not judge them/);
    // The right code with its refid is accepted without a word.
    expect(problems(options({ mdc: { code: spo2.code, refid: spo2.refid }, unit: 'PERCENT' }))).toEqual([]);
    expect(planWarnings(options({ mdc: { code: spo2.code, refid: spo2.refid }, unit: 'PERCENT' }))).toEqual([]);
  });

  it('warns of a {code, refid} term the agent does not know: no alarm rule judges it', () => {
    const w = planWarnings(options({ mdc: { code: 150999, refid: 'MDC_VENDOR_THING' } }, { mdc: 'MDC_PULS_OXIM_SAT_O2', unit: 'PERCENT' }));
    expect(w).toHaveLength(1);
    expect(w[0]!.field).toBe('options.buses[0].devices[0].points[0].mdc');
    expect(w[0]!.message).toMatch(/MDC_VENDOR_THING.*no alarm rule will judge it/);
  });
});

describe('units', () => {
  it('warns when an alarm rule judges the metric in a unit the value\'s unit does not convert from', () => {
    const w = planWarnings(options({ mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'psi' }, { mdc: 'MDC_PULS_OXIM_SAT_O2', unit: 'MMHG' }));
    expect(w.map((x) => x.field)).toEqual(['options.buses[0].devices[0].points[0].unit', 'options.buses[0].devices[0].points[1].unit']);
    expect(w[0]!.message).toMatch(/"psi".*nibp-sys.*mm\[Hg\]/);
    expect(w[1]!.message).toMatch(/"mm\[Hg\]".*spo2.*"%"/);
  });

  it('says nothing of units the rules convert, of values no rule judges, of settings, or of no unit at all', () => {
    expect(
      planWarnings(
        options(
          { mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'MMHG' },
          { mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'kPa' },
          { mdc: 'MDC_ECG_HEART_RATE', unit: '{beats}/min' },
          { mdc: 'MDC_PULS_OXIM_SAT_O2' },
          { mdc: 'MDC_PULS_OXIM_SAT_O2', unit: 'mL', setting: true },
          { unit: 'L/min' },
          { mdc: 'MDC_CONC_AWAY_CO2_ET', unit: 'MMHG' },
        ),
      ),
    ).toEqual([]);
  });

  it('the warnings reach --check and the start through the agent config check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'modbus-terms-'));
    const config = testConfig(dir, { drivers: [{ type: 'modbus', name: 'mb', options: options({ mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'psi' }) }] });
    const w = configWarnings(config, registry).filter((x) => x.path.startsWith('drivers['));
    expect(w.map((x) => x.path)).toEqual(['drivers[0].options.buses[0].devices[0].points[0].unit']);
    expect(modbusDriver.warnings!(options({ mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'psi' }))).toHaveLength(1);
    // Options that do not build are refused elsewhere (driverProblems), not warned of.
    expect(modbusDriver.warnings!({ buses: [] } as unknown as ModbusOptions)).toEqual([]);
  });
});

describe('slips the agent alarms (review rv97 M2)', () => {
  it('a code that is not its refid\'s and an unconvertible unit carry a short alarm text; an unknown vendor term does not', () => {
    const spo2 = MDC.PULS_OXIM_SAT_O2;
    const [mismatch] = planWarnings(options({ mdc: { code: spo2.code + 1, refid: spo2.refid }, unit: 'PERCENT' }));
    expect(mismatch!.alarm).toContain(String(spo2.code + 1));
    expect(mismatch!.alarm!.length).toBeLessThan(mismatch!.message.length);
    const [unit] = planWarnings(options({ mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'psi' }));
    expect(unit!.field).toMatch(/\.unit$/);
    expect(unit!.alarm).toMatch(/psi/);
    // Custom vendor terms are legitimate: warned of, not alarmed.
    const [vendor] = planWarnings(options({ mdc: { code: 150999, refid: 'MDC_VENDOR_THING' } }));
    expect(vendor!.message).toMatch(/MDC_VENDOR_THING/);
    expect(vendor!.alarm).toBeUndefined();
    // The factory passes them on as they are.
    expect(modbusDriver.warnings!(options({ mdc: 'MDC_PRESS_BLD_NONINV_SYS', unit: 'psi' }))[0]!.alarm).toBe(unit!.alarm);
  });
});

describe('float quality', () => {
  const point = (p: Partial<PointOptions>) => buildPlan(options({ type: 'float32', ...p })).buses[0]!.devices[0]!.groups[0]!.points[0]!.point;

  it('±Infinity (over-range) with a validRange bound on its side is that bound, questionable sn-comparator:> / :<, as HL7 ">300" (review rv176 M3)', () => {
    const pt = point({ validRange: { min: 0, max: 300 } });
    expect(judge(pt, pt.decode([0x7f80, 0]))).toEqual({ value: 300, quality: { state: 'questionable', reasons: ['sn-comparator:>'] } });
    expect(judge(pt, pt.decode([0xff80, 0]))).toEqual({ value: 0, quality: { state: 'questionable', reasons: ['sn-comparator:<'] } });
    // The direction is the scaled value's: a negative scale turns +Infinity into a value below the range.
    const turned = point({ scale: -1, validRange: { min: -50, max: 50 } });
    expect(judge(turned, turned.decode([0x7f80, 0]))).toEqual({ value: -50, quality: { state: 'questionable', reasons: ['sn-comparator:<'] } });
  });

  it('±Infinity without a bound on its side is invalid, saying which way (over-range, under-range); NaN keeps not-a-number', () => {
    const pt = point({});
    expect(judge(pt, pt.decode([0x7f80, 0]))).toEqual({ value: null, quality: { state: 'invalid', reasons: ['over-range'] } });
    expect(judge(pt, pt.decode([0xff80, 0]))).toEqual({ value: null, quality: { state: 'invalid', reasons: ['under-range'] } });
    expect(judge(pt, pt.decode([0x7fc0, 0]))).toEqual({ value: null, quality: { state: 'invalid', reasons: ['not-a-number'] } });
    const onlyMin = point({ validRange: { min: 0 } });
    expect(judge(onlyMin, onlyMin.decode([0x7f80, 0]))).toEqual({ value: null, quality: { state: 'invalid', reasons: ['over-range'] } });
    const nanRanged = point({ validRange: { min: 0, max: 300 } });
    expect(judge(nanRanged, nanRanged.decode([0x7fc0, 0]))).toEqual({ value: null, quality: { state: 'invalid', reasons: ['not-a-number'] } });
  });
});

describe('Modicon register numbers (review rv170 L5)', () => {
  it('holding 40001, input 30005, discrete 10002: warned, naming the zero-based address; coils, and addresses outside those ranges, not', () => {
    const w = planWarnings(options({ table: 'holding', address: 40001 }, { table: 'input', address: 30005 }, { table: 'discrete', address: 10002 }));
    expect(w).toEqual([
      { field: 'options.buses[0].devices[0].points[0].address', message: expect.stringMatching(/^40001 looks like a Modicon register number for holding \(40001 is protocol address 0\): .*that register is address 0;/) },
      { field: 'options.buses[0].devices[0].points[1].address', message: expect.stringMatching(/^30005 looks like a Modicon register number for input .*address 4;/) },
      { field: 'options.buses[0].devices[0].points[2].address', message: expect.stringMatching(/^10002 looks like a Modicon register number for discrete .*address 1;/) },
    ]);
    expect(planWarnings(options({ table: 'holding', address: 40000 }, { table: 'holding', address: 50001 }, { table: 'coil', address: 10001 }, { table: 'input', address: 40001 }))).toEqual([]);
  });
});

describe('a float a limit rule judges, with no validRange bound for ±Infinity to stand for (review rv176 M3)', () => {
  it('warned at --check and start, naming validRange, the missing side and the rule; not for a full range, other types, settings, or values no rule judges', () => {
    const w = planWarnings(
      options(
        { type: 'float32', mdc: 'MDC_ECG_HEART_RATE', unit: '/min' },
        { type: 'float32', mdc: 'MDC_ECG_HEART_RATE', unit: '/min', validRange: { min: 0 } },
        { type: 'float64', mdc: 'MDC_PULS_OXIM_SAT_O2', validRange: { max: 100 } },
      ),
    );
    expect(w).toEqual([
      { field: 'options.buses[0].devices[0].points[0].validRange', message: expect.stringMatching(/^is not set: a float32 the device sends as ±Infinity .* invalid \(over-range or under-range\), not judged by the alarm rule hr,/) },
      { field: 'options.buses[0].devices[0].points[1].validRange', message: expect.stringMatching(/^has no max: a float32 the device sends as \+Infinity .* invalid \(over-range\)/) },
      { field: 'options.buses[0].devices[0].points[2].validRange', message: expect.stringMatching(/^has no min: a float64 the device sends as -Infinity .* invalid \(under-range\), not judged by the alarm rule spo2/) },
    ]);
    expect(w.every((x) => x.alarm === undefined)).toBe(true); // a choice to make, not a slip to alarm
    expect(
      planWarnings(
        options(
          { type: 'float32', mdc: 'MDC_ECG_HEART_RATE', unit: '/min', validRange: { min: 0, max: 300 } },
          { type: 'int16', mdc: 'MDC_ECG_HEART_RATE', unit: '/min' },
          { type: 'float32', mdc: 'MDC_ECG_HEART_RATE', unit: '/min', setting: true },
          { type: 'float32' },
        ),
      ),
    ).toEqual([]);
  });
});

describe('options with no effect where they are (review rv176 L3)', () => {
  it('validRange on a string, heartbeatMs with no deadband or reportOnChange, order on a coil, a discrete input or a bool: warned, naming the field; not refused', () => {
    const o = options(
      { type: 'string', length: 2, validRange: { min: 0 } },
      { heartbeatMs: 2000 },
      { heartbeatMs: 2000, reportOnChange: false },
      { table: 'coil', order: 'CDAB' },
      { table: 'discrete', order: 'BADC' },
      { type: 'bool', order: 'DCBA' },
    );
    expect(problems(o)).toEqual([]);
    expect(planWarnings(o)).toEqual([
      { field: 'options.buses[0].devices[0].points[0].validRange', message: expect.stringMatching(/^has no effect on a string value/) },
      { field: 'options.buses[0].devices[0].points[1].heartbeatMs', message: expect.stringMatching(/^has no effect without deadband or reportOnChange/) },
      { field: 'options.buses[0].devices[0].points[2].heartbeatMs', message: expect.stringMatching(/^has no effect without deadband or reportOnChange/) },
      { field: 'options.buses[0].devices[0].points[3].order', message: expect.stringMatching(/^has no effect on a coil/) },
      { field: 'options.buses[0].devices[0].points[4].order', message: expect.stringMatching(/^has no effect on a discrete input/) },
      { field: 'options.buses[0].devices[0].points[5].order', message: expect.stringMatching(/^has no effect on a bool/) },
    ]);
  });

  it('where they work, nothing: validRange on numbers and bools, heartbeatMs with a filter, order on registers', () => {
    expect(
      planWarnings(
        options(
          { type: 'int16', validRange: { min: 0 } },
          { type: 'bool', validRange: { max: 0 } },
          { heartbeatMs: 2000, deadband: 1 },
          { heartbeatMs: 2000, reportOnChange: true },
          { type: 'float32', order: 'CDAB' },
          { type: 'int16', order: 'BADC' },
        ),
      ),
    ).toEqual([]);
  });

  it('reach --check and the start through the agent config check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'modbus-no-effect-'));
    const config = testConfig(dir, { drivers: [{ type: 'modbus', name: 'mb', options: options({ table: 'coil', order: 'CDAB' }) }] });
    expect(configWarnings(config, registry).filter((x) => x.path.startsWith('drivers['))).toEqual([
      { path: 'drivers[0].options.buses[0].devices[0].points[0].order', message: expect.stringMatching(/^has no effect on a coil/) },
    ]);
  });
});
