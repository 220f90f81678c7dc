// CRC errors on every answer of an RTU line: the device's status must point at what to check. A raw responder on one
// end of a socat pty pair (real serialport on both ends) answers every read with a bad CRC, or echoes the request
// before its answer as a two-wire RS-485 adapter without echo suppression does.
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { withCrc } from './crc.js';
import { modbusDriver } from './index.js';
import { fakeContext, openPtyPair, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

/** The answer to a read-registers request (8 bytes): every register holds `value`. */
function answer(req: Buffer, value: number): Buffer {
  const qty = req.readUInt16BE(4);
  const b = Buffer.alloc(3 + 2 * qty);
  b[0] = req[0]!;
  b[1] = req[1]!;
  b[2] = 2 * qty;
  for (let i = 0; i < qty; i++) b.writeUInt16BE(value, 3 + 2 * i);
  return withCrc(b);
}

/** Starts the driver on one end of a pty pair; `respond` gets each request and returns the bytes to send back. */
async function line(respond: (req: Buffer) => Buffer) {
  const pty = await openPtyPair();
  const device = new SerialPort({ path: pty.b, baudRate: 19200 });
  await new Promise((resolve, reject) => device.once('open', resolve).once('error', reject));
  let pending = Buffer.alloc(0);
  device.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 8) {
      device.write(respond(pending.subarray(0, 8)));
      pending = pending.subarray(8);
    }
  });
  const ctx = fakeContext('rtu-echo');
  const driver = modbusDriver.create(
    {
      offlineAfterFailures: 2,
      backoff: { initialMs: 100, maxMs: 400 },
      buses: [{ id: 'l', transport: 'rtu', path: pty.a, baudRate: 19200, timeoutMs: 150, devices: [{ id: 'dev', unitId: 1, pollIntervalMs: 50, points: [{ name: 'v', table: 'holding', address: 0 }] }] }],
    },
    ctx,
  );
  cleanup.push(async () => {
    await driver.stop();
    await new Promise((r) => device.close(r));
    await pty.close();
  });
  await driver.start();
  return ctx;
}

describe('modbus RTU: CRC errors on every answer', () => {
  it('an adapter echoing the request: offline, the detail says it is an echo of the request and what to change', async () => {
    const ctx = await line((req) => Buffer.concat([req, answer(req, 72)]));
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline');
    const detail = ctx.statuses('dev').at(-1)?.detail ?? '';
    expect(detail).toMatch(/^echo of the request instead of an answer \(CRC error\) on holding 0\.\.0 /);
    expect(detail).toMatch(/echo suppression/);
    expect(ctx.counter('crc_errors')).toBeGreaterThanOrEqual(2);
    expect(ctx.readings()).toEqual([]);
    expect(ctx.logs.some((l) => l.fault === 'crc' && l.state === 'offline' && String(l.hint).includes('echo suppression'))).toBe(true);
  });

  it('answers that all fail their CRC: the detail says to check baud rate, parity, wiring and an echoing adapter', async () => {
    const ctx = await line((req) => {
      const a = answer(req, 72);
      a[a.length - 1]! ^= 0xff;
      return a;
    });
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline');
    const detail = ctx.statuses('dev').at(-1)?.detail ?? '';
    expect(detail).toMatch(/^CRC error in response on holding 0\.\.0 /);
    for (const what of ['baud rate', 'parity', 'wiring', 'echoes what it sends']) expect(detail).toContain(what);
    expect(detail).not.toMatch(/echo of the request/);
    expect(ctx.readings()).toEqual([]);
  });
});
