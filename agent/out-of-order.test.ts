// Which readings are a device's backlog (measured long before what it already gave), and which are not: a clock that
// stepped back, a clock set in the future, a device that gives no time.
import { describe, expect, it } from 'vitest';
import { BEHIND_MS, OutOfOrder, RESET_AFTER_MS } from './out-of-order.js';

const T = Date.UTC(2026, 11, 4, 12, 0, 0);
const MIN = 60_000;

describe('out of order', () => {
  it('a backlog interleaved with live readings is out of order for as long as it lasts; live ones never are', () => {
    const o = new OutOfOrder();
    expect(o.check('mon', T, T)).toBe(false);
    for (let s = 1; s <= 120; s++) {
      expect(o.check('mon', T - 40 * MIN + s * 1000, T + s * 1000)).toBe(true); // the backlog, 40 min old
      expect(o.check('mon', T + s * 1000, T + s * 1000 + 500)).toBe(false); // live, between its messages
    }
    // Another device is judged by its own clock.
    expect(o.check('pump', T - 40 * MIN, T)).toBe(false);
  });

  it('a cuff measured minutes before it is sent, or readings without a device time, are not', () => {
    const o = new OutOfOrder();
    o.check('mon', T, T);
    expect(o.check('mon', T - BEHIND_MS + 1000, T + 1000)).toBe(false);
    expect(o.check('mon', null, T + 2000)).toBe(false);
  });

  it('a clock that stepped back is believed once nothing but its readings came for a minute', () => {
    const o = new OutOfOrder();
    o.check('mon', T, T);
    const step = -10 * MIN;
    let s = 1;
    for (; s * 1000 < RESET_AFTER_MS + 1000; s++) {
      if (!o.check('mon', T + step + s * 1000, T + s * 1000)) break;
    }
    expect(s).toBe(RESET_AFTER_MS / 1000 + 1); // out of order from the 1st to the 60th second, then current
    expect(o.check('mon', T + step + (s + 1) * 1000, T + (s + 1) * 1000)).toBe(false);
  });

  it('a sparse device (a reading every few minutes) whose backlog comes in a burst: the burst is out of order', () => {
    const o = new OutOfOrder();
    o.check('nibp', T, T);
    for (let i = 0; i < 20; i++) expect(o.check('nibp', T - 60 * MIN + i * 15 * 1000, T + 5 * MIN + i * 100)).toBe(true);
    expect(o.check('nibp', T + 15 * MIN, T + 15 * MIN)).toBe(false);
  });

  it('a device time far ahead of its receipt (a clock set to 2099) never makes later readings look old', () => {
    const o = new OutOfOrder();
    o.check('mon', T, T);
    expect(o.check('mon', Date.UTC(2099, 0, 1), T + 1000)).toBe(false);
    expect(o.check('mon', T + 2000, T + 2000)).toBe(false);
    expect(o.check('mon', T - 40 * MIN, T + 3000)).toBe(true);
  });
});
