// CRC errors on every answer of an RTU line: the device's status must point at what to check. A raw responder on one
// end of a socat pty pair (real serialport on both ends) answers every read with a bad CRC, or echoes the request
// before its answer as a two-wire RS-485 adapter without echo suppression does.
import { afterEach, describe, expect, it } from 'vitest';
import { withCrc } from './crc.js';
import { startRawRtuLine } from './rtu-rig.js';
import type { DeviceOptions } from './options.js';
import { fakeContext, waitFor } from '../serial/testing.js';

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

/** The answer to a read-bits request (8 bytes): every bit is 1. */
function bitsAnswer(req: Buffer): Buffer {
  const qty = req.readUInt16BE(4);
  const bytes = Math.ceil(qty / 8);
  const b = Buffer.alloc(3 + bytes, 0xff);
  b[0] = req[0]!;
  b[1] = req[1]!;
  b[2] = bytes;
  if (qty % 8) b[2 + bytes] = (1 << (qty % 8)) - 1;
  return withCrc(b);
}

const oneHolding: DeviceOptions['points'] = [{ name: 'v', table: 'holding', address: 0 }];

/**
 * Starts the driver on one end of a pty pair; `respond` gets each request and returns the bytes to send back.
 * `points`: the device's map (default one holding register, 0).
 */
async function line(respond: (req: Buffer) => Buffer, points: DeviceOptions['points'] = oneHolding) {
  const ctx = fakeContext('rtu-echo');
  const rig = await startRawRtuLine(ctx, points, (req, device) => device.write(respond(req)));
  cleanup.push(() => rig.close());
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

  it('an echo with a valid CRC (20 discrete inputs: the answer is 8 bytes, as long as the request) is the echo, never values', async () => {
    // Twenty alarm bits at 768: the request's own bytes would decode as bits (the count byte 0x14 as alarm18=1), valid.
    const points = Array.from({ length: 20 }, (_, i) => ({ name: `alarm${i}`, table: 'discrete' as const, address: 768 + i }));
    const ctx = await line((req) => Buffer.concat([req, bitsAnswer(req)]), points);
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline');
    const detail = ctx.statuses('dev').at(-1)?.detail ?? '';
    expect(detail).toMatch(/^echo of the request instead of an answer on discrete 768\.\.787 /);
    expect(detail).toMatch(/echo suppression/);
    expect(ctx.readings()).toEqual([]);
    expect(ctx.counter('crc_errors')).toBeGreaterThanOrEqual(2);
    expect(ctx.statuses('dev').map((s) => s.state)).not.toContain('online');
  });
});

describe('modbus RTU: byte count of the answer', () => {
  it('an answer whose byte count is not what the read asked for is a bad frame, counted and logged, not values', async () => {
    // One register asked for; the frame is as long as the answer should be, but its byte count says 1, not 2.
    const ctx = await line((req) => {
      const a = Buffer.from(answer(req, 72).subarray(0, -2));
      a[2] = 1;
      return withCrc(a);
    });
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline');
    expect(ctx.statuses('dev').at(-1)?.detail).toMatch(/^malformed response: .*byte count 1.* 2 .*holding 0\.\.0/);
    expect(ctx.counter('bad_frames')).toBeGreaterThanOrEqual(2);
    expect(ctx.readings()).toEqual([]);
    expect(ctx.logs.some((l) => l.fault === 'bad-frame' && l.register === 'holding 0..0' && l.device === 'dev')).toBe(true);
  });

  it('bits: 20 coils asked for, an answer with byte count 2 (16 bits) is a bad frame', async () => {
    const points = Array.from({ length: 20 }, (_, i) => ({ name: `c${i}`, table: 'coil' as const, address: i }));
    const ctx = await line((req) => {
      const a = Buffer.from(bitsAnswer(req).subarray(0, -2));
      a[2] = 2; // the frame still carries 3 data bytes, so its length is right
      return withCrc(a);
    }, points);
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline');
    expect(ctx.counter('bad_frames')).toBeGreaterThanOrEqual(2);
    expect(ctx.readings()).toEqual([]);
  });
});
