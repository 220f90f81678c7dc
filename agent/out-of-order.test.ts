// Which readings are a device's backlog (measured long before the newest of their kind it gave for the bed), and which
// are not: another bed's monitor behind the same central station, a measurement charted late, a clock that stepped
// back, a clock set in the future, a device that gives no time, a long backlog with no live data between.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BEHIND_MS, OutOfOrder, RESET_AFTER_MS } from './out-of-order.js';

const T = Date.UTC(2026, 11, 4, 12, 0, 0);
const MIN = 60_000;
/** A kind: its origin (source, device, bed) and its metric. */
const SPO2 = ['hl7|central|bed-1', 150456] as const;

describe('out of order', () => {
  it('a backlog interleaved with live readings of its kind is out of order for as long as it lasts; live ones never are', () => {
    const o = new OutOfOrder();
    expect(o.check(...SPO2, T, T)).toBe(false);
    for (let s = 1; s <= 120; s++) {
      expect(o.check(...SPO2, T - 40 * MIN + s * 1000, T + s * 1000)).toBe(true); // the backlog, 40 min old
      expect(o.check(...SPO2, T + s * 1000, T + s * 1000 + 500)).toBe(false); // live, between its messages
    }
  });

  it('a long backlog with no live data between, arriving faster than it was measured, stays out of order', () => {
    const o = new OutOfOrder();
    o.check(...SPO2, T, T);
    // 40 min of 1 s readings sent at 10 a second: 2400 readings over 240 s.
    const taken: number[] = [];
    for (let i = 0; i < 2400; i++) if (!o.check(...SPO2, T - 40 * MIN + i * 1000, T + 1000 + i * 100)) taken.push(i);
    // Only its last minute is taken: measured within BEHIND_MS of the live reading.
    expect(taken).toEqual(Array.from({ length: 60 }, (_, k) => 2340 + k));
  });

  it('another bed behind the same central station (its monitor clock 8 min slow), or another metric, is judged on its own', () => {
    const o = new OutOfOrder();
    for (let s = 0; s < 120; s++) {
      expect(o.check('hl7|central|bed-1', 150456, T + s * 1000, T + s * 1000)).toBe(false);
      expect(o.check('hl7|central|bed-2', 150456, T - 8 * MIN + s * 1000, T + s * 1000)).toBe(false);
    }
    // A temperature charted now with the time it was taken, 10 min ago: the newest temperature, not a backlog.
    expect(o.check('hl7|central|bed-1', 150364, T - 10 * MIN, T + 120_000)).toBe(false);
  });

  it('a reading less than a minute older than the newest of its kind, or one without a device time, is not', () => {
    const o = new OutOfOrder();
    o.check(...SPO2, T, T);
    expect(o.check(...SPO2, T - BEHIND_MS + 1000, T + 1000)).toBe(false);
    expect(o.check(...SPO2, null, T + 2000)).toBe(false);
  });

  it('a clock that stepped back (device time going on at the pace of the clock) is believed after a minute', () => {
    const o = new OutOfOrder();
    o.check(...SPO2, T, T);
    const step = -10 * MIN;
    let s = 1;
    for (; s * 1000 < RESET_AFTER_MS + 5000; s++) {
      if (!o.check(...SPO2, T + step + s * 1000, T + s * 1000)) break;
    }
    expect(s).toBe(RESET_AFTER_MS / 1000 + 1); // out of order from the 1st to the 60th second, then current
    expect(o.check(...SPO2, T + step + (s + 1) * 1000, T + (s + 1) * 1000)).toBe(false);
  });

  it('a device time far ahead of its receipt (a clock set to 2099) never makes later readings look old', () => {
    const o = new OutOfOrder();
    o.check(...SPO2, T, T);
    expect(o.check(...SPO2, Date.UTC(2099, 0, 1), T + 1000)).toBe(false);
    expect(o.check(...SPO2, T + 2000, T + 2000)).toBe(false);
    expect(o.check(...SPO2, T - 40 * MIN, T + 3000)).toBe(true);
  });

  it('judges as one map keyed by the whole kind did, forgetting the least recently heard from past its limit', () => {
    // The rule as first written (one map keyed `origin|metric`, re-inserted on each reading in order): a reference.
    const reference = (maxKinds: number) => {
      const kinds = new Map<string, { newest: number; behind: { receivedAt: number; deviceTime: number } | null }>();
      return (key: string, deviceTime: number | null, receivedAt: number): boolean => {
        if (deviceTime === null || !Number.isFinite(deviceTime)) return false;
        const k = kinds.get(key);
        if (k && deviceTime < k.newest - BEHIND_MS) {
          k.behind ??= { receivedAt, deviceTime };
          const received = receivedAt - k.behind.receivedAt;
          const measured = deviceTime - k.behind.deviceTime;
          if (received < RESET_AFTER_MS || measured > received * 1.5) return true;
          k.newest = deviceTime;
          k.behind = null;
          return false;
        }
        if (deviceTime > receivedAt + 5 * MIN) return false;
        kinds.delete(key);
        if (kinds.size >= maxKinds) kinds.delete(kinds.keys().next().value!);
        kinds.set(key, { newest: k ? Math.max(k.newest, deviceTime) : deviceTime, behind: null });
        return false;
      };
    };
    const reading = fc.record({
      origin: fc.constantFrom('hl7|central|bed-1', 'hl7|central|bed-2', 'sim|m1|'),
      metric: fc.constantFrom<number | string>(150456, '150456#set', 'LOCAL:HR'),
      // Device time against receipt: a live clock, a slow or stepped one, a backlog, a clock ahead, any, none.
      offset: fc.oneof(fc.constantFrom(0, -10 * MIN, -45 * MIN, 7 * MIN), fc.integer({ min: -2 * MIN, max: MIN }), fc.integer({ min: -45 * MIN, max: 10 * MIN }), fc.constant(null)),
      gap: fc.integer({ min: 0, max: 20_000 }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(reading, { minLength: 100, maxLength: 400 }), (maxKinds, readings) => {
        const o = new OutOfOrder(maxKinds);
        const ref = reference(maxKinds);
        let at = T;
        for (const r of readings) {
          at += r.gap;
          const deviceTime = r.offset === null ? null : at + r.offset;
          expect(o.check(r.origin, r.metric, deviceTime, at)).toBe(ref(`${r.origin}|${r.metric}`, deviceTime, at));
        }
      }),
      { numRuns: 500 },
    );
  });
});
