// The listener's own idle timeout and its "no sender" check (review rv126 L1): a quiet sender that the listener
// itself closed for idleness is not "no sender" (it connects again when it has something to send); one that closed
// its own connection, or a listener nobody connected to, still is.
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DriverContext } from '../types.js';
import { createHl7MllpDriver, type Hl7MllpDriver, type Hl7MllpOptions } from './index.js';

interface Ctx extends DriverContext {
  counts: Map<string, number>;
  logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
}
function fakeCtx(): Ctx {
  const logs: Ctx['logs'] = [];
  const c: Ctx = {
    name: 'icu-mllp',
    log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
    logs,
    counts: new Map(),
    emit: () => Promise.resolve(),
    count(name, by = 1) {
      c.counts.set(name, (c.counts.get(name) ?? 0) + by);
    },
  };
  return c;
}

let driver: Hl7MllpDriver | undefined;
const socks: net.Socket[] = [];
afterEach(async () => {
  for (const s of socks.splice(0)) s.destroy();
  await driver?.stop();
  driver = undefined;
});
async function start(ctx: Ctx, opts: Partial<Hl7MllpOptions>): Promise<number> {
  driver = createHl7MllpDriver({ host: '127.0.0.1', port: 0, ...opts }, ctx);
  await driver.start();
  return driver.address()!.port;
}
async function connect(port: number): Promise<{ sock: net.Socket; closed: () => boolean }> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  let closed = false;
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  socks.push(sock);
  return { sock, closed: () => closed };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('no sender, and the listener\'s own idle close', () => {
  it('a quiet sender closed by the idle timeout does not make the listener "no sender"; health says it was closed for idleness', async () => {
    const ctx = fakeCtx();
    const port = await start(ctx, { idleTimeoutMs: 300, noSenderAfterS: 1 });
    const c = await connect(port);
    await until(c.closed, 'the idle close');
    expect(ctx.counts.get('idle_timeouts')).toBe(1);
    // Well past noSenderAfterS since the close (the watch runs every second).
    await sleep(2300);
    const h = driver!.health();
    expect(h.state).toBe('running');
    expect(h.detail).toMatch(/^0 connection\(s\) \(the last sender was closed by this listener after 0\.3 s without traffic \(idleTimeoutMs\); it connects again to send\)/);
    expect(ctx.counts.get('no_sender')).toBeUndefined();
    expect(ctx.logs.filter((l) => /no HL7 sender has connected/.test(l.msg))).toEqual([]);

    // The sender comes back and then closes its own connection: from then on the quiet spell counts.
    const c2 = await connect(port);
    await until(() => (driver!.health().detail ?? '').startsWith('1 connection(s)'), 'the new connection');
    c2.sock.end();
    await until(c2.closed, 'the sender\'s close');
    await sleep(2300);
    expect(driver!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^no sender connected to 127\.0\.0\.1:\d+ for \d+ s/) });
    expect(ctx.counts.get('no_sender')).toBe(1);
  }, 15_000);

  it('a listener nobody connects to is still "no sender" after noSenderAfterS', async () => {
    const ctx = fakeCtx();
    await start(ctx, { idleTimeoutMs: 300, noSenderAfterS: 1 });
    await sleep(1300);
    expect(driver!.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^no sender connected to 127\.0\.0\.1:\d+ for 1 s: check the sender's destination port/) });
  });
});
