// A held NEWS2 level dropped for want of input after a restart (rv116 H1) is dropped from the note in the store at
// once (review rv118 H1): kept there until the next NEWS2 change or the hourly refresh, a second restart within that
// hour held it again, with a fresh wait, for whoever the bed's devices now measure.
import { expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { numeric, s } from './fixtures.js';
import { AlarmService } from './service.js';
import type { AlarmStateChange } from './types.js';
import { captureLog } from '../../test/support/log.js';

function agentRun(store: { note: unknown }, clock: { now: number }) {
  const cap = captureLog('info');
  const metrics = new Metrics();
  const service = new AlarmService(new AlarmEngine({ idPrefix: `run-${clock.now}` }), () => undefined, cap.log, metrics, () => clock.now);
  service.engine.restoreNews2Observations(store.note, clock.now);
  service.news2Counts();
  service.keepObservationsIn((all) => (store.note = JSON.parse(JSON.stringify(all))));
  return { service, cap, metrics };
}

it('a dropped held level is not raised again at the next restart (review rv118 H1)', () => {
  // The note a first run wrote: bed-1 (devices give no patient id) HIGH at 0.
  const store: { note: unknown } = { note: { 'bed-1': { level: { value: 'high', at: s(0) } } } };
  const clock = { now: s(60) };
  // Run B: restarted at 60 s; the bed's monitor is off: nothing comes for 10 minutes.
  const b = agentRun(store, clock);
  for (let t = 60; t <= 660; t += 30) {
    clock.now = s(t);
    b.service.tick();
  }
  const drop = b.cap.find(/NEWS2 level high noted before the restart for bed bed-1 not held/);
  // Run C: the agent restarts at 20 min (an update, a crash); another patient is on the bed now, an oximeter alone, healthy.
  clock.now = s(1200);
  const c = agentRun(store, clock);
  const changes: AlarmStateChange[] = [];
  c.service.subscribe((cs) => changes.push(...cs));
  clock.now = s(1210);
  c.service.handle([numeric(MDC.PULS_OXIM_SAT_O2, 97, 1210), numeric(MDC.ECG_HEART_RATE, 70, 1210)]);
  c.service.tick();
  const raised = changes.filter((x) => x.alarm.source === 'news2' && x.change === 'raised').map((x) => `${x.alarm.key} (${x.alarm.priority}): ${x.why}`);
  expect(drop).toBeDefined();
  expect(raised).toEqual([]);
});
