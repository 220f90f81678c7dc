// The page's script does not arrive (a reset during a gateway restart, connections exhausted): the page as index.html
// draws it must say it is not running, not stand there as an empty, quiet ward "Connecting…" (review rv132 M4). With
// the script, its first act takes that back. Real Chromium against the real agent.
import { describe, expect, it } from 'vitest';
import { browserSuite } from './suite.js';

describe('the display page before (or without) its script', () => {
  const browser = browserSuite('display-not-running-');

  it('says the page is not running and to reload it when /app.js does not load', async () => {
    const d = await browser.startAgent();
    const page = await browser.newPage();
    await page.route('**/app.js', (route) => route.abort('connectionreset'));
    await page.goto(`${d.url}/?screen=ward3-station`);
    const lost = page.locator('#lost');
    expect(await lost.isVisible()).toBe(true);
    expect(await lost.textContent()).toMatch(/display page is not running.*reload/i);
    expect(await page.locator('#conn').textContent()).not.toBe('Connecting…');
    expect(await page.locator('#ward .tile').count()).toBe(0);
  });

  it('with its script, hides that at once: "Connecting…" while the live feed has not answered', async () => {
    const d = await browser.startAgent();
    const page = await browser.newPage();
    // The stream's answer never comes (within the test: the watchdog would call it lost after 12 s).
    await page.route('**/api/stream?*', () => undefined);
    await page.goto(`${d.url}/`);
    await expect.poll(() => page.locator('#conn').textContent()).toBe('Connecting…');
    expect(await page.locator('#lost').isVisible()).toBe(false);
    expect(await page.locator('#lost').textContent()).not.toMatch(/not running/);
  });
});
