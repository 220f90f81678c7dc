// A read split after exception 2/3 (see DeviceRunner.split) is tried whole again once every part has delivered data,
// on a growing delay: a device that refused it only for a while (booting, its map not filled yet) is read in one
// request per poll again; one that always refuses it keeps the split at the cost of one request per retry delay.
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceRunner } from './device.js';
import { classify } from './faults.js';
import { modbusDriver } from './index.js';
import type { PointOptions, Table } from './options.js';
import { buildPlan } from './plan.js';
import { RegisterBank, startTcpSimulator, type SimAnswer } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

const exception = (code: number) => classify(Object.assign(new Error(`Modbus exception ${code}`), { modbusCode: code }));

function sixteen(backoff = { initialMs: 1000, maxMs: 30_000 }): DeviceRunner {
  const points = Array.from({ length: 16 }, (_, i) => ({ name: `v${i}`, table: 'holding', address: i, type: 'uint16' }));
  const plan = buildPlan({ buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'd', unitId: 1, pollIntervalMs: 1000, points }] }] });
  return new DeviceRunner(plan.buses[0]!.devices[0]!, { source: 's', offlineAfterFailures: 3, backoff }, 0);
}

/** Runs the device against `answer` on virtual time, 20 ms a request; returns the requests made, by size. */
function drive(dev: DeviceRunner, until: number, refuses: (now: number, count: number) => boolean, from = 0) {
  let now = from;
  const sizes: Array<{ at: number; count: number }> = [];
  let merges = 0;
  while (now < until) {
    const n = dev.next();
    if (n.at > now) now = n.at;
    if (now >= until) break;
    sizes.push({ at: now, count: n.group.count });
    if (refuses(now, n.group.count)) {
      if (!dev.split(n.group, exception(2), now)) dev.failed(n.group, exception(2), now);
    } else if (dev.succeeded(n.group, Array(n.group.count).fill(1), now).merged) merges++;
    now += 20;
  }
  return { sizes, merges, now };
}

describe('modbus split read merged back', () => {
  it('a read refused only while the device boots is read whole again after the retry delay (2 × backoff.maxMs)', () => {
    const dev = sixteen();
    expect(dev.readCount).toBe(1);
    const boot = drive(dev, 500, (now) => now < 300);
    expect(dev.readCount).toBe(16); // split down to single registers while booting
    // No merge before the first retry delay (60 s by default) ...
    const early = drive(dev, 59_000, () => false, boot.now);
    expect(early.merges).toBe(0);
    expect(dev.readCount).toBe(16);
    // ... then the whole read is tried, answered, and kept: one request per poll.
    const later = drive(dev, 70_000, () => false, early.now);
    expect(later.merges).toBe(1);
    expect(dev.readCount).toBe(1);
    expect(later.sizes.filter((s) => s.at > 65_000).every((s) => s.count === 16)).toBe(true);
    expect(dev.state).toBe('online');
  });

  it('a read the device always refuses whole stays split, retried once per doubling delay up to an hour', () => {
    const dev = sixteen();
    // The device takes at most 8 registers a read (as if maxRegistersPerRead were missing from the map).
    const { sizes } = drive(dev, 4 * 3_600_000, (_now, count) => count > 8);
    expect(dev.readCount).toBe(2);
    const tries = sizes.filter((s) => s.count === 16).map((s) => s.at);
    // The first try at t=0, then retries after 60, 120, 240, 480, 960, 1920, 3600, 3600, ... s.
    const gaps = tries.slice(1).map((t, i) => t - (tries[i] as number));
    expect(gaps.length).toBeGreaterThanOrEqual(6);
    expect(gaps[0]).toBeGreaterThanOrEqual(60_000);
    expect(gaps[0]).toBeLessThan(62_000);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(Math.min(2 * (gaps[i - 1] as number), 3_600_000) - 2000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(3_602_000);
    expect(tries.length).toBeLessThanOrEqual(12);
  });

  it('a point at a register the device lacks keeps its read split, and the whole read is not tried again', () => {
    // Register 5 does not exist: every read that covers it is refused.
    const missing = sixteen();
    let wholeTries = 0;
    let now = 0;
    while (now < 3_600_000) {
      const n = missing.next();
      if (n.at > now) now = n.at;
      if (n.group.count === 16) wholeTries++;
      const refused = n.group.address <= 5 && n.group.address + n.group.count > 5;
      if (refused) {
        if (!missing.split(n.group, exception(2), now)) missing.failed(n.group, exception(2), now);
      } else missing.succeeded(n.group, Array(n.group.count).fill(1), now);
      now += 20;
    }
    expect(wholeTries).toBe(1);
    expect(missing.state).toBe('error');
    expect(missing.detail).toContain('holding 5..5');
  });
});

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

it('real Modbus TCP: a device that answers "illegal data address" while it boots is read in one request per poll again', async () => {
  let booting = true;
  class BootingBank extends RegisterBank {
    override read(unitId: number, table: Table, address: number, count: number): SimAnswer {
      const answer = super.read(unitId, table, address, count);
      return booting && answer.kind === 'registers' ? { kind: 'exception', code: 2 } : answer;
    }
  }
  const bank = new BootingBank();
  bank.setRegisters(1, 'holding', 0, Array.from({ length: 16 }, (_, i) => 100 + i));
  const s = await startTcpSimulator(bank);
  cleanup.push(() => s.close());
  const ctx = fakeContext('modbus-merge');
  const points: PointOptions[] = Array.from({ length: 16 }, (_, i) => ({ name: `v${i}`, table: 'holding', address: i }));
  const d = modbusDriver.create(
    {
      offlineAfterFailures: 3,
      backoff: { initialMs: 100, maxMs: 300 }, // first merge retry after 600 ms
      buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 300, devices: [{ id: 'mon', unitId: 1, pollIntervalMs: 100, points }] }],
    },
    ctx,
  );
  cleanup.push(() => d.stop());
  await d.start();
  await waitFor('split', () => ctx.counter('read_splits') >= 15, 5000);
  booting = false;
  await waitFor('every value', () => Array.from({ length: 16 }, (_, i) => `v${i}`).every((n) => ctx.readings('mon').some((r) => r.raw?.text === n)), 5000);
  await waitFor('merged back', () => ctx.logs.some((l) => String(l.msg).includes('merged back')), 5000);
  const merged = ctx.logs.filter((l) => String(l.msg).includes('merged back'));
  expect(merged.length).toBe(1);
  expect(String(merged[0]?.msg)).toContain('holding 0..15');
  // Settled: one request per 100 ms poll (a split map costs 16).
  await new Promise((r) => setTimeout(r, 300));
  const before = bank.requests.get(1) ?? 0;
  await new Promise((r) => setTimeout(r, 1000));
  const perPoll = ((bank.requests.get(1) ?? 0) - before) / 10;
  expect(perPoll).toBeLessThanOrEqual(1.3);
  expect(ctx.statuses('mon').at(-1)?.state).toBe('online');
  expect(ctx.readings('mon').find((r) => r.raw?.text === 'v15')?.value).toBe(115);
});
