import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine, NEW_EPISODE_AFTER_MS, type AlarmEngineConfig } from './engine.js';
import { deviceAlarm, numeric, nurse, s, status } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import { DEFAULT_LIMIT_CONFIG } from './limits.js';
import type { AlarmEvent, Quality } from '../model/reading.js';
import type { AlarmStateChange } from './types.js';

/** State-machine tests look at limit and device alarms only: NEWS2 off, silence checks far away. */
const QUIET: Partial<AlarmEngineConfig> = {
  news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } },
  technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 },
};
const engine = (config: Partial<AlarmEngineConfig> = {}) => new AlarmEngine({ ...QUIET, ...config });

const HR = MDC.ECG_HEART_RATE;
const SPO2 = MDC.PULS_OXIM_SAT_O2;

/** Feed one value per second for [from, to] and return every change. */
function hold(e: AlarmEngine, mdc: typeof HR, value: number, from: number, to: number, bed = 'bed-1'): AlarmStateChange[] {
  const out: AlarmStateChange[] = [];
  for (let t = from; t <= to; t++) out.push(...e.reading(numeric(mdc, value, t, { bed })), ...e.tick(s(t)));
  return out;
}

const summary = (cs: AlarmStateChange[]) => cs.map((c) => `${c.change}:${c.from ?? '-'}>${c.to}`);

describe('engine: raise and resolve', () => {
  it('a limit violation raises one active alarm, audited as raised by the system', () => {
    const e = engine();
    const cs = hold(e, HR, 130, 0, 12);
    expect(summary(cs)).toEqual(['raised:->active']);
    const c = cs[0]!;
    expect(c).toMatchObject({ actor: 'system', at: s(10), seq: 1 });
    expect(c.alarm).toMatchObject({ id: 'alm-1', bed: 'bed-1', deviceId: 'mon-1', source: 'limit', priority: 'medium', category: 'physiological', state: 'active', value: 130, escalated: false, latching: false, conditionPresent: true });
    expect(e.list().map((a) => a.id)).toEqual(['alm-1']);
  });

  it('a non-latching alarm resolves when the condition ends', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    const cs = e.reading(numeric(HR, 100, 13));
    expect(summary(cs)).toEqual(['resolved:active>resolved']);
    expect(cs[0]!.alarm.resolvedAt).toBe(s(13));
    expect(e.list()).toEqual([]);
    expect(e.get('alm-1')?.state).toBe('resolved');
  });
});

describe('engine: acknowledge', () => {
  it('active → acknowledged (with who and from where) → resolved when the condition ends', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    const ack = e.acknowledge('alm-1', nurse, s(15));
    expect(ack.ok).toBe(true);
    expect(summary(ack.changes)).toEqual(['acknowledged:active>acknowledged']);
    expect(ack.changes[0]!.actor).toEqual(nurse);
    expect(ack.changes[0]!.alarm.acknowledgedAt).toBe(s(15));
    expect(e.list()[0]!.state).toBe('acknowledged');
    expect(summary(e.reading(numeric(HR, 90, 20)))).toEqual(['resolved:acknowledged>resolved']);
  });

  it('an acknowledged alarm whose condition worsens to a higher priority sounds again; a lower one stays acknowledged', () => {
    const e = engine();
    e.ingest(deviceAlarm('hr', 'start', 0, { priority: 'medium', text: 'HR HIGH' }));
    const id = e.list()[0]!.id;
    expect(e.acknowledge(id, nurse, s(1)).ok).toBe(true);
    expect(summary(e.ingest(deviceAlarm('hr', 'continue', 5, { priority: 'low', text: 'HR HIGH' })))).toEqual(['priority-changed:acknowledged>acknowledged']);
    expect(summary(e.ingest(deviceAlarm('hr', 'continue', 6, { priority: 'high', text: 'HR EXTREME' })))).toEqual(['priority-changed:acknowledged>active']);
    expect(e.get(id)).toMatchObject({ state: 'active', priority: 'high' });
    // Paused by a person at high: a waver back to high keeps the pause (only a rise above high could end it).
    expect(e.audioPause({ alarmId: id }, nurse, 60, s(7)).ok).toBe(true);
    e.ingest(deviceAlarm('hr', 'continue', 8, { priority: 'medium', text: 'HR HIGH' }));
    expect(summary(e.ingest(deviceAlarm('hr', 'continue', 9, { priority: 'high', text: 'HR EXTREME' })))).toEqual(['priority-changed:audio-paused>audio-paused']);
  });

  it("a device's information signal acknowledged here, which the device turns into an alarm (none → low), is unanswered again (review rv62 L1)", () => {
    const e = engine();
    e.ingest(deviceAlarm('nbp', 'start', 0, { priority: 'none', text: 'NBP CHECK CUFF' }));
    const id = e.list()[0]!.id;
    expect(e.acknowledge(id, nurse, s(1)).ok).toBe(true);
    expect(summary(e.ingest(deviceAlarm('nbp', 'continue', 5, { priority: 'low', text: 'NBP CUFF LEAK' })))).toEqual(['priority-changed:acknowledged>active']);
    expect(e.get(id)).toMatchObject({ state: 'active', priority: 'low', reportedPriority: 'low' });
    // And back to information, then to low again: acknowledged at low, it stays acknowledged.
    expect(e.acknowledge(id, nurse, s(6)).ok).toBe(true);
    e.ingest(deviceAlarm('nbp', 'continue', 7, { priority: 'none', text: 'NBP CHECK CUFF' }));
    expect(summary(e.ingest(deviceAlarm('nbp', 'continue', 8, { priority: 'low', text: 'NBP CUFF LEAK' })))).toEqual(['priority-changed:acknowledged>acknowledged']);
  });

  it('refuses unknown, already acknowledged and resolved alarms without an audit record', () => {
    const e = engine();
    expect(e.acknowledge('nope', nurse, s(0))).toEqual({ ok: false, error: 'no alarm nope', changes: [] });
    hold(e, HR, 130, 0, 12);
    e.acknowledge('alm-1', nurse, s(13));
    expect(e.acknowledge('alm-1', nurse, s(14))).toMatchObject({ ok: false, error: 'alarm is already acknowledged' });
    e.reading(numeric(HR, 90, 20));
    expect(e.acknowledge('alm-1', nurse, s(21))).toMatchObject({ ok: false, error: 'alarm alm-1 is already resolved' });
  });
});

describe('engine: latching', () => {
  it('a high physiological alarm latches after its condition ends and resolves on acknowledge', () => {
    const e = engine();
    const raised = hold(e, SPO2, 75, 0, 6); // spo2 (<90, medium, 10 s) and spo2-desat (<80, high, 5 s)
    expect(raised.map((c) => c.alarm.condition.text)).toEqual(['SpO2 DESAT LOW 75 < 80 %']);
    expect(raised[0]!.alarm).toMatchObject({ priority: 'high', latching: true });
    const ended = e.reading(numeric(SPO2, 97, 7));
    expect(summary(ended)).toEqual(['condition-ended:active>latched']);
    expect(e.list().map((a) => [a.state, a.conditionPresent])).toEqual([['latched', false]]);
    e.tick(s(30));
    expect(e.list()).toHaveLength(1); // stays until acknowledged
    const ack = e.acknowledge(raised[0]!.alarmId, nurse, s(31));
    expect(summary(ack.changes)).toEqual(['acknowledged:latched>resolved']);
    expect(e.list()).toEqual([]);
  });

  it('a latched alarm whose condition returns becomes active again (same alarm)', () => {
    const e = engine();
    const id = hold(e, SPO2, 75, 0, 6)[0]!.alarmId;
    e.reading(numeric(SPO2, 97, 7));
    // The DESAT's delay applies again. SpO2 LOW (delay 10 s) is raised at 10 s: out of range 9 s of the last 10, the
    // one reading inside does not start its delay over (reviews rv191 H1, rv194 H1).
    expect(hold(e, SPO2, 75, 8, 12).map((c) => `${c.change} ${c.alarm.condition.text} at ${(c.at - s(0)) / 1000}`)).toEqual(['raised SpO2 LOW 75 < 90 % at 10']);
    const back = hold(e, SPO2, 75, 13, 13);
    expect(summary(back)).toEqual(['condition-returned:latched>active']);
    expect(back[0]!.alarmId).toBe(id);
  });

  it('a latched alarm stays latching when its priority drops before it ends: it waits for an acknowledgement', () => {
    const e = engine();
    const raised = e.ingest(deviceAlarm('a1', 'start', 0, { priority: 'high', text: 'HR EXTREME TACHY 190' }));
    expect(raised[0]!.alarm.latching).toBe(true);
    const dropped = e.ingest(deviceAlarm('a1', 'continue', 3, { priority: 'medium', text: 'HR HIGH 150' }));
    expect(summary(dropped)).toEqual(['priority-changed:active>active']);
    expect(dropped[0]!.alarm).toMatchObject({ priority: 'medium', latching: true });
    expect(summary(e.ingest(deviceAlarm('a1', 'end', 5)))).toEqual(['condition-ended:active>latched']);
    expect(e.list().map((a) => a.state)).toEqual(['latched']);
  });

  it('latching is configurable', () => {
    const e = engine({ latching: { priorities: [], categories: [] } });
    hold(e, SPO2, 75, 0, 6);
    expect(summary(e.reading(numeric(SPO2, 97, 7)))).toEqual(['resolved:active>resolved']);
  });
});

describe('engine: audio pause', () => {
  it('pauses for the given time, then returns to active', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    const p = e.audioPause({ alarmId: 'alm-1' }, nurse, 60, s(20));
    expect(summary(p.changes)).toEqual(['audio-paused:active>audio-paused']);
    expect(p.changes[0]!.alarm.audioPausedUntil).toBe(s(80));
    expect(e.tick(s(79))).toEqual([]);
    const back = e.tick(s(80));
    expect(summary(back)).toEqual(['audio-pause-expired:audio-paused>active']);
    expect(back[0]!.actor).toBe('system');
    expect(back[0]!.alarm.audioPausedUntil).toBeUndefined();
  });

  it('a paused latching alarm whose condition ends stays paused, then becomes latched', () => {
    const e = engine();
    const id = hold(e, SPO2, 75, 0, 6)[0]!.alarmId;
    e.audioPause({ alarmId: id }, nurse, undefined, s(7)); // default 120 s
    expect(summary(e.reading(numeric(SPO2, 97, 8)))).toEqual(['condition-ended:audio-paused>audio-paused']);
    // Still unacknowledged after 60 s, so it also escalates (audio pause is not an acknowledgement).
    expect(summary(e.tick(s(127)))).toEqual(['audio-pause-expired:audio-paused>latched', 'escalated:latched>latched']);
  });

  it('a paused non-latching alarm resolves when its condition ends', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    e.audioPause({ alarmId: 'alm-1' }, nurse, 60, s(13));
    expect(summary(e.reading(numeric(HR, 90, 14)))).toEqual(['resolved:audio-paused>resolved']);
    expect(e.tick(s(100))).toEqual([]);
  });

  it('acknowledging a paused alarm ends the pause', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    e.audioPause({ alarmId: 'alm-1' }, nurse, 60, s(13));
    expect(summary(e.acknowledge('alm-1', nurse, s(14)).changes)).toEqual(['acknowledged:audio-paused>acknowledged']);
    expect(e.tick(s(100))).toEqual([]);
  });

  it('pausing a bed pauses its unacknowledged alarms only', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12, 'bed-1');
    hold(e, HR, 40, 0, 12, 'bed-2');
    hold(e, MDC.RESP_RATE, 40, 0, 12, 'bed-1');
    const [hrAlarm] = e.list({ bed: 'bed-1' }).filter((a) => a.condition.text.startsWith('HR'));
    e.acknowledge(hrAlarm!.id, nurse, s(13));
    const p = e.audioPause({ bed: 'bed-1' }, nurse, 30, s(14));
    expect(p.ok).toBe(true);
    expect(p.changes.map((c) => c.alarm.condition.text)).toEqual(['RR HIGH 40 > 30 /min']);
    expect(e.list({ bed: 'bed-2' })[0]!.state).toBe('active');
    expect(e.audioPause({ bed: 'bed-7' }, nurse, 30, s(14))).toMatchObject({ ok: false, error: 'no unacknowledged alarm on bed bed-7' });
  });

  it("says who paused a pause that runs: a person's pause replaces the edge model's hold, and outlasts its end", () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    const model = { user: 'edge-model m-1', role: 'model', from: 'sha256:ab' };
    expect(e.audioPausedBy('alm-1')).toBeUndefined();
    expect(e.audioPause({ alarmId: 'alm-1' }, model, 10, s(13), 'medium').ok).toBe(true);
    expect(e.audioPausedBy('alm-1')).toBe('model');
    // The nurse pauses the alarm the model holds (the page's Pause button): hers now, for her time.
    const p = e.audioPause({ alarmId: 'alm-1' }, nurse, 60, s(15), 'medium');
    expect(summary(p.changes)).toEqual(['audio-paused:audio-paused>audio-paused']);
    expect(p.changes[0]!.actor).toEqual(nurse);
    expect(p.changes[0]!.alarm.audioPausedUntil).toBe(s(75));
    expect(e.audioPausedBy('alm-1')).toBe('clinician');
    expect(e.tick(s(23))).toEqual([]); // the model's end time passes: her pause stands
    expect(e.get('alm-1')!.state).toBe('audio-paused');
    expect(summary(e.tick(s(75)))).toEqual(['audio-pause-expired:audio-paused>active']);
    expect(e.audioPausedBy('alm-1')).toBeUndefined(); // its record outlives the pause; the accessor does not
    expect(e.audioPausedBy('nope')).toBeUndefined();
  });

  it('says "device" for a pause at the bedside monitor', () => {
    const e = engine();
    e.ingest(deviceAlarm('A1', 'start', 0, { priority: 'high' }));
    const id = e.list()[0]!.id;
    e.ingest(deviceAlarm('A1', 'continue', 1, { priority: 'high', atDevice: 'audio-paused' }));
    expect(e.get(id)!.state).toBe('audio-paused');
    expect(e.audioPausedBy(id)).toBe('device');
  });

  it('refuses durations outside (0, max] and acknowledged alarms', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    for (const d of [0, -5, 301, Number.NaN]) expect(e.audioPause({ alarmId: 'alm-1' }, nurse, d, s(13)).ok).toBe(false);
    e.acknowledge('alm-1', nurse, s(13));
    expect(e.audioPause({ alarmId: 'alm-1' }, nurse, 30, s(14))).toMatchObject({ ok: false, error: 'alarm is acknowledged: its audio is already off' });
  });
});

describe('engine: escalation', () => {
  it('an unacknowledged high alarm escalates once after the configured time', () => {
    const e = engine({ escalation: { afterS: 30, priorities: ['high'] } });
    const id = hold(e, SPO2, 75, 0, 6)[0]!.alarmId; // raised at 5 s (desat delay)
    const medium = e.list().find((a) => a.priority === 'medium');
    expect(medium).toBeUndefined(); // spo2 medium needs 10 s
    hold(e, SPO2, 75, 7, 34);
    const esc = e.tick(s(35));
    expect(summary(esc)).toEqual(['escalated:active>active']);
    expect(esc[0]!).toMatchObject({ alarmId: id, actor: 'system', why: 'not acknowledged within 30 s' });
    expect(esc[0]!.alarm).toMatchObject({ escalated: true, escalatedAt: s(35) });
    expect(e.tick(s(100))).toEqual([]); // once
  });

  it('audio pause does not stop escalation; acknowledgement does', () => {
    const e = engine({ escalation: { afterS: 30, priorities: ['high'] } });
    const a = hold(e, SPO2, 75, 0, 6)[0]!.alarmId;
    e.audioPause({ alarmId: a }, nurse, 120, s(7));
    expect(summary(e.tick(s(35)))).toEqual(['escalated:audio-paused>audio-paused']);

    const e2 = engine({ escalation: { afterS: 30, priorities: ['high'] } });
    const b = hold(e2, SPO2, 75, 0, 6)[0]!.alarmId;
    e2.acknowledge(b, nurse, s(10));
    expect(e2.tick(s(60))).toEqual([]);
  });

  it('is timed from when the alarm first had an escalating priority: a long-open medium alarm that becomes high gets the full time', () => {
    const e = engine({ escalation: { afterS: 60, priorities: ['high'] } });
    e.deviceAlarm(deviceAlarm('hr', 'start', 0, { priority: 'medium', text: 'HR HIGH' }));
    e.tick(s(600));
    e.deviceAlarm(deviceAlarm('hr', 'continue', 600, { priority: 'high', text: 'HR EXTREME' }));
    expect(e.tick(s(601))).toEqual([]);
    expect(e.tick(s(659))).toEqual([]);
    const esc = e.tick(s(660));
    expect(summary(esc)).toEqual(['escalated:active>active']);
    expect(esc[0]!.why).toBe('not acknowledged within 60 s');
  });

  it('an escalated alarm that was acknowledged and then rose is unanswered again, and escalates again', () => {
    const e = engine({ escalation: { afterS: 60, priorities: ['high', 'medium'] } });
    e.deviceAlarm(deviceAlarm('hr', 'start', 0, { priority: 'medium', text: 'HR HIGH' }));
    expect(summary(e.tick(s(60)))).toEqual(['escalated:active>active']);
    const id = e.list()[0]!.id;
    e.acknowledge(id, nurse, s(70));
    const rose = e.deviceAlarm(deviceAlarm('hr', 'continue', 100, { priority: 'high', text: 'HR EXTREME' }));
    expect(summary(rose)).toEqual(['priority-changed:acknowledged>active']);
    expect(rose[0]!.alarm).toMatchObject({ escalated: false });
    expect(rose[0]!.alarm.escalatedAt).toBeUndefined();
    expect(e.tick(s(159))).toEqual([]);
    expect(summary(e.tick(s(160)))).toEqual(['escalated:active>active']);
  });

  it('a priority wavering high ↔ medium does not restart the clock: timed from the first time it was high', () => {
    const e = engine();
    const out: AlarmStateChange[] = [];
    for (let t = 0; t < 600; t++) {
      const priority = t % 60 < 55 ? 'high' : 'medium';
      out.push(...e.ingest(deviceAlarm('a1', t === 0 ? 'start' : 'continue', t, { priority, text: 'SpO2 DESAT' })), ...e.tick(s(t)));
    }
    const esc = out.filter((c) => c.change === 'escalated');
    expect(esc.map((c) => c.at)).toEqual([s(60)]);
  });

  it('an acknowledgement holds through a waver back to the priority acknowledged at; only a rise above it undoes it', () => {
    const e = engine();
    e.ingest(deviceAlarm('desat', 'start', 0, { priority: 'high', text: 'SpO2 DESAT' }));
    const id = e.list()[0]!.id;
    expect(e.acknowledge(id, nurse, s(5), 'high').ok).toBe(true);
    const out: AlarmStateChange[] = [];
    let priority: 'high' | 'medium' = 'high';
    for (let t = 10; t <= 300; t += 10) {
      priority = priority === 'high' ? 'medium' : 'high';
      out.push(...e.ingest(deviceAlarm('desat', 'continue', t, { priority })), ...e.tick(s(t)));
    }
    expect(out.length).toBeGreaterThan(0);
    expect(out.every((c) => c.change === 'priority-changed' && c.from === 'acknowledged' && c.to === 'acknowledged')).toBe(true);
    expect(e.get(id)).toMatchObject({ state: 'acknowledged', escalated: false });
    // Acknowledged at medium (as shown), it sounds again at high.
    e.ingest(deviceAlarm('hr', 'start', 0, { priority: 'medium', text: 'HR HIGH' }));
    const hr = e.list().find((a) => a.sourceAlarmId === 'hr')!.id;
    e.acknowledge(hr, nurse, s(1), 'medium');
    expect(summary(e.ingest(deviceAlarm('hr', 'continue', 2, { priority: 'low', text: 'HR HIGH' })))).toEqual(['priority-changed:acknowledged>acknowledged']);
    expect(summary(e.ingest(deviceAlarm('hr', 'continue', 3, { priority: 'medium', text: 'HR HIGH' })))).toEqual(['priority-changed:acknowledged>acknowledged']);
    expect(summary(e.ingest(deviceAlarm('hr', 'continue', 4, { priority: 'high', text: 'HR EXTREME' })))).toEqual(['priority-changed:acknowledged>active']);
  });

  it('medium alarms do not escalate by default; null switches escalation off', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    expect(e.tick(s(600))).toEqual([]);
    const off = engine({ escalation: null });
    hold(off, SPO2, 75, 0, 6);
    expect(off.tick(s(600)).filter((c) => c.change === 'escalated')).toEqual([]);
  });
});

describe('engine: device-reported alarms', () => {
  it('start / continue / end with priority as given', () => {
    const e = engine();
    const start = e.deviceAlarm(deviceAlarm('42', 'start', 0, { priority: 'medium', text: 'ST-II HIGH', value: 2.1 }));
    expect(summary(start)).toEqual(['raised:->active']);
    expect(start[0]!.alarm).toMatchObject({ source: 'device', sourceAlarmId: '42', priority: 'medium', reportedPriority: 'medium', value: 2.1, key: 'device:mon-1:42' });
    expect(e.deviceAlarm(deviceAlarm('42', 'continue', 1, { priority: 'medium', text: 'ST-II HIGH' }))).toEqual([]);
    const up = e.deviceAlarm(deviceAlarm('42', 'continue', 2, { priority: 'high', text: 'ST-II HIGH' }));
    expect(summary(up)).toEqual(['priority-changed:active>active']);
    expect(up[0]!.alarm).toMatchObject({ priority: 'high', latching: true });
    expect(summary(e.deviceAlarm(deviceAlarm('42', 'end', 3, { priority: 'high' })))).toEqual(['condition-ended:active>latched']);
  });

  it('a device technical alarm does not latch, and a continue without a start raises it', () => {
    const e = engine();
    const c = e.deviceAlarm(deviceAlarm('7', 'continue', 0, { priority: 'high', category: 'technical', text: 'ECG LEADS OFF' }));
    expect(summary(c)).toEqual(['raised:->active']);
    expect(c[0]!.alarm).toMatchObject({ category: 'technical', latching: false });
    expect(summary(e.deviceAlarm(deviceAlarm('7', 'end', 1, { priority: 'high', category: 'technical' })))).toEqual(['resolved:active>resolved']);
  });

  it('an end for an alarm never seen starting is recorded, not dropped', () => {
    const e = engine();
    const cs = e.deviceAlarm(deviceAlarm('9', 'end', 0, { priority: 'medium', text: 'APNEA' }));
    expect(summary(cs)).toEqual(['raised:->active', 'resolved:active>resolved']);
    expect(cs[0]!.why).toBe('device reported the end of an alarm not seen starting');
    expect(cs[0]!.alarm.condition.text).toBe('APNEA');
  });

  it('a momentary device event (PCD-04 tpoint) is latched until acknowledged, whatever its priority', () => {
    const e = engine();
    const cs = e.deviceAlarm({ ...deviceAlarm('m', 'start', 0, { priority: 'low' }), momentary: true });
    cs.push(...e.deviceAlarm({ ...deviceAlarm('m', 'end', 0, { priority: 'low' }), momentary: true }));
    expect(summary(cs)).toEqual(['raised:->active', 'condition-ended:active>latched']);
  });

  it('a device alarm whose device reports it latched (condition gone, signal held) stays in view until acknowledged, at the device or here', () => {
    const e = engine();
    const low = (phase: 'start' | 'end', at: number, extra: Partial<AlarmEvent> = {}) => ({ ...deviceAlarm('L', phase, at, { priority: 'low' }), ...extra });
    e.deviceAlarm(low('start', 0));
    const latched = e.deviceAlarm(low('end', 1, { latched: true }));
    // A low alarm does not latch by the configured default: the device's latching keeps it.
    expect(summary(latched)).toEqual(['condition-ended:active>latched']);
    expect(latched[0]!.alarm).toMatchObject({ conditionPresent: false, latching: true });
    expect(latched[0]!.why).toMatch(/latched until acknowledged/);
    // Acknowledged at the device while latched: answered here too.
    expect(summary(e.deviceAlarm(low('end', 2, { latched: true, atDevice: 'acknowledged' })))).toEqual(['acknowledged:latched>resolved']);
    // The same without the device's latching ends at once, as before.
    e.deviceAlarm(low('start', 3, { alarmId: 'L2' }));
    expect(summary(e.deviceAlarm(low('end', 4, { alarmId: 'L2' })))).toEqual(['resolved:active>resolved']);
    // Reported latched first (the start was missed): kept until acknowledged.
    expect(summary(e.deviceAlarm(low('end', 5, { alarmId: 'L3', latched: true })))).toEqual(['raised:->active', 'condition-ended:active>latched']);
  });

  it('a latched alarm acknowledged here stays answered while its device re-sends it latched; a new start is a new alarm', () => {
    const e = engine();
    const low = (phase: 'start' | 'end', at: number, extra: Partial<AlarmEvent> = {}) => ({ ...deviceAlarm('L', phase, at, { priority: 'low' }), ...extra });
    e.deviceAlarm(low('start', 0));
    const [ended] = e.deviceAlarm(low('end', 1, { latched: true }));
    expect(summary(e.acknowledge(ended!.alarmId, nurse, s(2)).changes)).toEqual(['acknowledged:latched>resolved']);
    // IHE ACM senders repeat the current state until the latch is cleared at the device.
    for (const at of [12, 42, 72]) expect(summary(e.deviceAlarm(low('end', at, { latched: true })))).toEqual([]);
    expect(e.list()).toEqual([]);
    // Then its latch is cleared at the device (inactive): answered already, nothing raised (a high one would latch).
    expect(summary(e.deviceAlarm(low('end', 75)))).toEqual([]);
    e.deviceAlarm({ ...deviceAlarm('H', 'start', 76, { priority: 'high' }) });
    const [high] = e.deviceAlarm({ ...deviceAlarm('H', 'end', 77, { priority: 'high' }), latched: true });
    e.acknowledge(high!.alarmId, nurse, s(78));
    expect(summary(e.deviceAlarm(deviceAlarm('H', 'end', 79, { priority: 'high' })))).toEqual([]);
    expect(e.list()).toEqual([]);
    expect(summary(e.deviceAlarm(low('start', 80)))).toEqual(['raised:->active']);
  });

  it('a latched alarm ends when its device reports it inactive (its latch cleared there), with or without saying it was acknowledged', () => {
    for (const atDevice of [undefined, 'acknowledged' as const]) {
      const e = engine();
      const low = (phase: 'start' | 'end', at: number, extra: Partial<AlarmEvent> = {}) => ({ ...deviceAlarm('L', phase, at, { priority: 'low' }), ...extra });
      e.deviceAlarm(low('start', 0));
      e.deviceAlarm(low('end', 1, { latched: true }));
      const cleared = e.deviceAlarm(low('end', 5, atDevice ? { atDevice } : {}));
      expect(summary(cleared), String(atDevice)).toEqual(['acknowledged:latched>resolved']);
      expect(cleared[0]!.actor).toMatchObject({ role: 'device' });
      expect(e.list()).toEqual([]);
    }
    // Latched by the gateway's own policy (a high alarm), not the device's: the device's end does not answer it.
    const e = engine();
    e.deviceAlarm(deviceAlarm('H', 'start', 0, { priority: 'high' }));
    expect(summary(e.deviceAlarm(deviceAlarm('H', 'end', 1, { priority: 'high' })))).toEqual(['condition-ended:active>latched']);
  });

  it('a device alarm without text says so and names the device; a very long text is cut, and never repeated in the audit', () => {
    const e = engine();
    const none = e.deviceAlarm(deviceAlarm('1', 'start', 0, { priority: 'high', text: '  ' }));
    expect(none[0]!.alarm.condition.text).toMatch(/^Device alarm without text from \S+/);
    const long = e.deviceAlarm(deviceAlarm('2', 'start', 0, { priority: 'high', text: 'X'.repeat(100_000) }));
    expect(long[0]!.alarm.condition.text).toHaveLength(500);
    expect(long[0]!.alarm.condition.text.endsWith('…')).toBe(true);
    expect(long[0]!.why).toBe('device reported start (high)');
    expect(JSON.stringify(long[0]).length).toBeLessThan(5_000); // the audit record stays far below the store's limit
  });

  it("priority 'none' is kept as low with the reported priority", () => {
    const e = engine();
    const cs = e.deviceAlarm(deviceAlarm('i', 'start', 0, { priority: 'none', category: 'technical', text: 'NIBP MEASUREMENT DONE' }));
    expect(cs[0]!.alarm).toMatchObject({ priority: 'low', reportedPriority: 'none' });
  });

  it('a new start after resolution is a new alarm', () => {
    const e = engine();
    const a = e.deviceAlarm(deviceAlarm('5', 'start', 0, { priority: 'low' }))[0]!.alarmId;
    e.deviceAlarm(deviceAlarm('5', 'end', 1, { priority: 'low' }));
    const b = e.deviceAlarm(deviceAlarm('5', 'start', 2, { priority: 'low' }))[0]!.alarmId;
    expect(b).not.toBe(a);
  });

  it('a new start of an alarm acknowledged here (its end lost) is a new episode: the old one ends, audited, and a new one is raised', () => {
    const e = engine({ technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 } });
    e.ingest(deviceAlarm('vt', 'start', 0, { priority: 'high', text: 'VTACH' }));
    const id = e.list()[0]!.id;
    expect(e.acknowledge(id, nurse, s(5)).ok).toBe(true);
    // Repeated within the device's interval (a PCD-04 sender without event phase repeats its alarm as "start"): a repeat.
    expect(e.ingest(deviceAlarm('vt', 'start', 20, { priority: 'high', text: 'VTACH' }))).toEqual([]);
    expect(e.ingest(deviceAlarm('vt', 'start', 45, { priority: 'high', text: 'VTACH' }))).toEqual([]);
    const later = e.ingest(deviceAlarm('vt', 'start', 3600, { priority: 'high', text: 'VTACH' }));
    expect(summary(later)).toEqual(['resolved:acknowledged>resolved', 'raised:->active']);
    expect(later[0]).toMatchObject({ alarmId: id, why: 'device reported a new start of this alarm (the end of the one acknowledged was not received): a new episode' });
    expect(later[1]!.alarmId).not.toBe(id);
    expect(e.list().map((a) => [a.state, a.raisedAt])).toEqual([['active', s(3600)]]);
    expect(e.tick(s(3660)).filter((c) => c.change === 'escalated').map((c) => c.alarmId)).toEqual([later[1]!.alarmId]); // unanswered: it escalates
  });

  it('a sender re-sending its alarm as "start" every 60 s (or every 10 min) while it sends numerics every 5 s never undoes the acknowledgement', () => {
    // silentAfterS 30 s (the feed's pace): the episode rule is its own 10 min, not the device's interval.
    const e = new AlarmEngine({ ...QUIET, technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 } });
    const out: AlarmStateChange[] = [];
    const vt = (t: number) => e.ingest(deviceAlarm('vt', 'start', t, { priority: 'high', text: 'VTACH' }));
    for (let t = 0; t <= 600; t++) {
      if (t % 5 === 0) out.push(...e.reading(numeric(HR, 80, t)));
      if (t % 60 === 0) out.push(...vt(t));
      if (t === 5) out.push(...e.acknowledge(e.list()[0]!.id, nurse, s(5)).changes);
      out.push(...e.tick(s(t)));
    }
    // Then a re-send exactly NEW_EPISODE_AFTER_MS after the last one: still a repeat.
    out.push(...vt(600 + NEW_EPISODE_AFTER_MS / 1000));
    expect(summary(out)).toEqual(['raised:->active', 'acknowledged:active>acknowledged']);
    expect(e.list().map((a) => a.state)).toEqual(['acknowledged']);
    // Quiet for longer than that: a new episode.
    expect(summary(vt(1201 + NEW_EPISODE_AFTER_MS / 1000))).toEqual(['resolved:acknowledged>resolved', 'raised:->active']);
  });

  it('device alarms keep the feed alive (no silent-feed alarm)', () => {
    const e = new AlarmEngine();
    e.deviceAlarm(deviceAlarm('5', 'start', 0, { priority: 'low' }));
    e.deviceAlarm(deviceAlarm('5', 'continue', 25, { priority: 'low' }));
    expect(e.tick(s(50))).toEqual([]);
    // Then silent: "no data" at once; the device's own alarm is given up only after NEW_EPISODE_AFTER_MS (below).
    expect(summary(e.tick(s(56)))).toEqual(['raised:->active']);
    expect(summary(e.tick(s(25 + NEW_EPISODE_AFTER_MS / 1000 + 1)))).toEqual(['condition-ended:active>latched']);
  });
});

describe('engine: device alarms of a device that goes silent (review rv51 H1)', () => {
  // The reviewer's p2-silent scenario: a central station sends HR 30 and its own alarms over HL7 (no link-lost end),
  // ASYSTOLE is acknowledged, then the feed stops without an end.
  function silentCentralStation() {
    const e = new AlarmEngine();
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 15; t++) out.push(...e.reading(numeric(HR, 30, t, { deviceId: 'cs-1' })), ...e.tick(s(t)));
    out.push(...e.ingest(deviceAlarm('asys', 'start', 2, { deviceId: 'cs-1', priority: 'high', text: 'ASYSTOLE' })));
    out.push(...e.ingest(deviceAlarm('leads', 'start', 3, { deviceId: 'cs-1', priority: 'low', category: 'technical', text: 'LEADS OFF' })));
    const asys = e.list().find((a) => a.condition.text === 'ASYSTOLE')!.id;
    const leads = e.list().find((a) => a.condition.text === 'LEADS OFF')!.id;
    out.push(...e.acknowledge(asys, nurse, s(16)).changes);
    return { e, out, asys, leads };
  }

  it('end unconfirmed with the limit alarms, audited: the acknowledged one resolves, the unanswered one latches until acknowledged', () => {
    const { e, asys, leads } = silentCentralStation();
    const out: AlarmStateChange[] = [];
    for (let t = 16; t <= 3 * 3600; t += 1) out.push(...e.tick(s(t)));
    const device = out.filter((c) => c.alarm.source === 'device').map((c) => `${(c.at - s(0)) / 1000} ${c.alarmId} ${c.change}:${c.from}>${c.to} ${c.why}`);
    // Not before a repeat would be a new episode (10 min after the last word from the device, at 15 s).
    const end = 15 + NEW_EPISODE_AFTER_MS / 1000 + 1;
    expect(device).toEqual([
      `${end} ${asys} resolved:acknowledged>resolved no longer monitored: device cs-1 silent for ${end - 15} s`,
      `${end} ${leads} condition-ended:active>latched no longer monitored: device cs-1 silent for ${end - 15} s`,
    ]);
    // The limit alarm of the same feed ended earlier, at its silence limit; "no data" said the silence at once.
    expect(out.find((c) => c.alarm.source === 'limit')).toMatchObject({ at: s(46), why: 'no longer monitored: device cs-1 silent for 31 s' });
    // A person can clear what remains.
    expect(summary(e.acknowledge(leads, nurse, s(3 * 3600 + 1)).changes)).toEqual(['acknowledged:latched>resolved']);
    expect(e.list().filter((a) => a.source === 'device')).toEqual([]);
    // The device back with its alarm: raised again, unanswered.
    expect(summary(e.ingest(deviceAlarm('asys', 'continue', 3 * 3600 + 2, { deviceId: 'cs-1', priority: 'high', text: 'ASYSTOLE' })))).toEqual(['resolved:active>resolved', 'raised:->active']);
  });

  it('stay while the device sends anything within its silentAfterS: readings for the bed, its alarms, a keep-alive', () => {
    const technical = { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 };
    // Readings every 20 s.
    const a = engine({ technical });
    a.ingest(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' }));
    const readings: AlarmStateChange[] = [];
    for (let t = 0; t <= 600; t++) {
      if (t % 20 === 0) readings.push(...a.reading(numeric(HR, 80, t)));
      readings.push(...a.tick(s(t)));
    }
    expect(readings.filter((c) => c.alarm.source === 'device' && c.change !== 'escalated')).toEqual([]);
    // Only alarms (another of the device's, for the bed) and a PCD-04 watchdog carrying no bed.
    const b = engine({ technical });
    b.ingest(deviceAlarm('asys', 'start', 0, { text: 'ASYSTOLE' }));
    const quiet: AlarmStateChange[] = [];
    for (let t = 0; t <= 600; t++) {
      if (t === 25) quiet.push(...b.ingest(deviceAlarm('other', 'start', t, { priority: 'low', text: 'NIBP CUFF' })));
      if (t >= 40 && t % 20 === 0) quiet.push(...b.ingest({ ...status('online', t), bed: undefined, alive: true }));
      quiet.push(...b.tick(s(t)));
    }
    expect(quiet.filter((c) => c.why.startsWith('no longer monitored'))).toEqual([]);
    expect(b.list().map((x) => `${x.condition.text} ${x.state}`).sort()).toEqual(['ASYSTOLE active', 'NIBP CUFF active']);
  });

  it('a monitor moved to another bed ends the old bed\'s; a central station still sending for other beds keeps them (its bed gets "no data for bed")', () => {
    const technical = { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 };
    const moved = engine({ technical });
    moved.ingest(deviceAlarm('spo2', 'start', 0, { priority: 'medium', text: 'SpO2 LOW' }));
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 700; t++) {
      out.push(...moved.reading(numeric(HR, 80, t, { bed: t <= 10 ? 'bed-1' : 'bed-2' })), ...moved.tick(s(t)));
    }
    expect(out.filter((c) => c.alarm.source === 'device').map((c) => `${(c.at - s(0)) / 1000} ${c.change}:${c.from}>${c.to} ${c.why}`)).toEqual([
      '611 condition-ended:active>latched no longer monitored: mon-1 now sends for bed bed-2, nothing for bed bed-1 for 601 s',
    ]);

    // One device id sending readings for bed-1 and, by change only, an alarm for bed-2 (a ventilator behind the same
    // sender): it never sent readings for bed-2, so it has not moved; the alarm stays (review rv52 M1).
    const mixed = engine({ technical });
    mixed.ingest(deviceAlarm('vent', 'start', 0, { bed: 'bed-2', priority: 'high', text: 'VENT DISCONNECT' }));
    const mx: AlarmStateChange[] = [];
    for (let t = 0; t <= 1200; t++) mx.push(...mixed.reading(numeric(HR, 80, t, { bed: 'bed-1' })), ...mixed.tick(s(t)));
    expect(mx.filter((c) => c.alarm.source === 'device' && c.change !== 'escalated')).toEqual([]);
    expect(mixed.list({ bed: 'bed-2' }).map((x) => x.condition.text)).toEqual(['VENT DISCONNECT']);

    const central = new AlarmEngine({ technical });
    central.ingest(deviceAlarm('asys', 'start', 0, { deviceId: 'central-1', text: 'ASYSTOLE' }));
    const cs: AlarmStateChange[] = [];
    for (let t = 0; t <= 300; t++) {
      if (t <= 60) cs.push(...central.reading(numeric(HR, 80, t, { deviceId: 'central-1', bed: 'bed-1' })));
      cs.push(...central.reading(numeric(HR, 80, t, { deviceId: 'central-1', bed: 'bed-2' })), ...central.tick(s(t)));
    }
    expect(cs.filter((c) => c.alarm.source === 'device' && c.change !== 'escalated').map((c) => c.change)).toEqual([]);
    expect(central.list({ bed: 'bed-1' }).map((x) => x.condition.text).sort()).toEqual(['ASYSTOLE', 'No data from central-1 for bed bed-1']);
  });

  it('a pause of the device\'s readings shorter than a new episode keeps an acknowledged alarm acknowledged (review rv52 M2)', () => {
    const technical = { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 };
    const e = engine({ technical });
    const out: AlarmStateChange[] = [];
    // An IntelliVue-like device re-sends its alarm every 60 s; its readings stop at 20 s while the alarm goes on.
    for (let t = 0; t <= 400; t++) {
      if (t <= 20) out.push(...e.reading(numeric(HR, 80, t)));
      if (t % 60 === 0) out.push(...e.ingest(deviceAlarm('asys', t === 0 ? 'start' : 'continue', t, { text: 'ASYSTOLE' })));
      if (t === 5) out.push(...e.acknowledge(e.list({ bed: 'bed-1' }).find((a) => a.source === 'device')!.id, nurse, s(5)).changes);
      out.push(...e.tick(s(t)));
    }
    expect(summary(out.filter((c) => c.alarm.source === 'device'))).toEqual(['raised:->active', 'acknowledged:active>acknowledged']);
  });

  it('a driver that ends its alarms on link loss (IntelliVue, Medibus) still ends them so, and the silence later adds no record', () => {
    const technical = { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 };
    const e = engine({ technical });
    e.ingest(deviceAlarm('spo2', 'start', 0, { priority: 'medium', text: 'SpO2 LOW' }));
    const ended = e.ingest(deviceAlarm('spo2', 'end', 5, { priority: 'medium', text: 'SpO2 LOW', endedBy: 'link-lost' }));
    expect(ended.map((c) => c.why)).toEqual(['connection to the device lost; it can no longer confirm: SpO2 LOW']);
    const later: AlarmStateChange[] = [];
    for (let t = 6; t <= 120; t++) later.push(...e.tick(s(t)));
    expect(later.filter((c) => c.alarm.source === 'device')).toEqual([]);
  });
});

describe('engine: NEWS2, technical and model inputs', () => {
  it('a NEWS2 trigger level becomes an alarm with its priority', () => {
    const e = new AlarmEngine();
    const cs = [
      ...e.reading(numeric(MDC.RESP_RATE, 26, 0)),
      ...e.reading(numeric(SPO2, 91, 0)),
      ...e.observe('bed-1', { consciousness: 'A', oxygen: 'oxygen' }, s(0)),
    ];
    const news = cs.filter((c) => c.alarm.source === 'news2');
    expect(news.map((c) => `${c.change}:${c.alarm.condition.raw?.code}:${c.alarm.priority}`)).toEqual([
      'raised:news2:low-medium:low',
      'resolved:news2:low-medium:low',
      'raised:news2:medium:medium', // RR 3 + SpO2 3: 6, partial
      'resolved:news2:medium:medium',
      'raised:news2:high:high', // + oxygen 2: 8
    ]);
    expect(e.news2('bed-1', s(1))).toMatchObject({ total: 8, partial: true });
  });

  it('the alarm changes a recorded observation causes are audited as the person\'s', () => {
    const e = new AlarmEngine();
    e.reading(numeric(MDC.RESP_RATE, 26, 0));
    e.reading(numeric(SPO2, 91, 0));
    const nurse = { user: 'nurse.jones', role: 'clinician', from: '10.0.0.7' };
    const cs = e.observe('bed-1', { consciousness: 'A', oxygen: 'oxygen' }, s(0), nurse).filter((c) => c.alarm.source === 'news2');
    expect(cs.map((c) => [`${c.change}:${c.alarm.priority}`, c.actor])).toEqual([
      ['resolved:medium', nurse],
      ['raised:high', nurse],
    ]);
    expect(cs[1]!.why).toContain('oxygen');
  });

  it('a setting with a measurement code (a ventilator set rate) reaches neither the limits nor NEWS2, nor ends a sensor-off', () => {
    const e = new AlarmEngine();
    // One ventilator reports its measured and its set rate with the same code.
    const set = (value: number, t: number) => e.reading(numeric(MDC.RESP_RATE, value, t, { setting: true, deviceId: 'vent-1' }));
    const measured = (value: number | null, t: number, quality: Quality = { state: 'valid' }) =>
      e.reading(numeric(MDC.RESP_RATE, value, t, { deviceId: 'vent-1', quality }));
    // A set rate far above the RR limit (30 /min) for a minute, and as NEWS2's RR: nothing.
    const cs: AlarmStateChange[] = [];
    for (let t = 0; t <= 60; t++) cs.push(...set(40, t), ...e.tick(s(t)));
    expect(cs).toEqual([]);
    expect(e.news2('bed-1', s(60))).toBeUndefined();
    // The measured RR still alarms, and a set value inside the limits does not end that alarm.
    for (let t = 61; t <= 100; t++) cs.push(...measured(36, t), ...set(14, t), ...e.tick(s(t)));
    expect(cs.filter((c) => c.alarm.source === 'limit').map((c) => `${c.change}:${c.alarm.condition.text}`)).toEqual(['raised:RR HIGH 36 > 30 /min']);
    expect(e.list().find((a) => a.source === 'limit')).toMatchObject({ state: 'active', value: 36, conditionPresent: true });
    // Sensor off on the measured RR: valid settings with the same code do not end it (they keep the feed alive).
    for (let t = 101; t <= 120; t++) cs.push(...measured(null, t, { state: 'unavailable', reasons: ['sensor-off'] }), ...set(14, t), ...e.tick(s(t)));
    const tech = e.list().filter((a) => a.category === 'technical');
    expect(tech.map((a) => a.condition.text)).toEqual(['RR SENSOR OFF']);
  });

  it('store and hub conditions are gateway-wide technical alarms', () => {
    const e = new AlarmEngine();
    expect(e.storeUsage(0.95, s(0))[0]!.alarm).toMatchObject({ bed: '*', category: 'technical', priority: 'low' });
    e.hubReachable(false, s(0));
    expect(summary(e.tick(s(300)))).toEqual(['raised:->active']);
  });

  it('a model condition can be raised and ended through condition()', () => {
    const e = engine();
    const spec = { key: 'model:bed-1:deterioration', source: 'model' as const, bed: 'bed-1', deviceId: 'agent:model', condition: { code: null, text: 'Deterioration risk' }, priority: 'medium' as const, category: 'physiological' as const };
    expect(summary(e.condition({ present: true, spec, at: s(0), why: 'p=0.91' }))).toEqual(['raised:->active']);
    expect(summary(e.condition({ present: false, key: spec.key, at: s(5), why: 'p=0.2' }))).toEqual(['resolved:active>resolved']);
  });
});

describe('engine: the bed configured for a device whose events carry none', () => {
  it('is used by limits (with that bed\'s overrides), NEWS2 and the device\'s own alarms, not only technical ones', () => {
    const e = new AlarmEngine({
      limits: { ...DEFAULT_LIMIT_CONFIG, beds: { 'bed-7': { overrides: { hr: { high: 100 } } } } },
      technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6, devices: { 'mon-9': { bed: 'bed-7' } } },
    });
    const noBed = { bed: null, deviceId: 'mon-9' } as const;
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 10; t++) out.push(...e.reading(numeric(HR, 110, t, noBed)), ...e.tick(s(t)));
    for (let t = 11; t <= 16; t++) out.push(...e.reading(numeric(SPO2, null, t, { ...noBed, quality: { state: 'invalid', reasons: ['sensor-off'] } })), ...e.tick(s(t)));
    const { bed: _none, ...apnea } = deviceAlarm('x1', 'start', 17, { deviceId: 'mon-9', text: 'APNEA' });
    out.push(...e.ingest(apnea));
    expect(out.filter((c) => c.change === 'raised').map((c) => `${c.alarm.bed} ${c.alarm.source} ${c.alarm.condition.text}`)).toEqual([
      'bed-7 limit HR HIGH 110 > 100 /min',
      'bed-7 technical SpO2 SENSOR OFF',
      'bed-7 device APNEA',
    ]);
    expect(e.news2Beds()).toEqual(['bed-7']);
  });
});

describe('engine: conditions whose device stopped, or moved to another bed', () => {
  it('end, unconfirmed: acknowledged ones resolve, unanswered ones latch; a NEWS2 level ends when its inputs are stale', () => {
    const e = new AlarmEngine();
    for (let t = 0; t <= 15; t++) {
      e.reading(numeric(HR, 140, t));
      e.reading(numeric(MDC.RESP_RATE, 26, t));
      e.reading(numeric(SPO2, null, t, { quality: { state: 'invalid', reasons: ['sensor-off'] } }));
      e.tick(s(t));
    }
    const open = e.list({ bed: 'bed-1' });
    expect(open.map((a) => `${a.source} ${a.condition.text}`).sort()).toEqual(['limit HR HIGH 140 > 120 /min', 'news2 NEWS2 5-6 (medium risk): score at raise 6 (partial) (assumed: oxygen, consciousness)', 'technical SpO2 SENSOR OFF']);
    const hr = open.find((a) => a.source === 'limit')!.id;
    for (const a of open) if (a.id !== hr) e.acknowledge(a.id, nurse, s(20));
    // The monitor now reports for bed-2 (normal values there).
    const out: AlarmStateChange[] = [];
    for (let t = 30; t <= 330; t += 5) {
      out.push(...e.reading(numeric(HR, 75, t, { bed: 'bed-2' })), ...e.reading(numeric(MDC.RESP_RATE, 14, t, { bed: 'bed-2' })), ...e.reading(numeric(SPO2, 98, t, { bed: 'bed-2' })));
      out.push(...e.tick(s(t)));
    }
    const ends = out.filter((c) => c.alarm.bed === 'bed-1').map((c) => `${(c.at - s(0)) / 1000} ${c.alarm.source} ${c.from}>${c.to}: ${c.why}`);
    expect(ends).toEqual([
      '50 technical acknowledged>resolved: no longer monitored: nothing from mon-1 for bed bed-1 for 35 s (device silent, or moved to another bed)',
      expect.stringMatching(/^50 limit active>latched: no longer monitored: /), // the text is limits.ts's (limits.test.ts)
      expect.stringMatching(/^320 news2 acknowledged>resolved: NEWS2 no longer scored, no current input: /),
    ]);
    expect(e.list({ bed: 'bed-1' }).map((a) => [a.id, a.state, a.conditionPresent])).toEqual([[hr, 'latched', false]]);
  });

  it('a central station that stops sending for one bed while it sends for another: that bed gets a medium "no data" alarm, ending when its data returns', () => {
    const e = new AlarmEngine();
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 300; t++) {
      if (t <= 60 || t >= 200) out.push(...e.reading(numeric(HR, 80, t, { deviceId: 'central-1', bed: 'bed-1' })));
      out.push(...e.reading(numeric(HR, 80, t, { deviceId: 'central-1', bed: 'bed-2' })), ...e.tick(s(t)));
    }
    const tech = out.filter((c) => c.alarm.source === 'technical');
    expect(tech.map((c) => `${(c.at - s(0)) / 1000} ${c.alarm.bed} ${c.change} ${c.alarm.priority} ${c.alarm.condition.text}`)).toEqual([
      '91 bed-1 raised medium No data from central-1 for bed bed-1',
      '200 bed-1 resolved medium No data from central-1 for bed bed-1',
    ]);
  });

  it('readings ingest marks out of order (a clock stepped back) still show the device sending for its bed: its alarms do not end as "no longer monitored"', () => {
    const e = new AlarmEngine({ ...QUIET, technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 } });
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 200; t++) {
      const r = numeric(HR, 150, t);
      out.push(...e.reading(t >= 60 && t < 120 ? { ...r, outOfOrder: true } : r), ...e.tick(s(t)));
    }
    expect(summary(out.filter((c) => c.alarm.source === 'limit'))).toEqual(['raised:->active']);
    expect(out.some((c) => c.why.startsWith('no longer monitored'))).toBe(false);
  });
});

describe('engine: annotate', () => {
  it('adds an annotation with an audit record, also to a resolved alarm', () => {
    const e = engine();
    hold(e, HR, 130, 0, 12);
    const model = { user: 'onnx:artefact-v1', role: 'model', from: 'local' };
    const r = e.annotate('alm-1', { kind: 'model', values: { probability: 0.93, verdict: 'likely-artefact' } }, model, s(13));
    expect(summary(r.changes)).toEqual(['annotated:active>active']);
    expect(r.changes[0]!.alarm.annotations).toEqual([{ kind: 'model', values: { probability: 0.93, verdict: 'likely-artefact' }, by: model, at: s(13) }]);
    e.reading(numeric(HR, 90, 14));
    expect(e.annotate('alm-1', { kind: 'note', values: {}, note: 'checked' }, nurse, s(15)).ok).toBe(true);
    expect(e.get('alm-1')?.annotations).toHaveLength(2);
    expect(e.annotate('zzz', { kind: 'x', values: {} }, nurse, s(15)).ok).toBe(false);
  });
});

describe('engine: list order', () => {
  it('sorts by priority (high first), then newest first', () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('a', 'start', 0, { priority: 'low', text: 'low-old' }));
    e.deviceAlarm(deviceAlarm('b', 'start', 1, { priority: 'high', text: 'high-old' }));
    e.deviceAlarm(deviceAlarm('c', 'start', 2, { priority: 'medium', text: 'medium' }));
    e.deviceAlarm(deviceAlarm('d', 'start', 3, { priority: 'low', text: 'low-new' }));
    e.deviceAlarm(deviceAlarm('e', 'start', 4, { priority: 'high', text: 'high-new' }));
    expect(e.list().map((a) => a.condition.text)).toEqual(['high-new', 'high-old', 'medium', 'low-new', 'low-old']);
  });

  it('alarms raised at the same time are newest first by creation, alm-10 before alm-9 (not text order of ids)', () => {
    const e = engine();
    for (let i = 1; i <= 12; i++) e.deviceAlarm(deviceAlarm(`a${i}`, 'start', 0, { priority: 'medium', text: `alarm ${i}` }));
    expect(e.list().map((a) => a.id)).toEqual(Array.from({ length: 12 }, (_, i) => `alm-${12 - i}`));
  });

  it('list returns copies', () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('a', 'start', 0, { priority: 'low' }));
    e.list()[0]!.state = 'resolved';
    expect(e.list()[0]!.state).toBe('active');
  });
});

describe('engine: a driver that loses its device ends the alarms it held (endedBy link-lost)', () => {
  const technical = { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30, connectionAfterS: 10 };
  it('the end is not taken as data: the disconnection alarm still comes, and the ended alarm says why', () => {
    const e = engine({ technical });
    e.deviceAlarm(deviceAlarm('spo2-low', 'start', 1, { priority: 'medium', text: 'SpO2 LOW' }));
    e.deviceStatus(status('offline', 5, 'mon-1', 'link closed'));
    const ended = e.deviceAlarm(deviceAlarm('spo2-low', 'end', 5, { priority: 'medium', text: 'SpO2 LOW', endedBy: 'link-lost' }));
    expect(ended[0]!.why).toMatch(/connection to the device lost; it can no longer confirm/);
    const later = [...e.tick(s(10)), ...e.tick(s(16))];
    expect(later.filter((c) => c.change === 'raised').map((c) => c.alarm.key)).toEqual(['tech:mon-1:connection']);
  });

  it('an unanswered alarm is not known to have ended: it latches, so the bed never looks clear in between', () => {
    const e = engine({ technical });
    e.deviceAlarm(deviceAlarm('spo2-low', 'start', 1, { priority: 'medium', text: 'SpO2 LOW' }));
    const ended = e.deviceAlarm(deviceAlarm('spo2-low', 'end', 5, { priority: 'medium', text: 'SpO2 LOW', endedBy: 'link-lost' }));
    expect(summary(ended)).toEqual(['condition-ended:active>latched']);
    expect(e.list({ bed: 'bed-1' }).map((a) => `${a.key} ${a.state}`)).toEqual(['device:mon-1:spo2-low latched']);
    // Back with the alarm still on: active again. Or acknowledged: gone.
    expect(summary(e.deviceAlarm(deviceAlarm('spo2-low', 'continue', 20, { priority: 'medium', text: 'SpO2 LOW' })))).toEqual(['condition-returned:latched>active']);
    e.deviceAlarm(deviceAlarm('spo2-low', 'end', 25, { priority: 'medium', text: 'SpO2 LOW', endedBy: 'link-lost' }));
    const id = e.list()[0]!.id;
    expect(summary(e.acknowledge(id, nurse, s(30)).changes)).toEqual(['acknowledged:latched>resolved']);
    // Already acknowledged when the link went: nobody needs telling again.
    e.deviceAlarm(deviceAlarm('apnea', 'start', 40, { priority: 'medium', text: 'APNEA' }));
    e.acknowledge(e.list()[0]!.id, nurse, s(41));
    expect(summary(e.deviceAlarm(deviceAlarm('apnea', 'end', 42, { priority: 'medium', text: 'APNEA', endedBy: 'link-lost' })))).toEqual(['resolved:acknowledged>resolved']);
  });

  it('the driver\'s own finding (driverFinding: the device not answering) is no data: "No data" stays; a report from the device ends it (review rv175 M1)', () => {
    const e = engine({ technical });
    const raised = e.deviceStatus(status('silent', 4, 'mon-1', 'no bytes for 3 s'));
    expect(raised.map((c) => c.alarm.key)).toEqual(['tech:mon-1:no-data']);
    const finding = e.deviceAlarm(deviceAlarm('not-answering', 'start', 6, { priority: 'medium', category: 'technical', text: 'Ventilator mon-1 not answering', driverFinding: true }));
    expect(summary(finding)).toEqual(['raised:->active']);
    expect(e.list().map((a) => a.key).sort()).toEqual(['device:mon-1:not-answering', 'tech:mon-1:no-data']);
    expect(e.tick(s(40)).filter((c) => c.alarm.key === 'tech:mon-1:no-data')).toEqual([]);
    // A report from the device is data.
    const report = e.deviceAlarm(deviceAlarm('apnea', 'start', 41, { priority: 'high', text: 'APNEA' }));
    expect(report.filter((c) => c.alarm.key === 'tech:mon-1:no-data').map((c) => c.change)).toEqual(['resolved']);
  });

  it('a no-data alarm raised before the link was lost stays open', () => {
    const e = engine({ technical });
    e.deviceAlarm(deviceAlarm('apnea', 'start', 1, { priority: 'high', text: 'APNEA' }));
    const raised = e.deviceStatus(status('silent', 4, 'mon-1', 'no bytes for 3 s'));
    expect(raised.map((c) => c.alarm.key)).toEqual(['tech:mon-1:no-data']);
    e.deviceAlarm(deviceAlarm('apnea', 'end', 6, { priority: 'high', text: 'APNEA', endedBy: 'link-lost' }));
    expect(e.list().map((a) => a.key)).toContain('tech:mon-1:no-data');
    // (A high device alarm latches: it stays in view, its condition over, until acknowledged.)
    expect(e.list().find((a) => a.key === 'device:mon-1:apnea')).toMatchObject({ conditionPresent: false });
  });
});

describe('engine: an action applies to what the person saw', () => {
  it('an acknowledgement of an alarm shown as medium is refused when it has become high since', () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('hr', 'start', 0, { priority: 'medium', text: 'HR HIGH' }));
    const id = e.list()[0]!.id;
    e.deviceAlarm(deviceAlarm('hr', 'continue', 5, { priority: 'high', text: 'HR EXTREME' }));
    const r = e.acknowledge(id, nurse, s(5.2), 'medium');
    expect(r).toEqual({ ok: false, error: `alarm ${id} is now high priority (it was shown as medium): look at it again`, changes: [] });
    expect(e.get(id)?.state).toBe('active');
    expect(e.audioPause({ alarmId: id }, nurse, 60, s(5.3), 'medium').ok).toBe(false);
    // Shown as high (or no priority given, as from an API client): done.
    expect(e.acknowledge(id, nurse, s(6), 'high').ok).toBe(true);
  });

  it('an information signal shown as INFO that the device has made a low alarm since is not acknowledged or paused unseen', () => {
    const e = engine();
    e.ingest(deviceAlarm('nbp', 'start', 0, { priority: 'none', text: 'NBP CHECK CUFF' }));
    const id = e.list()[0]!.id;
    e.ingest(deviceAlarm('nbp', 'continue', 5, { priority: 'low', text: 'NBP CUFF LEAK' }));
    // Managed as low both times: only its signal priority (none → low) tells the rise.
    expect(e.acknowledge(id, nurse, s(5.2), 'none')).toEqual({ ok: false, error: `alarm ${id} is now low priority (it was shown as information): look at it again`, changes: [] });
    expect(e.audioPause({ alarmId: id }, nurse, 60, s(5.3), 'none').ok).toBe(false);
    expect(e.audioPause({ bed: 'bed-1', shown: [{ id, priority: 'none' }] }, nurse, 60, s(5.4)).ok).toBe(false);
    expect(e.get(id)?.state).toBe('active');
    expect(e.acknowledge(id, nurse, s(6), 'low').ok).toBe(true);
  });

  it('an audio pause given to an information signal ends when the device makes it an alarm', () => {
    const e = engine();
    e.ingest(deviceAlarm('nbp', 'start', 0, { priority: 'none', text: 'NBP CHECK CUFF' }));
    const id = e.list()[0]!.id;
    expect(e.audioPause({ alarmId: id }, nurse, 60, s(1), 'none').ok).toBe(true);
    const changes = e.ingest(deviceAlarm('nbp', 'continue', 5, { priority: 'low', text: 'NBP CUFF LEAK' }));
    expect(summary(changes)).toEqual(['priority-changed:audio-paused>audio-paused', 'audio-pause-expired:audio-paused>active']);
    expect(changes[1]!.why).toBe('priority rose to low, above the information it was paused at: its audio pause ends');
  });

  it("a bed's audio pause covers the alarms as shown: not one raised, nor one made worse, just before the click", () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('a', 'start', 0, { priority: 'medium', text: 'SpO2 LOW' }));
    e.deviceAlarm(deviceAlarm('c', 'start', 0, { priority: 'medium', text: 'HR HIGH' }));
    const shown = e.list().map((a) => ({ id: a.id, priority: a.priority }));
    e.deviceAlarm(deviceAlarm('b', 'start', 1, { priority: 'high', text: 'ASYSTOLE' }));
    e.deviceAlarm(deviceAlarm('c', 'continue', 1, { priority: 'high', text: 'HR EXTREME' }));
    const r = e.audioPause({ bed: 'bed-1', shown }, nurse, 60, s(1.1));
    expect(r.changes.map((c) => c.alarm.condition.text)).toEqual(['SpO2 LOW']);
    expect(e.list().filter((a) => a.state === 'active').map((a) => a.condition.text).sort()).toEqual(['ASYSTOLE', 'HR EXTREME']);
    // Nothing left as shown: refused, saying why (the bed's alarms are unanswered and not as shown).
    const again = e.audioPause({ bed: 'bed-1', shown: shown.filter((x) => x.id !== r.changes[0]!.alarmId) }, nurse, 60, s(2));
    expect(again).toMatchObject({ ok: false, error: 'the alarms of bed bed-1 changed since they were shown: look at them again' });
  });
});

describe('engine: the "No data" text (review rv51 L4)', () => {
  it('says what stays true hours later, not the silence at raise time; the audit has the figure of the moment', () => {
    const e = new AlarmEngine({ ...QUIET, technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 30 } });
    e.reading(numeric(HR, 80, 0, { deviceId: 'cs-1' }));
    const raised = e.tick(s(31));
    expect(raised.map((c) => [c.alarm.condition.text, c.why])).toEqual([['No data from cs-1 for 30 s or more', 'no event for 31 s (expected within 30 s)']]);
    for (let t = 32; t <= 6 * 3600; t += 60) e.tick(s(t));
    expect(e.list().map((a) => a.condition.text)).toEqual(['No data from cs-1 for 30 s or more']);
  });
});

describe("engine: a bed's audio pause keeps the priority shown (review rv51 L3)", () => {
  it('an alarm shown high, dropped to medium, paused from the bed: back to high keeps the pause, as for one alarm', () => {
    for (const how of ['bed', 'alarm'] as const) {
      const e = engine();
      e.deviceAlarm(deviceAlarm('vf', 'start', 0, { priority: 'high', text: 'VFIB' }));
      const id = e.list()[0]!.id;
      e.deviceAlarm(deviceAlarm('vf', 'continue', 1, { priority: 'medium', text: 'VFIB' }));
      const r = how === 'bed' ? e.audioPause({ bed: 'bed-1', shown: [{ id, priority: 'high' }] }, nurse, 60, s(2)) : e.audioPause({ alarmId: id }, nurse, 60, s(2), 'high');
      expect(r.ok).toBe(true);
      expect(summary(e.deviceAlarm(deviceAlarm('vf', 'continue', 3, { priority: 'high', text: 'VFIB' }))), how).toEqual(['priority-changed:audio-paused>audio-paused']);
      expect(e.get(id)?.state, how).toBe('audio-paused');
    }
  });
});

describe('engine: a pause at the device while the edge model holds the alarm', () => {
  it("replaces the model's pause, audited as the device's; a person's pause is not replaced", () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('vt', 'start', 0, { text: 'VTACH', priority: 'medium' }));
    const id = e.list()[0]!.id;
    const model = { user: 'edge-model gbt-4', role: 'model', from: 'sha256:ab' };
    e.audioPause({ alarmId: id }, model, 10, s(1));
    const atDevice = e.deviceAlarm(deviceAlarm('vt', 'continue', 2, { text: 'VTACH', priority: 'medium', atDevice: 'audio-paused' }));
    expect(summary(atDevice)).toEqual(['audio-paused:audio-paused>audio-paused']);
    expect(atDevice[0]!.actor).toMatchObject({ role: 'device' });
    expect(atDevice[0]!.alarm.audioPausedUntil).toBe(s(2) + 120_000);
    // Reported again: the person's pause stands, nothing new.
    expect(e.deviceAlarm(deviceAlarm('vt', 'continue', 3, { text: 'VTACH', priority: 'medium', atDevice: 'audio-paused' }))).toEqual([]);
  });

  it("ends the model's pause at once when the alarm rises in priority", () => {
    const model = { user: 'edge-model gbt-4', role: 'model', from: 'sha256:ab' };
    const e = engine();
    e.deviceAlarm(deviceAlarm('vt', 'start', 0, { text: 'VTACH', priority: 'medium' }));
    e.audioPause({ alarmId: e.list()[0]!.id }, model, 10, s(1));
    const rose = e.deviceAlarm(deviceAlarm('vt', 'continue', 2, { text: 'VTACH', priority: 'high' }));
    expect(summary(rose)).toEqual(['priority-changed:audio-paused>audio-paused', 'audio-pause-expired:audio-paused>active']);
    expect(rose[1]!.why).toBe('priority rose to high, above the medium the edge model judged: its audio pause ends');
    // A rise back to the priority the model judged (high, lowered, high again) does not end its pause.
    const back = engine();
    back.deviceAlarm(deviceAlarm('vt', 'start', 0, { text: 'VTACH', priority: 'high' }));
    back.audioPause({ alarmId: back.list()[0]!.id }, model, 10, s(1), 'high');
    back.deviceAlarm(deviceAlarm('vt', 'continue', 2, { text: 'VTACH', priority: 'medium' }));
    expect(summary(back.deviceAlarm(deviceAlarm('vt', 'continue', 3, { text: 'VTACH', priority: 'high' })))).toEqual(['priority-changed:audio-paused>audio-paused']);
  });

  it("ends a person's pause too when the alarm rises above the priority it was paused at, audited; a waver back keeps it", () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('a2', 'start', 0, { text: 'HR HIGH', priority: 'medium' }));
    const id = e.list()[0]!.id;
    expect(e.audioPause({ alarmId: id }, nurse, 300, s(1), 'medium').ok).toBe(true);
    const rose = e.deviceAlarm(deviceAlarm('a2', 'continue', 2, { text: 'VTACH', priority: 'high' }));
    expect(summary(rose)).toEqual(['priority-changed:audio-paused>audio-paused', 'audio-pause-expired:audio-paused>active']);
    expect(rose[1]).toMatchObject({ actor: 'system', why: 'priority rose to high, above the medium it was paused at: its audio pause ends' });
    expect(rose[1]!.alarm.audioPausedUntil).toBeUndefined();
    // Paused at high: high → medium → high keeps the pause.
    expect(e.audioPause({ alarmId: id }, nurse, 300, s(3), 'high').ok).toBe(true);
    e.deviceAlarm(deviceAlarm('a2', 'continue', 4, { text: 'HR HIGH', priority: 'medium' }));
    expect(summary(e.deviceAlarm(deviceAlarm('a2', 'continue', 5, { text: 'VTACH', priority: 'high' })))).toEqual(['priority-changed:audio-paused>audio-paused']);
    // A device's pause (a person at the bedside) likewise.
    const d = engine();
    d.deviceAlarm(deviceAlarm('b', 'start', 0, { text: 'SpO2 LOW', priority: 'low', atDevice: 'audio-paused' }));
    expect(summary(d.deviceAlarm(deviceAlarm('b', 'continue', 1, { text: 'SpO2 LOW', priority: 'medium' })))).toEqual(['priority-changed:audio-paused>audio-paused', 'audio-pause-expired:audio-paused>active']);
  });
});

describe('engine: acknowledged or paused at the bedside device', () => {
  it('an alarm the device reports acknowledged is acknowledged here, audited as the device, and not escalated', () => {
    const e = engine();
    e.deviceAlarm(deviceAlarm('vt', 'start', 0, { text: 'VTACH' }));
    const cs = e.deviceAlarm(deviceAlarm('vt', 'continue', 5, { text: 'VTACH', atDevice: 'acknowledged' }));
    expect(summary(cs)).toEqual(['acknowledged:active>acknowledged']);
    expect(cs[0]!.actor).toEqual({ user: 'device mon-1', role: 'device', from: 'device' });
    // Reported again: nothing more. Much later: no escalation of an alarm someone answered.
    expect(e.deviceAlarm(deviceAlarm('vt', 'continue', 10, { text: 'VTACH', atDevice: 'acknowledged' }))).toEqual([]);
    expect(e.tick(s(600)).filter((c) => c.change === 'escalated')).toEqual([]);
  });

  it('an audio pause at the device pauses it here for the configured time; an acknowledgement later still counts', () => {
    const e = engine();
    const raised = e.deviceAlarm(deviceAlarm('apnea', 'start', 0, { text: 'APNEA', atDevice: 'audio-paused' }));
    expect(summary(raised)).toEqual(['raised:->active', 'audio-paused:active>audio-paused']);
    expect(e.deviceAlarm(deviceAlarm('apnea', 'continue', 3, { text: 'APNEA', atDevice: 'audio-paused' }))).toEqual([]);
    expect(summary(e.deviceAlarm(deviceAlarm('apnea', 'continue', 6, { text: 'APNEA', atDevice: 'acknowledged' })))).toEqual(['acknowledged:audio-paused>acknowledged']);
  });
});

