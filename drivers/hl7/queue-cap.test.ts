// The queued-bytes cap is sized from the heap the process runs with (review rv130 H1): under the image's
// --max-old-space-size=512, 32 MiB of queued messages cost ~2 GB of heap while parsed and mapped, aborting the agent.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { hl7MllpFactory } from './index.js';
import { frame } from './protocol/index.js';
import { MAX_QUEUED_BYTES, QueueBudget, queuedBytesCap } from './server.js';
import { ackCode, holdingCtx, mllpSetup, paddedMsg as msg, poller } from './test-support.js';

const MiB = 1024 * 1024;

describe('queuedBytesCap: from the heap limit', () => {
  it('is about 5 MiB under the image heap limit (512 MB old space), more on larger heaps, 32 MiB at most and 1 MiB at least', () => {
    // heap_size_limit as node reports it: --max-semi-space-size=4 --max-old-space-size=512 (the image), 512 alone, 1024, 4096.
    expect(queuedBytesCap(549453824)).toBe(5439488); // (524 MiB − 192 MiB) / 64 ≈ 5.2 MiB
    expect(queuedBytesCap(587202560)).toBe(6029312);
    expect(queuedBytesCap(1124073472)).toBe(14417920); // ≈ 13.75 MiB
    expect(queuedBytesCap(4345298944)).toBe(MAX_QUEUED_BYTES);
    expect(MAX_QUEUED_BYTES).toBe(32 * MiB);
    // A heap smaller than the reserve still takes 1 MiB (an ordinary message), never 0 or less.
    expect(queuedBytesCap(128 * MiB)).toBe(1 * MiB);
    expect(queuedBytesCap(0)).toBe(1 * MiB);
    // Each message's heap cost (~60×) with the reserve stays within the limit.
    expect(queuedBytesCap(549453824) * 64 + 192 * MiB).toBeLessThanOrEqual(549453824);
  });

  it('the process budget takes it from the heap limit node actually runs with (--max-old-space-size=512)', async () => {
    const server = fileURLToPath(new URL('./server.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--max-semi-space-size=4', '--max-old-space-size=512', '--import', 'tsx', '--input-type=module', '-e',
        `const m = await import(${JSON.stringify(server)}); console.log(m.mllpQueueBudget.limit, m.HEAP_LIMIT_BYTES)`],
      { timeout: 20_000 },
    );
    const [limit, heap] = stdout.trim().split(' ').map(Number);
    expect(heap).toBe(549453824);
    expect(limit).toBe(5439488);
  }, 30_000);
});

const t = mllpSetup();
const until = poller(10_000, 20);

describe('a message larger than the cap', () => {
  it('is taken when the budget has room, and reading pauses on every connection until it is stored', async () => {
    const ctx = holdingCtx();
    ctx.hold = true;
    const budget = new QueueBudget(64 * 1024);
    const port = await t.listen(ctx, budget, { maxFrameBytes: 1 << 20, maxConnections: 8, idleTimeoutMs: 60_000, maxQueuedFrames: 32 }, 1000);
    const big = await t.connect(port);
    big.sock.write(frame(msg('BIG', 256 * 1024))); // 4× the cap
    await until(() => ctx.held.length === 1, 'the large message at the store');
    expect(budget.used).toBeGreaterThan(budget.limit);
    expect(budget.full).toBe(true);
    // Another sender's message is not read while it waits on the store.
    const other = await t.connect(port);
    other.sock.write(frame(msg('SMALL')));
    await new Promise((r) => setTimeout(r, 300));
    expect(ctx.emitted).toHaveLength(1);
    expect(other.frames).toHaveLength(0);
    // Once it is stored, it is ACKed and reading resumes.
    ctx.hold = false;
    ctx.held.splice(0).forEach((r) => r());
    await until(() => big.frames.length === 1 && other.frames.length === 1, 'both ACKs');
    expect([ackCode(big.frames[0]!), ackCode(other.frames[0]!)]).toEqual(['AA', 'AA']);
    expect(budget.used).toBe(0);
  }, 20_000);
});

describe('the cap in force is logged at start', () => {
  it('the listener start line names the queued-bytes limit and the heap limit it came from', async () => {
    const ctx = holdingCtx();
    await t.start(ctx, { noSenderAfterS: 0 });
    const heap = v8.getHeapStatistics().heap_size_limit;
    const line = ctx.logs.find((l) => l.msg === 'MLLP listener started');
    expect(line).toMatchObject({ queuedBytesLimit: queuedBytesCap(heap), heapLimitBytes: heap });
  });
});

describe('documentation in the schema (review rv130 L4, H1)', () => {
  it('idleTimeoutMs says a connection with nothing waiting is closed even while reading is paused by full queued bytes; no text still says the cap is 32 MiB', () => {
    const props = (hl7MllpFactory.configSchema as { properties: Record<string, { description: string }> }).properties;
    expect(props.idleTimeoutMs!.description).toMatch(/nothing waiting to be stored is closed after idleTimeoutMs even while reading is paused because the agent's queued-message bytes are full/);
    expect(props.maxQueuedFrames!.description).toMatch(/heap limit/);
    expect(props.maxFrameBytes!.description).not.toMatch(/limited to 32 MiB/);
  });
});
