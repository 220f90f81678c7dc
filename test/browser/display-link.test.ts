// A display must signal its own communication failure (it is part of a distributed alarm system): a link that dies
// without closing (cable pulled, a switch that drops the path) shows "Connection lost" within two heartbeats, which
// the server announces in its `hello`. Real Chromium, real sockets; a TCP relay between them stops forwarding
// bytes without closing anything.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startDisplayAgent, type DisplayAgent } from './display-fixtures.js';
import { browserSuite } from './suite.js';

/** A TCP relay that can go silent: after blackhole(), no byte passes either way and no socket is closed. */
async function relay(targetPort: number): Promise<{ port: number; blackhole(): void; close(): Promise<void> }> {
  let silent = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    sockets.add(down);
    if (silent) return; // accepted, never answered
    const up = connect(targetPort, '127.0.0.1');
    sockets.add(up);
    down.on('data', (b) => silent || up.write(b));
    up.on('data', (b) => silent || down.write(b));
    for (const [a, b] of [[down, up], [up, down]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => silent || b.destroy());
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    blackhole: () => {
      silent = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('bedside display: a link that goes silent', () => {
  const browser = browserSuite('display-link-');
  let d: DisplayAgent | undefined;
  let r: Awaited<ReturnType<typeof relay>> | undefined;
  afterAll(async () => {
    await r?.close();
    await d?.close();
  });

  it('shows "Connection lost" within two heartbeats (announced in hello), without the socket closing', async () => {
    d = await startDisplayAgent({ limits: { heartbeatS: 2 } });
    r = await relay(Number(new URL(d.url).port));
    const page = browser.ctx.pages()[0] ?? (await browser.ctx.newPage());
    await page.goto(`http://127.0.0.1:${r.port}/`);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 10_000 }).toBe('Live');
    // Live across several heartbeats: the watchdog does not fire on a quiet but healthy link.
    await new Promise((res) => setTimeout(res, 7000));
    expect(await page.locator('#conn').textContent()).toBe('Live');

    r.blackhole();
    // 2 × 2 s + 2 s = 6 s after the last byte by the page's watchdog; the fixed 35 s of before would not show it in
    // this window. (How soon exactly depends on when the last heartbeat came: not asserted.)
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 15_000, interval: 250 }).toBe('Connection lost');
  });
});
