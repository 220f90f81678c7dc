// Requests that never get an answer must not leave the page silent (review rv121 M1). A browser opens at most 6
// HTTP/1.1 connections to a host and each open tab's live stream holds one: with six tabs of the gateway open, no
// other request of any tab gets out (Ack, Pause, login, the `seen` reports, the screen pings). The page gives up on a
// request after 10 s and says the action was NOT done; it shows itself cut off when its `seen` reports go unanswered
// for two heartbeats; the server closes a stream that has not reported within maxLagMs of opening, which frees a
// connection. Real Chromium, real sockets; a request "held in the browser" is one the test routes and never answers.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { PASSWORDS, tachycardia, type DisplayAgent } from './display-fixtures.js';
import { browserSuite } from './suite.js';

const browser = browserSuite('display-unanswered-');
let d: DisplayAgent | undefined;

async function logIn(p: Page): Promise<void> {
  await p.fill('#login-user', 'nurse.jones');
  await p.fill('#login-password', PASSWORDS.clinician);
  await p.click('#login-form button[type="submit"]');
  await expect.poll(() => p.locator('#who').textContent()).toBe('nurse.jones (clinician)');
}

describe('requests that get no answer', () => {
  it('an Ack whose request never gets an answer says within about 10 s that it is not known whether it was done (review rv122 L1)', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', tachycardia('bed-1'));
    const page = await browser.openLive(d.url + '/');
    await logIn(page);
    await page.route('**/api/alarms/*/ack', () => undefined); // held: neither answered nor failed
    const pressedAt = Date.now();
    await page.locator('.tile[data-bed="bed-1"] .alarm', { hasText: 'HR HIGH' }).locator('button.ack').click();
    const message = page.locator('#message');
    await expect.poll(() => message.textContent(), { timeout: 15_000, interval: 250 }).toMatch(/^Not known whether acknowledged \(HR HIGH[^)]*\): the gateway gave no answer within 10 s\. Check the alarm before trying again\.$/);
    expect(Date.now() - pressedAt).toBeGreaterThanOrEqual(9000);
    expect(await message.getAttribute('class')).toBe('error');
    expect(d.agent.alarms.engine.list({ bed: 'bed-1' }).filter((a) => a.state === 'acknowledged')).toEqual([]);
  }, 30_000);

  it('an audio pause given up after 10 s says it is not known whether audio was paused, never "NOT paused" (review rv123 M2)', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', tachycardia('bed-1'));
    const page = await browser.openLive(d.url + '/');
    await logIn(page);
    await page.route('**/api/alarms/*/audio-pause', () => undefined); // held: neither answered nor failed
    await page.locator('.tile[data-bed="bed-1"] .alarm', { hasText: 'HR HIGH' }).locator('button.pause').click();
    await expect.poll(() => page.locator('#message').textContent(), { timeout: 15_000, interval: 250 }).toMatch(/^Not known whether audio paused \(HR HIGH[^)]*\): the gateway gave no answer within 10 s\./);
  }, 30_000);

  it('a login that never gets an answer says it did not happen', async () => {
    d = await browser.startAgent();
    const page = await browser.openLive(d.url + '/');
    await page.route('**/api/login', () => undefined);
    await page.fill('#login-user', 'nurse.jones');
    await page.fill('#login-password', PASSWORDS.clinician);
    await page.click('#login-form button[type="submit"]');
    await expect.poll(() => page.locator('#message').textContent(), { timeout: 15_000, interval: 250 }).toMatch(/^NOT logged in: the gateway did not answer/);
    expect(await page.locator('#message').getAttribute('class')).toBe('error');
    expect(await page.locator('#who').textContent()).toBe('');
  }, 30_000);

  it('reports the page has received right after the snapshot, not a heartbeat later (a slow first report would get it closed)', async () => {
    d = await browser.startAgent(); // heartbeat 5 s
    const page = await browser.newPage();
    let liveAt = 0;
    let firstSeenAt = 0;
    page.on('request', (q) => {
      if (q.url().endsWith('/api/stream/seen') && !firstSeenAt) firstSeenAt = Date.now();
    });
    await page.goto(d.url + '/');
    await expect.poll(() => page.locator('#conn').textContent(), { interval: 100 }).toBe('Live');
    liveAt = Date.now();
    await expect.poll(() => firstSeenAt, { timeout: 10_000, interval: 100 }).toBeGreaterThan(0);
    expect(firstSeenAt - liveAt).toBeLessThan(2000);
  }, 30_000);

  it('says actions cannot reach the gateway while its `seen` reports go unanswered for two heartbeats; clears when they are answered', async () => {
    d = await browser.startAgent({ limits: { heartbeatS: 2 } });
    const page = await browser.openLive(d.url + '/');
    const banner = page.locator('#unanswered');
    expect(await banner.isVisible()).toBe(false);
    const held = () => undefined;
    await page.route('**/api/stream/seen', held);
    await expect.poll(() => banner.isVisible(), { timeout: 10_000, interval: 250 }).toBe(true);
    expect(await banner.textContent()).toMatch(/^Actions cannot reach the gateway — Ack, Audio pause, login and NEWS2 entries from this screen get no answer/);
    expect(await page.locator('#conn').textContent()).toBe('Gateway not answering');
    expect(await page.locator('#lost').isVisible()).toBe(false); // the feed itself still comes: values are live
    await page.unroute('**/api/stream/seen', held);
    await expect.poll(() => banner.isVisible(), { timeout: 10_000, interval: 250 }).toBe(false);
    expect(await page.locator('#conn').textContent()).toBe('Live');
  }, 30_000);

  it('six tabs in one browser: a login from one of them is answered or told as not done, and the gateway frees connections', async () => {
    d = await browser.startAgent(); // heartbeat 5 s: a stream that has not reported is closed 20 s after it opened
    await d.agent.ingest.accept('test-source', tachycardia('bed-1'));
    const agent = d.agent;
    const pages = await Promise.all(Array.from({ length: 6 }, () => browser.newPage()));
    await Promise.all(pages.map((p) => p.goto(d!.url + '/', { waitUntil: 'commit' })));
    await new Promise((r) => setTimeout(r, 2000));
    const p = pages[0]!;
    const askedAt = Date.now();
    await p.fill('#login-user', 'nurse.jones');
    await p.fill('#login-password', 'wrong password');
    await p.click('#login-form button[type="submit"]');
    // Either the request got out (a connection was freed) and failed, or it was given up on: never silence.
    await expect.poll(() => p.locator('#message').textContent(), { timeout: 15_000, interval: 250 }).toMatch(/^(Login failed|NOT logged in: the gateway did not answer)/);
    expect(Date.now() - askedAt).toBeLessThan(13_000);
    await expect.poll(() => agent.metrics.get('display_sse_dropped_total', { reason: 'lagging' }), { timeout: 25_000 }).toBeGreaterThan(0);
  }, 60_000);
});
