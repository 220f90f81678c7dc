// A bus that cannot keep up with its poll intervals skips the ticks it misses (no backlog), and says so: every skipped
// tick is counted (skipped_polls), the first skip logged once for the bus naming the reads, then at most one summary
// a minute. Real timers, a fake transport whose reads take a set time.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTransport, filled, until } from './fake-transport.js';
import { ModbusDriver } from './index.js';
import { buildPlan } from './plan.js';
import { fakeContext } from '../serial/testing.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

/** Two reads every 100 ms on unit 1 and one every 5 s on unit 2; each read takes `readMs`. */
function start(readMs: number) {
  let skew = 0;
  const clock = { monotonic: () => performance.now(), wall: () => Date.now() + skew };
  const plan = buildPlan({
    buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', devices: [
      { id: 'fast', unitId: 1, pollIntervalMs: 100, points: [{ name: 'a', table: 'holding', address: 0 }, { name: 'b', table: 'holding', address: 10 }] },
      { id: 'slow', unitId: 2, pollIntervalMs: 5000, points: [{ name: 'c', table: 'holding', address: 0 }] },
    ] }],
  });
  const ctx = fakeContext('overload');
  const t = new FakeTransport(async (_u, table, _a, count) => (await sleep(readMs), filled(table, count)));
  const driver = new ModbusDriver(plan, ctx, () => t, clock);
  cleanup.push(() => driver.stop());
  return { ctx, driver, skewBy: (ms: number) => (skew += ms) };
}

describe('modbus bus over capacity', () => {
  it('skipped poll ticks are counted; one warning names the bus and its reads, then a summary at most once a minute', async () => {
    const { ctx, driver, skewBy } = start(60); // 2 × 60 ms of reads due every 100 ms
    const lines = () => ctx.logs.filter((l) => l.counter === 'skipped_polls');
    await driver.start();
    await until('ticks skipped', () => ctx.counter('skipped_polls') >= 5, 3000);
    expect(lines()).toHaveLength(1);
    const first = lines()[0]!;
    expect(first).toMatchObject({ level: 40, bus: 'gw', skipped: expect.any(Number) });
    expect(first.reads).toEqual(expect.arrayContaining([expect.stringMatching(/^fast holding (0\.\.0|10\.\.10)$/)]));
    expect(first.msg).toMatch(/^modbus bus gw cannot keep up with its poll intervals: .*fast holding/);
    await sleep(500);
    expect(lines()).toHaveLength(1); // not one line per skip
    skewBy(61_000);
    await until('the summary', () => lines().length === 2, 3000);
    const summary = lines()[1]!;
    expect(summary).toMatchObject({ level: 40, bus: 'gw', skipped: expect.any(Number) });
    expect(summary.skipped as number).toBeGreaterThanOrEqual(3);
    expect(summary.msg).toMatch(/^modbus bus gw still cannot keep up: \d+ poll ticks skipped since the last line/);
    await sleep(300);
    expect(lines()).toHaveLength(2);
  });

  it('a bus that keeps up skips nothing and logs nothing about it', async () => {
    const { ctx, driver } = start(5);
    await driver.start();
    await until('reads', () => ctx.counter('polls') >= 20, 3000);
    expect(ctx.counter('skipped_polls')).toBe(0);
    expect(ctx.logs.filter((l) => l.counter === 'skipped_polls')).toEqual([]);
  });
});
