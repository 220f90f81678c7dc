// What an alarm row says in words (review rv177): a latched alarm whose audio is paused still says LATCHED; a device
// alarm whose device has gone silent says NOT CONFIRMED, in its tile and in the strip; an Ack that another screen made
// first is told as "Already acknowledged", not as a failure; a technical alarm carries the word TECH as text.
// Real Chromium (Debian's, through playwright-core), real sockets.
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { MDC } from '../../agent/model/mdc.js';
import type { AlarmEvent } from '../../agent/model/reading.js';
import { PASSWORDS, reading } from './display-fixtures.js';
import { ARTIFACTS, browserSuite } from './suite.js';

function deviceAlarm(bed: string, priority: AlarmEvent['priority'], text: string, phase: AlarmEvent['phase'] = 'start', category: AlarmEvent['category'] = 'physiological'): AlarmEvent {
  return {
    kind: 'alarm', deviceId: `mon-${bed}`, bed, source: 'test-source', alarmId: `${bed}-${text}`, condition: null, text, priority,
    category, phase, deviceTime: null, receivedAt: Date.now(),
  };
}

async function logIn(page: Page): Promise<void> {
  await page.fill('#login-user', 'nurse.jones');
  await page.fill('#login-password', PASSWORDS.clinician);
  await page.click('#login-form button[type="submit"]');
  await expect.poll(() => page.locator('#who').textContent()).toBe('nurse.jones (clinician)');
}

describe('alarm row cues in headless Chromium (review rv177)', () => {
  const browser = browserSuite('display-row-cues-');

  it('a latched alarm whose audio is paused still says LATCHED, and why, beside the countdown (M1)', async () => {
    const d = await browser.startAgent({}, { model: { enabled: false } });
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-1' })]);
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-1', 'high', 'ASYSTOLE')]);
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-1', 'high', 'ASYSTOLE', 'end')]);
    const page = await browser.openLive(d.url + '/');
    await logIn(page);
    const tileRow = page.locator('.tile[data-bed="bed-1"] li.alarm', { hasText: 'ASYSTOLE' });
    const stripRow = page.locator('#ward-alarms li.alarm', { hasText: 'ASYSTOLE' });
    await expect.poll(() => tileRow.locator('.state').textContent()).toBe('LATCHED');
    await expect.poll(() => tileRow.locator('button.pause').isEnabled()).toBe(true);
    await tileRow.locator('button.pause').click();
    await expect.poll(() => tileRow.getAttribute('data-state')).toBe('audio-paused');
    for (const row of [tileRow, stripRow]) {
      await expect.poll(() => row.locator('.state').textContent()).toMatch(/^LATCHED · AUDIO PAUSED \d:\d\d$/);
      expect(await row.locator('.state').getAttribute('title')).toBe('Condition ended; waits for acknowledgement');
    }
    // It still ticks down, and keeps the word.
    const first = await tileRow.locator('.state').textContent();
    await expect.poll(() => tileRow.locator('.state').textContent(), { timeout: 5000 }).not.toBe(first);
    expect(await tileRow.locator('.state').textContent()).toMatch(/^LATCHED · AUDIO PAUSED \d:\d\d$/);
  });

  it('a device alarm of a device that went silent says NOT CONFIRMED, for how long, in its tile and the strip; no longer once it sends (M2)', async () => {
    // mon-bed-1 is listed with the shortest silentAfterS (5 s): its "No data" alarm comes while the page is open.
    const d = await browser.startAgent({}, { model: { enabled: false }, alarms: { devices: { 'mon-bed-1': { bed: 'bed-1', silentAfterS: 5 } } } });
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 150, { bed: 'bed-1' }), deviceAlarm('bed-1', 'medium', 'HR HIGH (device)')]);
    const page = await browser.openLive(d.url + '/');
    const rows = [
      page.locator('.tile[data-bed="bed-1"] li.alarm', { hasText: 'HR HIGH (device)' }),
      page.locator('#ward-alarms li.alarm', { hasText: 'HR HIGH (device)' }),
    ];
    for (const row of rows) await row.waitFor();
    for (const row of rows) expect(await row.locator('.unconfirmed').isVisible()).toBe(false);
    // Silent: the gateway raises "No data from mon-bed-1"; the rows of its alarm say the device no longer confirms it.
    await page.locator('li.alarm', { hasText: 'No data from mon-bed-1' }).first().waitFor({ timeout: 15_000 });
    for (const row of rows) {
      const badge = row.locator('.unconfirmed');
      await expect.poll(() => badge.isVisible()).toBe(true);
      expect(await badge.textContent()).toMatch(/^NOT CONFIRMED \d+ s: device silent$/);
      expect(await badge.getAttribute('title')).toMatch(/^No data from mon-bed-1 for 5 s or more \(found at .+\): the device has not confirmed this alarm since/);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'display-unconfirmed.png') });
    // The "No data" row itself is not marked.
    expect(await page.locator('li.alarm', { hasText: 'No data from mon-bed-1' }).locator('.unconfirmed').first().isVisible()).toBe(false);
    // It counts up with the clock.
    const first = await rows[0]!.locator('.unconfirmed').textContent();
    await expect.poll(() => rows[0]!.locator('.unconfirmed').textContent(), { timeout: 5000 }).not.toBe(first);
    // A screen opened now gets it in its snapshot.
    const other = await browser.openLive(d.url + '/');
    await expect.poll(() => other.locator('#ward-alarms li.alarm', { hasText: 'HR HIGH (device)' }).locator('.unconfirmed').isVisible()).toBe(true);
    // The device sends again: confirmed again.
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 150, { bed: 'bed-1' }), { ...deviceAlarm('bed-1', 'medium', 'HR HIGH (device)'), phase: 'continue' }]);
    for (const row of rows) await expect.poll(() => row.locator('.unconfirmed').isVisible()).toBe(false);
  }, 40_000);

  it('an Ack another screen made first is told as "Already acknowledged", by whom and when, not as a failure (L1)', async () => {
    const d = await browser.startAgent({}, { model: { enabled: false } });
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-1' }), deviceAlarm('bed-1', 'high', 'VTACH')]);
    const page = await browser.openLive(d.url + '/');
    await logIn(page);
    const row = page.locator('.tile[data-bed="bed-1"] li.alarm', { hasText: 'VTACH' });
    await expect.poll(() => row.locator('button.ack').isEnabled()).toBe(true);
    // The press leaves this screen; another screen's Ack reaches the gateway first (two screens pressing at once).
    await page.route('**/api/alarms/*/ack', async (route) => {
      const id = d.agent.alarms.engine.list({ bed: 'bed-1' })[0]!.id;
      expect(d.agent.alarms.acknowledge(id, { user: 'nurse.smith', role: 'clinician', from: '10.0.0.8' }).ok).toBe(true);
      await route.continue();
    });
    await row.locator('button.ack').click();
    const message = page.locator('#message');
    await expect.poll(() => message.textContent()).toMatch(/^Already acknowledged: VTACH \(by nurse\.smith at \d{1,2}:\d\d:\d\d( [AP]M)?\)$/);
    expect(await message.getAttribute('class')).not.toContain('error');
    expect(await message.textContent()).not.toContain('NOT');
    await expect.poll(() => row.getAttribute('data-state')).toBe('acknowledged');
  });

  it('a technical alarm carries the word TECH as text, not only a glyph drawn by CSS (L2)', async () => {
    const d = await browser.startAgent({}, { model: { enabled: false } });
    await d.agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-1' }), reading(MDC.ECG_HEART_RATE, 80, { bed: 'bed-2' })]);
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-1', 'high', 'LEADS OFF', 'start', 'technical'), deviceAlarm('bed-2', 'high', 'ASYSTOLE')]);
    const page = await browser.openLive(d.url + '/');
    const tech = page.locator('#ward-alarms li.alarm', { hasText: 'LEADS OFF' });
    const phys = page.locator('#ward-alarms li.alarm', { hasText: 'ASYSTOLE' });
    await tech.waitFor();
    await phys.waitFor();
    expect(await tech.locator('.kind').textContent()).toBe('TECH');
    expect(await tech.locator('.kind').isVisible()).toBe(true);
    expect(await tech.innerText()).toMatch(/\bTECH\b/);
    expect(await phys.innerText()).not.toMatch(/\bTECH\b/);
    // No glyph drawn by CSS carries it.
    expect(await tech.locator('.text').evaluate((e) => getComputedStyle(e, '::before').content)).toBe('none');
    expect(await page.locator('.tile[data-bed="bed-1"] li.alarm .kind').textContent()).toBe('TECH');
  });
});
