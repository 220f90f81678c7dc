// What --check and the start say of a driver's devices against alarms.devices (review rv120): a device polled less
// often than its "no data" time (M2), a configured bed other than the one the device's own driver names (M6), and a
// replay put on a bed a real monitor serves (M7).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../drivers/registry.js';
import { testConfig } from '../../test/support/agent-config.js';
import { tempDir } from '../../test/support/agent-process.js';
import { PACKAGE_ROOT } from '../paths.js';
import { configWarnings } from './check.js';

const warnings = (overrides: Record<string, unknown>) => configWarnings(testConfig(tempDir(), overrides), registry);
/** The warnings about the drivers' entries and alarms.devices (not the display's, the model's, serial paths'…). */
const about = (overrides: Record<string, unknown>, what: RegExp) => warnings(overrides).filter((w) => what.test(w.path) && !/does not exist|character device/.test(w.message));
const polls = (overrides: Record<string, unknown>) => about(overrides, /pollIntervalMs$/);

const spo2 = { name: 'spo2', table: 'holding', address: 0, type: 'uint16', mdc: 'MDC_PULS_OXIM_SAT_O2', unit: '%' };
const modbus = (device: Record<string, unknown>) => ({ name: 'gas', type: 'modbus', options: { buses: [{ id: 'b', transport: 'tcp', host: '10.0.0.9', devices: [{ id: 'pox-1', unitId: 1, points: [spo2], ...device }] }] } });
const medibus = (options: Record<string, unknown>) => ({ name: 'vent', type: 'medibus', options: { id: 'v-1', path: '/dev/ttyMB1', ...options } });
const intellivue = (options: Record<string, unknown>) => ({ name: 'iv7', type: 'intellivue', options: { id: 'mon-7', path: '/dev/ttyIV7', bed: 'ICU-07', ...options } });
const slowIntellivue = { pollIntervalMs: 60000, quietReassociateMs: 120000, waves: { requestPeriodMs: 120000 } };

describe('a device polled less often than its "no data" time (review rv120 M2)', () => {
  it('Modbus, Medibus, IntelliVue polled every 60 s with the default 30 s: warned, naming the poll option and alarms.devices.<id>.silentAfterS', () => {
    expect(polls({ drivers: [modbus({ pollIntervalMs: 60000 })] })).toEqual([
      {
        path: 'drivers[0].options.buses[0].devices[0].pollIntervalMs',
        message: expect.stringMatching(/^device "pox-1" is polled every 60 s, not more often than its "no data" time of 30 s \(alarms\.devices\.pox-1\.silentAfterS, from alarms\.silentAfterS\): .*; poll it more often, or set alarms\.devices\.pox-1\.silentAfterS above 60$/),
      },
    ]);
    expect(polls({ drivers: [medibus({ pollIntervalMs: 60000 })] })).toEqual([{ path: 'drivers[0].options.pollIntervalMs', message: expect.stringMatching(/^device "v-1" is polled every 60 s/) }]);
    expect(polls({ drivers: [intellivue(slowIntellivue)] })).toEqual([{ path: 'drivers[0].options.pollIntervalMs', message: expect.stringMatching(/^device "mon-7" is polled every 60 s/) }]);
  });

  it('at the "no data" time itself: warned; below it, or with a silentAfterS above the period: not', () => {
    expect(polls({ drivers: [modbus({ pollIntervalMs: 30000 })] }).map((w) => w.path)).toEqual(['drivers[0].options.buses[0].devices[0].pollIntervalMs']);
    expect(polls({ drivers: [modbus({ pollIntervalMs: 29000 })] })).toEqual([]);
    expect(polls({ drivers: [modbus({ pollIntervalMs: 60000 })], alarms: { devices: { 'pox-1': { silentAfterS: 90 } } } })).toEqual([]);
    // A silentAfterS set, but still too short: named as set, not as the default.
    expect(polls({ drivers: [modbus({ pollIntervalMs: 60000 })], alarms: { devices: { 'pox-1': { silentAfterS: 45 } } } })).toEqual([
      { path: 'drivers[0].options.buses[0].devices[0].pollIntervalMs', message: expect.stringMatching(/its "no data" time of 45 s \(alarms\.devices\.pox-1\.silentAfterS\): /) },
    ]);
  });

  it('Modbus: judged on the device\'s most often read value; a slow value beside quick ones is not warned', () => {
    const slowPoint = { ...spo2, name: 'slow', address: 1, pollIntervalMs: 60000 };
    expect(polls({ drivers: [modbus({ points: [spo2, slowPoint] })] })).toEqual([]);
    // Every value read slowly, each by its own interval: named on the value read most often.
    expect(polls({ drivers: [modbus({ points: [{ ...spo2, pollIntervalMs: 90000 }, slowPoint] })] })).toEqual([
      { path: 'drivers[0].options.buses[0].devices[0].points[1].pollIntervalMs', message: expect.stringMatching(/^device "pox-1" is polled every 60 s/) },
    ]);
  });

  it('not when another host polls (Medibus, IntelliVue listen-only), nor for IntelliVue extended numerics (sent about every second), nor a driver switched off', () => {
    expect(polls({ drivers: [medibus({ pollIntervalMs: 60000, listenOnly: true })] })).toEqual([]);
    expect(polls({ drivers: [intellivue({ ...slowIntellivue, listenOnly: true })] })).toEqual([]);
    expect(polls({ drivers: [intellivue({ ...slowIntellivue, numerics: 'extended' })] })).toEqual([]);
    expect(polls({ drivers: [{ ...medibus({ pollIntervalMs: 60000 }), enabled: false }, intellivue({})] })).toEqual([]);
  });
});

describe('alarms.devices.<id>.bed other than the bed the device\'s driver names (review rv120 M6)', () => {
  const beds = (overrides: Record<string, unknown>) => about(overrides, /^alarms\.devices\./);

  it('IntelliVue on ICU-07, configured on ICU-08: warned, naming both', () => {
    expect(beds({ drivers: [intellivue({})], alarms: { devices: { 'mon-7': { bed: 'ICU-08', silentAfterS: 30 } } } })).toEqual([
      {
        path: 'alarms.devices.mon-7.bed',
        message: expect.stringMatching(/^"ICU-08" is not the bed "ICU-07" that drivers\[0\]\.options\.bed \(driver "iv7"\) names for device "mon-7": /),
      },
    ]);
  });

  it('Modbus, Medibus, simulator and wfdb-replay devices: each judged against its own bed', () => {
    const record = join(PACKAGE_ROOT, 'models', 'fixtures', 'records', 'v100s');
    const drivers = [
      modbus({ bed: 'ICU-09' }),
      medibus({ bed: 'ICU-10' }),
      { name: 'sim', type: 'simulator', options: { beds: 2, bedPrefix: 'SIM-' } },
      { name: 'replay', type: 'wfdb-replay', options: { record, bed: 'DEMO-1' } },
    ];
    const devices = { 'pox-1': { bed: 'ICU-10' }, 'v-1': { bed: 'ICU-10' }, 'sim-monitor-02': { bed: 'SIM-01' }, 'wfdb-v100s': { bed: 'DEMO-2' } };
    expect(beds({ drivers, alarms: { devices } })).toEqual([
      { path: 'alarms.devices.pox-1.bed', message: expect.stringMatching(/^"ICU-10" is not the bed "ICU-09" that drivers\[0\]\.options\.buses\[0\]\.devices\[0\]\.bed \(driver "gas"\)/) },
      { path: 'alarms.devices.sim-monitor-02.bed', message: expect.stringMatching(/^"SIM-01" is not the bed "SIM-02" that drivers\[2\]\.options\.bedPrefix \(driver "sim"\)/) },
      { path: 'alarms.devices.wfdb-v100s.bed', message: expect.stringMatching(/^"DEMO-2" is not the bed "DEMO-1" that drivers\[3\]\.options\.bed \(driver "replay"\)/) },
    ]);
  });

  it('the same bed, or a device whose driver names none (what the field is for): no warning', () => {
    expect(beds({ drivers: [intellivue({})], alarms: { devices: { 'mon-7': { bed: 'ICU-07' } } } })).toEqual([]);
    expect(beds({ drivers: [medibus({})], alarms: { devices: { 'v-1': { bed: 'ICU-10' } } } })).toEqual([]);
  });
});

describe('a wfdb-replay on a bed a real monitor serves (review rv120 M7)', () => {
  const record = join(PACKAGE_ROOT, 'models', 'fixtures', 'records', 'v100s');

  it('warned as a simulator on that bed is; a replay on a bed of its own, or on none, is not', () => {
    const replay = (options: Record<string, unknown>) => ({ name: 'demo', type: 'wfdb-replay', options: { record, ...options } });
    expect(about({ drivers: [intellivue({}), replay({ bed: 'ICU-07' })] }, /^drivers\[1\]/)).toEqual([
      { path: 'drivers[1].options.bed', message: expect.stringMatching(/^bed "ICU-07" already has its monitor from driver "iv7": /) },
    ]);
    expect(about({ drivers: [intellivue({}), replay({ bed: 'DEMO-1' })] }, /^drivers/)).toEqual([]);
    expect(about({ drivers: [replay({}), { ...replay({ deviceId: 'r-2' }), name: 'demo2' }] }, /^drivers/)).toEqual([]);
  });
});
