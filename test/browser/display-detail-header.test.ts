// A bed's detail view scrolled down to its waveforms and trends (review rv132 H1): the open bed's detail alarm list
// scrolls away with the page, so its new HIGH alarm must stay on screen in the sticky header, with the bed's name and
// its audio-pause button. Real Chromium against the real agent.
import { join } from 'node:path';
import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { UNITS } from '../../agent/model/mdc.js';
import type { AlarmEvent, DriverEvent } from '../../agent/model/reading.js';
import { ecg } from './display-fixtures.js';
import { ARTIFACTS, browserSuite } from './suite.js';

function deviceAlarm(bed: string, text: string): AlarmEvent {
  return {
    kind: 'alarm', deviceId: `mon-${bed}`, bed, source: 'test-source', alarmId: `${bed}-${text}`, condition: null, text, priority: 'high',
    category: 'physiological', phase: 'start', deviceTime: null, receivedAt: Date.now(),
  };
}

/** Whether an element is in the viewport and on top there (not covered, not scrolled away): as display-alarms.test.ts. */
function onScreen(l: Locator): Promise<boolean> {
  return l.evaluate((e) => {
    const r = e.getBoundingClientRect();
    if (r.height === 0 || r.top < 0 || r.bottom > innerHeight) return false;
    const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 40), r.top + r.height / 2);
    return !!hit && (hit === e || e.contains(hit));
  });
}

describe('a bed detail view scrolled to its trends', () => {
  const browser = browserSuite('display-detail-header-');

  it("keeps the open bed's new HIGH alarm, its name and its audio-pause button on screen, and counts it in the strip", async () => {
    const d = await browser.startAgent();
    const now = Date.now();
    const events: DriverEvent[] = [];
    // A ventilated ICU bed: 24 parameters (monitor and ventilator) with short trends, 4 waveforms: a page to scroll.
    for (const bed of ['bed-1', 'bed-2']) {
      for (let m = 0; m < 24; m++) {
        for (let i = 6; i >= 0; i--) {
          events.push({ kind: 'numeric', deviceId: `mon-${bed}`, bed, source: 'test-source', mdc: { code: 190000 + m, refid: `MDC_PARAM_${m}` }, value: 50 + m, unit: UNITS.DIMLESS, deviceTime: null, receivedAt: now - i * 5000, quality: { state: 'valid' } });
        }
      }
    }
    for (let w = 0; w < 4; w++) events.push({ ...ecg(Array.from({ length: 2000 }, (_, i) => Math.sin(i / 20)), { bed: 'bed-1', at: now }), mdc: { code: 131000 + w, refid: `MDC_WAVE_${w}` } });
    await d.agent.ingest.accept('test-source', events);

    const page = await browser.openLive(`${d.url}/#/bed/bed-1`, { width: 1280, height: 800 });
    await page.locator('#trends .trend').first().waitFor();
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    expect(await page.evaluate(() => scrollY)).toBeGreaterThan(300);

    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-1', 'ASYSTOLE'), deviceAlarm('bed-2', 'VFIB')]);
    const own = page.locator('#ward-alarms .alarm', { hasText: 'ASYSTOLE' });
    const other = page.locator('#ward-alarms .alarm', { hasText: 'VFIB' });
    await other.waitFor();
    await own.waitFor({ timeout: 5000 });
    expect(await page.evaluate(() => scrollY)).toBeGreaterThan(300);
    expect(await onScreen(own)).toBe(true);
    expect(await own.locator('a.bed').textContent()).toBe('bed-1');
    expect(await onScreen(other)).toBe(true);
    expect(await page.locator('#ward-alarms h2').textContent()).toBe('Alarms (2, 2 high)');
    // The open bed's name and its audio-pause button stay in the sticky header too.
    expect(await page.locator('#detail-bed').textContent()).toBe('bed-1');
    expect(await onScreen(page.locator('#detail-bed'))).toBe(true);
    expect(await onScreen(page.locator('#bed-pause'))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'display-detail-scrolled.png') });
    // The detail's own list (with Ack and Pause) still has it.
    expect(await page.locator('#detail-alarms .alarm', { hasText: 'ASYSTOLE' }).count()).toBe(1);

    // Back on the ward, the bed's header goes.
    await page.evaluate(() => (location.hash = '#/'));
    await page.locator('#ward').waitFor({ state: 'visible' });
    expect(await page.locator('#bed-pause').isVisible()).toBe(false);
    expect(await page.locator('#detail-bed').isVisible()).toBe(false);
  });
});
