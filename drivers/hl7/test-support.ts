// Shared set-up for the HL7 listener tests over real TCP on loopback: a fake DriverContext that records what the
// driver does, an MLLP test client, and the listener or driver started on port 0 and closed after each test.
// Not a *.test.ts file, so vitest does not collect it.
import net from 'node:net';
import pino from 'pino';
import { afterEach } from 'vitest';
import type { DriverEvent } from '../../agent/model/reading.js';
import type { DriverContext } from '../types.js';
import { MessageHandler, type HandlerOptions } from './handler.js';
import { createHl7MllpDriver, type Hl7MllpDriver, type Hl7MllpOptions } from './index.js';
import { MllpFramer, frame, parseMessage, str } from './protocol/index.js';
import { MllpServer, type QueueBudget, type ServerOptions } from './server.js';

/** One log line the fake context's logger wrote, parsed. */
export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A DriverContext that keeps its log lines and counters for assertions. */
export interface CaptureCtx extends DriverContext {
  logs: LogLine[];
  counts: Map<string, number>;
}

/** Builds a CaptureCtx named 'icu-mllp' with the test's own fields (`extra`) and emit (default: resolve at once). */
export function captureCtx<X extends object>(
  extra: X,
  emit?: (c: CaptureCtx & X, events: DriverEvent[]) => Promise<void>,
  level = 'info',
): CaptureCtx & X {
  const logs: LogLine[] = [];
  const counts = new Map<string, number>();
  const c: CaptureCtx & X = Object.assign(
    {
      name: 'icu-mllp',
      log: pino({ level }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) }),
      logs,
      counts,
      emit: (events: DriverEvent[]): Promise<void> => (emit ? emit(c, events) : Promise.resolve()),
      count: (name: string, by = 1): void => void counts.set(name, (counts.get(name) ?? 0) + by),
    },
    extra,
  );
  return c;
}

/** A CaptureCtx whose emits are recorded, and wait (in `held`) while `hold` is set: a slow store. */
export interface HoldingCtx extends CaptureCtx {
  emitted: DriverEvent[][];
  hold: boolean;
  held: Array<() => void>;
}

/** Builds a HoldingCtx (store not held until the test sets `hold`). */
export function holdingCtx(level = 'info'): HoldingCtx {
  const extra: Pick<HoldingCtx, 'emitted' | 'hold' | 'held'> = { emitted: [], hold: false, held: [] };
  return captureCtx(
    extra,
    (c, events) => {
      c.emitted.push(events);
      return c.hold ? new Promise<void>((r) => c.held.push(r)) : Promise.resolve();
    },
    level,
  );
}

/** MessageHandler options the listener tests use (AR on store failure, processing id P, UTC, 60 s duplicate window). */
export function handlerOptions(maxEntries: number): HandlerOptions {
  return {
    application: 'GW',
    facility: '',
    storeFailureAck: 'AR',
    acceptProcessingIds: ['P'],
    defaultUtcOffsetMinutes: 0,
    duplicateWindow: { maxEntries, ttlMs: 60_000 },
  };
}

/** A PCD-01 message padded to about `bytes` with a text row (cheap to parse, so a test is about bytes, not CPU). */
export const paddedMsg = (id: string, bytes = 0): string => {
  const head =
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|${id}|P|2.6\r` +
    `PID|||P-${id}\rPV1||I|ICU^1^A\rOBR|1|||182777000^monitoring of patient^SCT|||20240101115959+0000\r` +
    `OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||F\r`;
  const pad = Math.max(0, bytes - head.length - 40);
  return pad > 0 ? `${head}OBX|2|ST|0^NOTE^99LOCAL|1.1.1.2|${'x'.repeat(pad)}||||||F\r` : head;
};

/** MSA-1 of an ACK. */
export const ackCode = (a: string): string => str(parseMessage(a).segments[1]!, 1);

/** An `until(pred, what, ms)` that polls every `stepMs` and fails after `ms` (default `defaultMs`), naming `what`. */
export function poller(defaultMs: number, stepMs: number): (pred: () => boolean, what: string, ms?: number) => Promise<void> {
  return async (pred, what, ms = defaultMs) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, stepMs));
    }
  };
}

/** An MLLP sender on one TCP connection: frames in (decoded latin1), `closed` once the socket closes. */
export class MllpTestClient {
  readonly frames: string[] = [];
  closed = false;
  private constructor(readonly sock: net.Socket) {
    const f = new MllpFramer(1 << 20);
    sock.on('data', (d) => {
      for (const e of f.push(d)) if (e.type === 'frame') this.frames.push(e.payload.toString('latin1'));
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }
  /** Connects to the listener on 127.0.0.1:`port`. */
  static connect(port: number): Promise<MllpTestClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new MllpTestClient(s)));
      s.once('error', reject);
    });
  }
  /** Sends `text` in one MLLP frame. */
  send(text: string): void {
    this.sock.write(frame(text));
  }
}

/** What a test file opened (clients, a listener, a driver); `mllpSetup` closes it all after each test. */
export interface MllpSetup {
  server: MllpServer | undefined;
  driver: Hl7MllpDriver | undefined;
  /** Connects a client, closed after the test. */
  connect(port: number): Promise<MllpTestClient>;
  /** Starts the driver on 127.0.0.1 port 0 with `opts`; resolves with its port. */
  start(ctx: DriverContext, opts: Partial<Hl7MllpOptions>): Promise<number>;
  /** Starts a bare listener on 127.0.0.1 port 0 (readTimeoutMs 30 s) with its handler and `budget`; resolves with its port. */
  listen(
    ctx: DriverContext,
    budget: QueueBudget,
    opts: Pick<ServerOptions, 'maxFrameBytes' | 'maxConnections' | 'idleTimeoutMs' | 'maxQueuedFrames'>,
    maxEntries: number,
  ): Promise<number>;
}

/** Registers the afterEach that closes clients, then the listener, then the driver; call once at the file's top level. */
export function mllpSetup(): MllpSetup {
  const clients: MllpTestClient[] = [];
  const t: MllpSetup = {
    server: undefined,
    driver: undefined,
    async connect(port) {
      const c = await MllpTestClient.connect(port);
      clients.push(c);
      return c;
    },
    async start(ctx, opts) {
      const driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, ...opts }, ctx);
      t.driver = driver;
      await driver.start();
      return driver.address()!.port;
    },
    async listen(ctx, budget, opts, maxEntries) {
      const handler = new MessageHandler(ctx, handlerOptions(maxEntries));
      const server = new MllpServer({ host: '127.0.0.1', port: 0, readTimeoutMs: 30_000, ...opts }, ctx, handler, () => {}, budget);
      t.server = server;
      await server.listen();
      return server.address()!.port;
    },
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.sock.destroy();
    await t.server?.close();
    t.server = undefined;
    await t.driver?.stop();
    t.driver = undefined;
  });
  return t;
}
