// Real Modbus TCP on loopback: a read that merges several values and is refused as a whole (exception 2 or 3) is
// split, so the values the device serves still arrive, and only the value at fault is reported, by name.
import { afterEach, expect, it } from 'vitest';
import { modbusDriver } from './index.js';
import type { PointOptions, Table } from './options.js';
import { RegisterBank, startTcpSimulator, type SimAnswer } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

const vitals: PointOptions[] = [
  { name: 'hr', table: 'holding', address: 0, mdc: 'MDC_ECG_HEART_RATE', unit: 'BEAT_PER_MIN' },
  { name: 'spo2', table: 'holding', address: 1, mdc: 'MDC_PULS_OXIM_SAT_O2', unit: 'PERCENT' },
];

async function start(bank: RegisterBank, points: PointOptions[], pollIntervalMs = 100) {
  const s = await startTcpSimulator(bank);
  cleanup.push(() => s.close());
  const ctx = fakeContext('modbus-split');
  const d = modbusDriver.create(
    {
      offlineAfterFailures: 2,
      backoff: { initialMs: 100, maxMs: 400 },
      buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 300, devices: [{ id: 'mon', unitId: 1, pollIntervalMs, points }] }],
    },
    ctx,
  );
  cleanup.push(() => d.stop());
  await d.start();
  return ctx;
}

const valueOf = (ctx: ReturnType<typeof fakeContext>, name: string) => ctx.readings('mon').find((r) => r.raw?.text === name)?.value;

it('a point at a register the device lacks does not take its neighbours with it, and is named', async () => {
  const bank = new RegisterBank();
  bank.setRegisters(1, 'holding', 0, [72, 97]); // register 2 does not exist: the "typo" point's
  const ctx = await start(bank, [...vitals, { name: 'typo', table: 'holding', address: 2 }]);
  await waitFor('hr and spo2', () => valueOf(ctx, 'hr') !== undefined && valueOf(ctx, 'spo2') !== undefined, 5000);
  expect(valueOf(ctx, 'hr')).toBe(72);
  expect(valueOf(ctx, 'spo2')).toBe(97);
  await waitFor('error', () => ctx.statuses('mon').some((e) => e.state === 'error'));
  const error = ctx.statuses('mon').find((e) => e.state === 'error');
  expect(error?.detail).toContain('"typo"');
  expect(error?.detail).toContain('holding 2');
  expect(error?.detail).toContain('illegal data address');
  expect(error?.detail).not.toContain('"hr"');
  // The split is logged once, naming the point at fault once it stands alone, and counted.
  expect(ctx.counter('read_splits')).toBe(1);
  expect(ctx.logs.filter((l) => String(l.msg).includes('split')).length).toBe(1);
  expect(ctx.logs.some((l) => String(l.msg).includes('"typo"'))).toBe(true);

  // The split is kept: the merged read is not tried again. Settled, a poll costs the good read, plus the failing
  // point's retries at its backoff (at most 1 per 100 ms, then per 400 ms), not a merged read and its halves each time.
  await new Promise((r) => setTimeout(r, 500));
  const before = bank.requests.get(1) ?? 0;
  const readingsBefore = ctx.readings('mon').length;
  await new Promise((r) => setTimeout(r, 2000));
  const perPoll = ((bank.requests.get(1) ?? 0) - before) / 20;
  expect(perPoll).toBeLessThanOrEqual(1.5);
  expect(ctx.counter('read_splits')).toBe(1);
  expect(ctx.readings('mon').length).toBeGreaterThan(readingsBefore); // heartbeat keeps hr/spo2 coming
  expect(ctx.statuses('mon').at(-1)?.state).toBe('error');
});

it('a device that refuses a long read (exception 3) gets its values in shorter reads, with no error left', async () => {
  // Registers 0..3 exist, but the device refuses a read of more than 2 registers, as some do below 125.
  class LimitedBank extends RegisterBank {
    override read(unitId: number, table: Table, address: number, count: number): SimAnswer {
      const answer = super.read(unitId, table, address, count);
      return count > 2 && answer.kind === 'registers' ? { kind: 'exception', code: 3 } : answer;
    }
  }
  const bank = new LimitedBank();
  bank.setRegisters(1, 'holding', 0, [72, 97, 12, 36]);
  const ctx = await start(bank, [...vitals, { name: 'rr', table: 'holding', address: 2 }, { name: 'temp', table: 'holding', address: 3 }]);
  await waitFor('all four', () => ['hr', 'spo2', 'rr', 'temp'].every((n) => valueOf(ctx, n) !== undefined), 5000);
  expect(valueOf(ctx, 'temp')).toBe(36);
  const error = ctx.statuses('mon').find((e) => e.state === 'error');
  expect(error).toBeUndefined();
  const split = ctx.logs.find((l) => String(l.msg).includes('split'));
  expect(String(split?.msg)).toContain('maxRegistersPerRead');
});
