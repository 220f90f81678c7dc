// Review rv165 F1: on RTU, a frame byte-for-byte equal to its request and followed by silence is either a genuine answer
// (a 17-24-bit read at 768-1023 with one pattern of bits, see review-rv160.test.ts) or the echo of a two-wire RS-485
// adapter with no device behind it. A dead device on an echoing line must not be reported online with values made of
// the request's bytes. Real serialport on both ends of a socat pty pair.
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { modbusDriver } from './index.js';
import { startRawRtuLine } from './rtu-rig.js';
import type { DeviceOptions } from './options.js';
import { fakeContext, openPtyPair, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

describe('rv165 F1: echoing RS-485 line, device dead', () => {
  it('discrete inputs 768..791: no readings from the echo, the device goes offline as an echo, counted', async () => {
    let requests = 0;
    const points: DeviceOptions['points'] = Array.from({ length: 24 }, (_, i) => ({ name: `in${768 + i}`, table: 'discrete' as const, address: 768 + i }));
    const ctx = fakeContext('rv165-f1');
    const rig = await startRawRtuLine(ctx, points, (req, line) => {
      requests++;
      line.write(req); // the adapter's echo; the device is dead: nothing else
    });
    cleanup.push(() => rig.close());
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline', 5000);
    // Let it probe on for a while: no probe may take the echo for an answer either.
    await new Promise((r) => setTimeout(r, 1500));
    expect(requests).toBeGreaterThanOrEqual(4);
    expect(ctx.readings()).toEqual([]);
    expect(ctx.statuses('dev').map((s) => s.state)).not.toContain('online');
    expect(ctx.statuses('dev').at(-1)?.state).toBe('offline');
    expect(ctx.statuses('dev').at(-1)?.detail).toMatch(/^echo of the request instead of an answer on discrete 768\.\.791 .*echo suppression/);
    expect(ctx.counter('crc_errors')).toBeGreaterThanOrEqual(2);
  }, 20_000);
});

/**
 * A raw unit on one end of a pty pair (no echo on the line): it answers each 8-byte read of 24 bits with the request's
 * own bytes (the genuine answer when inputs 787 and 788 of 768..791 are on), and each read of one bit through `one`.
 */
async function spellingUnit(one: (req: Buffer) => Buffer | undefined, timeoutMs: number) {
  const pty = await openPtyPair();
  const unit = new SerialPort({ path: pty.b, baudRate: 19200 });
  await new Promise((resolve, reject) => unit.once('open', resolve).once('error', reject));
  let pending = Buffer.alloc(0);
  const oneBitReads: Buffer[] = [];
  unit.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 8) {
      const req = Buffer.from(pending.subarray(0, 8));
      pending = pending.subarray(8);
      if (req.readUInt16BE(4) === 24) unit.write(req);
      else {
        oneBitReads.push(req);
        const answer = one(req);
        if (answer) unit.write(answer);
      }
    }
  });
  const points: DeviceOptions['points'] = Array.from({ length: 24 }, (_, i) => ({ name: `in${768 + i}`, table: 'discrete' as const, address: 768 + i }));
  const ctx = fakeContext('rv165-f1-unit');
  const driver = modbusDriver.create(
    {
      offlineAfterFailures: 2,
      backoff: { initialMs: 100, maxMs: 400 },
      buses: [{ id: 'l', transport: 'rtu', path: pty.a, baudRate: 19200, timeoutMs, devices: [{ id: 'dev', unitId: 1, pollIntervalMs: 50, points }] }],
    },
    ctx,
  );
  let stopped = false;
  cleanup.push(async () => {
    if (!stopped) await driver.stop();
    await new Promise((r) => unit.close(r));
    await pty.close();
  });
  await driver.start();
  return { ctx, oneBitReads, stop: () => ((stopped = true), driver.stop()) };
}

describe('rv165 F1: the read that tells a genuine answer spelling its request from an echo', () => {
  it('the unit gives the frame equal to the request but never answers the one-bit read: refused as an echo, no readings', async () => {
    const { ctx, oneBitReads } = await spellingUnit(() => undefined, 150);
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline', 5000);
    // The one-bit read went to the same unit, function and address.
    expect(oneBitReads[0]?.subarray(0, 6)).toEqual(Buffer.from([1, 2, 3, 0, 0, 1]));
    expect(ctx.readings()).toEqual([]);
    expect(ctx.statuses('dev').at(-1)?.detail).toMatch(/^echo of the request instead of an answer on discrete 768\.\.791/);
  }, 20_000);

  it('stop() while that one-bit read waits (timeoutMs 5000): returns within 1 s, nothing emitted after', async () => {
    const { ctx, oneBitReads, stop } = await spellingUnit(() => undefined, 5000);
    await waitFor('the one-bit read was sent', () => oneBitReads.length > 0, 10_000);
    const calledAt = ctx.events.length;
    const t0 = performance.now();
    await stop();
    const took = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 300));
    expect(took).toBeLessThan(1000);
    expect(ctx.events.slice(calledAt)).toEqual([]);
    expect(ctx.readings()).toEqual([]);
  }, 20_000);
});
