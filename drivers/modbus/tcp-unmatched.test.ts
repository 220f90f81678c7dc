// Modbus TCP answers whose MBAP transaction id is not the request's (review rv89 M1): modbus-serial ignores them, so
// the read times out; the driver counts and logs them, and the timeout's detail says answers did arrive.
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { modbusDriver } from './index.js';
import { fakeContext, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

/** A peer answering every read-registers request with registers of 72, under transaction id `tid(request's)`. */
async function peer(tid: (requested: number) => number): Promise<number> {
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.on('data', (req) => {
      const qty = req.readUInt16BE(10);
      const pdu = Buffer.alloc(2 + 2 * qty);
      pdu[0] = req[7]!;
      pdu[1] = 2 * qty;
      for (let i = 0; i < qty; i++) pdu.writeUInt16BE(72, 2 + 2 * i);
      const mbap = Buffer.alloc(7);
      mbap.writeUInt16BE(tid(req.readUInt16BE(0)), 0);
      mbap.writeUInt16BE(pdu.length + 1, 4);
      mbap[6] = req[6]!;
      sock.write(Buffer.concat([mbap, pdu]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as { port: number }).port;
}

describe('modbus TCP answers with another transaction id', () => {
  it('are counted as unmatched_frames, logged once (then summarised), and named in the timeout detail', async () => {
    const port = await peer((t) => t ^ 0x8000);
    const ctx = fakeContext('tcp-unmatched');
    const driver = modbusDriver.create(
      {
        offlineAfterFailures: 2,
        backoff: { initialMs: 100, maxMs: 400 },
        buses: [{ id: 'tid', transport: 'tcp', host: '127.0.0.1', port, timeoutMs: 150, devices: [{ id: 't-1', unitId: 1, pollIntervalMs: 50, points: [{ name: 'hr', table: 'holding', address: 0 }] }] }],
      },
      ctx,
    );
    cleanup.push(() => driver.stop());
    await driver.start();
    await waitFor('offline', () => ctx.statuses('t-1').at(-1)?.state === 'offline' && ctx.counter('timeouts') >= 3, 8000);
    expect(ctx.statuses('t-1').at(-1)!.detail).toMatch(/no response \(timeout\): an answer arrived with transaction id 327\d\d, expected \d+ on holding 0\.\.0/);
    expect(ctx.counter('unmatched_frames')).toBeGreaterThanOrEqual(3);
    const lines = ctx.logs.filter((l) => l.counter === 'unmatched_frames');
    expect(lines.length).toBe(1);
    expect(lines[0]!.msg).toMatch(/transaction id/);
    expect(ctx.readings()).toEqual([]);
  });
});
