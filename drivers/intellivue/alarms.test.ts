// The alarm tracker's lifecycle of IntelliVue alarm lists, alarms of a monitor in demo or test mode, which are
// the monitor's simulation and must never reach the bedside as a patient's alarms, and alarms answered at the monitor.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from '../../agent/alarms/engine.js';
import { s } from '../../agent/alarms/fixtures.js';
import type { Actor } from '../../agent/alarms/types.js';
import { AlarmTracker } from './alarms.js';
import { ALERT_STATE, ALERT_TYPE, type AlarmEntry } from './protocol/index.js';

const HR = 0x4182; // NOM_ECG_CARD_BEAT_RATE (SCADA)
const EVT_HI = 40;

function entry(state = 0, type: number = ALERT_TYPE.HI_PRI_P_AL): AlarmEntry {
  return { source: HR, code: EVT_HI, type, state, object: { objClass: 6, contextId: 0, handle: 0 }, infoId: 0, instance: null, textId: null, priority: null, flags: null, text: 'HR HIGH' };
}

const tracker = () => new AlarmTracker({ deviceId: 'mx800-1', bed: 'bed-1', source: 'iv' }, 5000);
const who = (a: Actor) => (typeof a === 'string' ? a : a.user);
const brief = (events: ReturnType<AlarmTracker['update']>) => events.map((e) => `${e.phase} ${e.category} ${e.priority} ${e.text}`);

describe('IntelliVue alarms of a monitor in demo or test mode', () => {
  it('are withheld: one technical alarm says the monitor is in that mode, and ends when its lists hold none', () => {
    const t = tracker();
    for (const state of [ALERT_STATE.DEV_IN_DEMO_MODE, ALERT_STATE.DEV_IN_TEST_MODE]) {
      const started = t.update('P', [entry(state)], 0, 0, null);
      expect(brief(started)).toEqual(["start technical medium Monitor in demo or test mode: its alarms are not a patient's"]);
      expect(t.takeWithheld()).toBe(1);
      expect(t.update('P', [entry(state)], 1000, 1000, null)).toEqual([]); // still in that mode: nothing new
      expect(t.takeWithheld()).toBe(1);
      expect(brief(t.update('P', [], 2000, 2000, null))).toEqual(["end technical medium Monitor in demo or test mode: its alarms are not a patient's"]);
    }
  });

  it("a patient's alarm (no demo or test bit) is passed on as before, beside the mode alarm", () => {
    const t = tracker();
    expect(brief(t.update('P', [entry(0)], 0, 0, null))).toEqual(['start physiological high HR HIGH']);
    expect(t.takeWithheld()).toBe(0);
    // The monitor lost: both end, saying why.
    t.update('T', [entry(ALERT_STATE.DEV_IN_DEMO_MODE, ALERT_TYPE.MED_PRI_T_AL)], 1000, 1000, null);
    const ended = t.endAll(2000);
    expect(ended.map((e) => `${e.phase} ${e.endedBy} ${e.alarmId}`)).toEqual(['end link-lost mx800-1:P:16770:40:0', 'end link-lost mx800-1:demo-or-test-mode']);
  });
});

describe('IntelliVue alarms answered at the monitor (al_state)', () => {
  /**
   * The real tracker feeding the real engine, one list snapshot a second for 90 s: the alarm is listed with state 0,
   * then from t=3 s with `answered`. The engine's changes (and the tracker's events at t=3) as text.
   */
  function run(answered: number): { events: string[]; changes: string[] } {
    const t = tracker();
    const engine = new AlarmEngine();
    const events: string[] = [];
    const changes: string[] = [];
    for (let sec = 0; sec <= 90; sec++) {
      for (const ev of t.update('P', [entry(sec >= 3 ? answered : 0)], s(sec), s(sec), null)) {
        if (sec === 3) events.push(`${ev.phase} ${ev.atDevice ?? '-'}`);
        for (const c of engine.ingest(ev)) changes.push(`t=${sec} ${c.change} ${c.from ?? '-'}>${c.to} by ${who(c.actor)}`);
      }
      for (const c of engine.tick(s(sec))) changes.push(`t=${sec} ${c.change} ${c.from ?? '-'}>${c.to} by ${who(c.actor)}`);
    }
    return { events, changes };
  }

  it('silenced/reset at the monitor (AL_SILENCED_RESET) acknowledges it at once, as PCD-04 alert-acknowledged: no escalation', () => {
    const { events, changes } = run(ALERT_STATE.SILENCED_RESET);
    // At once, not at the next repeat (t=5): the gateway must not escalate meanwhile.
    expect(events).toEqual(['continue acknowledged']);
    expect(changes).toEqual(['t=0 raised ->active by system', 't=3 acknowledged active>acknowledged by device mx800-1']);
  });

  it('suspended at the monitor (AL_SUSPENDED) pauses its audio here, as PCD-04 alarm-paused', () => {
    const { events, changes } = run(ALERT_STATE.SUSPENDED);
    expect(events).toEqual(['continue audio-paused']);
    expect(changes.slice(0, 2)).toEqual(['t=0 raised ->active by system', 't=3 audio-paused active>audio-paused by device mx800-1']);
  });

  it('alarms switched off at the monitor (AL_INHIBITED) are a setting, not an answer (as PCD-04 alarm-off): it escalates', () => {
    const { events, changes } = run(ALERT_STATE.INHIBITED);
    expect(events).toEqual([]); // nothing new to say at t=3
    expect(changes).toEqual(['t=0 raised ->active by system', 't=60 escalated active>active by system']);
  });
});

describe('IntelliVue alarms the monitor holds latched (AL_LATCHED, rv112 M2)', () => {
  const phases = (events: ReturnType<AlarmTracker['update']>) => events.map((e) => `${e.phase}${e.latched ? ' latched' : ''}${e.atDevice ? ` ${e.atDevice}` : ''}`);

  it('a latched entry ends the condition once (end + latched, as PCD-04 latched), repeats nothing, and its removal clears the latch', () => {
    const t = tracker();
    const engine = new AlarmEngine();
    const feed = (events: ReturnType<AlarmTracker['update']>) => {
      for (const ev of events) engine.ingest(ev);
      return phases(events);
    };
    expect(feed(t.update('P', [entry(0)], s(0), s(0), null))).toEqual(['start']);
    expect(feed(t.update('P', [entry(ALERT_STATE.LATCHED)], s(1), s(1), null))).toEqual(['end latched']);
    const latched = engine.list().find((a) => a.source !== 'technical');
    expect({ state: latched?.state, conditionPresent: latched?.conditionPresent }).toEqual({ state: 'latched', conditionPresent: false });
    // Still listed latched, past the repeat time: nothing more (no continue of a condition that is over).
    expect(feed(t.update('P', [entry(ALERT_STATE.LATCHED)], s(2), s(2), null))).toEqual([]);
    expect(feed(t.update('P', [entry(ALERT_STATE.LATCHED)], s(20), s(20), null))).toEqual([]);
    // Reset at the monitor: it leaves the list; a plain end, which the engine takes as the latch answered there.
    expect(feed(t.update('P', [], s(21), s(21), null))).toEqual(['end']);
    expect(engine.list().filter((a) => a.source !== 'technical' && a.state !== 'resolved')).toEqual([]);
  });

  it('the bit clearing while the alarm is still listed starts it again (the condition came back)', () => {
    const t = tracker();
    t.update('P', [entry(0)], s(0), s(0), null);
    expect(phases(t.update('P', [entry(ALERT_STATE.LATCHED)], s(1), s(1), null))).toEqual(['end latched']);
    expect(phases(t.update('P', [entry(0)], s(2), s(2), null))).toEqual(['start']);
    expect(phases(t.update('P', [entry(0)], s(3), s(3), null))).toEqual([]);
  });

  it('first seen latched (the condition ended before we read the list) is an end + latched; silenced there says so at once', () => {
    const t = tracker();
    expect(phases(t.update('P', [entry(ALERT_STATE.LATCHED)], s(0), s(0), null))).toEqual(['end latched']);
    expect(phases(t.update('P', [entry(ALERT_STATE.LATCHED | ALERT_STATE.SILENCED_RESET)], s(1), s(1), null))).toEqual(['end latched acknowledged']);
    expect(phases(t.update('P', [entry(ALERT_STATE.LATCHED | ALERT_STATE.SILENCED_RESET)], s(2), s(2), null))).toEqual([]);
  });
});

describe('IntelliVue alarms declare their repeat (review rv185 M3)', () => {
  it('start and continue carry repeatMs (alarmRepeatMs); an end does not', () => {
    const t = tracker();
    const events = [...t.update('P', [entry(0)], 0, 0, null), ...t.update('P', [entry(0)], 5000, 5000, null), ...t.update('P', [], 6000, 6000, null)];
    expect(events.map((e) => [e.phase, e.repeatMs])).toEqual([['start', 5000], ['continue', 5000], ['end', undefined]]);
    // With the list's read bound (the driver's alarm-lists boundMs): a continue comes within both.
    const bounded = new AlarmTracker({ deviceId: 'mx800-1', bed: 'bed-1', source: 'iv' }, 5000, (list) => (list === 'P' ? 10_000 : 30_000));
    expect(bounded.update('P', [entry(0)], 0, 0, null).map((e) => e.repeatMs)).toEqual([15_000]);
  });

  it("the engine ends one the monitor's lists stop repeating while it sends on (its end lost): not reported for 3 intervals", () => {
    const t = tracker();
    const e = new AlarmEngine({ idPrefix: 'iv' });
    const changes: string[] = [];
    for (const ev of t.update('P', [entry(0)], 0, s(0), null)) e.ingest(ev);
    // The alarm lists stop listing it but the end is lost on the way; the monitor sends numerics on.
    for (let sec = 1; sec <= 30; sec++) {
      e.ingest({ kind: 'numeric', deviceId: 'mx800-1', bed: 'bed-1', source: 'iv', mdc: { code: 147842, refid: 'MDC_ECG_HEART_RATE' }, value: 80, unit: { ucum: '/min' }, deviceTime: null, receivedAt: s(sec), quality: { state: 'valid' } });
      changes.push(...e.tick(s(sec)).filter((c) => c.alarm.source === 'device').map((c) => `${sec} ${c.change} ${c.to} ${c.why}`));
    }
    expect(changes).toEqual([
      '16 condition-ended latched no longer confirmed: not reported by the device for 16 s (it re-reports an active alarm at least every 5 s) while mx800-1 still sends: its end was not received',
    ]);
  });
});
