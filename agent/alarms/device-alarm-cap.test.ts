// Open device alarms per device and bed: a flood threshold, never a cap that ends alarms (review rv188 H2, M1). Past
// alarms.maxOpenDeviceAlarms open on one (device, bed), one technical alarm for that device and bed says so, each alarm
// raised past it is counted and logged (rate-limited), and nothing is ended: an unanswered real alarm is never resolved
// for a flood of others (rv188 H2: a multi-bed sender ended other beds' alarms; a monitor's old ASYSTOLE went first),
// and a repeating sender does not churn (rv188 M1: each repeat re-raised an alarm ended over the cap and ended the next).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { engineConfigFromPolicy } from '../config/alarm-policy.js';
import { validateConfig } from '../config/load.js';
import { registry } from '../../drivers/registry.js';
import { AlarmEngine } from './engine.js';
import { deviceAlarm, s } from './fixtures.js';
import { AlarmService } from './service.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import type { AlarmStateChange } from './types.js';

const NO_NEWS2 = { news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } } };
const floodKey = (device: string, bed: string): string => `tech:${device}|${bed}:alarm-flood`;

function flood(e: AlarmEngine, n: number, from = 0, priority: 'high' | 'low' = 'low'): AlarmStateChange[] {
  const out: AlarmStateChange[] = [];
  for (let i = from; i < from + n; i++) out.push(...e.ingest(deviceAlarm(`f${i}`, 'start', i / 10, { deviceId: 'noisy', bed: 'bed-9', priority, text: `F${i}` })));
  return out;
}

const endedDevice = (changes: readonly AlarmStateChange[]) => changes.filter((c) => c.alarm.source === 'device' && c.to === 'resolved');

describe('open device alarms per device and bed: a flood threshold that ends nothing (review rv188 H2, M1)', () => {
  it('a central sender with 40 beds × 2 open alarms (80 on the device) ends nothing and raises no flood alarm', () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2 });
    const changes: AlarmStateChange[] = [];
    for (let b = 1; b <= 40; b++) {
      changes.push(...e.ingest(deviceAlarm(`vt-${b}`, 'start', b, { deviceId: 'central', bed: `bed-${b}`, priority: 'high', text: 'VTACH' })));
      changes.push(...e.ingest(deviceAlarm(`spo2-${b}`, 'start', b, { deviceId: 'central', bed: `bed-${b}`, priority: 'medium', text: 'SpO2 LOW' })));
    }
    expect(endedDevice(changes)).toEqual([]);
    expect(e.list().filter((a) => a.source === 'device')).toHaveLength(80);
    expect(e.list().filter((a) => a.key.endsWith(':alarm-flood'))).toEqual([]);
    expect(e.takeOverThreshold()).toEqual([]);
  });

  it("a monitor's old, unanswered ASYSTOLE survives 64 newer alarms; one flood alarm on that device and bed; the 65th counted", () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2 });
    e.ingest(deviceAlarm('asy', 'start', 0, { deviceId: 'noisy', bed: 'bed-9', priority: 'high', text: 'ASYSTOLE' }));
    const changes = flood(e, 64, 1, 'high');
    expect(endedDevice(changes)).toEqual([]);
    const asy = e.list({ bed: 'bed-9' }).find((a) => a.condition.text === 'ASYSTOLE');
    expect(asy).toMatchObject({ state: 'active', conditionPresent: true });
    expect(e.list().filter((a) => a.source === 'device')).toHaveLength(65);
    const floods = e.list().filter((a) => a.key.endsWith(':alarm-flood'));
    expect(floods).toMatchObject([{ key: floodKey('noisy', 'bed-9'), bed: 'bed-9', deviceId: 'noisy', priority: 'medium', category: 'technical', latching: false }]);
    expect(floods[0]!.condition.text).toBe('noisy has 65 open alarms on bed-9 (more than 64): check the device and its sender');
    expect(e.takeOverThreshold()).toMatchObject([{ deviceId: 'noisy', bed: 'bed-9', text: 'F64', priority: 'high', open: 65 }]);
  });

  it('a sender re-reporting its alarms above the threshold causes no churn: nothing ended, nothing raised again', () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2, maxOpenDeviceAlarms: 8 });
    const changes: AlarmStateChange[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 9; i++) changes.push(...e.ingest(deviceAlarm(`a${i}`, round === 0 ? 'start' : 'continue', round * 10 + i / 10, { deviceId: 'noisy', bed: 'bed-9', priority: 'medium', text: `A${i}` })));
      changes.push(...e.tick(s(round * 10 + 5)));
    }
    expect(changes.filter((c) => c.change === 'raised').map((c) => c.alarm.condition.text)).toEqual([
      'A0', 'A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7', 'A8', 'noisy has 9 open alarms on bed-9 (more than 8): check the device and its sender',
    ]);
    expect(changes.filter((c) => c.to === 'resolved')).toEqual([]);
    expect(e.takeOverThreshold().map((o) => o.text)).toEqual(['A8']);
  });

  it('the flood alarm is per device and bed, and ends (not latched) once that bed has fewer open than the threshold', () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2, maxOpenDeviceAlarms: 10 });
    e.ingest(deviceAlarm('hr', 'start', 0, { deviceId: 'noisy', bed: 'bed-1', priority: 'low', text: 'HR LOW' }));
    flood(e, 12);
    expect(e.list().filter((a) => a.key.endsWith(':alarm-flood')).map((a) => a.bed)).toEqual(['bed-9']);
    for (let i = 0; i < 2; i++) e.ingest(deviceAlarm(`f${i}`, 'end', 2, { deviceId: 'noisy', bed: 'bed-9', priority: 'low' }));
    // 10 open: not more than the threshold, but not under it either (no flapping at the threshold).
    expect(e.tick(s(3)).filter((c) => c.alarm.key === floodKey('noisy', 'bed-9'))).toEqual([]);
    e.ingest(deviceAlarm('f2', 'end', 4, { deviceId: 'noisy', bed: 'bed-9', priority: 'low' }));
    const ended = e.tick(s(5)).filter((c) => c.alarm.key === floodKey('noisy', 'bed-9'));
    expect(ended.map((c) => `${c.change} ${c.to} ${c.why}`)).toEqual(['resolved resolved noisy has 9 open alarm(s) on bed-9 now, under the threshold of 10']);
    expect(e.list({ bed: 'bed-1' }).map((a) => a.condition.text)).toEqual(['HR LOW']);
  });

  it('the service counts each alarm raised past it in alarm_device_alarms_over_threshold_total and logs at most once a minute', () => {
    const metrics = new Metrics();
    const lines: Array<{ msg: string; count?: number }> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
    let now = s(0);
    const service = new AlarmService(new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2, maxOpenDeviceAlarms: 10 }), () => undefined, log, metrics, () => now);
    const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => deviceAlarm(`f${from + i}`, 'start', 0, { deviceId: 'noisy', bed: 'bed-9', priority: 'low', text: `F${from + i}` }));
    service.handle(batch(0, 30));
    service.tick();
    service.handle(batch(30, 5));
    now = s(30);
    service.tick();
    expect(metrics.get('alarm_device_alarms_over_threshold_total')).toBe(25);
    const told = () => lines.filter((l) => l.msg.includes('alarms.maxOpenDeviceAlarms')).map((l) => l.count);
    expect(told()).toEqual([20]);
    now = s(61);
    service.tick();
    expect(told()).toEqual([20, 5]);
    expect(lines.find((l) => l.msg.includes('alarms.maxOpenDeviceAlarms'))!.msg).toMatch(/none is ended/);
  });

  it('alarms.maxOpenDeviceAlarms: 64 when unset, validated (8–1000), and given to the engine', () => {
    const base = { store: { path: ':memory:' }, hub: { mode: 'off' } };
    const policy = (alarms?: Record<string, unknown>) => engineConfigFromPolicy(validateConfig({ ...structuredClone(base), ...(alarms && { alarms }) }, registry, 'test').alarms);
    expect(policy().maxOpenDeviceAlarms).toBe(64);
    expect(policy({ maxOpenDeviceAlarms: 200 }).maxOpenDeviceAlarms).toBe(200);
    expect(() => policy({ maxOpenDeviceAlarms: 0 })).toThrow(/maxOpenDeviceAlarms/);
    expect(() => policy({ maxOpenDeviceAlarms: 1.5 })).toThrow(/maxOpenDeviceAlarms/);
  });
});
