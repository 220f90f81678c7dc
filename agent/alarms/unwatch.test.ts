// Devices a configuration change takes from their driver (switched off live, or restarted without their id) are no
// longer watched: their technical alarms end with the reason, and their silence is no fault any more (review rv120 M1).
// Devices listed in alarms.devices stay expected, as after a restart.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from './engine.js';
import { numeric, s, status } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { DriverEvent } from '../model/reading.js';

const from = <T extends DriverEvent>(source: string, e: T): T => ({ ...e, source });
const OFF = 'driver b switched off by configuration';

/** b-1 sends HR through driver b, then its link drops ("offline"): "connection" at 10 s, "no data" at 30 s. */
function silentDevice(e: AlarmEngine, deviceId = 'b-1', bed = 'bed-1'): void {
  e.ingest(from('b', numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId, bed })));
  e.ingest(from('b', { ...status('offline', 1, deviceId, 'simulator stopped'), bed }));
}

describe('devices unwatched by a configuration change', () => {
  it('a device of a driver switched off: its "no data" and "connection" alarms end with the reason, nothing is raised later, and its state is forgotten', () => {
    const e = new AlarmEngine();
    silentDevice(e);
    e.ingest(from('a', numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: 'a-1', bed: 'bed-2' })));
    e.tick(s(40));
    expect(e.list().filter((a) => a.deviceId === 'b-1').map((a) => a.key).sort()).toEqual(['tech:b-1:connection', 'tech:b-1:no-data']);
    expect(e.deviceSources()).toEqual(expect.arrayContaining([{ deviceId: 'b-1', source: 'b' }, { deviceId: 'a-1', source: 'a' }]));

    const cs = e.unwatch(['b-1'], s(41), OFF);
    expect(cs.map((c) => [c.alarm.key, c.to, c.why]).sort()).toEqual([
      ['tech:b-1:connection', 'resolved', OFF],
      ['tech:b-1:no-data', 'resolved', OFF],
    ]);
    expect(e.list().filter((a) => a.deviceId === 'b-1')).toEqual([]);
    const later = [...e.tick(s(100)), ...e.tick(s(3600))];
    expect(later.filter((c) => c.alarm.deviceId === 'b-1')).toEqual([]);
    // Only a-1 is held now (and it alone still alarms: it is watched).
    expect(e.deviceSources()).toEqual([{ deviceId: 'a-1', source: 'a' }]);
    expect(e.stateSizes().devices).toBe(1);
    expect(e.list().map((a) => a.key)).toEqual(['tech:a-1:no-data']);
  });

  it('before its alarms are raised: none is raised afterwards', () => {
    const e = new AlarmEngine();
    silentDevice(e);
    e.tick(s(5));
    expect(e.unwatch(['b-1'], s(5), OFF)).toEqual([]);
    expect([...e.tick(s(15)), ...e.tick(s(45))]).toEqual([]);
  });

  it('a device listed in alarms.devices stays expected, as after a restart: its "connection" alarm ends (no driver reports its link now), its "no data" stays', () => {
    const e = new AlarmEngine({ technical: { ...DEFAULT_TECHNICAL_CONFIG, devices: { 'b-1': {} } } });
    silentDevice(e);
    e.tick(s(20));
    expect(e.list().map((a) => a.key)).toEqual(['tech:b-1:connection']);
    const cs = e.unwatch(['b-1'], s(21), OFF);
    expect(cs.map((c) => [c.alarm.key, c.to])).toEqual([['tech:b-1:connection', 'resolved']]);
    expect(cs[0]!.why).toMatch(/^driver b switched off by configuration; b-1 stays expected \(alarms\.devices\)/);
    const later = e.tick(s(40));
    expect(later.map((c) => [c.change, c.alarm.key])).toEqual([['raised', 'tech:b-1:no-data']]);
    expect(e.list().map((a) => a.key)).toEqual(['tech:b-1:no-data']);
  });

  it('a device with a limit alarm open: its technical alarms end, the limit alarm ends as the feed is silent (it is not held for ever)', () => {
    const e = new AlarmEngine();
    for (let t = 0; t <= 20; t += 2) e.ingest(from('b', numeric(MDC.ECG_HEART_RATE, 170, t, { deviceId: 'b-1' })));
    e.ingest(from('b', status('offline', 21, 'b-1', 'simulator stopped')));
    e.tick(s(21));
    e.tick(s(35));
    const kinds = () => e.list().filter((a) => a.source !== 'news2').map((a) => a.source).sort(); // HR 170 scores NEWS2 too
    expect(kinds()).toEqual(['limit', 'technical']);
    e.unwatch(['b-1'], s(36), OFF);
    expect(kinds()).toEqual(['limit']);
    const later = [...e.tick(s(60)), ...e.tick(s(700))];
    expect(later.filter((c) => c.alarm.source === 'technical')).toEqual([]);
    // The limit alarm ended unconfirmed (the device is silent): unanswered, it latches until acknowledged.
    expect(e.list().filter((a) => a.source === 'limit').map((a) => [a.state, a.conditionPresent])).toEqual([['latched', false]]);
  });

  it('an unwatched device that sends again (its driver switched on again) is watched again', () => {
    const e = new AlarmEngine();
    silentDevice(e);
    e.tick(s(40));
    e.unwatch(['b-1'], s(41), OFF);
    e.ingest(from('b', numeric(MDC.ECG_HEART_RATE, 80, 100, { deviceId: 'b-1' })));
    const cs = e.tick(s(140));
    expect(cs.map((c) => [c.change, c.alarm.key])).toEqual([['raised', 'tech:b-1:no-data']]);
    expect(e.deviceSources()).toEqual([{ deviceId: 'b-1', source: 'b' }]);
  });

  it('a device expected from before a restart carries the driver it came through', () => {
    const e = new AlarmEngine();
    e.expectDevice('b-1', s(0), 'bed-1', 'b');
    expect(e.deviceSources()).toEqual([{ deviceId: 'b-1', source: 'b' }]);
    e.unwatch(['b-1'], s(1), OFF);
    expect(e.tick(s(60))).toEqual([]);
  });
});
