// A display PC whose wall clock is not the gateway's keeps its login for the session's time to live, timed on the
// page's own clock (review rv151 F2). With viewing: authenticated no stream event comes before the first login (the
// stream answers 401), so the page cannot know the clocks' offset then: a PC 20 min ahead used to drop every login
// within a second (and leave the server a session the page had forgotten). Real Chromium against the real agent.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { PASSWORDS } from './display-fixtures.js';
import { browserSuite } from './suite.js';

const browser = browserSuite('display-session-skew-');
const SKEW_MS = 20 * 60_000;

/** The display PC's wall clock `skew` ms off the gateway's (Date and the page's time origin move together). */
async function pcOff(skew: number): Promise<Page> {
  const p = await browser.newPage();
  await p.addInitScript((ms: number) => {
    const realNow = Date.now.bind(Date);
    Date.now = () => realNow() + ms;
    const origin = performance.timeOrigin + ms;
    Object.defineProperty(performance, 'timeOrigin', { get: () => origin });
  }, skew);
  return p;
}

async function logIn(p: Page): Promise<void> {
  await p.fill('#login-user', 'nurse.jones');
  await p.fill('#login-password', PASSWORDS.clinician);
  await p.click('#login-form button[type="submit"]');
  await expect.poll(() => p.locator('#who').textContent()).toBe('nurse.jones (clinician)');
}

const who = (p: Page) => p.locator('#who').textContent();

describe('viewing authenticated, the display PC\'s clock 20 min off the gateway\'s', () => {
  it('a PC 20 min ahead keeps its login (default sessionTtlS 900 s)', async () => {
    const d = await browser.startAgent({ viewing: 'authenticated' });
    const p = await pcOff(SKEW_MS);
    await p.goto(d.url + '/');
    await expect.poll(() => p.locator('#conn').textContent()).toBe('Log in to view');
    await logIn(p);
    await expect.poll(() => p.locator('#conn').textContent()).toBe('Live');
    // The page checks its login every second: three of those checks.
    await p.waitForTimeout(3000);
    expect(await who(p)).toBe('nurse.jones (clinician)');
    expect(await p.evaluate(() => sessionStorage.getItem('auth'))).not.toBeNull();
    // Reloaded (loadAuth): still logged in.
    await p.reload();
    await expect.poll(() => p.locator('#conn').textContent()).toBe('Live');
    expect(await who(p)).toBe('nurse.jones (clinician)');
    expect(d.agent.display!.auth.sessionCount).toBe(1);
  });

  it.each([['ahead', SKEW_MS], ['behind', -SKEW_MS]])('a PC 20 min %s holds its login for sessionTtlS (60 s) less a second and drops it by then', async (_name, skew) => {
    const d = await browser.startAgent({ viewing: 'authenticated', sessionTtlS: 60 });
    const p = await browser.newPage();
    // The page's clocks faked (Date and performance), its wall clock set off the gateway's.
    await p.clock.install({ time: Date.now() + skew });
    await p.goto(d.url + '/');
    await expect.poll(() => p.locator('#conn').textContent()).toBe('Log in to view');
    await logIn(p);
    await p.clock.fastForward(59_000);
    expect(await who(p)).toBe('nurse.jones (clinician)');
    await p.clock.fastForward(2_000);
    await expect.poll(() => who(p), { timeout: 10_000 }).toBe('');
    expect(await p.evaluate(() => sessionStorage.getItem('auth'))).toBeNull();
  });
});
