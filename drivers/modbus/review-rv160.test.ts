// Review rv160, F1 and F2. F1: stopping the driver must not wait for a read (or a TCP connect) in flight to a device
// that does not answer: a live config change or the agent's shutdown would leave every device of the driver silent for
// up to timeoutMs. F2: on RTU, a genuine answer can be byte-for-byte the request (a 17-24-bit read at 768-1023 with one
// pattern of bits); it must be taken as the answer when nothing follows it, and still refused as an echo when the
// device's answer follows. Real loopback TCP, and real serialport on both ends of a socat pty pair.
import { createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withCrc } from './crc.js';
import { modbusDriver } from './index.js';
import { startRawRtuLine, startRtuRig } from './rtu-rig.js';
import { RegisterBank, startTcpSimulator } from './simulator.js';
import type { DeviceOptions } from './options.js';
import { fakeContext, waitFor } from '../serial/testing.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanup.length) await cleanup.pop()?.();
});

/** A TCP peer that accepts and never answers; `requests` counts the bytes it received, `open` its live sockets. */
async function silentPeer(): Promise<{ port: number; received: () => number; open: Set<Socket> }> {
  const open = new Set<Socket>();
  let received = 0;
  const server: Server = createServer((s) => {
    open.add(s);
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', () => {});
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, received: () => received, open };
}

describe('rv160 F1: stop() does not wait for a read or connect in flight', () => {
  it('a read in flight to a peer that never answers (timeoutMs 15000): stop() returns within 1 s, the socket is closed, nothing is emitted after stop()', async () => {
    const peer = await silentPeer();
    const bank = new RegisterBank();
    bank.setRegisters(1, 'holding', 0, [72]);
    const sim = await startTcpSimulator(bank);
    cleanup.push(() => sim.close());
    const ctx = fakeContext('rv160-f1');
    const d = modbusDriver.create(
      {
        offlineAfterFailures: 1,
        buses: [
          { id: 'slow-gw', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 15000, devices: [{ id: 'vent', unitId: 1, points: [{ name: 'a', table: 'holding', address: 0 }] }] },
          { id: 'monitor', transport: 'tcp', host: '127.0.0.1', port: sim.port, timeoutMs: 1000, devices: [{ id: 'hr', unitId: 1, points: [{ name: 'hr', table: 'holding', address: 0 }] }] },
        ],
      },
      ctx,
    );
    await d.start();
    await waitFor('the silent peer got the request', () => peer.received() > 0);
    await waitFor('the live monitor reads', () => ctx.readings('hr').length > 0);
    const calledAt = ctx.events.length;
    const t0 = performance.now();
    await d.stop();
    const took = performance.now() - t0;
    const returnedAt = ctx.events.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(took).toBeLessThan(1000);
    expect(ctx.events.length).toBe(returnedAt);
    // The read cut short by stop() is no outage of the device: no offline (or any) status for it.
    expect(ctx.events.slice(calledAt).filter((e) => e.kind === 'device-status')).toEqual([]);
    await waitFor('the peer saw the socket closed', () => peer.open.size === 0, 1000);
  }, 25_000);

  it('a TCP connect in progress (the peer never completes it, timeoutMs 15000): stop() returns within 1 s, nothing is emitted after stop()', async () => {
    const peer = await silentPeer();
    // A connect that never completes, like a SYN to a blackholed address: the driver's socket is left pending.
    const connect = Socket.prototype.connect;
    const pending: Socket[] = [];
    vi.spyOn(Socket.prototype, 'connect').mockImplementation(function (this: Socket, ...args: unknown[]) {
      const opts = args[0] as { port?: number } | undefined;
      if (typeof opts === 'object' && opts?.port === peer.port) {
        pending.push(this);
        return this;
      }
      return (connect as (...a: unknown[]) => Socket).apply(this, args);
    });
    const ctx = fakeContext('rv160-f1-connect');
    const d = modbusDriver.create(
      {
        offlineAfterFailures: 1,
        buses: [{ id: 'slow-gw', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 15000, devices: [{ id: 'vent', unitId: 1, points: [{ name: 'a', table: 'holding', address: 0 }] }] }],
      },
      ctx,
    );
    await d.start();
    await waitFor('the connect is pending', () => pending.length > 0);
    const calledAt = ctx.events.length;
    const t0 = performance.now();
    await d.stop();
    const took = performance.now() - t0;
    const returnedAt = ctx.events.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(took).toBeLessThan(1000);
    expect(ctx.events.length).toBe(returnedAt);
    expect(ctx.events.slice(calledAt).filter((e) => e.kind === 'device-status')).toEqual([]);
    expect(ctx.counter('connect_failures')).toBe(0);
    expect(pending.every((s) => s.destroyed)).toBe(true);
  }, 25_000);
});

describe('rv160 F2: RTU answer byte-for-byte equal to the request', () => {
  it('discrete inputs 768..791 with 787 and 788 on (the answer spells the request), no echo on the line: values arrive, online, no crc_errors', async () => {
    const bank = new RegisterBank();
    const bits = new Array<boolean>(24).fill(false);
    bits[19] = true; // 787
    bits[20] = true; // 788
    bank.setBits(1, 'discrete', 768, bits);
    const ctx = fakeContext('rv160-f2');
    const rig = await startRtuRig(bank, ctx, { baudRate: 19200 }, (path) => ({
      offlineAfterFailures: 3,
      backoff: { initialMs: 200, maxMs: 1000 },
      buses: [
        {
          id: 'line',
          transport: 'rtu',
          path,
          baudRate: 19200,
          timeoutMs: 300,
          devices: [
            {
              id: 'vent-alarms',
              unitId: 1,
              pollIntervalMs: 300,
              points: Array.from({ length: 24 }, (_, i) => ({ name: `in${768 + i}`, table: 'discrete' as const, address: 768 + i })),
            },
          ],
        },
      ],
    }));
    cleanup.push(() => rig.close());
    await waitFor('two rounds of values', () => ctx.readings('vent-alarms').length >= 48, 10_000);
    const first = new Map(ctx.readings('vent-alarms').slice(0, 24).map((r) => [r.raw?.text, r.value]));
    expect(first.size).toBe(24);
    for (let a = 768; a < 792; a++) expect([`in${a}`, first.get(`in${a}`)]).toEqual([`in${a}`, a === 787 || a === 788 ? 1 : 0]);
    expect(ctx.counter('crc_errors')).toBe(0);
    expect(ctx.statuses('vent-alarms').at(-1)?.state).toBe('online');
    expect(ctx.statuses('vent-alarms').map((s) => s.state)).not.toContain('offline');
  }, 20_000);

  it('stop() while such an answer waits out timeoutMs (15000) for bytes after it: returns within 1 s, nothing emitted after', async () => {
    const bank = new RegisterBank();
    const bits = new Array<boolean>(24).fill(false);
    bits[19] = true;
    bits[20] = true;
    bank.setBits(1, 'discrete', 768, bits);
    const ctx = fakeContext('rv160-f2-stop');
    const rig = await startRtuRig(bank, ctx, { baudRate: 19200 }, (path) => ({
      buses: [
        {
          id: 'line',
          transport: 'rtu',
          path,
          baudRate: 19200,
          timeoutMs: 15000,
          devices: [{ id: 'vent-alarms', unitId: 1, points: Array.from({ length: 24 }, (_, i) => ({ name: `in${768 + i}`, table: 'discrete' as const, address: 768 + i })) }],
        },
      ],
    }));
    let closed = false;
    cleanup.push(() => (closed ? undefined : rig.close()));
    await new Promise((r) => setTimeout(r, 500)); // answered at once; the driver now waits for bytes after it
    const calledAt = ctx.events.length;
    const t0 = performance.now();
    await rig.driver.stop();
    const took = performance.now() - t0;
    closed = true;
    await rig.close();
    expect(took).toBeLessThan(1000);
    expect(ctx.events.slice(calledAt)).toEqual([]);
    expect(ctx.readings()).toEqual([]);
  }, 20_000);

  it('an adapter echoing that same request, the device answering 40 ms later: still refused as an echo, never its bytes as values', async () => {
    // Guard for the rule above: the echo of such a request is a valid frame too. The device's answer that follows it,
    // after the device's turnaround, shows it was an echo.
    const points: DeviceOptions['points'] = Array.from({ length: 24 }, (_, i) => ({ name: `in${768 + i}`, table: 'discrete' as const, address: 768 + i }));
    const ctx = fakeContext('rv160-f2-echo');
    const rig = await startRawRtuLine(ctx, points, (req, device) => {
      device.write(req); // the adapter's echo
      // The device's answer: all 24 bits on.
      setTimeout(() => device.write(withCrc(Buffer.from([req[0]!, req[1]!, 3, 0xff, 0xff, 0xff]))), 40);
    });
    cleanup.push(() => rig.close());
    await waitFor('offline', () => ctx.statuses('dev').at(-1)?.state === 'offline');
    expect(ctx.statuses('dev').at(-1)?.detail).toMatch(/^echo of the request instead of an answer on discrete 768\.\.791 .*echo suppression/);
    expect(ctx.readings()).toEqual([]);
    expect(ctx.counter('crc_errors')).toBeGreaterThanOrEqual(2);
  }, 20_000);
});
