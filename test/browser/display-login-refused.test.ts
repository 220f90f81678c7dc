// A login the gateway refuses for now (429: another login from this address being checked, or an address or name
// locked after failures) is told in the gateway's words with how long to wait, not always as "Too many failed logins"
// (review rv132 M3). Real Chromium against the real agent; the refusals are the server's shapes (sendError, Retry-After).
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserSuite } from './suite.js';

describe('a refused login on the display page', () => {
  const browser = browserSuite('display-login-refused-');

  async function refusedWith(page: Page, error: string, retryAfter: string): Promise<string> {
    await page.route('**/api/login', (route) =>
      route.fulfill({ status: 429, contentType: 'application/json; charset=utf-8', headers: { 'Retry-After': retryAfter }, body: JSON.stringify({ error }) }),
    );
    const m = page.locator('#message');
    // The message of an earlier refusal may still be shown: wait for this one's text, not for the element (under load
    // the earlier text was read, as CI saw on 9873652).
    const before = (await m.isVisible()) ? ((await m.textContent()) ?? '') : null;
    await page.fill('#login-user', 'nurse.jones');
    await page.fill('#login-password', 'whatever');
    await page.click('#login-form button[type="submit"]');
    await m.waitFor({ state: 'visible' });
    if (before !== null) await page.waitForFunction((prev) => document.querySelector('#message')?.textContent !== prev, before);
    await page.unroute('**/api/login');
    return (await m.textContent()) ?? '';
  }

  it("says the gateway's reason and the wait it gives, not always failed logins", async () => {
    const d = await browser.startAgent();
    const page = await browser.openLive(d.url);
    const busy = await refusedWith(page, 'a login from this address is being checked; try again', '1');
    expect(busy).toContain('a login from this address is being checked; try again');
    expect(busy).toContain('1 s');
    expect(busy).not.toMatch(/failed logins/i);
    expect(await page.locator('#message').getAttribute('class')).toBe('error');

    const locked = await refusedWith(page, 'too many failed logins; try later', '300');
    expect(locked).toContain('too many failed logins; try later');
    expect(locked).toContain('5 min');
  });
});
