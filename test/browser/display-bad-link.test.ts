// A bed link whose hash does not decode (a hand-typed or cut-off kiosk URL, `#/bed/50%`) stopped the page's script at
// start-up: no live feed was ever asked for, and the screen stood there as an empty, quiet ward saying "Connecting…"
// (review rv121 M2). Now it shows the ward, says why, and connects. Real Chromium against the real agent.
import { describe, expect, it } from 'vitest';
import { tachycardia } from './display-fixtures.js';
import { browserSuite } from './suite.js';

const browser = browserSuite('display-bad-link-');

describe('a bed link that does not decode', () => {
  for (const hash of ['#/bed/50%', '#/bed/%E0%A4%A']) {
    it(`${hash}: shows the ward live with a message, and the address says #/`, async () => {
      const d = await browser.startAgent();
      await d.agent.ingest.accept('test-source', tachycardia('bed-1'));
      const page = await browser.newPage(); // an uncaught error on the page fails the test
      let streams = 0;
      page.on('request', (q) => {
        if (new URL(q.url()).pathname === '/api/stream') streams++;
      });
      await page.goto(d.url + '/' + hash);
      await expect.poll(() => page.locator('#conn').textContent(), { timeout: 10_000 }).toBe('Live');
      expect(streams).toBeGreaterThanOrEqual(1);
      expect(await page.locator('#message').textContent()).toMatch(/^This link names no bed that can be read .*: showing the ward\.$/);
      expect(await page.locator('#message').getAttribute('class')).toBe('error');
      expect(await page.evaluate(() => location.hash)).toBe('#/');
      expect(await page.locator('#ward').isVisible()).toBe(true);
      expect(await page.locator('#detail').isVisible()).toBe(false);
      await page.locator('.tile[data-bed="bed-1"] .alarm', { hasText: 'HR HIGH' }).waitFor({ timeout: 10_000 });
      // The page goes on working: a good link still opens the bed.
      await page.evaluate(() => (location.hash = '#/bed/bed-1'));
      await expect.poll(() => page.locator('#detail-bed').textContent()).toBe('bed-1');
    }, 30_000);
  }
});
