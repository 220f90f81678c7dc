// Review rv185 M2: a device flooding distinct alarm ids (a sender with a new id per message and no end) kept every one
// open: memory, every tick, every bed tile and the latency of other beds grew without bound, and nothing was counted.
// Now at most maxOpenDeviceAlarms per device: the highest priority and newest are kept, the rest end with a why
// (audited), are counted (takeCapped, the service's counter and a rate-limited log line), and one technical alarm per
// device says so while it is at its cap.
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
const FLOOD_KEY = 'tech:noisy:alarm-flood';

function flood(e: AlarmEngine, n: number, from = 0): AlarmStateChange[] {
  const out: AlarmStateChange[] = [];
  for (let i = from; i < from + n; i++) out.push(...e.ingest(deviceAlarm(`f${i}`, 'start', i / 10, { deviceId: 'noisy', bed: 'bed-9', priority: 'low', text: `F${i}` })));
  return out;
}

describe('open device alarms per device are capped (review rv185 M2)', () => {
  it('keeps the highest priority and newest up to the cap, ends the rest with a why, counts them, and raises one technical alarm', () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2 });
    // A real high alarm first, then 200 low ones of a new id each.
    e.ingest(deviceAlarm('vt', 'start', 0, { deviceId: 'noisy', bed: 'bed-9', priority: 'high', text: 'VTACH' }));
    const changes = flood(e, 200, 1);
    const open = e.list().filter((a) => a.source === 'device');
    expect(open).toHaveLength(64);
    expect(open.map((a) => a.condition.text)).toContain('VTACH');
    // The newest low ones are kept: F137..F200.
    expect(open.filter((a) => a.priority === 'low').map((a) => a.condition.text).at(-1)).toBe('F138');
    const ended = changes.filter((c) => c.change === 'resolved' && c.alarm.source === 'device');
    expect(ended).toHaveLength(137);
    expect(ended[0]!.why).toBe("ended: over the device's cap of 64 open alarms (alarms.maxOpenDeviceAlarms); its highest-priority and newest are kept");
    expect(e.takeCapped()).toHaveLength(137);
    // One technical alarm for the device, raised once.
    const flooding = changes.filter((c) => c.alarm.key === FLOOD_KEY);
    expect(flooding.filter((c) => c.change === 'raised')).toHaveLength(1);
    expect(e.list({ bed: 'bed-9' }).filter((a) => a.key === FLOOD_KEY)).toMatchObject([{ priority: 'medium', category: 'technical', conditionPresent: true }]);
    expect(e.stateSizes().open).toBe(65);
  });

  it("an end of an alarm ended over the cap raises nothing; the technical alarm ends once the device is under its cap", () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2, maxOpenDeviceAlarms: 10 });
    flood(e, 15);
    expect(e.ingest(deviceAlarm('f0', 'end', 2, { deviceId: 'noisy', bed: 'bed-9', priority: 'low' }))).toEqual([]);
    for (let i = 5; i < 8; i++) e.ingest(deviceAlarm(`f${i}`, 'end', 2, { deviceId: 'noisy', bed: 'bed-9', priority: 'low' }));
    const ended = e.tick(s(3)).filter((c) => c.alarm.key === FLOOD_KEY);
    // Latching: alarms were ended that nobody saw end, so it stays until acknowledged.
    expect(ended.map((c) => `${c.change} ${c.to} ${c.why}`)).toEqual(['condition-ended latched noisy has 7 open alarm(s) now, under the cap of 10']);
  });

  it("another device's alarms are not touched", () => {
    const e = new AlarmEngine({ idPrefix: 'x', ...NO_NEWS2, maxOpenDeviceAlarms: 10 });
    e.ingest(deviceAlarm('hr', 'start', 0, { deviceId: 'mon-1', bed: 'bed-1', priority: 'low', text: 'HR LOW' }));
    flood(e, 50);
    expect(e.list({ bed: 'bed-1' }).map((a) => a.condition.text)).toEqual(['HR LOW']);
  });

  it('the service counts them in alarm_device_alarms_capped_total and logs at most once a minute', () => {
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
    expect(metrics.get('alarm_device_alarms_capped_total')).toBe(25);
    const told = lines.filter((l) => l.msg.includes('over their device\'s cap'));
    expect(told.map((l) => l.count)).toEqual([20]);
    now = s(61);
    service.tick();
    expect(lines.filter((l) => l.msg.includes('over their device\'s cap')).map((l) => l.count)).toEqual([20, 5]);
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
