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
