// Device time from the monitor's relative time: it must keep running forward over a long session whose replies
// carry no absolute time (the 32-bit counter of 1/8 ms ticks wraps every 6.2 days); and the monitor's zone-less clock
// read in the gateway zone across the hour repeated when daylight saving ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClock } from './clock.js';
import { TICKS_PER_MS, epochToAbsoluteTime } from './protocol/index.js';

describe('IntelliVue device clock', () => {
  it('keeps time running forward past 2^31 ticks (74.6 h) and past the counter wrap, one reply a minute', () => {
    const clock = new DeviceClock(0);
    const start = Date.UTC(2025, 2, 1, 12, 0, 0);
    const rel0 = 0xf000_0000; // near the wrap, so both the 2^31 distance and the wrap are crossed
    clock.setBase({ year: 2025, month: 3, day: 1, hour: 12, minute: 0, second: 0 }, rel0);
    for (let min = 1; min <= 8 * 24 * 60; min++) {
      const ms = min * 60_000;
      const rel = (rel0 + ms * TICKS_PER_MS) >>> 0;
      const t = clock.replyTime(null, rel, start + ms);
      if (t !== start + ms) throw new Error(`after ${min} min: ${t === null ? null : new Date(t).toISOString()}, expected ${new Date(start + ms).toISOString()}`);
    }
    expect(clock.offsetMs).toBe(0);
  });

  it('without absolute times, a counter that restarts (monitor restart) gives no device time rather than a wrong one', () => {
    const clock = new DeviceClock(0);
    const start = Date.UTC(2025, 2, 1, 12, 0, 0);
    clock.setBase({ year: 2025, month: 3, day: 1, hour: 12, minute: 0, second: 0 }, 1000);
    const hour = 3600_000;
    for (let h = 1; h <= 80; h++) expect(clock.replyTime(null, (1000 + h * hour * TICKS_PER_MS) >>> 0, start + h * hour)).toBe(start + h * hour);
    // The monitor restarts: its counter starts again near zero.
    expect(clock.replyTime(null, 5000, start + 80 * hour + 60_000)).toBeNull();
    expect(clock.known).toBe(false);
  });
});

describe('IntelliVue device clock in the gateway zone at the autumn daylight saving change (review rv66 L3)', () => {
  const tz = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = 'Europe/Berlin';
  });
  afterAll(() => {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  });

  it('the repeated hour (02:00-03:00 twice) is read as the pass the relative time predicts: no hour early, no re-base', () => {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
    expect(new Date(Date.UTC(2026, 9, 25, 1, 30)).getHours()).toBe(2);
    const clock = new DeviceClock(null);
    const start = Date.UTC(2026, 9, 25, 0, 30); // 02:30 CEST
    let rel = 1_000_000;
    clock.setBase(epochToAbsoluteTime(start, null), rel, start);
    const wrong: string[] = [];
    for (let t = start + 1000; t < start + 3 * 3600_000; t += 1000) {
      rel = (rel + 1000 * TICKS_PER_MS) >>> 0;
      const got = clock.replyTime(epochToAbsoluteTime(t, null), rel, t);
      if (got !== t && wrong.length < 3) wrong.push(`${new Date(t).toISOString()}: ${got === null ? null : new Date(got).toISOString()}`);
    }
    expect(wrong).toEqual([]);
    expect(clock.rebases).toBe(0);
  });

  it('an MDS Create in the second pass is placed by the gateway clock; a measurement stamp by the reply time', () => {
    const clock = new DeviceClock(null);
    const second = Date.UTC(2026, 9, 25, 1, 20); // 02:20 CET, the second 02:20 of the night
    clock.setBase(epochToAbsoluteTime(second, null), 5000, second + 400);
    expect(clock.fromRelative(5000)).toBe(second);
    expect(clock.absolute(epochToAbsoluteTime(second - 60_000, null), second)).toBe(second - 60_000);
  });
});
