// A bed tile's 20 rows under many alarms (review rv188 H3): an older unanswered HIGH has a row ahead of newer
// acknowledged ones, and the "+ N more alarms not shown" count does not count again an alarm the stream has since shown
// as a row or ended. Real Chromium (Debian's, through playwright-core), real sockets.
import { expect, it } from 'vitest';
import type { AlarmEvent } from '../../agent/model/reading.js';
import { type DisplayAgent } from './display-fixtures.js';
import { browserSuite } from './suite.js';

const browser = browserSuite('display-tile-rows-');
let d: DisplayAgent | undefined;

function alarm(id: string, priority: AlarmEvent['priority'], phase: AlarmEvent['phase'], at: number): AlarmEvent {
  return { kind: 'alarm', deviceId: 'mon-1', bed: 'bed-1', source: 'test-source', alarmId: id, condition: null, text: id, priority, category: 'physiological', phase, deviceTime: null, receivedAt: at };
}

it('an unanswered HIGH keeps its row behind 21 newer acknowledged ones; the count left out follows the stream', async () => {
  d = await browser.startAgent();
  const t0 = Date.now();
  await d.agent.ingest.accept('test-source', [alarm('VFIB', 'high', 'start', t0)]);
  await d.agent.ingest.accept('test-source', Array.from({ length: 21 }, (_, i) => alarm(`H${i}`, 'high', 'start', t0 + 1 + i)));
  for (const a of d.agent.alarms.engine.list({ bed: 'bed-1' })) {
    if (a.condition.text !== 'VFIB') expect(d.agent.alarms.acknowledge(a.id, { user: 'n', role: 'clinician', from: 't' }).ok).toBe(true);
  }
  const page = await browser.openLive(d.url + '/');
  const tile = page.locator('.tile[data-bed="bed-1"]');
  const rows = tile.locator('li.alarm');
  const more = tile.locator('.more');
  await expect.poll(() => rows.count()).toBe(20);
  expect(await rows.first().textContent()).toContain('VFIB');
  expect(await more.textContent()).toBe('+ 2 more alarms not shown: 2 HIGH');
  // The oldest two (H0, H1) were left out. H0 ends: one fewer left out, not a row and still counted.
  await d.agent.ingest.accept('test-source', [alarm('H0', 'high', 'end', Date.now())]);
  await expect.poll(() => more.textContent()).toBe('+ 1 more alarm not shown: 1 HIGH');
  // H1 changes priority: the stream gives it a row; it is no longer counted as not shown.
  await d.agent.ingest.accept('test-source', [alarm('H1', 'medium', 'start', Date.now())]);
  await expect.poll(() => rows.count()).toBe(21);
  expect(await more.isHidden()).toBe(true);
  expect(await rows.first().textContent()).toContain('VFIB');
}, 60_000);

it('an alarm received before the tile was built but raised after it is not taken off the count of those left out (rv190 L1)', async () => {
  d = await browser.startAgent();
  const t0 = Date.now();
  await d.agent.ingest.accept('test-source', Array.from({ length: 22 }, (_, i) => alarm(`H${i}`, 'high', 'start', t0 + i)));
  const page = await browser.openLive(d.url + '/');
  const tile = page.locator('.tile[data-bed="bed-1"]');
  const rows = tile.locator('li.alarm');
  const more = tile.locator('.more');
  await expect.poll(() => rows.count()).toBe(20);
  expect(await more.textContent()).toBe('+ 2 more alarms not shown: 2 HIGH');
  // Every state the tile shows from here, as rendered: rows and the count of those left out.
  await page.evaluate(() => {
    const w = window as unknown as { seen: [number, number][] };
    w.seen = [];
    const t = document.querySelector('.tile[data-bed="bed-1"]')!;
    const note = () => {
      const m = t.querySelector<HTMLElement>('.more');
      w.seen.push([t.querySelectorAll('li.alarm').length, m && !m.hidden ? Number(/\+ (\d+)/.exec(m.textContent ?? '')?.[1]) : 0]);
    };
    new MutationObserver(note).observe(t, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  // Received (raisedAt) before the page's tile was built, raised by the engine after it (the commit window): it was
  // never in the count. The stream gives it a row at once; the tile sent with the next flush has 20 rows and 3 counted.
  await d.agent.ingest.accept('test-source', [alarm('LATE', 'high', 'start', t0 + 100)]);
  await expect.poll(() => more.textContent()).toBe('+ 3 more alarms not shown: 3 HIGH');
  const seen = await page.evaluate(() => (window as unknown as { seen: [number, number][] }).seen);
  expect(seen.some(([n]) => n === 21)).toBe(true);
  // Never one of the 23 open without a row and uncounted.
  for (const [n, counted] of seen) expect(n + counted).toBe(23);
}, 60_000);
