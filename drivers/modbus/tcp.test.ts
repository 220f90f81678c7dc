// Real Modbus TCP on loopback: the driver against the project's simulator (OS-chosen ports).
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { modbusDriver } from './index.js';
import type { DeviceOptions, ModbusOptions } from './options.js';
import { KNOWN_POINTS, knownPointOptions, loadKnownValues, RegisterBank, startTcpSimulator, type RunningSimulator } from './simulator.js';
import { fakeContext, waitFor } from '../serial/testing.js';
import type { Driver } from '../types.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()?.();
});

async function sim(bank: RegisterBank, port?: number): Promise<RunningSimulator & { port: number }> {
  const s = await startTcpSimulator(bank, port !== undefined ? { port } : {});
  cleanup.push(() => s.close());
  return s;
}

function run(options: ModbusOptions, ctx = fakeContext('modbus-test')): { driver: Driver; ctx: ReturnType<typeof fakeContext> } {
  const driver = modbusDriver.create(options, ctx);
  cleanup.push(() => driver.stop());
  return { driver, ctx };
}

const fast = { offlineAfterFailures: 2, backoff: { initialMs: 100, maxMs: 400 } };

function device(id: string, unitId: number, extra: Partial<DeviceOptions> = {}): DeviceOptions {
  return { id, unitId, pollIntervalMs: 50, points: [{ name: 'hr', table: 'holding', address: 0, type: 'int16', mdc: 'MDC_ECG_HEART_RATE', unit: 'BEAT_PER_MIN' }], ...extra };
}

/**
 * A raw Modbus TCP peer for faults the simulator cannot make. `answer` gets each request (one per data
 * chunk: the driver sends one at a time) and the request count so far, and returns the bytes to send, or
 * 'reset' to drop the connection with a TCP RST.
 */
async function rawPeer(answer: (req: Buffer, n: number) => Buffer | 'reset'): Promise<{ port: number; connections: () => number }> {
  let n = 0;
  let connections = 0;
  const server = createServer((sock) => {
    connections++;
    sock.on('error', () => undefined);
    sock.on('data', (req) => {
      const out = answer(req, ++n);
      if (out === 'reset') sock.resetAndDestroy();
      else sock.write(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, connections: () => connections };
}

/** The answer to a read-registers request: every register holds `value`; the PDU can be replaced. */
function registersAnswer(req: Buffer, value: number, over: { unit?: number; pdu?: Buffer } = {}): Buffer {
  const qty = req.readUInt16BE(10);
  let pdu: Buffer = Buffer.alloc(2 + 2 * qty);
  pdu[0] = req[7]!;
  pdu[1] = 2 * qty;
  for (let i = 0; i < qty; i++) pdu.writeUInt16BE(value, 2 + 2 * i);
  if (over.pdu) pdu = over.pdu;
  const mbap = Buffer.alloc(7);
  req.copy(mbap, 0, 0, 2); // transaction id
  mbap.writeUInt16BE(pdu.length + 1, 4);
  mbap[6] = over.unit ?? req[6]!;
  return Buffer.concat([mbap, pdu]);
}

describe('modbus TCP against the simulator', () => {
  it('reads every type and byte order back to the known values', async () => {
    const bank = new RegisterBank();
    loadKnownValues(bank, 7);
    const s = await sim(bank);
    const { driver, ctx } = run({ buses: [{ id: 'tcp1', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 500, devices: [{ id: 'sim-7', unitId: 7, bed: 'ICU-1', pollIntervalMs: 50, points: knownPointOptions() }] }] });
    await driver.start();
    await waitFor('a reading of every known point', () => KNOWN_POINTS.every((k) => ctx.readings().some((r) => r.raw?.text === k.name)));
    for (const k of KNOWN_POINTS) {
      const r = ctx.readings().find((x) => x.raw?.text === k.name);
      expect(r, k.name).toBeDefined();
      expect(r?.raw?.code).toBe(`7/${k.table}/${k.address}`);
      expect(r?.deviceId).toBe('sim-7');
      expect(r?.bed).toBe('ICU-1');
      expect(r?.source).toBe('modbus-test');
      expect(r?.mdc).toBeNull();
      if (k.expected === null) {
        expect(r?.value, k.name).toBeNull();
        expect(r?.quality).toEqual({ state: 'unavailable', reasons: ['no-value'] });
      } else if (typeof k.expected === 'number' && !Number.isInteger(k.expected)) {
        expect(r?.value as number, k.name).toBeCloseTo(k.expected, k.digits ?? 12);
        expect(r?.quality.state).toBe('valid');
      } else {
        expect(r?.value, k.name).toBe(k.expected);
        expect(r?.quality.state).toBe('valid');
      }
    }
    expect(ctx.statuses('sim-7').map((e) => e.state)).toEqual(['connecting', 'online']);
    expect(driver.health().state).toBe('running');
    expect(ctx.counters.get('polls')).toBeGreaterThan(0);
    expect(ctx.counters.get('timeouts') ?? 0).toBe(0);
  });

  it('a point marked as a setting is read as one, beside a measurement', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(3, 'holding', 0, [72, 125]);
    const s = await sim(bank);
    const points = [...device('pump-1', 3).points, { name: 'rate-set', table: 'holding' as const, address: 1, scale: 0.1, unit: 'mL/h', setting: true }];
    const { driver, ctx } = run({ buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 500, devices: [device('pump-1', 3, { points })] }] });
    await driver.start();
    await waitFor('both values', () => ctx.readings('pump-1').some((r) => r.raw?.text === 'rate-set') && ctx.readings('pump-1').some((r) => r.raw?.text === 'hr'));
    expect(ctx.readings('pump-1').find((r) => r.raw?.text === 'rate-set')).toMatchObject({ value: 12.5, setting: true });
    expect(ctx.readings('pump-1').find((r) => r.raw?.text === 'hr')?.setting).toBeUndefined();
  });

  it('a unit that stops answering goes offline with backoff while the other unit keeps being polled, then comes back', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(1, 'holding', 0, [72]);
    bank.setRegisters(2, 'holding', 0, [80]);
    const s = await sim(bank);
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 150, devices: [device('mon-1', 1), device('mon-2', 2)] }] });
    await driver.start();
    await waitFor('both online', () => ctx.statuses('mon-1').some((e) => e.state === 'online') && ctx.statuses('mon-2').some((e) => e.state === 'online'));
    const r = ctx.readings('mon-1')[0];
    expect(r?.value).toBe(72);
    expect(r?.mdc?.refid).toBe('MDC_ECG_HEART_RATE');
    expect(r?.unit.ucum).toBe('/min');

    bank.setSilent(1, true);
    await waitFor('mon-1 offline', () => ctx.statuses('mon-1').some((e) => e.state === 'offline'));
    const offline = ctx.statuses('mon-1').find((e) => e.state === 'offline');
    expect(offline?.detail).toMatch(/no response \(timeout\) on holding 0\.\.0/);
    expect(ctx.counters.get('timeouts')).toBeGreaterThanOrEqual(2);
    const line = ctx.logs.find((l) => l.fault === 'timeout');
    expect(line).toMatchObject({ bus: 'gw', unit: 1, device: 'mon-1', register: 'holding 0..0' });

    const mon2Before = ctx.readings('mon-2').length;
    const probesBefore = bank.requests.get(1) ?? 0;
    await waitFor('mon-2 still polled', () => ctx.readings('mon-2').length >= mon2Before + 10);
    // While offline, unit 1 is only probed at backoff intervals (≥100 ms), not at its 50 ms rate.
    expect((bank.requests.get(1) ?? 0) - probesBefore).toBeLessThan(10);
    expect(driver.health().state).toBe('degraded');
    expect(driver.health().devices?.['mon-1']?.state).toBe('offline');

    bank.setSilent(1, false);
    await waitFor('mon-1 back online', () => ctx.statuses('mon-1').at(-1)?.state === 'online');
    expect(ctx.statuses('mon-1').map((e) => e.state)).toEqual(['connecting', 'online', 'offline', 'online']);
    const n = ctx.readings('mon-1').length;
    await waitFor('mon-1 readings resume', () => ctx.readings('mon-1').length > n);
  });

  it('exception responses: busy is retried then reported, illegal address marks the device in error, others continue', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(3, 'holding', 0, [60]);
    bank.setRegisters(3, 'input', 0, [5]);
    const s = await sim(bank);
    const dev = device('pump-3', 3, {
      points: [
        { name: 'rate', table: 'holding', address: 0, type: 'uint16' },
        { name: 'vol', table: 'input', address: 0, type: 'uint16' },
        { name: 'ghost', table: 'input', address: 500, type: 'uint16' },
      ],
    });
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 300, devices: [dev] }] });
    await driver.start();
    await waitFor('error for the missing register', () => ctx.statuses('pump-3').some((e) => e.state === 'error'));
    const err = ctx.statuses('pump-3').find((e) => e.state === 'error');
    expect(err?.detail).toMatch(/illegal data address .* on input 500\.\.500/);
    expect(ctx.counters.get('exception_illegal_address')).toBeGreaterThanOrEqual(1);
    // The device is there: other reads still deliver.
    await waitFor('rate and vol readings', () => ctx.readings('pump-3').some((r) => r.raw?.text === 'rate') && ctx.readings('pump-3').some((r) => r.raw?.text === 'vol'));
    expect(ctx.readings('pump-3').some((r) => r.raw?.text === 'ghost')).toBe(false);

    bank.setRegisters(3, 'input', 500, [1]);
    await waitFor('error cleared once the register exists', () => ctx.statuses('pump-3').at(-1)?.state === 'online', 5000);

    bank.setException(3, 'holding', 0, 6);
    await waitFor('busy counted and reported', () => (ctx.counters.get('exception_device_busy') ?? 0) >= 2 && ctx.statuses('pump-3').at(-1)?.state === 'error');
    expect(ctx.statuses('pump-3').at(-1)?.detail).toMatch(/busy on holding 0\.\.0/);
    bank.setException(3, 'holding', 0, 0);
    await waitFor('busy over', () => ctx.statuses('pump-3').at(-1)?.state === 'online', 5000);
  });

  it('a server that goes away is reconnected with backoff; a dead bus does not hold up another bus', async () => {
    const bankA = new RegisterBank();
    bankA.setRegisters(1, 'holding', 0, [1]);
    const bankB = new RegisterBank();
    bankB.setRegisters(1, 'holding', 0, [2]);
    const a = await startTcpSimulator(bankA);
    const b = await sim(bankB);
    const { driver, ctx } = run({
      ...fast,
      buses: [
        { id: 'busA', transport: 'tcp', host: '127.0.0.1', port: a.port, timeoutMs: 3000, devices: [device('a-1', 1)] },
        { id: 'busB', transport: 'tcp', host: '127.0.0.1', port: b.port, timeoutMs: 3000, devices: [device('b-1', 1)] },
      ],
    });
    await driver.start();
    await waitFor('both online', () => ctx.statuses('a-1').some((e) => e.state === 'online') && ctx.statuses('b-1').some((e) => e.state === 'online'));

    // Unit on bus A stops answering: its 3 s timeouts must not slow bus B.
    bankA.setSilent(1, true);
    const start = ctx.readings('b-1').length;
    await waitFor('bus B keeps delivering', () => ctx.readings('b-1').length >= start + 5);
    expect(ctx.counters.get('timeouts') ?? 0).toBe(0);
    bankA.setSilent(1, false);

    // Bus A's server disappears: connection lost, reconnect attempts fail, device offline.
    await a.close();
    await waitFor('a-1 offline', () => ctx.statuses('a-1').at(-1)?.state === 'offline', 10_000);
    await waitFor('a reconnect attempt failed', () => (ctx.counters.get('connect_failures') ?? 0) >= 1, 10_000);
    expect(ctx.statuses('a-1').at(-1)?.detail).toMatch(/lost|cannot open/);
    expect(ctx.statuses('b-1').at(-1)?.state).toBe('online');

    // And comes back on the same port.
    const a2 = await sim(bankA, a.port);
    expect(a2.port).toBe(a.port);
    await waitFor('a-1 back online', () => ctx.statuses('a-1').at(-1)?.state === 'online', 10_000);
    expect(ctx.logs.some((l) => l.msg === 'modbus bus connected' && l.bus === 'busA')).toBe(true);
  }, 20_000);

  it('a peer that accepts and drops every connection is retried with growing delays, never in a loop', async () => {
    const sockets: Socket[] = [];
    const server = createServer((sock) => {
      sockets.push(sock);
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'flaky', transport: 'tcp', host: '127.0.0.1', port, timeoutMs: 200, devices: [device('f-1', 1)] }] });
    await driver.start();
    const lost = () => ctx.logs.filter((l) => l.msg === 'modbus connection lost; reconnecting');
    await waitFor('four drops', () => lost().length >= 4, 10_000);
    expect(lost().slice(0, 4).map((l) => l.retryInMs)).toEqual([100, 200, 400, 400]);
    expect(ctx.statuses('f-1').at(-1)?.state).toBe('offline');
    expect(sockets.length).toBeLessThanOrEqual(lost().length + 1);
  });

  it('a response whose byte count claims more than the frame carries is a bad frame, counted and logged, not a crash', async () => {
    // A raw peer: answers every read of one register with a well-formed MBAP header around [fc 3, byte count
    // 200, 0x00, 0x01]: the length modbus-serial expects, but a byte count 198 bytes past the end.
    const server = createServer((sock) =>
      sock.on('data', (req) => {
        const pdu = Buffer.from([3, 200, 0, 1]);
        const mbap = Buffer.alloc(7);
        req.copy(mbap, 0, 0, 2); // transaction id
        mbap.writeUInt16BE(pdu.length + 1, 4);
        mbap[6] = req[6]!; // unit id
        sock.write(Buffer.concat([mbap, pdu]));
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'liar', transport: 'tcp', host: '127.0.0.1', port, timeoutMs: 300, devices: [device('l-1', 1)] }] });
    await driver.start();
    await waitFor('bad frames counted', () => ctx.counter('bad_frames') >= 2, 10_000);
    expect(ctx.counter('other_errors')).toBe(0);
    expect(ctx.readings()).toEqual([]);
    const logged = ctx.logs.find((l) => String(l.error ?? l.err ?? l.msg).includes('byte count exceeds the frame'));
    expect(logged, JSON.stringify(ctx.logs.slice(0, 5))).toBeDefined();
  });

  it('a stream put out of step by one stray byte is reconnected; the device is back online within the backoff', async () => {
    // Request 5 is answered with one extra byte in front: modbus-serial then misreads every MBAP header after it.
    const peer = await rawPeer((req, n) => (n === 5 ? Buffer.concat([Buffer.of(0), registersAnswer(req, 72)]) : registersAnswer(req, 72)));
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'skew', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 200, devices: [device('s-1', 1)] }] });
    await driver.start();
    await waitFor('a failure after the stray byte', () => ctx.counter('timeouts') + ctx.counter('bad_frames') >= 1);
    // Bound: 2 failed reads (timeout 200 ms + retry 50 ms) + the 400 ms backoff cap, with slack.
    await waitFor('reconnected and online again', () => ctx.counter('reconnects') === 1 && ctx.statuses('s-1').at(-1)?.state === 'online', 3000);
    expect(peer.connections()).toBe(2);
    const n = ctx.readings('s-1').length;
    await waitFor('readings resume', () => ctx.readings('s-1').length >= n + 5);
    expect(ctx.readings('s-1').every((r) => r.value === 72)).toBe(true);
    expect(ctx.logs.find((l) => String(l.msg).includes('reconnecting in case the stream is out of step'))).toMatchObject({ bus: 'skew', endpoint: `127.0.0.1:${peer.port}`, unanswered: 2 });
    expect(ctx.counter('reconnects')).toBe(1);
  });

  it('answers whose MBAP protocol id is not 0 (not Modbus) are dropped and counted, never read as values; one warning', async () => {
    const withProtocolId = (frame: Buffer, id: number) => (frame.writeUInt16BE(id, 2), frame);
    const peer = await rawPeer((req) => withProtocolId(registersAnswer(req, 72), 1));
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'proto', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 150, devices: [device('p-1', 1)] }] });
    await driver.start();
    await waitFor('offline, frames counted', () => ctx.statuses('p-1').at(-1)?.state === 'offline' && ctx.counter('non_modbus_frames') >= 3);
    expect(ctx.readings()).toEqual([]);
    expect(ctx.counter('timeouts')).toBeGreaterThanOrEqual(2);
    // The resync logic sees a stream without usable answers.
    await waitFor('reconnected', () => ctx.counter('reconnects') >= 1);
    const warned = ctx.logs.filter((l) => l.counter === 'non_modbus_frames' && l.level === 40);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ bus: 'proto', protocolId: 1, msg: expect.stringContaining('protocol id 1 dropped') });
  });

  it('a non-Modbus frame in front of the real answer is dropped; the answer behind it is read', async () => {
    // Same transaction id, protocol id 1 and another value, then the real answer, in one write.
    const peer = await rawPeer((req) => {
      const foreign = registersAnswer(req, 99);
      foreign.writeUInt16BE(1, 2);
      return Buffer.concat([foreign, registersAnswer(req, 72)]);
    });
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'mixed', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 300, devices: [device('m-1', 1)] }] });
    await driver.start();
    await waitFor('readings and dropped frames', () => ctx.readings('m-1').length >= 5 && ctx.counter('non_modbus_frames') >= 5);
    expect(ctx.readings('m-1').map((r) => `${String(r.value)}/${r.quality.state}`)).toEqual(Array(ctx.readings('m-1').length).fill('72/valid'));
    expect(ctx.counter('timeouts')).toBe(0);
  });

  it('a connection reset in the middle of a request fails that read at once, counted as a disconnect, not a timeout', async () => {
    const peer = await rawPeer((req, n) => (n === 5 ? 'reset' : registersAnswer(req, 72)));
    // A long timeout: waiting it out would show up as a timeout and no disconnect.
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'rst', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 5000, devices: [device('r-1', 1)] }] });
    await driver.start();
    await waitFor('disconnect counted', () => ctx.counter('disconnects') >= 1, 4000);
    expect(ctx.counter('timeouts')).toBe(0);
    expect(ctx.logs.find((l) => l.fault === 'disconnected')).toMatchObject({ bus: 'rst', unit: 1, device: 'r-1', register: 'holding 0..0', msg: 'modbus read failed: connection lost (socket ECONNRESET)' });
    expect(ctx.logs.some((l) => l.msg === 'modbus connection lost; reconnecting' && l.bus === 'rst')).toBe(true);
    expect(ctx.statuses('r-1').find((e) => e.state === 'offline')?.detail).toMatch(/lost/);
    await waitFor('back online on a new connection', () => ctx.statuses('r-1').at(-1)?.state === 'online' && peer.connections() === 2, 4000);
    expect(ctx.counter('disconnects')).toBe(1);
    expect(ctx.counter('timeouts')).toBe(0);
  });

  it('an exception answer carrying another unit id is a bad frame, not this device\'s exception', async () => {
    // Every answer is "illegal data address" from unit 2, though unit 1 was asked.
    const peer = await rawPeer((req) => registersAnswer(req, 0, { unit: 2, pdu: Buffer.of(req[7]! | 0x80, 2) }));
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'other', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 300, devices: [device('o-1', 1)] }] });
    await driver.start();
    await waitFor('bad frames counted', () => ctx.counter('bad_frames') >= 2);
    expect(ctx.counter('exception_illegal_address')).toBe(0);
    expect(ctx.statuses('o-1').some((e) => e.state === 'error')).toBe(false);
    expect(ctx.logs.find((l) => l.fault === 'bad-frame')).toMatchObject({ bus: 'other', unit: 1, device: 'o-1', msg: expect.stringMatching(/expected address 1 got 2/) });
  });

  it('an exception code Modbus does not define is counted as exception_other and logged with its code; the device goes to error', async () => {
    // Every read is answered with exception 0x42, which no Modbus specification defines.
    const peer = await rawPeer((req) => registersAnswer(req, 0, { pdu: Buffer.of(req[7]! | 0x80, 0x42) }));
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'odd', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 300, devices: [device('x-1', 1)] }] });
    await driver.start();
    await waitFor('error after repeated unknown exceptions', () => ctx.counter('exception_other') >= 2 && ctx.statuses('x-1').at(-1)?.state === 'error');
    expect(ctx.statuses('x-1').at(-1)?.detail).toMatch(/exception 66: unknown exception on holding 0\.\.0/);
    expect(ctx.logs.find((l) => l.fault === 'exception')).toMatchObject({
      level: 40,
      bus: 'odd',
      unit: 1,
      device: 'x-1',
      register: 'holding 0..0',
      code: 66,
      msg: 'modbus read failed: exception 66: unknown exception',
    });
    // An answer, if an odd one: not a bad frame, and no reason to reopen the connection.
    expect(ctx.counter('bad_frames') + ctx.counter('other_errors') + ctx.counter('reconnects')).toBe(0);
  });

  it('a device addressed directly as unit 0 (accepted on TCP, not broadcast there) is read', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(0, 'holding', 0, [72]);
    const s = await sim(bank);
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'direct', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 500, devices: [device('mon-0', 0)] }] });
    await driver.start();
    await waitFor('a reading from unit 0', () => ctx.readings('mon-0').length > 0);
    expect(ctx.readings('mon-0')[0]?.value).toBe(72);
    expect(ctx.statuses('mon-0').at(-1)?.state).toBe('online');
  });

  it('events the pipeline refuses (full disk) are counted; logged once naming the devices, then a summary a minute, then the recovery', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(1, 'holding', 0, [72]);
    bank.setRegisters(2, 'holding', 0, [80]);
    const s = await sim(bank);
    const ctx = fakeContext('modbus-test');
    const accept = ctx.emit;
    let refuse = false;
    ctx.emit = (events, opts) => (refuse ? Promise.reject(new Error('SQLITE_FULL: database or disk is full')) : accept(events, opts));
    // The summary is due a minute after the first line: the clock is moved on rather than waited for.
    const realNow = Date.now.bind(Date);
    let skew = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
    cleanup.push(async () => void vi.restoreAllMocks());
    const { driver } = run({ ...fast, buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 500, devices: [device('mon-1', 1), device('mon-2', 2)] }] }, ctx);
    await driver.start();
    await waitFor('both online', () => ctx.statuses('mon-1').some((e) => e.state === 'online') && ctx.statuses('mon-2').some((e) => e.state === 'online'));

    refuse = true;
    await waitFor('twenty emits refused', () => ctx.counter('emit_failures') >= 20);
    const lines = () => ctx.logs.filter((l) => l.counter === 'emit_failures');
    expect(lines()).toHaveLength(1);
    // The first refused emit is one poll: one device's reading, whichever was polled first.
    expect(lines()[0]).toMatchObject({ level: 50, bus: 'gw', devices: [expect.stringMatching(/^mon-[12]$/)], events: 1, err: expect.stringMatching(/SQLITE_FULL/) });
    expect(lines()[0]!.msg).toMatch(/^modbus events of mon-[12] could not be accepted by the pipeline and are lost/);

    skew = 61_000;
    await waitFor('the summary', () => lines().length === 2);
    const summary = lines()[1]!;
    expect(summary).toMatchObject({ level: 50, bus: 'gw', failures: expect.any(Number), inARow: expect.any(Number) });
    expect([...(summary.devices as string[])].sort()).toEqual(['mon-1', 'mon-2']);
    expect(summary.failures).toBeGreaterThanOrEqual(20);
    expect(summary.inARow).toBe((summary.failures as number) + 1);
    expect(summary.msg).toMatch(/^modbus events still not accepted: \d+ emits \(\d+ events of mon-., mon-.\) lost since the last line/);

    refuse = false;
    await waitFor('the recovery', () => lines().length === 3);
    const failures = ctx.counter('emit_failures');
    expect(lines()[2]).toMatchObject({ level: 30, bus: 'gw', failures, msg: `modbus events accepted again after ${failures} emits lost` });
    const n = ctx.readings('mon-1').length;
    await waitFor('readings stored again', () => ctx.readings('mon-1').length > n);
    expect(lines()).toHaveLength(3);
  });

  it('an offline device is probed at the backoff, not at its first read\'s poll interval: back soon after it answers or its server returns', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(1, 'holding', 0, [72]);
    bank.setRegisters(1, 'holding', 100, [0x4142]);
    const s = await startTcpSimulator(bank);
    let current: RunningSimulator = s;
    cleanup.push(() => current.close());
    // Listed first, so it is the device's first read; polled once a minute (a model or settings register).
    const points = [{ name: 'model', table: 'holding' as const, address: 100, pollIntervalMs: 60_000 }, ...device('m-1', 1).points];
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: s.port, timeoutMs: 150, devices: [device('m-1', 1, { points })] }] });
    await driver.start();
    await waitFor('online', () => ctx.statuses('m-1').at(-1)?.state === 'online');
    const hr = () => ctx.readings('m-1').filter((r) => r.raw?.text === 'hr').length;

    bank.setSilent(1, true);
    await waitFor('offline', () => ctx.statuses('m-1').at(-1)?.state === 'offline');
    bank.setSilent(1, false);
    // The bound is far below the minute the first read waits for its own tick (the backoff is capped at 400 ms).
    await waitFor('online again', () => ctx.statuses('m-1').at(-1)?.state === 'online', 5000);
    let n = hr();
    await waitFor('hr readings resume', () => hr() > n, 5000);

    // The same after the connection is lost and the server comes back.
    await s.close();
    await waitFor('offline with the server gone', () => ctx.statuses('m-1').at(-1)?.state === 'offline', 5000);
    current = await startTcpSimulator(bank, { port: s.port });
    await waitFor('online on the new connection', () => ctx.statuses('m-1').at(-1)?.state === 'online', 5000);
    n = hr();
    await waitFor('hr readings resume again', () => hr() > n, 5000);
  });

  it('a register the device never answers puts it in error for that read, not offline; its other reads go on, on the same connection', async () => {
    // Answers holding 0, silently ignores holding 100 (as some devices do instead of "illegal address").
    const peer = await rawPeer((req) => (req.readUInt16BE(8) === 100 ? Buffer.alloc(0) : registersAnswer(req, 72)));
    const points = [
      { name: 'etco2', table: 'holding' as const, address: 100, pollIntervalMs: 100 }, // listed first, polled more often
      { name: 'hr', table: 'holding' as const, address: 0, pollIntervalMs: 400 },
    ];
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 150, devices: [device('m-1', 1, { points })] }] });
    await driver.start();
    await waitFor('error for the unanswered register', () => ctx.statuses('m-1').at(-1)?.state === 'error');
    expect(ctx.statuses('m-1').at(-1)?.detail).toMatch(/no response \(timeout\) on holding 100\.\.100/);
    const hr = () => ctx.readings('m-1').filter((r) => r.raw?.text === 'hr').length;
    const n = hr();
    await waitFor('hr still read', () => hr() >= n + 3);
    expect(ctx.statuses('m-1').map((e) => e.state)).not.toContain('offline');
    expect(ctx.statuses('m-1').at(-1)?.state).toBe('error');
    expect(ctx.counter('reconnects')).toBe(0);
    expect(peer.connections()).toBe(1);
  });

  it('a register never answered is retried with backoff: ever more of the other reads between its tries', async () => {
    const requests: string[] = [];
    const peer = await rawPeer((req) => {
      requests.push(`${req[6]}/${req.readUInt16BE(8)}`);
      return req[6] === 1 && req.readUInt16BE(8) === 100 ? Buffer.alloc(0) : registersAnswer(req, 72);
    });
    const pump = device('pump-1', 1, { points: [{ name: 'rate', table: 'holding', address: 0 }, { name: 'vtbi', table: 'holding', address: 100 }] });
    const { driver, ctx } = run({
      offlineAfterFailures: 2,
      backoff: { initialMs: 50, maxMs: 800 },
      buses: [{ id: 'gw', transport: 'tcp', host: '127.0.0.1', port: peer.port, timeoutMs: 100, devices: [pump, device('mon-2', 2)] }],
    });
    await driver.start();
    const tries = () => requests.flatMap((r, i) => (r === '1/100' ? [i] : []));
    await waitFor('seven tries of the unanswered read', () => tries().length >= 7);
    const t = tries();
    const between = t.slice(1, 7).map((x, i) => x - t[i]! - 1);
    // At its poll interval the count would stay the same; with backoff (50 ms doubling to 800 ms) it grows.
    expect(between.at(-1), JSON.stringify(between)).toBeGreaterThanOrEqual(4 * Math.max(1, between[0]!));
    expect(ctx.statuses('pump-1').at(-1)?.state).toBe('error');
    expect(ctx.statuses('mon-2').map((e) => e.state)).toEqual(['connecting', 'online']);
  });

  it('a peer that closes the connection after every answer: reconnected at once, one warning for the whole run, every loss counted', async () => {
    const server = createServer((sock) => {
      sock.on('error', () => undefined);
      sock.on('data', (req) => sock.end(registersAnswer(req, 72)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const { driver, ctx } = run({ ...fast, buses: [{ id: 'oneshot', transport: 'tcp', host: '127.0.0.1', port, timeoutMs: 300, devices: [device('o-1', 1)] }] });
    await driver.start();
    await waitFor('ten lost connections', () => ctx.counter('disconnects') >= 10);
    const lost = ctx.logs.filter((l) => l.msg === 'modbus connection lost; reconnecting');
    expect(lost.length).toBeGreaterThanOrEqual(10);
    expect(lost.filter((l) => l.level === 40)).toHaveLength(1); // pino: 40 = warn, the rest at debug
    expect(ctx.readings('o-1').length).toBeGreaterThanOrEqual(10);
  });

  it('deadband: an unchanged value is not re-reported every poll', async () => {
    const bank = new RegisterBank();
    bank.setRegisters(1, 'holding', 0, [500]);
    const s = await sim(bank);
    const dev = device('t-1', 1, { pollIntervalMs: 20, points: [{ name: 'temp', table: 'holding', address: 0, type: 'int16', scale: 0.1, deadband: 0.5, mdc: 'MDC_TEMP_BODY', unit: 'DEGC' }] });
    const { driver, ctx } = run({ buses: [{ id: 'b', transport: 'tcp', host: '127.0.0.1', port: s.port, devices: [dev] }] });
    await driver.start();
    await waitFor('10 polls', () => (ctx.counters.get('polls') ?? 0) >= 10);
    expect(ctx.readings('t-1').map((r) => r.value)).toEqual([50]);
    bank.setRegisters(1, 'holding', 0, [503]); // 50.3: inside the deadband
    const polls = ctx.counters.get('polls') ?? 0;
    await waitFor('more polls', () => (ctx.counters.get('polls') ?? 0) >= polls + 5);
    expect(ctx.readings('t-1')).toHaveLength(1);
    bank.setRegisters(1, 'holding', 0, [510]);
    await waitFor('moved beyond deadband', () => ctx.readings('t-1').length === 2);
    expect(ctx.readings('t-1')[1]?.value).toBe(51);
    expect(ctx.readings('t-1')[1]?.mdc?.refid).toBe('MDC_TEMP_BODY');
  });
});
