// When a reading was measured, on the gateway's clock: its age on its device's own clock, learned across deliveries
// (review rv79 M2: judged only within one delivery, an old value re-sent alone counted as just measured).
import { describe, expect, it } from 'vitest';
import { MDC } from './mdc.js';
import { numeric, s } from '../alarms/fixtures.js';
import type { NumericReading } from './reading.js';
import { CLOCK_FORGET_AFTER_MS, CLOCK_SLACK_MS, CLOCK_STEP_SPAN_MS, DeviceClocks } from './measured.js';

const MIN = 60;
/** A reading received at gateway second `atS`, with device time `deviceS` (seconds on the fixtures' scale). */
const at = (mdc: Parameters<typeof numeric>[0], atS: number, deviceS: number, opts: Parameters<typeof numeric>[3] = {}): NumericReading => ({
  ...numeric(mdc, 1, atS, opts),
  deviceTime: s(deviceS),
});
/** Age in seconds of each reading of a delivery, as judged with what `clocks` learned so far. */
const ages = (clocks: DeviceClocks, events: NumericReading[]) => {
  const measuredAt = clocks.delivery(events);
  return events.map((e) => (e.receivedAt - measuredAt(e)) / 1000);
};

describe('DeviceClocks', () => {
  it('an old value re-sent alone keeps its true age, also when re-sent every minute (rv79 M2, probe P4)', () => {
    const c = new DeviceClocks();
    // The device's clock runs 2 h behind the gateway's: that alone must age nothing.
    const dev = (gwS: number) => gwS - 2 * 3600;
    // 09:00 (gateway second 0): the cuff measures, sent with a current HR.
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 0, dev(0)), at(MDC.PRESS_BLD_NONINV_SYS, 0, dev(0))])).toEqual([0, 0]);
    // 10:00: sent with a current HR, its age is seen in the delivery itself.
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 60 * MIN, dev(60 * MIN)), at(MDC.PRESS_BLD_NONINV_SYS, 60 * MIN, dev(0))])).toEqual([0, 3600]);
    // The same NIBP re-sent alone, each minute to 10:30: the device's clock learned before tells its age.
    for (let m = 61; m <= 90; m++) expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, m * MIN, dev(0))])).toEqual([m * MIN]);
    // Re-sent alone every second for 10 min: that is no clock of its own; still aged.
    for (let t = 90 * MIN + 1; t <= 100 * MIN; t++) expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, t, dev(0))])).toEqual([t]);
    // Current readings are still current.
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 100 * MIN + 1, dev(100 * MIN + 1))])).toEqual([0]);
  });

  it('a value re-sent alone soon after its measurement: judged by its delivery within CLOCK_SLACK_MS, exactly after', () => {
    const c = new DeviceClocks();
    ages(c, [at(MDC.ECG_HEART_RATE, 0, 0), at(MDC.PRESS_BLD_NONINV_SYS, 0, 0)]);
    for (let t = 10; t <= 600; t += 10) {
      const [age] = ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, t, 0)]);
      // Within the slack (device times in whole minutes, delays) alone it cannot be told from current.
      expect(age).toBe(t * 1000 > CLOCK_SLACK_MS ? t : 0);
    }
  });

  it('a device clock stepped back (NTP, DST): its new measurements are current within seconds (review rv83 H1)', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 600; t++) expect(ages(c, [at(MDC.ECG_HEART_RATE, t, t)])).toEqual([0]);
    // At 600 s the device's clock goes back 1 h; one HR a second. Aged on the old clock until the new offset has held,
    // at the gateway's pace, across CLOCK_STEP_SPAN_MS (5 s), then measured now (aged for 5 min, they were dropped
    // by NEWS2 and the display against the values from before the step, which stayed "measured").
    for (let t = 600; t < 1200; t++) expect(ages(c, [at(MDC.ECG_HEART_RATE, t, t - 3600)])).toEqual([t < 600 + CLOCK_STEP_SPAN_MS / 1000 ? 3600 : 0]);
    // Once the step is believed, the new clock ages a value re-sent alone: an NIBP measured at 1000 s, re-sent at 1300 s.
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 1000, 1000 - 3600), at(MDC.PRESS_BLD_NONINV_SYS, 1000, 1000 - 3600)])).toEqual([0, 0]);
    expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, 1300, 1000 - 3600)])).toEqual([300]);
  });

  it('after a step back, a value re-sent with a current reading is aged by its delivery; a backlog stays old', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 600; t++) ages(c, [at(MDC.ECG_HEART_RATE, t, t)]);
    // Clock back 1 h at 600 s, believed by 610 s; an NIBP taken at 650 s, then re-sent with each HR (as a monitor
    // does): its true age, not an hour more.
    for (let t = 600; t <= 610; t += 5) ages(c, [at(MDC.ECG_HEART_RATE, t, t - 3600)]);
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 650, 650 - 3600), at(MDC.PRESS_BLD_NONINV_SYS, 650, 650 - 3600)])).toEqual([0, 0]);
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 800, 800 - 3600), at(MDC.PRESS_BLD_NONINV_SYS, 800, 650 - 3600)])).toEqual([0, 150]);
    // A backlog (ingest marks it out of order) is judged on the clock: old, however new its device time to the metric
    // (30 min before the device's now, on its new clock).
    const backlog = { ...at(MDC.PRESS_BLD_NONINV_SYS, 810, 810 - 3600 - 1800), outOfOrder: true as const };
    expect(ages(c, [backlog])[0]).toBeGreaterThanOrEqual(1800);
  });

  it('a step back is believed while an old value is re-sent alone between the current readings', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 600; t++) ages(c, [at(MDC.ECG_HEART_RATE, t, t), ...(t === 0 ? [at(MDC.PRESS_BLD_NONINV_SYS, 0, 0)] : [])]);
    for (let t = 600; t < 1500; t++) {
      expect(ages(c, [at(MDC.ECG_HEART_RATE, t, t - 3600)])).toEqual([t < 600 + CLOCK_STEP_SPAN_MS / 1000 ? 3600 : 0]);
      // Every 20 s, the NIBP measured at 0 s (old clock) re-sent alone.
      if (t % 20 === 0) ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, t, 0)]);
    }
    // The step was believed all the same: an NIBP measured on the new clock and re-sent alone ages by it.
    ages(c, [at(MDC.ECG_HEART_RATE, 1500, 1500 - 3600), at(MDC.PRESS_BLD_NONINV_SYS, 1500, 1500 - 3600)]);
    expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, 1800, 1500 - 3600)])).toEqual([300]);
  });

  it('a backlog flushed in order after an outage is aged on the learned clock, never current (review rv84 H1)', () => {
    for (const gap of [0.01, 1]) {
      const c = new DeviceClocks();
      for (let t = 0; t < 600; t++) ages(c, [at(MDC.ECG_HEART_RATE, t, t), at(MDC.RESP_RATE, t, t)]);
      // Link down 600..2400 s; the monitor queued a message every 10 s to device time 900, flushed in order at 2400 s
      // (all at once, or one a second): each device time is new to its metric, none goes back (ingest marks none).
      let rx = 2400;
      for (let dt = 600; dt <= 900; dt += 10, rx += gap) {
        const got = ages(c, [at(MDC.ECG_HEART_RATE, rx, dt), at(MDC.RESP_RATE, rx, dt)]);
        for (const age of got) expect(age).toBeCloseTo(rx - dt, 6);
      }
    }
  });

  it('after an agent restart, an old value re-sent alone is aged on the clock learned from other metrics (review rv84 M1)', () => {
    const c = new DeviceClocks();
    // A fresh DeviceClocks (restart): HR each second; an NIBP measured 2 h before re-sent alone every 120 s. Its device
    // time is new to the clocks, yet 2 h behind the clock the HR gives: aged, also the first time.
    for (let t = 0; t <= 600; t++) {
      ages(c, [at(MDC.ECG_HEART_RATE, t, t)]);
      if (t % 120 === 60) expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, t, -7200)])).toEqual([t + 7200]);
    }
  });

  it('a step back is established within seconds: a value measured after it and re-sent alone ages on the new clock', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 600; t += 5) ages(c, [at(MDC.ECG_HEART_RATE, t, t)]);
    // Clock back 1 h at 600 s, a delivery each 5 s: three at the new offset spanning 10 s establish it.
    for (let t = 600; t <= 610; t += 5) ages(c, [at(MDC.ECG_HEART_RATE, t, t - 3600)]);
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 615, 615 - 3600), at(MDC.PRESS_BLD_NONINV_SYS, 615, 615 - 3600)])).toEqual([0, 0]);
    // Re-sent alone 3 min later (before, the old clock still held for 5 min: aged 1 h 3 min).
    expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, 795, 615 - 3600)])).toEqual([180]);
  });

  it('a device clock stepped forward: its readings are current at once; values measured before it are never younger', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 600; t++) ages(c, [at(MDC.ECG_HEART_RATE, t, t), ...(t === 300 ? [at(MDC.PRESS_BLD_NONINV_SYS, 300, 300)] : [])]);
    for (let t = 600; t < 1200; t++) {
      // Clock 1 h ahead from 600 s; the NIBP measured at 300 s (before the step) re-sent alone each 10 s: its true
      // age until the step is believed (5 s), then older by the step (no telling; old is the safe side).
      expect(ages(c, [at(MDC.ECG_HEART_RATE, t, t + 3600)])).toEqual([0]);
      if (t % 10 === 0) expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, t, 300)])).toEqual([t === 600 ? t - 300 : t - 300 + 3600]);
    }
    // Once the step is believed, values measured on the new clock age by it.
    ages(c, [at(MDC.ECG_HEART_RATE, 1000, 1000 + 3600), at(MDC.PRESS_BLD_NONINV_SYS, 1000, 1000 + 3600)]);
    expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, 1300, 1000 + 3600)])).toEqual([300]);
  });

  it('one device time set far wrong (year 2099) does not age the readings after it', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 60; t++) ages(c, [at(MDC.ECG_HEART_RATE, t, t)]);
    const y2099 = (Date.UTC(2099, 0, 1) - s(0)) / 1000;
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 60, y2099)])).toEqual([0]);
    for (let t = 61; t < 400; t++) expect(ages(c, [at(MDC.ECG_HEART_RATE, t, t)])).toEqual([0]);
  });

  it('delivery delays and device times in whole minutes do not age current readings', () => {
    const c = new DeviceClocks();
    for (let t = 0; t < 600; t += 5) {
      const delay = (t * 7) % 13; // 0-12 s in transit
      const minute = Math.floor(t / 60) * 60; // an HL7 sender giving minutes only
      expect(ages(c, [at(MDC.ECG_HEART_RATE, t + delay, minute, { deviceId: 'hl7' }), at(MDC.ECG_HEART_RATE, t + delay, t, { deviceId: 'mon' })])).toEqual([0, 0]);
    }
  });

  it('a reading without a device time is measured when received; clocks are per device and bed', () => {
    const c = new DeviceClocks();
    ages(c, [at(MDC.ECG_HEART_RATE, 0, 0), at(MDC.PRESS_BLD_NONINV_SYS, 0, 0)]);
    expect(ages(c, [numeric(MDC.PRESS_BLD_NONINV_SYS, 1, 3600)])).toEqual([0]);
    // Another bed of the same device (a central station) and another device: their own clocks, learned from them.
    expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, 3600, 0, { bed: 'bed-2' }), at(MDC.PRESS_BLD_NONINV_SYS, 3600, 0, { deviceId: 'mon-2' })])).toEqual([0, 0]);
    expect(ages(c, [at(MDC.PRESS_BLD_NONINV_SYS, 3600, 0)])).toEqual([3600]);
  });

  it('clocks are bounded in number and forgotten when their device is silent for CLOCK_FORGET_AFTER_MS', () => {
    const c = new DeviceClocks(3);
    for (const d of ['a', 'b', 'c', 'd']) ages(c, [at(MDC.ECG_HEART_RATE, 0, 0, { deviceId: d })]);
    expect(c.size).toBe(3);
    // 'a', the least recently heard from, was forgotten: its next value is judged on its own.
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 600, 0, { deviceId: 'a' })])).toEqual([0]);
    expect(ages(c, [at(MDC.ECG_HEART_RATE, 600, 0, { deviceId: 'd' })])).toEqual([600]);
    // Silent past CLOCK_FORGET_AFTER_MS: forgotten (and swept, whoever delivers next).
    const later = 600 + CLOCK_FORGET_AFTER_MS / 1000 + 1;
    expect(ages(c, [at(MDC.ECG_HEART_RATE, later, later, { deviceId: 'e' })])).toEqual([0]);
    expect(c.size).toBe(1);
  });
});
