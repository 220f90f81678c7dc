// A slow metric (temperature every 4 h, NIBP spot checks every 2 h) on a device that streams HR every second
// (review rv80 H1, L1): its limit alarm stays between readings, keeps its acknowledgement, and "No X" is not raised
// for it; a metric that stops is told once per device, bed and metric, not once per rule.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from './engine.js';
import { numeric, nurse, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import type { MdcCode } from '../model/reading.js';
import type { AlarmStateChange } from './types.js';

/** HR every 5 s, `mdc` at `value` at each of `atS`, ticks every 5 s to `untilS`; limit alarms acknowledged when raised. */
function run(mdc: MdcCode, value: number, atS: number[], untilS: number, ack: boolean): { e: AlarmEngine; all: AlarmStateChange[] } {
  const e = new AlarmEngine();
  const all: AlarmStateChange[] = [];
  for (let t = 0; t <= untilS; t += 5) {
    all.push(...e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)));
    if (atS.includes(t)) all.push(...e.ingest(numeric(mdc, value, t)));
    const cs = e.tick(s(t));
    all.push(...cs);
    if (ack) for (const c of cs) if (c.change === 'raised' && c.alarm.source === 'limit') all.push(...e.acknowledge(c.alarmId, nurse, s(t)).changes);
  }
  return { e, all };
}

const H = 3600;
const limitChanges = (all: AlarmStateChange[]) => all.filter((c) => c.alarm.source === 'limit').map((c) => [c.change, (c.at - s(0)) / 1000]);
const missingRaised = (all: AlarmStateChange[]) => all.filter((c) => c.change === 'raised' && c.alarm.key.endsWith(':metric-missing'));

describe('a slow metric on a fast device (review rv80 H1)', () => {
  it('fever, TEMP 39.6 every 4 h for 12 h, acknowledged: one alarm that stays acknowledged; no "No Temp"', () => {
    const { e, all } = run(MDC.TEMP_BODY, 39.6, [0, 4 * H, 8 * H, 12 * H], 12 * H + 60, true);
    expect(limitChanges(all)).toEqual([['raised', 10], ['acknowledged', 10]]);
    expect(missingRaised(all)).toEqual([]);
    expect(e.takeMissingMetrics()).toEqual([]);
    expect(e.list().filter((a) => a.source === 'limit').map((a) => [a.condition.text, a.state, a.conditionPresent])).toEqual([['TEMP HIGH 39.6 > 39 °C', 'acknowledged', true]]);
  });

  it('NIBP 82 every 2 h for 6 h: one alarm, not ended between measurements; no "No NIBP sys"', () => {
    const { all } = run(MDC.PRESS_BLD_NONINV_SYS, 82, [0, 2 * H, 4 * H, 6 * H], 6 * H + 60, false);
    expect(limitChanges(all)).toEqual([['raised', 0]]);
    expect(missingRaised(all)).toEqual([]);
  });

  it('a slow metric whose alarm ended learns its pace when it comes back: TEMP at 0, 8 h and 16 h gives two alarms, not three', () => {
    const { e, all } = run(MDC.TEMP_BODY, 39.6, [0, 8 * H, 16 * H], 16 * H + 60, true);
    // Seen once, its pace unknown: the alarm waits 6 h (a slow metric's floor), then ends; "No Temp" is not raised.
    // The 8 h reading learns the pace (8 h), so the second alarm stands through the 16 h one.
    expect(limitChanges(all)).toEqual([['raised', 10], ['acknowledged', 10], ['resolved', 6 * H + 5], ['raised', 8 * H + 10], ['acknowledged', 8 * H + 10]]);
    expect(missingRaised(all)).toEqual([]);
    expect(e.takeMissingMetrics()).toEqual([]);
  });

  it('a fast metric seen only once that stops ends its alarm without raising "No SpO2"', () => {
    const { e, all } = run(MDC.PULS_OXIM_SAT_O2, 85, [0], 1200, false);
    expect(limitChanges(all)).toEqual([['raised', 10], ['condition-ended', 605]]);
    expect(missingRaised(all)).toEqual([]);
    expect(e.takeMissingMetrics()).toEqual([]);
  });
});

describe('alarm_metric_missing_total once per device, bed and metric (review rv80 L1)', () => {
  it('SpO2 with both its rules alarmed (SpO2 LOW and DESAT) that stops is told once', () => {
    const e = new AlarmEngine();
    for (let t = 0; t <= 20; t++) e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 75, t)), e.tick(s(t));
    expect(e.list().filter((a) => a.source === 'limit')).toHaveLength(2);
    for (let t = 21; t <= 120; t++) e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), e.tick(s(t));
    expect(e.list().filter((a) => a.source === 'limit' && a.conditionPresent)).toEqual([]);
    expect(e.takeMissingMetrics().map((m) => [m.deviceId, m.bed, m.label])).toEqual([['mon-1', 'bed-1', 'SpO2']]);
    // Back, alarmed again, and stopped again: told again, once.
    for (let t = 121; t <= 140; t++) e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), e.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 75, t)), e.tick(s(t));
    for (let t = 141; t <= 240; t++) e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t)), e.tick(s(t));
    expect(e.takeMissingMetrics()).toHaveLength(1);
  });
});
