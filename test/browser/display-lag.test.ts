// A slow link must not look live (review rv29 #1): bytes keep coming, so the watchdog is content, but everything
// arrives late. The page judges freshness by the server's time in each event against its own clock (the offset taken
// from the stream's least delayed event), says "Connection slow — data N s behind", and shows true ages. Real
// Chromium, real sockets; a TCP relay between them that can hold every byte from the server for a while (in order).
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MDC } from '../../agent/model/mdc.js';
import { reading, startDisplayAgent, type DisplayAgent } from './display-fixtures.js';
import { ARTIFACTS, browserSuite } from './suite.js';

/** A relay that delays what the server sends by `delay(ms)` from then on, keeping the order of the bytes. */
async function delayRelay(targetPort: number): Promise<{ port: number; delay(ms: number): void; close(): Promise<void> }> {
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = connect(targetPort, '127.0.0.1');
    sockets.add(down).add(up);
    const queue: { at: number; bytes: Buffer }[] = [];
    let timer: NodeJS.Timeout | null = null;
    // The server may close its side (keep-alive timeout) while its last bytes are still held here: they are
    // delivered first, then the page's side is closed.
    let upEnded = false;
    const pump = () => {
      timer = null;
      const now = Date.now();
      while (queue.length && queue[0]!.at <= now) down.write(queue.shift()!.bytes);
      if (queue.length) timer = setTimeout(pump, queue[0]!.at - now);
      else if (upEnded) down.end();
    };
    down.on('data', (b) => up.write(b));
    up.on('data', (b: Buffer) => {
      queue.push({ at: Date.now() + delayMs, bytes: b });
      if (!timer) pump();
    });
    up.on('close', () => {
      upEnded = true;
      if (!timer) pump();
    });
    up.on('error', () => undefined);
    down.on('error', () => up.destroy());
    down.on('close', () => {
      if (timer) clearTimeout(timer);
      up.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    delay: (ms) => {
      delayMs = ms;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('bedside display on a slow link', () => {
  const browser = browserSuite('display-lag-');
  let d: DisplayAgent | undefined;
  let r: Awaited<ReturnType<typeof delayRelay>> | undefined;
  let feeder: NodeJS.Timeout | undefined;
  afterAll(async () => {
    clearInterval(feeder);
    await r?.close();
    await d?.close();
  });

  it('says "Connection slow — data N s behind" with true ages while events arrive late, live again when they do not; far behind, reconnects', async () => {
    d = await startDisplayAgent(); // heartbeat 5 s: the watchdog allows 12 s of silence
    const agent = d.agent;
    // A heart rate every 250 ms: the page gets a vitals event at every flush, each one late once the relay holds them.
    feeder = setInterval(() => void agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-1' })]), 250);
    r = await delayRelay(Number(new URL(d.url).port));
    const page = browser.ctx.pages()[0] ?? (await browser.ctx.newPage());
    const streams: string[] = [];
    let seenReports = 0;
    page.on('request', (q) => {
      if (q.url().includes('/api/stream?') || q.url().endsWith('/api/stream')) streams.push(q.url());
      if (q.url().endsWith('/api/stream/seen')) seenReports++;
    });
    await page.goto(`http://127.0.0.1:${r.port}/`);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 10_000 }).toBe('Live');
    // The page reports what it has received at each heartbeat (the server closes a stream far behind).
    await expect.poll(() => seenReports, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#slow').isVisible()).toBe(false);

    r.delay(6000);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000, interval: 250 }).toBe('Connection slow');
    expect(await page.locator('#slow').isVisible()).toBe(true);
    const behind = Number(/data (\d+) s behind/.exec((await page.locator('#slow-detail').textContent()) ?? '')?.[1]);
    expect(behind).toBeGreaterThanOrEqual(4);
    expect(behind).toBeLessThanOrEqual(12);
    // The newest heart rate shown was measured some 6 s ago, and says so (the page's clock no longer follows late events).
    const age = await page.locator('.tile[data-bed="bed-1"] .vital .age').first().textContent();
    expect(Number(/^(\d+) s ago$/.exec(age ?? '')?.[1])).toBeGreaterThanOrEqual(4);
    await page.screenshot({ path: join(ARTIFACTS, 'display-slow.png') });

    r.delay(0);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000, interval: 250 }).toBe('Live');
    expect(await page.locator('#slow').isVisible()).toBe(false);
    // Slow is not lost: the same stream all along.
    expect(streams).toHaveLength(1);

    // Further and further behind (each step a pause shorter than the watchdog's 12 s): past 12 s the page drops the
    // backlog and opens a new stream, and says why.
    r.delay(6000);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 20_000, interval: 250 }).toBe('Connection slow');
    r.delay(10_000);
    await new Promise((res) => setTimeout(res, 3000));
    r.delay(14_000);
    await expect.poll(() => page.locator('#lost-detail').textContent(), { timeout: 30_000, interval: 250 }).toMatch(/^The live feed fell \d+ s behind\./);
    expect(await page.locator('#conn').textContent()).toBe('Connection lost');
    await expect.poll(() => streams.length, { timeout: 10_000 }).toBe(2);
    r.delay(0);
    await expect.poll(() => page.locator('#conn').textContent(), { timeout: 30_000, interval: 250 }).toBe('Live');
  }, 120_000);

  it('a step of the display PC\'s own clock (an NTP correction) is not taken for a slow link, nor does it age the values', async () => {
    r?.delay(0);
    const page = await browser.ctx.newPage();
    try {
      await page.clock.install(); // time flows as usual; the test can step the page's wall clock
      await page.goto(d!.url, { timeout: 30_000 });
      await expect.poll(() => page.locator('#conn').textContent(), { timeout: 10_000 }).toBe('Live');
      await page.clock.setSystemTime(Date.now() + 6000);
      // Over two heartbeats (5 s each) and many vitals events: live all along, ages as before.
      const seen = new Set<string>();
      const ages: number[] = [];
      const until = Date.now() + 12_000;
      while (Date.now() < until) {
        seen.add((await page.locator('#conn').textContent()) ?? '');
        ages.push(Number(/^(\d+) s ago$/.exec((await page.locator('.tile[data-bed="bed-1"] .vital .age').first().textContent()) ?? '')?.[1] ?? 0));
        await page.waitForTimeout(250);
      }
      expect([...seen]).toEqual(['Live']);
      expect(Math.max(...ages)).toBeLessThan(4);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('a delay the link has from the start (every event late, the first too) is shown as slow, with true ages', async () => {
    // The page cannot see this one in its events alone (their least delay is its idea of "now"): the server's answer
    // to its heartbeat reports says how late they came, on the server's clock.
    r?.delay(0);
    const r2 = await delayRelay(Number(new URL(d!.url).port));
    r2.delay(8000);
    const page = await browser.ctx.newPage();
    try {
      await page.goto(`http://127.0.0.1:${r2.port}/`, { timeout: 30_000 });
      await expect.poll(() => page.locator('#conn').textContent(), { timeout: 40_000, interval: 250 }).toBe('Connection slow');
      const behind = Number(/data (\d+) s behind/.exec((await page.locator('#slow-detail').textContent()) ?? '')?.[1]);
      expect(behind).toBeGreaterThanOrEqual(6);
      // Ages follow at the next tick of the page's clock (every second).
      const ageS = async () => Number(/^(\d+) s ago$/.exec((await page.locator('.tile[data-bed="bed-1"] .vital .age').first().textContent()) ?? '')?.[1]);
      await expect.poll(ageS, { timeout: 5000, interval: 250 }).toBeGreaterThanOrEqual(6);
    } finally {
      await page.close();
      await r2.close();
    }
  }, 90_000);
});
