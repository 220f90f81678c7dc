// Polling is scheduled on a monotonic clock: the wall clock stepped back (an NTP correction) or forward (the first NTP
// sync on a gateway without a real-time clock) must neither stop nor hold back polling. The wall clock only stamps
// events. Real timers, a fake transport; the wall clock is stepped both as the driver's injected wall clock and as
// Date.now (the system clock steps for everything in the process).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeTransport, filled, until } from './fake-transport.js';
import { ModbusDriver } from './index.js';
import { buildPlan } from './plan.js';
import { fakeContext } from '../serial/testing.js';

const realNow = Date.now.bind(Date);
let step = 0;
let shift = 0; // moves the monotonic clock on, for a reading of health "later" without waiting
const wall = (): number => realNow() + step;
const clock = { monotonic: () => performance.now() + shift, wall };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
  vi.restoreAllMocks();
  step = 0;
  shift = 0;
});

const device = (id: string, unitId: number) => ({ id, unitId, pollIntervalMs: 100, points: [{ name: 'hr', table: 'holding' as const, address: 0 }] });

function start(devices: Array<ReturnType<typeof device>>, transport: FakeTransport, backoff?: { initialMs: number; maxMs: number }) {
  vi.spyOn(Date, 'now').mockImplementation(wall);
  const ctx = fakeContext('clock');
  const driver = new ModbusDriver(buildPlan({ buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', devices }], ...(backoff ? { backoff } : {}) }), ctx, () => transport, clock);
  cleanup.push(() => driver.stop());
  return { ctx, driver };
}

describe('modbus polling and the wall clock', () => {
  it('a wall clock stepped back 20 s: reads go on at their interval; readings and status carry the stepped wall time', async () => {
    const t = new FakeTransport(async (_u, table, _a, count) => filled(table, count, 72));
    const { ctx, driver } = start([device('mon', 1)], t);
    await driver.start();
    await until('polling', () => t.reads.length >= 3);
    step = -20_000;
    const before = t.reads.length;
    const stepAt = wall();
    // 100 ms polling: about 10 reads a second; before the fix, none for 20 s.
    await until('reads after the step', () => t.reads.length >= before + 5, 2000);
    const after = ctx.readings('mon').filter((r) => r.receivedAt < stepAt + 10_000);
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) expect(Math.abs(r.receivedAt - wall())).toBeLessThan(5000);
    expect(driver.health().devices?.mon?.state).toBe('online');
    expect(Math.abs((driver.health().devices?.mon?.lastDataAt ?? 0) - wall())).toBeLessThan(5000);
  });

  it('a wall clock stepped forward 1 h during the first read: the other unit on the bus is read too, not held back an hour', async () => {
    let first = true;
    const t = new FakeTransport(async (_u, table, _a, count) => {
      if (first) {
        first = false;
        await sleep(50);
        step = 3_600_000; // mid-read
        await sleep(50);
      }
      return filled(table, count, 72);
    });
    const { ctx, driver } = start([device('bed1', 1), device('bed2', 2)], t);
    await driver.start();
    await until('both units read several times', () => [1, 2].every((u) => t.reads.filter((r) => r.unitId === u).length >= 5), 3000);
    expect(ctx.statuses('bed2').at(-1)?.state).toBe('online');
    // The status change is stamped with the (stepped) wall time.
    expect(Math.abs((ctx.statuses('bed2').at(-1)?.at ?? 0) - wall())).toBeLessThan(5000);
  });

  it('review rv179 L3: an offline device\'s health detail counts its next try from when health is read, floored at 0', async () => {
    const timeout = () => Promise.reject(Object.assign(new Error('Timed out'), { name: 'TransactionTimedOutError' }));
    const t = new FakeTransport(timeout);
    // Two reads (addresses far apart), both unanswered: offline after three failures, then a probe 10 s later.
    const twoReads = { ...device('mon', 1), points: [...device('mon', 1).points, { name: 'spo2', table: 'holding' as const, address: 200 }] };
    const { driver } = start([twoReads], t, { initialMs: 10_000, maxMs: 10_000 });
    await driver.start();
    const waitOf = () => Number(/next try in (\d+) ms/.exec(driver.health().devices?.mon?.detail ?? '')?.[1]);
    // Offline, the bus reconnects (TCP resync) and probes at once; that probe fails too.
    await until('offline, a probe failed', () => driver.health().devices?.mon?.state === 'offline' && waitOf() > 9000);
    shift += 6000;
    expect(waitOf()).toBeGreaterThan(3000);
    expect(waitOf()).toBeLessThanOrEqual(4000);
    shift += 20_000; // past the due probe, before it ran
    expect(waitOf()).toBe(0);
  });
});
