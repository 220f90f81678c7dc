// The queued-bytes cap is sized from the heap the process runs with (review rv130 H1): under the image's
// --max-old-space-size=512, 32 MiB of queued messages cost ~2 GB of heap while parsed and mapped, aborting the agent.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { MessageHandler } from './handler.js';
import { createHl7MllpDriver, hl7MllpFactory, type Hl7MllpDriver } from './index.js';
import { MllpFramer, frame, parseMessage, str } from './protocol/index.js';
import { MAX_QUEUED_BYTES, MllpServer, QueueBudget, queuedBytesCap } from './server.js';

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

interface Ctx extends DriverContext {
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
  emitted: DriverEvent[][];
  counts: Map<string, number>;
  hold: boolean;
  held: Array<() => void>;
}
function fakeCtx(level = 'info'): Ctx {
  const logs: Ctx['logs'] = [];
  const c: Ctx = {
    name: 'icu-mllp',
    log: pino({ level }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
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
const msg = (id: string, bytes = 0): string => {
  const head =
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\r` +
    `PID|||P-${id}\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;
  const pad = Math.max(0, bytes - head.length - 40);
  return pad > 0 ? `${head}OBX|2|ST|0^NOTE^99LOCAL|1.1.1.2|${'x'.repeat(pad)}||||||F\r` : head;
};
const ackCode = (a: string): string => str(parseMessage(a).segments[1]!, 1);
async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const socks: net.Socket[] = [];
let server: MllpServer | undefined;
let driver: Hl7MllpDriver | undefined;
afterEach(async () => {
  for (const s of socks.splice(0)) s.destroy();
  await server?.close();
  server = undefined;
  await driver?.stop();
  driver = undefined;
});
async function connect(port: number): Promise<{ sock: net.Socket; acks: string[] }> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  const acks: string[] = [];
  const f = new MllpFramer(1 << 20);
  sock.on('data', (d) => {
    for (const e of f.push(d)) if (e.type === 'frame') acks.push(e.payload.toString('latin1'));
  });
  sock.on('error', () => {});
  socks.push(sock);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  return { sock, acks };
}

describe('a message larger than the cap', () => {
  it('is taken when the budget has room, and reading pauses on every connection until it is stored', async () => {
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
    server = new MllpServer(
      { host: '127.0.0.1', port: 0, maxFrameBytes: 1 << 20, maxConnections: 8, idleTimeoutMs: 60_000, readTimeoutMs: 30_000, maxQueuedFrames: 32 },
      ctx,
      handler,
      () => {},
      budget,
    );
    await server.listen();
    const port = server.address()!.port;
    const big = await connect(port);
    big.sock.write(frame(msg('BIG', 256 * 1024))); // 4× the cap
    await until(() => ctx.held.length === 1, 'the large message at the store');
    expect(budget.used).toBeGreaterThan(budget.limit);
    expect(budget.full).toBe(true);
    // Another sender's message is not read while it waits on the store.
    const other = await connect(port);
    other.sock.write(frame(msg('SMALL')));
    await new Promise((r) => setTimeout(r, 300));
    expect(ctx.emitted).toHaveLength(1);
    expect(other.acks).toHaveLength(0);
    // Once it is stored, it is ACKed and reading resumes.
    ctx.hold = false;
    ctx.held.splice(0).forEach((r) => r());
    await until(() => big.acks.length === 1 && other.acks.length === 1, 'both ACKs');
    expect([ackCode(big.acks[0]!), ackCode(other.acks[0]!)]).toEqual(['AA', 'AA']);
    expect(budget.used).toBe(0);
  }, 20_000);
});

describe('the cap in force is logged at start', () => {
  it('the listener start line names the queued-bytes limit and the heap limit it came from', async () => {
    const ctx = fakeCtx();
    driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, noSenderAfterS: 0 }, ctx);
    await driver.start();
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
