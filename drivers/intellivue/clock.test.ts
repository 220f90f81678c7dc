// Device time from the monitor's relative time: it must keep running forward over a long session whose replies
// carry no absolute time (the 32-bit counter of 1/8 ms ticks wraps every 6.2 days).
import { describe, expect, it } from 'vitest';
import { DeviceClock } from './clock.js';
import { TICKS_PER_MS } from './protocol/index.js';

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
