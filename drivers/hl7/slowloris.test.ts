// Slowloris over real TCP: a sender that keeps starting frames (VT) and never finishes one must not hold its
// connection slot for ever (README §Connection safety: the read timeout runs from the first VT since the last
// completed frame; an abandoned frame's restart does not re-arm it).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHl7MllpDriver, type Hl7MllpDriver, type Hl7MllpOptions } from './index.js';
import { MllpFramer, frame, parseMessage, str } from './protocol/index.js';
import { holdingCtx, poller, type HoldingCtx } from './test-support.js';

const msg = (id: string): string =>
  `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\r` +
  `PID|||P-${id}\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
  `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;

type Ctx = HoldingCtx;
const fakeCtx = (): Ctx => holdingCtx();

interface Conn {
  sock: net.Socket;
  acks: string[];
  closed: boolean;
}
const conns: Conn[] = [];
const timers: NodeJS.Timeout[] = [];
let driver: Hl7MllpDriver | undefined;
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of conns.splice(0)) c.sock.destroy();
  await driver?.stop();
  driver = undefined;
});

async function start(ctx: Ctx, opts: Partial<Hl7MllpOptions>): Promise<number> {
  driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, ...opts }, ctx);
  await driver.start();
  return driver.address()!.port;
}
function connect(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' }, () => resolve(c));
    const c: Conn = { sock, acks: [], closed: false };
    conns.push(c);
    const f = new MllpFramer(1 << 20);
    sock.on('data', (d) => {
      for (const e of f.push(d)) if (e.type === 'frame') c.acks.push(e.payload.toString('utf8'));
    });
    sock.on('close', () => (c.closed = true));
    sock.on('error', () => {});
    sock.once('error', reject);
  });
}
const until = poller(5000, 20);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ackCode = (a: string): string => str(parseMessage(a).segments[1]!, 1);
const ackOf = (a: string): string => str(parseMessage(a).segments[1]!, 2);

describe('hl7-mllp: a sender that restarts frames and never finishes one (slowloris)', () => {
  it('is closed after readTimeoutMs from its first VT (read_timeouts, logged), so it cannot lock out the other senders', async () => {
    const ctx = fakeCtx();
    const readTimeoutMs = 500;
    // idleTimeoutMs far off: the read timeout alone must close them.
    const port = await start(ctx, { maxConnections: 2, readTimeoutMs, idleTimeoutMs: 60_000 });
    const bad = [await connect(port), await connect(port)];
    await until(() => ctx.counts.get('connections') === 2, 'both accepted');
    const t0 = Date.now();
    // VT + one byte more often than readTimeoutMs: each VT abandons the unfinished frame and starts another.
    for (const c of bad) {
      c.sock.write(Buffer.from([0x0b, 0x41]));
      timers.push(setInterval(() => c.sock.writable && c.sock.write(Buffer.from([0x0b, 0x41])), readTimeoutMs / 5));
    }
    await until(() => bad.every((c) => c.closed), 'slowloris connections closed', 4 * readTimeoutMs);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(readTimeoutMs - 50);
    expect(ctx.counts.get('read_timeouts')).toBe(2);
    expect(ctx.counts.get('frames_abandoned') ?? 0).toBeGreaterThan(0);
    expect(ctx.logs.filter((l) => /^MLLP frame not finished in time/.test(l.msg))).toHaveLength(2);
    // Their slots are free again: a sender gets in and is answered.
    const good = await connect(port);
    good.sock.write(frame(msg('GOOD')));
    await until(() => good.acks.length === 1 || good.closed, 'ACK of the other sender');
    expect(good.acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AA:GOOD']);
    expect(ctx.counts.get('connections_refused')).toBeUndefined();
  });

  it('a sender that abandons one frame and completes the next is served; the next frame gets its own full read timeout', async () => {
    const ctx = fakeCtx();
    const readTimeoutMs = 1000;
    const port = await start(ctx, { readTimeoutMs, idleTimeoutMs: 60_000 });
    const c = await connect(port);
    const t0 = Date.now();
    c.sock.write(frame(msg('LOST')).subarray(0, 40)); // begun, never finished
    await sleep(300);
    c.sock.write(frame(msg('A1'))); // abandons it and completes
    await until(() => c.acks.length === 1, 'ACK of A1');
    await sleep(500 - (Date.now() - t0));
    // Begun 500 ms after the first VT, finished 800 ms later: past readTimeoutMs from the first VT, within it from
    // the completed frame's successor's own start.
    const f2 = frame(msg('A2'));
    c.sock.write(f2.subarray(0, 40));
    await sleep(800);
    c.sock.write(f2.subarray(40));
    await until(() => c.acks.length === 2 || c.closed, 'ACK of A2');
    expect(c.acks.map((a) => `${ackCode(a)}:${ackOf(a)}`)).toEqual(['AA:A1', 'AA:A2']);
    expect(c.closed).toBe(false);
    expect(ctx.counts.get('frames_abandoned')).toBe(1);
    expect(ctx.counts.get('read_timeouts')).toBeUndefined();
  });
});
