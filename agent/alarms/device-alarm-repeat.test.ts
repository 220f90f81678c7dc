// Review rv185 M3: a device alarm whose end was lost stayed "condition present" for ever while its device streamed on.
// A source that re-reports its active alarms says how often (AlarmEvent.repeatMs: IntelliVue's continue, an HL7 sender's
// alarmRepeatS): one not reported for REPEATS_MISSED times that while its device sends ends unconfirmed, audited.
import { describe, expect, it } from 'vitest';
import { AlarmEngine, REPEATS_MISSED } from './engine.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import type { AlarmEvent } from '../model/reading.js';
import type { AlarmStateChange } from './types.js';

const NO_NEWS2 = { news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } } };
const HR = MDC.ECG_HEART_RATE;
const repeating = (a: AlarmEvent, repeatMs = 60_000): AlarmEvent => ({ ...a, repeatMs });

/** HR 80 every second from `from` to `to` s, ticking every 5 s. */
function stream(e: AlarmEngine, from: number, to: number, each?: (t: number) => void): AlarmStateChange[] {
  const out: AlarmStateChange[] = [];
  for (let t = from; t <= to; t++) {
    each?.(t);
    out.push(...e.reading(numeric(HR, 80, t)));
    if (t % 5 === 0) out.push(...e.tick(s(t)));
  }
  return out;
}

describe('a device alarm its source stops re-reporting ends unconfirmed (review rv185 M3)', () => {
  it('acknowledged, then not re-reported for 3 intervals while the device streams: resolved, saying why', () => {
    expect(REPEATS_MISSED).toBe(3);
    const e = new AlarmEngine(NO_NEWS2);
    e.ingest(repeating(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' })));
    e.acknowledge(e.list()[0]!.id, nurse, s(5));
    const out = stream(e, 1, 400);
    expect(out.map((c) => `${(c.at - s(0)) / 1000} ${c.change} ${c.from}>${c.to} ${c.why}`)).toEqual([
      '185 resolved acknowledged>resolved no longer confirmed: not reported by the device for 185 s (it re-reports an active alarm at least every 60 s) while mon-1 still sends: its end was not received',
    ]);
    expect(e.list()).toEqual([]);
  });

  it('unanswered, it latches (high physiological) and stays in view until acknowledged', () => {
    const e = new AlarmEngine(NO_NEWS2);
    e.ingest(repeating(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' })));
    stream(e, 1, 200);
    expect(e.list().map((a) => `${a.condition.text} ${a.state} present=${a.conditionPresent}`)).toEqual(['ASYSTOLE latched present=false']);
  });

  it('re-reported every interval (continue), it stays open and present for 2 h', () => {
    const e = new AlarmEngine(NO_NEWS2);
    e.ingest(repeating(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' })));
    e.acknowledge(e.list()[0]!.id, nurse, s(5));
    stream(e, 1, 7200, (t) => {
      if (t % 60 === 0) e.ingest(repeating(deviceAlarm('asys', 'continue', t, { text: 'ASYSTOLE' })));
    });
    expect(e.list().map((a) => `${a.state} present=${a.conditionPresent}`)).toEqual(['acknowledged present=true']);
  });

  it('a silent device is left to the silence rules (its "no data"; its alarms after 10 min)', () => {
    const e = new AlarmEngine(NO_NEWS2);
    e.ingest(repeating(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' })));
    e.acknowledge(e.list()[0]!.id, nurse, s(5));
    for (let t = 5; t <= 300; t += 5) e.tick(s(t));
    expect(e.list().filter((a) => a.source === 'device').map((a) => `${a.state} present=${a.conditionPresent}`)).toEqual(['acknowledged present=true']);
  });

  it('without a declared repeat (a start/end-only sender) it stays open, and deviceReport tells when it was last reported', () => {
    const e = new AlarmEngine(NO_NEWS2);
    e.ingest(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' }));
    const id = e.list()[0]!.id;
    e.acknowledge(id, nurse, s(5));
    stream(e, 1, 3600);
    expect(e.list().map((a) => `${a.state} present=${a.conditionPresent}`)).toEqual(['acknowledged present=true']);
    expect(e.deviceReport(id)).toEqual({ at: s(0), repeatMs: null });
  });
});
