// RTU answers the driver cannot use (review rv89 H2, M1), on a real line (socat pty pair): an answer later than the
// driver waits for must never be taken for another read's values; frames from another unit, or cut short, are said
// to be so in the timeout's detail and counted, rather than reported as plain silence.
import { afterEach, describe, expect, it } from 'vitest';
import { withCrc } from './crc.js';
import { startRawRtuLine, startRtuRig } from './rtu-rig.js';
import { RegisterBank } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

/** An answer to a read-registers request, every register `value`, from unit `unit`. */
function answer(req: Buffer, value: number, unit = req[0]!): Buffer {
  const qty = req.readUInt16BE(4);
  const b = Buffer.alloc(3 + 2 * qty);
  b[0] = unit;
  b[1] = req[1]!;
  b[2] = 2 * qty;
  for (let i = 0; i < qty; i++) b.writeUInt16BE(value, 3 + 2 * i);
  return withCrc(b);
}

/** A device end of the line that answers each 8-byte request with `respond`. */
async function line(respond: (req: Buffer) => Buffer) {
  const ctx = fakeContext('rtu-unmatched');
  const rig = await startRawRtuLine(ctx, [{ name: 'v', table: 'holding', address: 0 }], (req, device) => device.write(respond(req)));
  cleanup.push(() => rig.close());
  return ctx;
}

describe('modbus RTU answers that match no request', () => {
  it('an answer more than 2 x timeoutMs late is never taken for the next read\'s values', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(1, 'holding', 0, [111]);
    bank.setRegisters(1, 'holding', 10, [222]);
    const ctx = fakeContext('rtu-very-late');
    const T = 200;
    const rig = await startRtuRig(bank, ctx, { baudRate: 19200 }, (path) => ({
      buses: [{ id: 'line', transport: 'rtu', path, baudRate: 19200, timeoutMs: T, devices: [{ id: 'pump', unitId: 1, pollIntervalMs: 100, points: [{ name: 'rate', table: 'holding', address: 0 }, { name: 'vtbi', table: 'holding', address: 10 }] }] }],
    }));
    cleanup.push(() => rig.close());
    await waitFor('both values read', () => ['rate', 'vtbi'].every((n) => ctx.readings('pump').some((r) => r.raw?.text === n)));
    bank.delayNext(1, 2 * T + 60); // busy: deaf until it sends this late answer, after the driver waited 2T
    await waitFor('the late answer timed out', () => ctx.counter('timeouts') >= 1);
    const after = ctx.readings('pump').length;
    await waitFor('readings continue after it', () => ctx.readings('pump').length >= after + 10);
    const expected: Record<string, number> = { rate: 111, vtbi: 222 };
    const wrong = ctx.readings('pump').filter((r) => r.value !== expected[r.raw?.text ?? '']);
    expect(wrong.map((r) => `${r.raw?.text}=${String(r.value)} (${r.quality.state})`)).toEqual([]);
    expect(ctx.counter('answers_dropped_after_timeout')).toBeGreaterThanOrEqual(1);
    expect(ctx.statuses('pump').at(-1)?.state).toBe('online');
  });

  it('answers from another unit: the timeout detail says bytes came, for no frame of the unit asked; counted', async () => {
    const ctx = await line((req) => answer(req, 72, 2));
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline', 5000);
    const detail = ctx.statuses('dev').at(-1)!.detail;
    expect(detail).toMatch(/no response \(timeout\): 7 bytes received, no frame for unit 1/);
    expect(ctx.counter('unmatched_bytes')).toBeGreaterThanOrEqual(14);
  });

  it('answers cut short by one byte: said and counted the same way', async () => {
    const ctx = await line((req) => answer(req, 72).subarray(0, 6));
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline', 5000);
    expect(ctx.statuses('dev').at(-1)!.detail).toMatch(/6 bytes received, no frame for unit 1/);
    expect(ctx.counter('unmatched_bytes')).toBeGreaterThanOrEqual(12);
  });
});
