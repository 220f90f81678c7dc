// Limit alarms belong to one patient: a new patient on the same monitor and bed starts a new episode, as NEWS2 does
// (review rv99 M4).
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { AlarmEngine } from './engine.js';
import { numeric, nurse, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { AlarmStateChange } from './types.js';

const engine = () =>
  new AlarmEngine({ news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } }, technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 } });
const spo2 = (e: AlarmEngine, v: number, t: number, patientId?: string): AlarmStateChange[] => [
  ...e.reading(numeric(MDC.PULS_OXIM_SAT_O2, v, t, patientId === undefined ? {} : { patientId })),
  ...e.tick(s(t)),
];
const show = (cs: AlarmStateChange[]) => cs.map((c) => `${(c.at - s(0)) / 1000} ${c.alarmId} ${c.alarm.condition.text} ${c.change} ${c.from}>${c.to} ${c.alarm.patientId} :: ${c.why}`);

describe('limit alarms and a change of patient (rv99 M4)', () => {
  it("a new patient's violation is a new alarm, not the previous patient's latched one reactivated under their id", () => {
    const e = engine();
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 10; t++) out.push(...spo2(e, 75, t, 'MRN-A'));
    for (let t = 11; t <= 20; t++) out.push(...spo2(e, 97, t, 'MRN-A'));
    const before = e.list().map((a) => `${a.id} ${a.condition.text} ${a.state} ${a.patientId}`);
    expect(before).toEqual(['alm-1 SpO2 DESAT LOW 75 < 80 % latched MRN-A']);
    // Patient B on the same monitor and bed 5 min later, desaturating.
    for (let t = 300; t <= 315; t++) out.push(...spo2(e, 74, t, 'MRN-B'));
    expect(out.some((c) => c.change === 'condition-returned')).toBe(false);
    const open = e.list().map((a) => `${a.condition.text} ${a.state} ${a.patientId} raised=${(a.raisedAt - s(0)) / 1000} escalated=${a.escalated}`);
    expect(open).toEqual([
      // B's own DESAT, its own escalation clock; A's stays latched, theirs, until someone acknowledges it.
      'SpO2 DESAT LOW 74 < 80 % active MRN-B raised=307 escalated=false',
      'SpO2 DESAT LOW 75 < 80 % latched MRN-A raised=5 escalated=true',
      'SpO2 LOW 74 < 90 % active MRN-B raised=312 escalated=false',
    ]);
    expect(e.acknowledge('alm-1', nurse, s(316)).changes.map((c) => `${c.alarm.patientId} ${c.to}`)).toEqual(['MRN-A resolved']);
  });

  it("a present alarm of the previous patient ends, unconfirmed, when the device consistently gives another patient id: unanswered it latches, acknowledged it resolves", () => {
    const e = engine();
    for (let t = 0; t <= 12; t++) spo2(e, 75, t, 'MRN-A');
    const low = e.list().find((a) => a.condition.text.startsWith('SpO2 LOW'))!;
    e.acknowledge(low.id, nurse, s(13));
    const out: AlarmStateChange[] = [];
    for (let t = 14; t <= 16; t++) out.push(...spo2(e, 75, t, 'MRN-B'));
    const why = 'a new patient on this bed (mon-1 now gives another patient id): the previous patient\'s alarm no longer applies';
    expect(show(out)).toEqual([
      `16 alm-2 SpO2 LOW 75 < 90 % resolved acknowledged>resolved MRN-A :: ${why}`,
      `16 alm-1 SpO2 DESAT LOW 75 < 80 % condition-ended active>latched MRN-A :: ${why}`,
    ]);
  });

  it('readings without a patient id, and an id given once or twice among the current one, end nothing', () => {
    const e = engine();
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 12; t++) out.push(...spo2(e, 75, t, 'MRN-A'));
    for (let t = 13; t <= 60; t++) out.push(...spo2(e, 75, t, t % 5 === 0 || t % 5 === 1 ? 'VISIT-9' : t % 2 ? undefined : 'MRN-A'));
    expect(out.filter((c) => c.change !== 'raised' && c.change !== 'escalated')).toEqual([]);
    expect(e.list().map((a) => `${a.condition.text} ${a.state} ${a.patientId}`)).toEqual(['SpO2 DESAT LOW 75 < 80 % active MRN-A', 'SpO2 LOW 75 < 90 % active MRN-A']);
  });

  it("a slow metric's alarm changes patient with its device (rv104 H1): another metric's readings with the new id end A's NIBP alarm, and B's next NIBP is B's own alarm", () => {
    const e = engine();
    const out: AlarmStateChange[] = [];
    const sys = MDC.PRESS_BLD_NONINV_SYS;
    out.push(...e.reading(numeric(sys, 175, 0, { patientId: 'PAT-A' })), ...e.tick(s(0)));
    const a = e.list().find((x) => x.condition.text.startsWith('NIBP SYS'))!;
    out.push(...e.acknowledge(a.id, nurse, s(30)).changes);
    // SpO2 every 5 s, A's until 10 min, then B's; the cuff every 30 min.
    const nibp: Record<number, number> = { 1800: 172, 3600: 180 };
    for (let t = 5; t <= 3700; t += 5) {
      const pid = t < 600 ? 'PAT-A' : 'PAT-B';
      out.push(...e.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, t, { patientId: pid })));
      if (nibp[t] !== undefined) out.push(...e.reading(numeric(sys, nibp[t]!, t, { patientId: pid })));
      out.push(...e.tick(s(t)));
    }
    const why = "a new patient on this bed (mon-1 now gives another patient id): the previous patient's alarm no longer applies";
    expect(show(out.filter((c) => c.change !== 'raised' || c.at > s(0)))).toEqual([
      `30 alm-1 NIBP SYS HIGH 175 > 160 mmHg acknowledged active>acknowledged PAT-A :: acknowledged`,
      // The third SpO2 reading with B's id (600, 605, 610 s): the device's change of patient, every track of it.
      `610 alm-1 NIBP SYS HIGH 175 > 160 mmHg resolved acknowledged>resolved PAT-A :: ${why}`,
      // B's first NIBP is B's alarm, unanswered, sounding.
      '1800 alm-2 NIBP SYS HIGH 172 > 160 mmHg raised null>active PAT-B :: NIBP SYS HIGH 172 > 160 mmHg: out of range (delay 0 s: at once)',
    ]);
    expect(e.list().map((x) => `${x.condition.text} ${x.state} ${x.patientId} ${x.key}`)).toEqual([
      // The nibp-sys rule watches two codings of NIBP (rv126 H2), so its key names the metric, as rr's and temp's do.
      `NIBP SYS HIGH 172 > 160 mmHg active PAT-B limit:bed-1:mon-1:nibp-sys-high:${MDC.PRESS_BLD_NONINV_SYS.code}:episode-1`,
    ]);
  });

  it('the change is taken per device and bed: another device or bed giving a new id changes nothing here', () => {
    const e = engine();
    const out: AlarmStateChange[] = [];
    for (let t = 0; t <= 12; t++) out.push(...spo2(e, 75, t, 'MRN-A'));
    for (let t = 13; t <= 20; t++) {
      out.push(...e.reading(numeric(MDC.ECG_HEART_RATE, 80, t, { deviceId: 'mon-2', patientId: 'MRN-B' })));
      out.push(...e.reading(numeric(MDC.ECG_HEART_RATE, 80, t, { bed: 'bed-2', patientId: 'MRN-B' })));
      out.push(...spo2(e, 75, t));
    }
    expect(out.filter((c) => c.change !== 'raised' && c.change !== 'escalated')).toEqual([]);
    expect(e.list().map((a) => `${a.condition.text} ${a.state} ${a.patientId}`)).toEqual(['SpO2 DESAT LOW 75 < 80 % active MRN-A', 'SpO2 LOW 75 < 90 % active MRN-A']);
  });
});
