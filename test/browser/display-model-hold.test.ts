// The bedside display tells the edge model's hold (delay policy) from a person's pause on the alarm row itself, in
// words ("HELD BY MODEL m:ss"), not only in the model badge's tooltip; and a clinician can still press the alarm's
// Pause during the hold, which makes the pause theirs (review rv46 M2). Real Chromium, real sockets.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlarmEvent } from '../../agent/model/reading.js';
import { MODEL_ANNOTATION_KIND } from '../../agent/alarms/types.js';
import { PASSWORDS } from './display-fixtures.js';
import { ARTIFACTS, browserSuite } from './suite.js';

function deviceAlarm(bed: string, text: string): AlarmEvent {
  return {
    kind: 'alarm', deviceId: `mon-${bed}`, bed, source: 'test-source', alarmId: `${bed}-${text}`, condition: null, text, priority: 'high',
    category: 'physiological', phase: 'start', deviceTime: null, receivedAt: Date.now(),
  };
}

/** As agent/inference/live.ts acts under `delay`: the model's actor, its pause, then its annotation saying why. */
const modelActor = { user: 'edge-model edge-alarm-gbt-4', role: 'model', from: 'sha256:ab' };
const nurse = { user: 'nurse.smith', role: 'clinician', from: '10.0.0.9' };

describe("bedside display: the edge model's hold", () => {
  const browser = browserSuite('display-hold-');

  it('shows "HELD BY MODEL m:ss" on the row, unlike a person\'s pause, and keeps Pause pressable, which makes the pause the clinician\'s', async () => {
    // The agent's own model off: the model's actions are made below, as its live policy makes them.
    const d = await browser.startAgent({}, { model: { enabled: false } });
    const agent = d.agent;
    await agent.ingest.accept('test-source', [deviceAlarm('bed-1', 'VTACH'), deviceAlarm('bed-2', 'SpO2 LOW')]);
    const idOf = (bed: string) => agent.alarms.engine.list({ bed })[0]!.id;

    const p = await browser.openLive(d.url);
    await p.fill('#login-user', 'nurse.jones');
    await p.fill('#login-password', PASSWORDS.clinician);
    await p.click('#login-form button[type="submit"]');
    await expect.poll(() => p.locator('#who').textContent()).toBe('nurse.jones (clinician)');

    // Over the live stream, as it happens: the model pauses bed-1's alarm and then annotates it; a nurse pauses bed-2's.
    expect(agent.alarms.audioPause({ alarmId: idOf('bed-1') }, modelActor, 20, 'high').ok).toBe(true);
    agent.alarms.annotate(
      idOf('bed-1'),
      { kind: MODEL_ANNOTATION_KIND, values: { probability: 0.01, threshold: 0.0749, verdict: 'likely-false', modelVersion: 'edge-alarm-gbt-4', action: 'audio-paused' }, note: 'likely false: audio paused 20 s while the evidence is re-checked (hold at most 60 s)' },
      modelActor,
    );
    expect(agent.alarms.audioPause({ alarmId: idOf('bed-2') }, nurse, 20, 'high').ok).toBe(true);

    const row = (bed: string) => p.locator(`.tile[data-bed="${bed}"] .alarm`);
    const stateOf = (bed: string) => row(bed).locator('.state');
    await expect.poll(() => row('bed-1').locator('.model').textContent()).toBe('model: likely false · p 0.01');
    expect(await stateOf('bed-1').textContent()).toMatch(/^HELD BY MODEL 0:(1\d|20)$/);
    await expect.poll(() => stateOf('bed-2').textContent()).toMatch(/^AUDIO PAUSED 0:(1\d|20)$/);
    expect(await stateOf('bed-1').getAttribute('title')).toContain('likely false: audio paused 20 s');

    // Readable from across the room: as large as the alarm's text, bold, white on black in a dashed frame.
    const look = (bed: string) => row(bed).evaluate((li) => {
      const st = getComputedStyle(li.querySelector('.state')!);
      return {
        px: parseFloat(st.fontSize), textPx: parseFloat(getComputedStyle(li.querySelector('.text')!).fontSize),
        weight: Number(st.fontWeight), colour: st.color, background: st.backgroundColor, border: st.borderTopStyle,
      };
    });
    const held = await look('bed-1');
    expect(held.px).toBeGreaterThanOrEqual(held.textPx);
    expect(held).toMatchObject({ weight: 700, colour: 'rgb(255, 255, 255)', background: 'rgb(0, 0, 0)', border: 'dashed' });
    const paused = await look('bed-2');
    expect(paused.px).toBeLessThan(paused.textPx);
    expect(paused.border).not.toBe('dashed');

    // Pause stays pressable during the model's hold only: a person's pause is not replaced by another's from here.
    const pauseOf = (bed: string) => row(bed).locator('button.pause');
    expect(await pauseOf('bed-1').isEnabled()).toBe(true);
    expect(await pauseOf('bed-2').isEnabled()).toBe(false);
    await p.screenshot({ path: join(ARTIFACTS, 'display-model-hold.png') });

    // A page opened now gets the same from the ward snapshot.
    await p.reload();
    await expect.poll(() => stateOf('bed-1').textContent()).toMatch(/^HELD BY MODEL 0:(1\d|20)$/);
    await expect.poll(() => pauseOf('bed-1').isEnabled()).toBe(true);

    await pauseOf('bed-1').click();
    await expect.poll(() => agent.alarms.engine.audioPausedBy(idOf('bed-1'))).toBe('clinician');
    // Hers now, for the default 120 s: the row says a person paused it, and Pause is off again.
    await expect.poll(() => stateOf('bed-1').textContent()).toMatch(/^AUDIO PAUSED (1:5\d|2:00)$/);
    expect(await stateOf('bed-1').getAttribute('class')).not.toContain('by-model');
    expect(await pauseOf('bed-1').isEnabled()).toBe(false);
  });
});
