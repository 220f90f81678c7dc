// The alarm display as the people at the bedside see it (review rv29): a scrolled ward screen still shows new alarms
// and a lost link; the strip never hides a high alarm; high priority is plain without colour and flashes whatever the
// OS motion setting; an Ack press lands while vitals stream in, and a failed one is told; a waveform that stops is not
// drawn as live; the model's badge does not give a probability for an alarm it could not judge; large type for wall
// screens. Real Chromium (Debian's, through playwright-core), real sockets.
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { MDC } from '../../agent/model/mdc.js';
import type { AlarmEvent, DriverEvent } from '../../agent/model/reading.js';
import { MODEL_ANNOTATION_KIND } from '../../agent/alarms/types.js';
import { PASSWORDS, ecg, reading, tachycardia, type DisplayAgent } from './display-fixtures.js';
import { ARTIFACTS, browserSuite } from './suite.js';

const bedName = (i: number) => `bed-${String(i).padStart(2, '0')}`;

/** A device alarm (as a monitor sends it), raised at `at`. */
function deviceAlarm(bed: string, priority: AlarmEvent['priority'], text: string, at = Date.now()): AlarmEvent {
  return {
    kind: 'alarm', deviceId: `mon-${bed}`, bed, source: 'test-source', alarmId: `${bed}-${text}`, condition: null, text, priority,
    category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at,
  };
}

function vitalsOf(beds: string[], at = Date.now()): DriverEvent[] {
  return beds.flatMap((bed) => [reading(MDC.ECG_HEART_RATE, 80, { bed, at }), reading(MDC.PULS_OXIM_SAT_O2, 96, { bed, at })]);
}

/** Whether an element is in the viewport and on top there (not covered, not scrolled away). */
function onScreen(l: Locator): Promise<boolean> {
  return l.evaluate((e) => {
    const r = e.getBoundingClientRect();
    if (r.height === 0 || r.top < 0 || r.bottom > innerHeight) return false;
    const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 40), r.top + r.height / 2);
    return !!hit && (hit === e || e.contains(hit));
  });
}

describe('bedside display alarms in headless Chromium', () => {
  const browser = browserSuite('display-alarms-');
  let d: DisplayAgent | undefined;
  let page: Page | undefined;
  const open = (path: string, viewport?: { width: number; height: number }) => browser.openLive(d!.url + path, viewport);

  it('keeps the alarm strip and the "Connection lost" banner on screen when the ward is scrolled', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', vitalsOf(Array.from({ length: 96 }, (_, i) => bedName(i + 1))));
    page = await open('/');
    await page.locator('.tile[data-bed="bed-96"]').waitFor();
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    expect(await page.evaluate(() => scrollY)).toBeGreaterThan(1000);
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-01', 'high', 'ASYSTOLE')]);
    const row = page.locator('#ward-alarms .alarm', { hasText: 'ASYSTOLE' });
    await row.waitFor();
    expect(await onScreen(row)).toBe(true);
    expect(await onScreen(page.locator('#conn'))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'display-scrolled-alarm.png') });

    await d.agent.display!.stop();
    await page.locator('#lost').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => scrollY)).toBeGreaterThan(1000);
    expect(await onScreen(page.locator('#lost'))).toBe(true);
  });

  it('shows every high alarm in the strip, the oldest unanswered first, and counts the rest by priority, "HIGH" loudly', async () => {
    d = await browser.startAgent();
    const beds = Array.from({ length: 40 }, (_, i) => bedName(i + 1));
    const t0 = Date.now();
    await d.agent.ingest.accept('test-source', vitalsOf(beds, t0));
    // The oldest high alarm, on a bed far below the fold; then seven newer highs and fifteen mediums.
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-38', 'high', 'ASYSTOLE', t0 - 60_000)]);
    await d.agent.ingest.accept('test-source', beds.slice(0, 7).map((b, i) => deviceAlarm(b, 'high', 'SpO2 DESAT', t0 - 30_000 + i * 1000)));
    await d.agent.ingest.accept('test-source', beds.slice(10, 25).map((b) => deviceAlarm(b, 'medium', 'HR HIGH', t0 - 20_000)));
    page = await open('/', { width: 1920, height: 1080 });
    const stripBeds = () => page!.locator('#ward-alarms .alarm a.bed').allTextContents();
    await expect.poll(async () => (await stripBeds()).length).toBe(8);
    expect(await stripBeds()).toEqual(['bed-38', 'bed-01', 'bed-02', 'bed-03', 'bed-04', 'bed-05', 'bed-06', 'bed-07']);
    expect(await onScreen(page.locator('#ward-alarms .alarm', { hasText: 'ASYSTOLE' }))).toBe(true);
    const more = page.locator('#ward-alarms .more');
    expect(await more.textContent()).toBe('+ 15 more: 15 medium');
    expect(await more.getAttribute('class')).not.toContain('has-high');

    // Beyond what the strip can hold, the count says how many are HIGH, and loudly.
    await d.agent.ingest.accept('test-source', beds.slice(25, 30).map((b) => deviceAlarm(b, 'high', 'VTACH')));
    await expect.poll(() => more.textContent()).toBe('+ 18 more: 3 HIGH, 15 medium');
    expect(await more.getAttribute('class')).toContain('has-high');
    expect(await onScreen(more)).toBe(true);
    expect((await stripBeds()).slice(0, 8)).toEqual(['bed-38', 'bed-01', 'bed-02', 'bed-03', 'bed-04', 'bed-05', 'bed-06', 'bed-07']);
    await page.screenshot({ path: join(ARTIFACTS, 'display-strip-highs.png') });
  });

  it("shows a device's information signal (priority none, HL7 PN) as INFO, without a priority marker, after the alarms, and never as the tile's alarm", async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', vitalsOf(['bed-01', 'bed-02']));
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-01', 'none', 'NBP DONE'), deviceAlarm('bed-02', 'low', 'SpO2 LOW')]);
    page = await open('/');
    const row = (text: string) => page!.locator('#ward-alarms .alarm', { hasText: text });
    await row('NBP DONE').waitFor();
    expect(await row('NBP DONE').locator('.prio').textContent()).toBe('INFO');
    expect(await row('NBP DONE').getAttribute('class')).toContain('info');
    expect(await row('SpO2 LOW').locator('.prio').textContent()).toMatch(/^\S+ LOW$/); // the low marker, then LOW
    expect(await page.locator('#ward-alarms .alarm .text').allTextContents()).toEqual(['SpO2 LOW', 'NBP DONE']);
    expect(await page.locator('.tile[data-bed="bed-01"]').getAttribute('class')).toBe('tile');
    expect(await page.locator('.tile[data-bed="bed-02"]').getAttribute('class')).toBe('tile top-low');
  });

  it('does not move the tiles when a new alarm joins the strip (a press would land on another tile), up to its rows and the count line beyond them', async () => {
    d = await browser.startAgent();
    const beds = Array.from({ length: 40 }, (_, i) => bedName(i + 1));
    await d.agent.ingest.accept('test-source', vitalsOf(beds));
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-01', 'medium', 'HR HIGH')]);
    page = await open('/', { width: 1920, height: 1080 });
    await expect.poll(() => page!.locator('#ward-alarms .alarm').count()).toBe(1);
    const tileTop = () => page!.locator('.tile[data-bed="bed-20"]').evaluate((e) => Math.round(e.getBoundingClientRect().top));
    const before = await tileTop();
    // Five more, one at a time, highs among them (taller rows), on beds after bed-20: the strip fills its six rows.
    const raised: [string, 'high' | 'medium', string][] = [['bed-30', 'medium', 'SpO2 LOW'], ['bed-35', 'high', 'ASYSTOLE'], ['bed-33', 'medium', 'RR HIGH'], ['bed-38', 'high', 'VTACH'], ['bed-40', 'high', 'APNEA']];
    for (const [i, [bed, priority, text]] of raised.entries()) {
      await d.agent.ingest.accept('test-source', [deviceAlarm(bed, priority, text)]);
      await expect.poll(() => page!.locator('#ward-alarms .alarm').count()).toBe(i + 2);
      expect(await tileTop(), `after ${text} on ${bed}`).toBe(before);
    }
    // A seventh lower alarm goes to the count line, whose place is kept: nothing moves either.
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-39', 'medium', 'NBP HIGH')]);
    await expect.poll(() => page!.locator('#ward-alarms .more').textContent()).toBe('+ 1 more: 1 medium');
    expect(await tileTop()).toBe(before);
  });

  it('marks high priority without colour (stripes, white border, a large "*** HIGH"), and keeps flashing with prefers-reduced-motion', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', vitalsOf(['bed-01', 'bed-02', 'bed-03']));
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-01', 'high', 'ASYSTOLE'), deviceAlarm('bed-02', 'medium', 'HR HIGH')]);
    const p = await browser.newPage();
    // An OS with "animation effects" off: flashing is the alarm signal, not decoration, so it stays.
    await p.emulateMedia({ reducedMotion: 'reduce' });
    await p.goto(d.url);
    const high = p.locator('.tile[data-bed="bed-01"] .alarm.high');
    const medium = p.locator('.tile[data-bed="bed-02"] .alarm.medium');
    await high.waitFor();
    await medium.waitFor();
    expect(await p.evaluate(() => matchMedia('(prefers-reduced-motion: reduce)').matches)).toBe(true);
    expect(await high.evaluate((e) => getComputedStyle(e).animationName)).toBe('flash-high');
    expect(await medium.evaluate((e) => getComputedStyle(e).animationName)).toBe('flash-medium');

    const style = await high.evaluate((e) => {
      const s = getComputedStyle(e);
      const prio = e.querySelector('.prio')!;
      return {
        image: s.backgroundImage, border: parseFloat(s.borderTopWidth), borderColour: s.borderTopColor,
        prio: prio.textContent, prioPx: parseFloat(getComputedStyle(prio).fontSize), textPx: parseFloat(getComputedStyle(e.querySelector('.text')!).fontSize),
      };
    });
    expect(style.image).toContain('repeating-linear-gradient');
    expect(style.border).toBeGreaterThanOrEqual(4);
    expect(style.borderColour).toBe('rgb(255, 255, 255)');
    expect(style.prio).toBe('*** HIGH');
    expect(style.prioPx).toBeGreaterThanOrEqual(style.textPx * 1.3);
    expect(await medium.locator('.prio').textContent()).toBe('** MEDIUM');
    // The tile's border says the priority by its width too.
    const borderOf = (bed: string) => p.locator(`.tile[data-bed="${bed}"]`).evaluate((e) => parseFloat(getComputedStyle(e).borderTopWidth));
    const [h, m, none] = [await borderOf('bed-01'), await borderOf('bed-02'), await borderOf('bed-03')];
    expect(h).toBeGreaterThan(m);
    expect(m).toBeGreaterThan(none);
    await p.screenshot({ path: join(ARTIFACTS, 'display-priority-cues.png') });
  });

  it('says "not assessed: <reason>" for an alarm the model could not judge, never its probability', async () => {
    // The agent's own model off: only the annotations below (it would say the same of these, having no waveform).
    d = await browser.startAgent({}, { model: { enabled: false } });
    await d.agent.ingest.accept('test-source', [...tachycardia('bed-1'), ...tachycardia('bed-2'), ...tachycardia('bed-3')]);
    const modelActor = { user: 'edge-model edge-alarm-gbt-4', role: 'model', from: 'sha256:ab' };
    const limitAlarm = (bed: string) => d!.agent.alarms.engine.list({ bed }).find((a) => a.source === 'limit')!;
    // What EdgeModel.assess gives without usable signal: a raw probability, verdict uncertain, and why.
    d.agent.alarms.annotate(
      limitAlarm('bed-1').id,
      { kind: MODEL_ANNOTATION_KIND, values: { probability: 0.0123, threshold: 0.0749, verdict: 'uncertain', modelVersion: 'edge-alarm-gbt-4', action: 'none' }, note: 'no usable ECG or pulse signal in the window' },
      modelActor,
    );
    d.agent.alarms.annotate(limitAlarm('bed-2').id, { kind: MODEL_ANNOTATION_KIND, values: { verdict: 'not-assessed', action: 'none' }, note: 'not assessed: model not loaded (no file)' }, modelActor);
    // A condition that returned (episode 2): the earlier episode's "likely false" is not shown as current (rv101 M1).
    d.agent.alarms.annotate(limitAlarm('bed-3').id, { kind: MODEL_ANNOTATION_KIND, values: { probability: 0.01, threshold: 0.07, verdict: 'likely-false', action: 'none' } }, modelActor);
    d.agent.alarms.annotate(limitAlarm('bed-3').id, { kind: MODEL_ANNOTATION_KIND, values: { verdict: 're-assessing', episode: 2, action: 'none' }, note: 'the condition returned: re-assessing' }, modelActor);
    page = await open('/');
    const badge = (bed: string) => page!.locator(`.tile[data-bed="${bed}"] .alarm`, { hasText: 'HR HIGH' }).locator('.model');
    await expect.poll(() => badge('bed-1').textContent()).toBe('model: not assessed: no usable ECG or pulse signal in the window');
    expect(await badge('bed-1').getAttribute('class')).toContain('verdict-not-assessed');
    expect(await badge('bed-2').textContent()).toBe('model: not assessed: model not loaded (no file)');
    expect(await badge('bed-3').textContent()).toBe('model: re-assessing (the condition returned)');
    expect(await badge('bed-3').getAttribute('class')).toContain('verdict-not-assessed');
    expect(await badge('bed-3').getAttribute('title')).toContain('earlier episode: likely-false, p 0.01');
  });

  it('keeps the Ack button under a press while vitals stream in, so every press acknowledges; a failed one is told', async () => {
    d = await browser.startAgent();
    const agent = d.agent;
    const beds = Array.from({ length: 40 }, (_, i) => bedName(i + 1));
    await agent.ingest.accept('test-source', vitalsOf(beds));
    await agent.ingest.accept('test-source', beds.slice(0, 8).map((b) => deviceAlarm(b, 'medium', 'HR HIGH')));
    // Every bed updated four times a second: the page gets a vitals event every flush (250 ms).
    let k = 0;
    const feeder = setInterval(() => void agent.ingest.accept('test-source', beds.map((bed) => reading(MDC.ECG_HEART_RATE, 80 + (k++ % 3), { bed }))), 250);
    try {
      page = await open('/', { width: 1920, height: 1080 });
      await page.fill('#login-user', 'nurse.jones');
      await page.fill('#login-password', PASSWORDS.clinician);
      await page.click('#login-form button[type="submit"]');
      await expect.poll(() => page!.locator('#who').textContent()).toBe('nurse.jones (clinician)');
      const ackOf = (bed: string) => page!.locator(`.tile[data-bed="${bed}"] .alarm button.ack`);
      await expect.poll(() => ackOf('bed-01').isEnabled()).toBe(true);

      // The very element survives updates (it was rebuilt with the whole ward every 250 ms).
      const button = await ackOf('bed-01').elementHandle();
      const vitalsSeen = await page.evaluate(() => document.querySelector('.tile[data-bed="bed-01"] .vital .value')!.textContent);
      await expect.poll(() => page!.locator('.tile[data-bed="bed-01"] .vital .value').first().textContent()).not.toBe(vitalsSeen);
      await page.waitForTimeout(1000);
      expect(await button!.evaluate((e) => e.isConnected)).toBe(true);

      // Pressed like a person: down, ~150 ms, up.
      const pressed = beds.slice(0, 6);
      for (const bed of pressed) {
        const box = (await ackOf(bed).boundingBox())!;
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await page.mouse.down();
        await page.waitForTimeout(150);
        await page.mouse.up();
      }
      const acknowledged = () => agent.alarms.engine.list().filter((a) => a.state === 'acknowledged').map((a) => a.bed).sort();
      await expect.poll(acknowledged, { timeout: 10_000 }).toEqual(pressed);

      // The gateway does not answer: the clinician is told the alarm was NOT acknowledged.
      await page.route('**/api/alarms/*/ack', (r) => r.abort());
      await ackOf('bed-07').click();
      const message = page.locator('#message');
      await expect.poll(() => message.textContent()).toMatch(/^NOT acknowledged \(HR HIGH\): the gateway did not answer/);
      expect(await message.getAttribute('class')).toBe('error');
      expect(await onScreen(message)).toBe(true);
      expect(agent.alarms.engine.list({ bed: 'bed-07' })[0]!.state).toBe('active');
    } finally {
      clearInterval(feeder);
    }
  });

  it('an Ack answer that comes after the stream has shown a newer state (the alarm rose to high) does not bring the old state back', async () => {
    d = await browser.startAgent();
    const agent = d.agent;
    const alarm = (priority: 'medium' | 'high', phase: 'start' | 'continue'): AlarmEvent => ({ ...deviceAlarm('bed-e', priority, 'ST-II HIGH'), phase, receivedAt: Date.now() });
    await agent.ingest.accept('test-source', [alarm('medium', 'start')]);
    page = await open('/');
    await page.fill('#login-user', 'nurse.jones');
    await page.fill('#login-password', PASSWORDS.clinician);
    await page.click('#login-form button[type="submit"]');
    await expect.poll(() => page!.locator('#who').textContent()).toBe('nurse.jones (clinician)');
    const row = page.locator('#ward .tile[data-bed="bed-e"] li.alarm');
    const shown = () => row.evaluate((li) => `${li.getAttribute('data-priority')}/${li.getAttribute('data-state')}`);
    await expect.poll(shown).toBe('medium/active');
    // The gateway acknowledges; its answer is held until the device has raised the alarm to high and the stream shown it.
    await page.route('**/api/alarms/*/ack', async (route) => {
      const answer = await route.fetch();
      await agent.ingest.accept('test-source', [alarm('high', 'continue')]);
      await expect.poll(shown).toBe('high/active');
      await route.fulfill({ response: answer });
    });
    await row.locator('button.ack').click();
    await expect.poll(() => page!.locator('#message').textContent()).toMatch(/^Acknowledged/);
    expect(await shown()).toBe('high/active');
    expect(agent.alarms.engine.list({ bed: 'bed-e' }).map((a) => `${a.priority}/${a.state}`)).toEqual(['high/active']);
    expect(await page.locator('#ward-alarms li.alarm', { hasText: 'ST-II HIGH' }).count()).toBe(1);
  });

  it('an Ack pressed on an INFO row that the device makes a low alarm before the press reaches the gateway is refused, and the page says so', async () => {
    d = await browser.startAgent();
    const agent = d.agent;
    const signal = (priority: 'none' | 'low', phase: 'start' | 'continue'): AlarmEvent => ({ ...deviceAlarm('bed-i', priority, 'NBP CUFF'), phase, receivedAt: Date.now() });
    await agent.ingest.accept('test-source', [signal('none', 'start')]);
    page = await open('/');
    await page.fill('#login-user', 'nurse.jones');
    await page.fill('#login-password', PASSWORDS.clinician);
    await page.click('#login-form button[type="submit"]');
    await expect.poll(() => page!.locator('#who').textContent()).toBe('nurse.jones (clinician)');
    const row = page.locator('#ward .tile[data-bed="bed-i"] li.alarm');
    await expect.poll(() => row.locator('.prio').textContent()).toBe('INFO');
    // The press leaves the page with the INFO row as shown; the device makes it a low alarm before it arrives.
    let sent: unknown;
    await page.route('**/api/alarms/*/ack', async (route) => {
      sent = route.request().postDataJSON();
      await agent.ingest.accept('test-source', [signal('low', 'continue')]);
      await route.continue();
    });
    await row.locator('button.ack').click();
    await expect.poll(() => page!.locator('#message').textContent()).toMatch(/^NOT acknowledged \(NBP CUFF\): .* is now low priority \(it was shown as information\)/);
    expect(sent).toEqual({ priority: 'none', conditionPresent: true });
    expect(agent.alarms.engine.list({ bed: 'bed-i' }).map((a) => `${a.priority}/${a.state}`)).toEqual(['low/active']);
  });

  it('an Ack pressed on a LATCHED row whose condition returns before the press reaches the gateway is refused, and the page says so (rv162 F2)', async () => {
    d = await browser.startAgent();
    const agent = d.agent;
    const now = Date.now();
    const spo2 = (v: number, ago: number) => reading(MDC.PULS_OXIM_SAT_O2, v, { bed: 'bed-l', at: now - ago * 1000 });
    // SpO2 70 (DESAT, high, latching), then 90: latched.
    await agent.ingest.accept('test-source', Array.from({ length: 10 }, (_, i) => spo2(70, 30 - i)));
    await agent.ingest.accept('test-source', Array.from({ length: 10 }, (_, i) => spo2(90, 19 - i)));
    page = await open('/');
    await page.fill('#login-user', 'nurse.jones');
    await page.fill('#login-password', PASSWORDS.clinician);
    await page.click('#login-form button[type="submit"]');
    await expect.poll(() => page!.locator('#who').textContent()).toBe('nurse.jones (clinician)');
    const row = page.locator('#ward .tile[data-bed="bed-l"] li.alarm', { hasText: 'DESAT' });
    await expect.poll(() => row.getAttribute('data-state')).toBe('latched');
    // The press leaves the page with the row shown latched; the desaturation returns before it arrives.
    let sent: unknown;
    await page.route('**/api/alarms/*/ack', async (route) => {
      sent = route.request().postDataJSON();
      const t = Date.now();
      await agent.ingest.accept('test-source', Array.from({ length: 7 }, (_, i) => reading(MDC.PULS_OXIM_SAT_O2, 70, { bed: 'bed-l', at: t - (6 - i) * 1000 })));
      await route.continue();
    });
    await row.locator('button.ack').click();
    await expect.poll(() => page!.locator('#message').textContent()).toMatch(/^NOT acknowledged \(.*DESAT.*\): alarm \S+'s condition returned since it was shown: look at it again/);
    expect(sent).toEqual({ priority: 'high', conditionPresent: false });
    expect(agent.alarms.engine.list({ bed: 'bed-l' }).filter((a) => a.key.includes('spo2-desat')).map((a) => `${a.priority}/${a.state}`)).toEqual(['high/active']);
  });

  it('a page whose live feed never answers (a proxy holding it back) says the connection is lost, not an empty quiet ward', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', [deviceAlarm('bed-01', 'high', 'VTACH')]);
    const p = await browser.newPage();
    await p.route('**/api/stream*', () => undefined); // never answered
    await p.goto(d.url + '/');
    // Within two default heartbeats and 2 s (12 s), as a feed that stops.
    await expect.poll(() => p.locator('#lost').isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await p.locator('#lost').textContent()).toMatch(/Connection lost .*No data from the gateway/);
    expect(await p.locator('#conn').textContent()).toBe('Connection lost');
  }, 30_000);

  it('greys out a waveform that stops arriving and says for how long; it is live again when samples return', async () => {
    d = await browser.startAgent();
    const agent = d.agent;
    const wave = () => ecg(Array.from({ length: 250 }, (_, i) => Math.sin(i / 8)), { bed: 'bed-1' });
    await agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 72, { bed: 'bed-1' }), wave()]);
    // The heart rate keeps coming: the device's feed is alive, only its waveform has stopped.
    const feeder = setInterval(() => void agent.ingest.accept('test-source', [reading(MDC.ECG_HEART_RATE, 72, { bed: 'bed-1' })]), 500);
    try {
      page = await open('/#/bed/bed-1');
      const strip = page.locator('#waves .wave');
      await strip.waitFor();
      await expect.poll(() => strip.getAttribute('class'), { timeout: 15_000 }).toContain('no-data');
      expect(await strip.locator('.wave-label').textContent()).toMatch(/— NO DATA for \d+ s$/);
      await page.screenshot({ path: join(ARTIFACTS, 'display-wave-stopped.png') });
      await agent.ingest.accept('test-source', [wave()]);
      await expect.poll(() => strip.getAttribute('class'), { timeout: 10_000 }).not.toContain('no-data');
      expect(await strip.locator('.wave-label').textContent()).not.toContain('NO DATA');
    } finally {
      clearInterval(feeder);
    }
  });

  it('doubles the type with ?size=large, for a wall screen; a questionable value says why on the screen', async () => {
    d = await browser.startAgent();
    await d.agent.ingest.accept('test-source', [
      deviceAlarm('bed-01', 'high', 'ASYSTOLE'),
      reading(MDC.PULS_OXIM_SAT_O2, 93, { bed: 'bed-01', quality: { state: 'questionable', reasons: ['low-perfusion'] } }),
    ]);
    const sizes = async (p: Page) => {
      await p.locator('.tile .alarm .text').waitFor();
      return p.evaluate(() => ({
        alarm: parseFloat(getComputedStyle(document.querySelector('.tile .alarm .text')!).fontSize),
        value: parseFloat(getComputedStyle(document.querySelector('.tile .vital .value')!).fontSize),
      }));
    };
    page = await open('/');
    const normal = await sizes(page);
    expect(await page.locator('.tile .vital.q-questionable .age').textContent()).toMatch(/^\? low-perfusion · \d+ s ago$/);
    expect(await page.locator('.tile .vital.q-questionable').getAttribute('title')).toBe('questionable: low-perfusion');
    await page.close();
    page = await open('/?size=large', { width: 1920, height: 1080 });
    const large = await sizes(page);
    expect(large.alarm).toBeGreaterThanOrEqual(normal.alarm * 1.9);
    expect(large.value).toBeGreaterThanOrEqual(normal.value * 1.9);
    await page.screenshot({ path: join(ARTIFACTS, 'display-large.png') });
  });
});
