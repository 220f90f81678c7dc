// Memory bounds of the MLLP listener (review rv126 M3): bytes of received messages held across all connections are
// capped (reading pauses, TCP back-pressure), and maxFrameBytes beyond what the agent supports is clamped with a warning.
import net from 'node:net';
import { Ajv } from 'ajv';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { MessageHandler } from './handler.js';
import { createHl7MllpDriver, hl7MllpFactory, MAX_FRAME_BYTES, type Hl7MllpDriver } from './index.js';
import { MllpFramer, frame, parseMessage, str } from './protocol/index.js';
import { MllpServer, QueueBudget } from './server.js';

/** A PCD-01 message padded to about `bytes` with a text row (cheap to parse, so the test is about bytes, not CPU). */
const msg = (id: string, bytes = 0): string => {
  const head =
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\r` +
    `PID|||P-${id}\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;
  const pad = Math.max(0, bytes - head.length - 40);
  return pad > 0 ? `${head}OBX|2|ST|0^NOTE^99LOCAL|1.1.1.2|${'x'.repeat(pad)}||||||F\r` : head;
};

interface Ctx extends DriverContext {
  counts: Map<string, number>;
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
  emitted: DriverEvent[][];
  /** Emits wait here while `hold` is set. */
  hold: boolean;
  held: Array<() => void>;
}
function fakeCtx(): Ctx {
  const logs: Ctx['logs'] = [];
  const c: Ctx = {
    name: 'icu-mllp',
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    logs,
    emitted: [],
    counts: new Map(),
    hold: false,
    held: [],
    emit(events) {
      c.emitted.push(events);
      return c.hold ? new Promise<void>((r) => c.held.push(r)) : Promise.resolve();
    },
    count(name, by = 1) {
      c.counts.set(name, (c.counts.get(name) ?? 0) + by);
    },
  };
  return c;
}

interface Conn {
  sock: net.Socket;
  acks: string[];
}
const conns: Conn[] = [];
let server: MllpServer | undefined;
let driver: Hl7MllpDriver | undefined;
afterEach(async () => {
  for (const c of conns.splice(0)) c.sock.destroy();
  await server?.close();
  server = undefined;
  await driver?.stop();
  driver = undefined;
});

async function connect(port: number): Promise<Conn> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  const c: Conn = { sock, acks: [] };
  const f = new MllpFramer(1 << 20);
  sock.on('data', (d) => {
    for (const e of f.push(d)) if (e.type === 'frame') c.acks.push(e.payload.toString('latin1'));
  });
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  conns.push(c);
  return c;
}
async function until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
/** Waits until `value()` has not changed for `quietMs`. */
async function settled(value: () => number, quietMs = 400): Promise<void> {
  let last = value();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    await new Promise((r) => setTimeout(r, 25));
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    }
  }
}
const ackCode = (a: string): string => str(parseMessage(a).segments[1]!, 1);

describe('MLLP listener: bytes held across connections', () => {
  it('N senders pipelining to a slow store stay under the shared cap (reading pauses); all are stored and ACKed once the store goes on', async () => {
    const ctx = fakeCtx();
    ctx.hold = true;
    const LIMIT = 256 * 1024;
    const FRAME = 32 * 1024;
    const SENDERS = 6;
    const EACH = 32; // maxQueuedFrames: each connection alone may hold 32 × 32 KiB = 1 MiB, all of them 6 MiB
    const budget = new QueueBudget(LIMIT);
    const handler = new MessageHandler(ctx, {
      application: 'GW',
      facility: '',
      storeFailureAck: 'AR',
      acceptProcessingIds: ['P'],
      defaultUtcOffsetMinutes: 0,
      duplicateWindow: { maxEntries: 10_000, ttlMs: 60_000 },
    });
    server = new MllpServer(
      { host: '127.0.0.1', port: 0, maxFrameBytes: 1 << 20, maxConnections: 64, idleTimeoutMs: 60_000, readTimeoutMs: 30_000, maxQueuedFrames: EACH },
      ctx,
      handler,
      () => {},
      budget,
    );
    await server.listen();
    const port = server.address()!.port;
    const senders = await Promise.all(Array.from({ length: SENDERS }, () => connect(port)));
    senders.forEach((c, k) => {
      for (let j = 0; j < EACH; j++) c.sock.write(frame(msg(`S${k}M${j}`, FRAME)));
    });
    // Messages reach the store (held there); what else the listener read waits behind them, until the cap stops reading.
    await until(() => ctx.held.length >= 1, 'a message at the store');
    await settled(() => budget.used);
    // One read (64 KiB at most) may complete frames after the cap is reached, before every connection is paused.
    const slack = 64 * 1024 + FRAME;
    expect(budget.peak).toBeGreaterThanOrEqual(LIMIT);
    expect(budget.peak).toBeLessThanOrEqual(LIMIT + slack);
    expect(budget.used).toBeLessThan(SENDERS * EACH * FRAME);
    expect(ctx.counts.get('queued_bytes_full')).toBeGreaterThanOrEqual(1);
    expect(ctx.logs.filter((l) => /reading paused on every connection/.test(l.msg))).toHaveLength(1);

    // The store goes on: every message is read, stored once and acknowledged, and the budget empties.
    ctx.hold = false;
    for (const r of ctx.held.splice(0)) r();
    await until(() => senders.every((c) => c.acks.length === EACH), 'every ACK', 60_000);
    expect(senders.flatMap((c) => c.acks.map(ackCode))).toEqual(Array(SENDERS * EACH).fill('AA'));
    expect(ctx.emitted).toHaveLength(SENDERS * EACH);
    expect(ctx.counts.get('duplicates')).toBeUndefined();
    await until(() => budget.used === 0, 'the budget to empty');
    expect(budget.peak).toBeLessThanOrEqual(LIMIT + slack);
  }, 90_000);

  it('while the budget is full, senders that gave up with nothing queued are closed after idleTimeoutMs: their slots are freed, a new sender is accepted, and the queued frames are stored and ACKed once (review rv128 M2)', async () => {
    const ctx = fakeCtx();
    ctx.hold = true;
    const budget = new QueueBudget(64 * 1024);
    const handler = new MessageHandler(ctx, {
      application: 'GW',
      facility: '',
      storeFailureAck: 'AR',
      acceptProcessingIds: ['P'],
      defaultUtcOffsetMinutes: 0,
      duplicateWindow: { maxEntries: 1000, ttlMs: 60_000 },
    });
    const MAX = 4;
    server = new MllpServer(
      { host: '127.0.0.1', port: 0, maxFrameBytes: 32 * 1024, maxConnections: MAX, idleTimeoutMs: 500, readTimeoutMs: 30_000, maxQueuedFrames: 32 },
      ctx,
      handler,
      () => {},
      budget,
    );
    await server.listen();
    const port = server.address()!.port;
    // One sender fills the budget while the store is held: its frames are queued and must wait, not be cut off.
    const big = await connect(port);
    for (let i = 0; i < 6; i++) big.sock.write(frame(msg(`B${i}`, 15_000)));
    await until(() => budget.full && ctx.held.length >= 1, 'the budget to fill');
    // Other monitors connect, send one message (not read: every connection is paused), get no ACK, end their side.
    for (let k = 0; k < MAX - 1; k++) {
      const c = await connect(port);
      c.sock.write(frame(msg(`M${k}`)));
      c.sock.end();
    }
    await until(() => server!.connections === MAX, 'every slot taken');
    // Their slots are freed by the idle timeout while the budget stays full; the queued sender's is kept.
    await until(() => server!.connections === 1, 'the slots of the senders that left to be freed', 5_000);
    expect(budget.full).toBe(true);
    expect(ctx.counts.get('idle_timeouts')).toBe(MAX - 1);
    expect(big.sock.destroyed).toBe(false);
    // A new sender is accepted.
    const late = await connect(port);
    await until(() => server!.connections === 2, 'the new connection to be accepted', 2_000);
    expect(ctx.counts.get('connections_refused')).toBeUndefined();

    // The store goes on: the queued frames are stored once and ACKed, and the new sender's message too.
    late.sock.write(frame(msg('L0')));
    ctx.hold = false;
    for (const r of ctx.held.splice(0)) r();
    await until(() => big.acks.length === 6 && late.acks.length === 1, 'the ACKs', 10_000);
    expect(big.acks.map(ackCode)).toEqual(Array(6).fill('AA'));
    expect(ackCode(late.acks[0]!)).toBe('AA');
    expect(ctx.emitted).toHaveLength(7);
    expect(ctx.counts.get('duplicates')).toBeUndefined();
    await until(() => budget.used === 0, 'the budget to empty');
  }, 30_000);
});

describe('maxFrameBytes beyond what the agent supports', () => {
  it('a file that set more than 8 MiB still validates, is warned of, and runs at 8 MiB', async () => {
    expect(MAX_FRAME_BYTES).toBe(8 * 1024 * 1024);
    const validate = new Ajv({ useDefaults: true }).compile(hl7MllpFactory.configSchema);
    // Up to 64 MiB was accepted before: such a file must still start (warned of, not refused).
    expect(validate({ port: 2575, maxFrameBytes: 67108864 })).toBe(true);
    expect(validate({ port: 2575, maxFrameBytes: 67108865 })).toBe(false);
    expect(hl7MllpFactory.warnings!({ port: 2575, maxFrameBytes: 16777216 })).toEqual([
      { field: 'options.maxFrameBytes', message: expect.stringMatching(/^16777216 is more than the 8388608 \(8 MiB\) this driver takes: 8388608 is used/) },
    ]);
    expect(hl7MllpFactory.warnings!({ port: 2575, maxFrameBytes: 8388608 })).toEqual([]);
    expect(hl7MllpFactory.warnings!({ port: 2575 })).toEqual([]);

    // And it runs at 8 MiB: a 9 MiB message is refused as too large, naming the limit in force.
    const ctx = fakeCtx();
    driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, noSenderAfterS: 0, maxFrameBytes: 16777216 }, ctx);
    await driver.start();
    const c = await connect(driver.address()!.port);
    c.sock.write(frame(msg('BIG', 9 * 1024 * 1024)));
    c.sock.write(frame(msg('SMALL')));
    await until(() => c.acks.length === 2, 'two ACKs');
    const big = parseMessage(c.acks[0]!);
    expect([str(big.segments[1]!, 1), str(big.segments[1]!, 2)]).toEqual(['AE', 'BIG']);
    expect(str(big.segments[2]!, 8)).toMatch(/message larger than 8388608 bytes/);
    expect(ackCode(c.acks[1]!)).toBe('AA');
    expect(ctx.counts.get('frames_oversize')).toBe(1);
  }, 30_000);
});
