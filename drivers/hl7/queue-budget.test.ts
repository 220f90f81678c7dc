// Memory bounds of the MLLP listener (review rv126 M3): bytes of received messages held across all connections are
// capped (reading pauses, TCP back-pressure), and maxFrameBytes beyond what the agent supports is clamped with a warning.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { hl7MllpFactory, MAX_FRAME_BYTES } from './index.js';
import { frame, parseMessage, str } from './protocol/index.js';
import { QueueBudget } from './server.js';
import { ackCode, holdingCtx, mllpSetup, paddedMsg as msg, poller } from './test-support.js';

const t = mllpSetup();
const until = poller(20_000, 20);
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

describe('MLLP listener: bytes held across connections', () => {
  it('N senders pipelining to a slow store stay under the shared cap (reading pauses); all are stored and ACKed once the store goes on', async () => {
    const ctx = holdingCtx();
    ctx.hold = true;
    const LIMIT = 256 * 1024;
    const FRAME = 32 * 1024;
    const SENDERS = 6;
    const EACH = 32; // maxQueuedFrames: each connection alone may hold 32 × 32 KiB = 1 MiB, all of them 6 MiB
    const budget = new QueueBudget(LIMIT);
    const port = await t.listen(ctx, budget, { maxFrameBytes: 1 << 20, maxConnections: 64, idleTimeoutMs: 60_000, maxQueuedFrames: EACH }, 10_000);
    const senders = await Promise.all(Array.from({ length: SENDERS }, () => t.connect(port)));
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
    await until(() => senders.every((c) => c.frames.length === EACH), 'every ACK', 60_000);
    expect(senders.flatMap((c) => c.frames.map(ackCode))).toEqual(Array(SENDERS * EACH).fill('AA'));
    expect(ctx.emitted).toHaveLength(SENDERS * EACH);
    expect(ctx.counts.get('duplicates')).toBeUndefined();
    await until(() => budget.used === 0, 'the budget to empty');
    expect(budget.peak).toBeLessThanOrEqual(LIMIT + slack);
  }, 90_000);

  it('while the budget is full, senders that gave up with nothing queued are closed after idleTimeoutMs: their slots are freed, a new sender is accepted, and the queued frames are stored and ACKed once (review rv128 M2)', async () => {
    const ctx = holdingCtx();
    ctx.hold = true;
    const budget = new QueueBudget(64 * 1024);
    const MAX = 4;
    const port = await t.listen(ctx, budget, { maxFrameBytes: 32 * 1024, maxConnections: MAX, idleTimeoutMs: 500, maxQueuedFrames: 32 }, 1000);
    // One sender fills the budget while the store is held: its frames are queued and must wait, not be cut off.
    const big = await t.connect(port);
    for (let i = 0; i < 6; i++) big.sock.write(frame(msg(`B${i}`, 15_000)));
    await until(() => budget.full && ctx.held.length >= 1, 'the budget to fill');
    // Other monitors connect, send one message (not read: every connection is paused), get no ACK, end their side.
    for (let k = 0; k < MAX - 1; k++) {
      const c = await t.connect(port);
      c.sock.write(frame(msg(`M${k}`)));
      c.sock.end();
    }
    await until(() => t.server!.connections === MAX, 'every slot taken');
    // Their slots are freed by the idle timeout while the budget stays full; the queued sender's is kept.
    await until(() => t.server!.connections === 1, 'the slots of the senders that left to be freed', 5_000);
    expect(budget.full).toBe(true);
    expect(ctx.counts.get('idle_timeouts')).toBe(MAX - 1);
    expect(big.sock.destroyed).toBe(false);
    // A new sender is accepted.
    const late = await t.connect(port);
    await until(() => t.server!.connections === 2, 'the new connection to be accepted', 2_000);
    expect(ctx.counts.get('connections_refused')).toBeUndefined();

    // The store goes on: the queued frames are stored once and ACKed, and the new sender's message too.
    late.sock.write(frame(msg('L0')));
    ctx.hold = false;
    for (const r of ctx.held.splice(0)) r();
    await until(() => big.frames.length === 6 && late.frames.length === 1, 'the ACKs', 10_000);
    expect(big.frames.map(ackCode)).toEqual(Array(6).fill('AA'));
    expect(ackCode(late.frames[0]!)).toBe('AA');
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
    // On loopback: the exposure warning (review rv170 M3) is not what this test is about.
    expect(hl7MllpFactory.warnings!({ host: '127.0.0.1', port: 2575, maxFrameBytes: 16777216 })).toEqual([
      { field: 'options.maxFrameBytes', message: expect.stringMatching(/^16777216 is more than the 8388608 \(8 MiB\) this driver takes: 8388608 is used/) },
    ]);
    expect(hl7MllpFactory.warnings!({ host: '127.0.0.1', port: 2575, maxFrameBytes: 8388608 })).toEqual([]);
    expect(hl7MllpFactory.warnings!({ host: '127.0.0.1', port: 2575 })).toEqual([]);

    // And it runs at 8 MiB: a 9 MiB message is refused as too large, naming the limit in force.
    const ctx = holdingCtx();
    const c = await t.connect(await t.start(ctx, { noSenderAfterS: 0, maxFrameBytes: 16777216 }));
    c.sock.write(frame(msg('BIG', 9 * 1024 * 1024)));
    c.sock.write(frame(msg('SMALL')));
    await until(() => c.frames.length === 2, 'two ACKs');
    const big = parseMessage(c.frames[0]!);
    expect([str(big.segments[1]!, 1), str(big.segments[1]!, 2)]).toEqual(['AE', 'BIG']);
    expect(str(big.segments[2]!, 8)).toMatch(/message larger than 8388608 bytes/);
    expect(ackCode(c.frames[1]!)).toBe('AA');
    expect(ctx.counts.get('frames_oversize')).toBe(1);
  }, 30_000);
});
