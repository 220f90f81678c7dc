// The gateway's own clock stepping (NTP/chrony step, set by hand; review rv142 F3): durations the engine times (silence,
// audio pauses, escalation) run on as if no step happened. The service sees the step by comparing the wall clock's
// advance with a monotonic one; real time and the wall clock's offset are driven by hand here.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { nurse, numeric, s } from './fixtures.js';
import { AlarmService } from './service.js';
import type { AlarmStateChange } from './types.js';

const HOUR = 3600;

function rig() {
  let real = 0; // seconds of real (monotonic) time
  let offset = 0; // seconds the wall clock is off real time
  const lines: Array<{ level: number; msg: string; stepS?: number }> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
  const metrics = new Metrics();
  const seen: Array<AlarmStateChange & { real: number }> = [];
  const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(real + offset), () => real * 1000);
  service.subscribe((cs) => seen.push(...cs.map((c) => ({ ...c, real }))));
  return {
    service,
    metrics,
    lines,
    seen,
    set: (r: number) => void (real = r),
    step: (deltaS: number) => void (offset += deltaS),
    /** The wall clock now, in the fixtures' seconds (what a driver stamps receivedAt with). */
    wall: () => real + offset,
    /** Real time of the first change of this kind matching `match`, or null. */
    first: (change: string, match: (c: AlarmStateChange) => boolean) => seen.find((c) => c.change === change && match(c))?.real ?? null,
  };
}

const noData = (c: AlarmStateChange) => c.alarm.key.endsWith(':no-data');

/** HR every second until real second `lastS`, the wall clock stepping by `stepS` before real second `atS`; ticks every second after. */
function silentAfterStep(stepS: number, opts: { tickFirst?: boolean } = {}) {
  const r = rig();
  for (let t = 0; t <= 80; t++) {
    r.set(t);
    if (t === 61) r.step(stepS);
    if (opts.tickFirst) r.service.tick();
    if (t <= 65) r.service.handle([numeric(MDC.ECG_HEART_RATE, 80, r.wall())]);
    if (!opts.tickFirst) r.service.tick();
  }
  for (let t = 81; t <= 66 + 4000; t++) {
    r.set(t);
    r.service.tick();
  }
  return r;
}

/** SpO2 70 every second (DESAT, high, after 5 s), audio paused for 120 s at real second 11; the wall steps by `stepS` at real second 30. */
function pausedThenStep(stepS: number) {
  const r = rig();
  let desat: string | undefined;
  for (let t = 0; t <= 600; t++) {
    r.set(t);
    if (t === 30) r.step(stepS);
    r.service.handle([numeric(MDC.PULS_OXIM_SAT_O2, 70, r.wall())]);
    r.service.tick();
    if (t === 11) {
      desat = r.service.engine.list({ bed: 'bed-1' }).find((a) => a.key.includes('spo2-desat'))!.id;
      expect(r.service.audioPause({ alarmId: desat }, nurse, 120).ok).toBe(true);
    }
  }
  return { ...r, desat: desat! };
}

describe('gateway clock step (rv142 F3)', () => {
  it('a 1 h step back: a device that goes silent gets its "no data" about 30 s later, not an hour later', () => {
    const r = silentAfterStep(-HOUR);
    const raised = r.first('raised', noData);
    expect(raised).not.toBeNull();
    expect(raised! - 65).toBeGreaterThanOrEqual(30);
    expect(raised! - 65).toBeLessThanOrEqual(35);
  });

  it('a 1 h step forward: no spurious "no data" while the device sends, and its silence told about 30 s later', () => {
    const r = silentAfterStep(HOUR, { tickFirst: true });
    const raised = r.first('raised', noData);
    expect(raised).not.toBeNull();
    expect(raised! - 65).toBeGreaterThanOrEqual(30);
    expect(raised! - 65).toBeLessThanOrEqual(35);
  });

  it('a 120 s audio pause of a high alarm ends after about 120 s of real time across a 1 h step back', () => {
    const r = pausedThenStep(-HOUR);
    const ended = r.first('audio-pause-expired', (c) => c.alarmId === r.desat);
    expect(ended).not.toBeNull();
    expect(ended! - 11).toBeGreaterThanOrEqual(119);
    expect(ended! - 11).toBeLessThanOrEqual(121);
  });

  it('a 120 s audio pause is not cut short by a 1 h step forward', () => {
    const r = pausedThenStep(HOUR);
    const ended = r.first('audio-pause-expired', (c) => c.alarmId === r.desat);
    expect(ended).not.toBeNull();
    expect(ended! - 11).toBeGreaterThanOrEqual(119);
    expect(ended! - 11).toBeLessThanOrEqual(121);
  });

  it('an unacknowledged high alarm escalates 60 s after it was raised, across a step back or forward', () => {
    for (const stepS of [-HOUR, HOUR]) {
      const r = rig();
      for (let t = 0; t <= 300; t++) {
        r.set(t);
        if (t === 20) r.step(stepS);
        r.service.handle([numeric(MDC.PULS_OXIM_SAT_O2, 70, r.wall())]);
        r.service.tick();
      }
      const raised = r.first('raised', (c) => c.alarm.key.includes('spo2-desat'))!;
      const escalated = r.first('escalated', (c) => c.alarm.key.includes('spo2-desat'));
      expect(escalated, `step ${stepS} s`).not.toBeNull();
      expect(escalated! - raised, `step ${stepS} s`).toBeGreaterThanOrEqual(59);
      expect(escalated! - raised, `step ${stepS} s`).toBeLessThanOrEqual(61);
    }
  });

  it('a reading stamped on the old clock and handled just after a step back does not hide the silence that follows', () => {
    const r = rig();
    for (let t = 0; t <= 60; t++) {
      r.set(t);
      r.service.handle([numeric(MDC.ECG_HEART_RATE, 80, t)]);
      r.service.tick();
    }
    const inFlight = numeric(MDC.ECG_HEART_RATE, 80, 60.4); // stamped before the step, committed after it
    r.set(60.5);
    r.step(-HOUR);
    r.service.tick(); // the step is seen here
    r.set(60.6);
    r.service.handle([inFlight]);
    for (let t = 61; t <= 200; t++) {
      r.set(t);
      r.service.tick();
    }
    const raised = r.first('raised', noData);
    expect(raised).not.toBeNull();
    expect(raised! - 60.6).toBeLessThanOrEqual(35);
  });

  it('a 1 h step forward, ticked before the next readings: neither a limit alarm nor a NEWS2 level ends as unwatched or stale', () => {
    const r = rig();
    const sends = () => r.service.handle([numeric(MDC.PULS_OXIM_SAT_O2, 70, r.wall()), numeric(MDC.RESP_RATE, 26, r.wall())]);
    for (let t = 0; t <= 120; t++) {
      r.set(t);
      if (t === 61) r.step(HOUR);
      r.service.tick(); // before the readings: what the step finds is the state of the old clock
      sends();
    }
    const ended = r.seen.filter((c) => c.real >= 61 && c.alarm.bed === 'bed-1' && (c.change === 'condition-ended' || c.change === 'resolved'));
    expect(ended.map((c) => `${c.alarm.key}: ${c.why}`)).toEqual([]);
    expect(new Set(r.service.engine.list({ bed: 'bed-1' }).map((a) => a.source))).toEqual(new Set(['limit', 'news2']));
  });

  it('a 1 h step forward with readings that carry a device time: the device clocks move with the step, no NEWS2 level ends as stale', () => {
    const r = rig();
    for (let t = 0; t <= 120; t++) {
      r.set(t);
      if (t === 61) r.step(HOUR);
      r.service.tick();
      // The device's clock keeps real time, 5 s behind: the step is the gateway's alone.
      r.service.handle([{ ...numeric(MDC.RESP_RATE, 26, r.wall()), deviceTime: s(t) - 5000 }]);
    }
    const ended = r.seen.filter((c) => c.real >= 61 && c.alarm.source === 'news2' && (c.change === 'condition-ended' || c.change === 'resolved'));
    expect(ended.map((c) => `${c.alarm.key}: ${c.why}`)).toEqual([]);
    expect(r.service.engine.list({ bed: 'bed-1' }).some((a) => a.source === 'news2')).toBe(true);
  });

  it('logs the step (warn, with its size), counts it, and raises a low, latching gateway alarm saying so', () => {
    const r = silentAfterStep(-HOUR);
    expect(r.metrics.get('gateway_clock_steps_total', { direction: 'back' })).toBe(1);
    const line = r.lines.find((l) => /gateway clock stepped/i.test(l.msg));
    expect(line).toMatchObject({ level: 40, stepS: -3600 });
    const alarm = r.service.engine.list().find((a) => a.key === 'gateway:clock-step');
    expect(alarm).toMatchObject({ priority: 'low', category: 'technical', state: 'latched', condition: { text: 'Gateway clock stepped by -3600 s' } });
  });

  it('a slew of 1 s (under the threshold) changes nothing: no step logged or counted, durations on the wall clock', () => {
    const r = pausedThenStep(1);
    expect(r.metrics.get('gateway_clock_steps_total', { direction: 'forward' })).toBe(0);
    expect(r.lines.find((l) => /gateway clock stepped/i.test(l.msg))).toBeUndefined();
    // The pause ends when the wall clock says 120 s have passed: 1 s early in real time, as before.
    expect(r.first('audio-pause-expired', (c) => c.alarmId === r.desat)! - 11).toBe(119);
    expect(r.service.engine.list().find((a) => a.key === 'gateway:clock-step')).toBeUndefined();
  });
});

describe('review rv185 L2: the clock-step alarm is the gateway\'s', () => {
  it('carries the gateway id as its deviceId, as every other gateway alarm (it carried "gateway")', () => {
    let real = 0;
    let offset = 0;
    const journal: AlarmStateChange[] = [];
    const log = pino({ level: 'silent' });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), (cs) => void journal.push(...cs), log, new Metrics(), () => s(real + offset), () => real * 1000, 'gw-ward3');
    service.tick();
    real = 1;
    offset = HOUR;
    service.tick();
    service.gatewayCondition('gw-ward3', 'store-check', true, 'Store check failing (x)', 'medium');
    expect(journal.filter((c) => c.change === 'raised').map((c) => [c.alarm.key, c.alarm.deviceId])).toEqual([
      ['gateway:clock-step', 'gw-ward3'],
      ['gateway:store-check', 'gw-ward3'],
    ]);
  });
});
