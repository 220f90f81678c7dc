// RTU answers carry no transaction id. A unit that answers after the timeout must not have that late
// answer taken for the answer to the next request (a wrong value emitted as valid). Real serialport on
// both ends of a socat pty pair; the project's RTU simulator answers one request late.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRtuRig, type RtuRig } from './rtu-rig.js';
import { RegisterBank } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';

let rig: RtuRig | undefined;
const bank = new RegisterBank();
const ctx = fakeContext('rtu-late');
const TIMEOUT_MS = 200;

beforeAll(async () => {
  // Two reads of the same size and function, so the late answer to one fits the other exactly.
  bank.setRegisters(1, 'holding', 0, [111]);
  bank.setRegisters(1, 'holding', 10, [222]);
  rig = await startRtuRig(bank, ctx, { baudRate: 19200 }, (path) => ({
      buses: [
        {
          id: 'line',
          transport: 'rtu',
          path,
          baudRate: 19200,
          timeoutMs: TIMEOUT_MS,
          devices: [{ id: 'pump', unitId: 1, pollIntervalMs: 100, points: [{ name: 'rate', table: 'holding', address: 0 }, { name: 'vtbi', table: 'holding', address: 10 }] }],
        },
      ],
  }));
}, 15_000);

afterAll(() => rig?.close());

describe('modbus RTU late answer', () => {
  it('an answer arriving after the timeout is dropped, never emitted as another register\'s value', async () => {
    const expected: Record<string, number> = { rate: 111, vtbi: 222 };
    await waitFor('both values read', () => ['rate', 'vtbi'].every((n) => ctx.readings('pump').some((r) => r.raw?.text === n)));
    bank.delayNext(1, TIMEOUT_MS + 40); // busy: deaf to requests until it sends this late answer
    await waitFor('the late answer timed out', () => ctx.counter('timeouts') === 1);
    const after = ctx.readings('pump').length;
    await waitFor('readings continue after it', () => ctx.readings('pump').length >= after + 10);
    const wrong = ctx.readings('pump').filter((r) => r.value !== expected[r.raw?.text ?? '']);
    expect(wrong.map((r) => `${r.raw?.text}=${String(r.value)} (${r.quality.state})`)).toEqual([]);
    expect(ctx.counter('timeouts')).toBe(1);
    expect(ctx.statuses('pump').at(-1)?.state).toBe('online');
  });
});
