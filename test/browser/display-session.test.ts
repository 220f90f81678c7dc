// A login that ends must cost the screen its login, not its alarms (review rv20, findings 1, 2 and 5): the page in
// Debian's headless Chromium (playwright-core), against the real agent on port 0. The server forgets a session the
// way an agent restart does (Authenticator.logout), or it is logged out elsewhere, or the page's clock passes its
// expiry.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { MDC } from '../../agent/model/mdc.js';
import { PASSWORDS, call, reading, tachycardia, type DisplayAgent } from './display-fixtures.js';
import { browserSuite } from './suite.js';

const browser = browserSuite('display-session-');
let d: DisplayAgent | undefined;
let page: Page | undefined;

async function open(path: string, opts: { fakeClock?: boolean } = {}): Promise<Page> {
  const p = await browser.newPage();
  if (opts.fakeClock) await p.clock.install();
  await p.goto(d!.url + path);
  return p;
}

async function logIn(p: Page, user: string, password: string): Promise<string> {
  await p.fill('#login-user', user);
  await p.fill('#login-password', password);
  await p.click('#login-form button[type="submit"]');
  await expect.poll(() => p.locator('#who').textContent()).not.toBe('');
  return p.evaluate(() => (JSON.parse(sessionStorage.getItem('auth') ?? 'null') as { token: string }).token);
}

const loggedOut = async (p: Page) => {
  await expect.poll(() => p.locator('#who').textContent(), { timeout: 10_000 }).toBe('');
  expect(await p.locator('#login-form').isVisible()).toBe(true);
  expect(await p.evaluate(() => sessionStorage.getItem('auth'))).toBeNull();
};

describe('viewing open', () => {
  it('a screen whose session the server no longer knows (agent restarted) keeps showing new alarms after it reconnects', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-1' })]);
    page = await open('/');
    await expect.poll(() => page!.locator('#conn').textContent()).toBe('Live');
    const token = await logIn(page, 'nurse.jones', PASSWORDS.clinician);
    d.agent.display!.auth.logout(`Bearer ${token}`);
    // Anything that reconnects the stream: here a click on a bed (a network blip or a slow-client drop would do the same).
    await page.locator('.tile[data-bed="bed-1"] h2').click();
    await expect.poll(() => page!.locator('#detail-bed').textContent()).toBe('bed-1');
    await loggedOut(page);
    expect(await page.locator('#message').textContent()).toBe('Your session has ended; log in again.');
    await expect.poll(() => page!.locator('#conn').textContent()).toBe('Live');
    await page.goto(`${d.url}/#/`);
    await d.agent.ingest.accept('test-source', tachycardia('bed-9'));
    await page.locator('.tile[data-bed="bed-9"] .alarm', { hasText: 'HR HIGH' }).waitFor({ timeout: 10_000 });
  });

  it('an expected screen whose session ended goes on being heard from (its pings are accepted), so no false "not heard from" alarm', async () => {
    d = await browser.startAgent({ screens: [{ name: 'ward-a', graceS: 5 }], limits: { heartbeatS: 1 } });
    const screens = d.agent.display!.screens;
    let pings = 0;
    const seen = screens.seen.bind(screens);
    screens.seen = (name: string) => {
      if (name === 'ward-a') pings++;
      return seen(name);
    };
    page = await open('/?screen=ward-a');
    await expect.poll(() => screens.status()[0]?.connected, { timeout: 15_000 }).toBe(true);
    const token = await logIn(page, 'nurse.jones', PASSWORDS.clinician);
    d.agent.display!.auth.logout(`Bearer ${token}`);
    const before = pings;
    await expect.poll(() => pings - before, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
    expect(screens.status()[0]).toMatchObject({ connected: true });
    expect(d.agent.alarms.engine.list({ bed: '*' }).filter((a) => a.conditionPresent)).toEqual([]);
  });

  it('the page forgets its login at the session\'s expiry, and stays live', async () => {
    d = await browser.startAgent({ sessionTtlS: 60 });
    page = await open('/', { fakeClock: true });
    await expect.poll(() => page!.locator('#conn').textContent()).toBe('Live');
    await logIn(page, 'nurse.jones', PASSWORDS.clinician);
    await page.clock.fastForward(61_000);
    await loggedOut(page);
    await expect.poll(() => page!.locator('#conn').textContent(), { timeout: 10_000 }).toBe('Live');
  });
});

describe('viewing authenticated', () => {
  it('a screen logged out elsewhere drops its login at once and says a login is needed', async () => {
    d = await browser.startAgent({ viewing: 'authenticated', screens: [{ name: 'ward-a', graceS: 30 }], limits: { heartbeatS: 1 } });
    page = await open('/?screen=ward-a');
    await expect.poll(() => page!.locator('#conn').textContent()).toBe('Log in to view');
    const token = await logIn(page, 'vera', PASSWORDS.viewer);
    await expect.poll(() => page!.locator('#conn').textContent()).toBe('Live');
    expect((await call(d.url, 'POST', '/api/logout', { token })).status).toBe(200);
    await loggedOut(page);
    await expect.poll(() => page!.locator('#conn').textContent()).toBe('Log in to view');
    expect(await page.locator('#lost').isVisible()).toBe(true);
    expect(await page.locator('#lost-detail').textContent()).toBe('Log in to view the ward.');
  });
});
