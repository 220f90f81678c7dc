// The header's alarm strips fit the screen (review rv177 H1): with many alarms, on a 1366×768 screen and on a wall
// screen in large type, every strip row, the "+ N more" count and the gateway alarms are inside the screen and inside
// the header's visible box (the header once scrolled inside itself and cut off the count and every gateway alarm);
// the HIGH rows are as many as there is room for, and the count says how many are not shown. Real Chromium.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MDC } from '../../agent/model/mdc.js';
import type { AlarmEvent } from '../../agent/model/reading.js';
import { reading, startDisplayAgent, type DisplayAgent } from './display-fixtures.js';
import { ARTIFACTS, browserSuite } from './suite.js';

const bedName = (i: number) => `bed-${String(i).padStart(2, '0')}`;

function deviceAlarm(bed: string, priority: AlarmEvent['priority'], text: string, at: number): AlarmEvent {
  return {
    kind: 'alarm', deviceId: `mon-${bed}`, bed, source: 'test-source', alarmId: `${bed}-${text}`, condition: null, text, priority,
    category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at,
  };
}

/** Each element: visible to a person (inside the viewport and the header's visible box, and on top there), or why not. */
function layout(p: Page) {
  return p.evaluate(() => {
    const topEl = document.getElementById('top')!;
    const top = topEl.getBoundingClientRect();
    const seen = (e: Element) => {
      const r = e.getBoundingClientRect();
      if (r.height === 0) return 'no-box';
      if (r.top < Math.max(0, top.top) - 1 || r.bottom > Math.min(innerHeight, top.bottom) + 1) return 'clipped';
      const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 40), r.top + r.height / 2);
      return hit && (hit === e || e.contains(hit)) ? 'visible' : 'covered';
    };
    const all = (sel: string) => Array.from(document.querySelectorAll(sel));
    return {
      scrolls: topEl.scrollHeight > topEl.clientHeight + 1,
      topBottom: top.bottom,
      rows: all('#ward-alarms li.alarm').map((li) => ({ prio: li.querySelector('.prio')!.textContent, seen: seen(li) })),
      heading: document.querySelector('#ward-alarms h2')!.textContent,
      more: document.querySelector('#ward-alarms .more')!.textContent,
      moreSeen: seen(document.querySelector('#ward-alarms .more')!),
      gatewayHeading: document.querySelector('#gateway-alarms h2')?.textContent ?? null,
      gatewayHeadingSeen: document.querySelector('#gateway-alarms h2') ? seen(document.querySelector('#gateway-alarms h2')!) : 'none',
      gatewayRows: all('#gateway-alarms li.alarm').map((li) => seen(li)),
    };
  });
}

describe('the alarm strips fit the screen (review rv177 H1)', () => {
  const browser = browserSuite('display-strip-fit-');
  let d: DisplayAgent;

  beforeAll(async () => {
    // An expected screen that never connects: a gateway alarm ("Display ward-x not connected …") after 5 s.
    d = await startDisplayAgent({ screens: [{ name: 'ward-x', graceS: 5 }] }, { model: { enabled: false } });
    const beds = Array.from({ length: 30 }, (_, i) => bedName(i + 1));
    const t0 = Date.now();
    await d.agent.ingest.accept('test-source', beds.map((bed) => reading(MDC.ECG_HEART_RATE, 80, { bed, at: t0 })));
    await d.agent.ingest.accept('test-source', beds.slice(0, 12).map((b, i) => deviceAlarm(b, 'high', 'VTACH', t0 - 60_000 + i)));
    await d.agent.ingest.accept('test-source', beds.slice(12, 20).map((b) => deviceAlarm(b, 'medium', 'HR HIGH', t0 - 30_000)));
    const until = Date.now() + 15_000;
    while (d.agent.alarms.engine.list({ bed: '*' }).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  }, 30_000);
  afterAll(() => d?.close());

  for (const [label, path, viewport] of [
    ['1920×1080 ?size=large', '/?size=large', { width: 1920, height: 1080 }],
    ['1366×768 normal size', '/', { width: 1366, height: 768 }],
    ['1920×1080 normal size', '/', { width: 1920, height: 1080 }],
  ] as const) {
    it(`${label}: every strip row, the count and the gateway alarm are on screen; the count says what is not shown`, async () => {
      const page = await browser.openLive(d.url + path, viewport);
      await page.locator('#gateway-alarms li.alarm').first().waitFor();
      await page.waitForTimeout(300);
      const l = await layout(page);
      await page.screenshot({ path: join(ARTIFACTS, `display-strip-fit-${viewport.width}x${viewport.height}${path.includes('large') ? '-large' : ''}.png`) });
      expect(l.scrolls, JSON.stringify(l)).toBe(false);
      expect(l.rows.map((r) => r.seen), JSON.stringify(l)).toEqual(l.rows.map(() => 'visible'));
      expect(l.moreSeen, JSON.stringify(l)).toBe('visible');
      expect(l.gatewayHeadingSeen).toBe('visible');
      expect(l.gatewayRows.length).toBeGreaterThan(0);
      expect(l.gatewayRows).toEqual(l.gatewayRows.map(() => 'visible'));
      // The header leaves part of the screen to the ward.
      expect(l.topBottom).toBeLessThanOrEqual(viewport.height * 0.8 + 1);
      expect(l.heading).toBe('Alarms (20, 12 high)');
      // At least one HIGH row; every row shown is one of the 12 highs first; the count has the rest, HIGH among them.
      const highRows = l.rows.filter((r) => r.prio === '*** HIGH').length;
      expect(highRows).toBeGreaterThanOrEqual(1);
      expect(highRows).toBe(Math.min(l.rows.length, 12));
      const m = /^\+ (\d+) more: (?:(\d+) HIGH, )?8 medium$/.exec(l.more ?? '');
      expect(m, l.more ?? '').not.toBeNull();
      expect(Number(m![1])).toBe(20 - l.rows.length);
      expect(Number(m![2] ?? 0)).toBe(12 - highRows);
      expect(l.gatewayHeading).toMatch(/^Gateway alarms \(1: 1 MEDIUM\)$/);
    });
  }

  it('follows the screen: shrunk from 1920×1080 to 1366×768, it shows fewer rows and still fits', async () => {
    const page = await browser.openLive(d.url + '/', { width: 1920, height: 1080 });
    await page.locator('#gateway-alarms li.alarm').first().waitFor();
    const before = (await layout(page)).rows.length;
    await page.setViewportSize({ width: 1366, height: 600 });
    await expect.poll(async () => (await layout(page)).rows.length).toBeLessThan(before);
    const l = await layout(page);
    expect(l.scrolls).toBe(false);
    expect(l.moreSeen).toBe('visible');
    expect(l.gatewayRows).toEqual(l.gatewayRows.map(() => 'visible'));
    await page.setViewportSize({ width: 1920, height: 1080 });
    await expect.poll(async () => (await layout(page)).rows.length).toBe(before);
  });
});
