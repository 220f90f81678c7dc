// The page keeps the device token each login answers (localStorage, per user name) and sends it with that user's next
// login (review rv135 M1): behind a ward's shared address (here 127.0.0.1, the page's and the guesser's), a guesser's
// wrong passwords at her name do not keep her out of this browser. Real Chromium against the real agent.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { PASSWORDS, call } from './display-fixtures.js';
import { browserSuite } from './suite.js';

describe('device tokens on the display page', () => {
  const browser = browserSuite('display-login-device-');

  async function logIn(page: Page, user: string, password: string): Promise<void> {
    await page.fill('#login-user', user);
    await page.fill('#login-password', password);
    await page.click('#login-form button[type="submit"]');
  }
  const stored = (page: Page) => page.evaluate(() => localStorage.getItem('deviceTokens'));

  it('keeps the token per user and sends it with that user\'s login, which then passes a guesser\'s lock on the shared address', async () => {
    const d = await browser.startAgent({ login: { maxFailures: 5, maxFailuresPerUser: 3, windowS: 300 } });
    const page = await browser.openLive(d.url);
    const sent: unknown[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/login')) sent.push(r.postDataJSON());
    });
    await logIn(page, 'nurse.jones', PASSWORDS.clinician);
    await expect.poll(() => page.locator('#who').textContent()).toBe('nurse.jones (clinician)');
    expect(sent).toEqual([{ user: 'nurse.jones', password: PASSWORDS.clinician }]);
    await page.click('#logout');
    await expect.poll(() => page.locator('#who').textContent()).toBe('');
    // Kept past the logout (it names a browser, not a session) and past the tab (localStorage).
    const tokens = JSON.parse((await stored(page)) ?? 'null') as [string, string][];
    expect(tokens.map(([u]) => u)).toEqual(['nurse.jones']);
    const mine = tokens[0]![1];

    // The guesser behind the same address: 3 wrong at her name, 10 at others.
    for (let i = 0; i < 3; i++) await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: `guess-${i}` } });
    for (let i = 0; i < 10; i++) await call(d.url, 'POST', '/api/login', { body: { user: `ghost-${i}`, password: 'g' } });
    expect((await call(d.url, 'POST', '/api/login', { body: { user: 'nurse.jones', password: PASSWORDS.clinician } })).status).toBe(429);

    await logIn(page, 'nurse.jones', PASSWORDS.clinician);
    await expect.poll(() => page.locator('#who').textContent()).toBe('nurse.jones (clinician)');
    expect(sent[1]).toEqual({ user: 'nurse.jones', password: PASSWORDS.clinician, deviceToken: mine });
    // Replaced by the one this login answered.
    const after = JSON.parse((await stored(page)) ?? 'null') as [string, string][];
    expect(after).toHaveLength(1);
    expect(after[0]![1]).not.toBe(mine);

    // Another user's login at this browser sends no token of hers (and, locked here, is refused as before).
    await page.click('#logout');
    await logIn(page, 'vera', PASSWORDS.viewer);
    await page.locator('#message.error').waitFor({ state: 'visible' });
    expect(sent[2]).toEqual({ user: 'vera', password: PASSWORDS.viewer });
    expect(JSON.stringify(d.captured.lines)).not.toContain(mine);
  });

  it('a page whose stored device tokens are garbage still logs in, and stores its new one', async () => {
    const d = await browser.startAgent();
    const page = await browser.openLive(d.url);
    await page.evaluate(() => localStorage.setItem('deviceTokens', '{not json'));
    await logIn(page, 'nurse.jones', PASSWORDS.clinician);
    await expect.poll(() => page.locator('#who').textContent()).toBe('nurse.jones (clinician)');
    expect(JSON.parse((await stored(page)) ?? 'null')).toHaveLength(1);
  });
});
