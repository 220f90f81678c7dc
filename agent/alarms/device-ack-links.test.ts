// Review rv99 M1: a device alarm acknowledged (or audio-paused) at the bedside also answers the agent's own limit
// alarms for the same metric on that device and bed, so the gateway does not sound on and escalate their twin.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import type { AlarmEvent } from '../model/reading.js';
import { PACKAGE_ROOT } from '../paths.js';
import { AlarmEngine, type AlarmEngineConfig } from './engine.js';
import { deviceAlarm, numeric, nurse, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG } from './technical.js';
import type { AlarmStateChange } from './types.js';

const QUIET: Partial<AlarmEngineConfig> = {
  news2: { ...DEFAULT_NEWS2_CONFIG, defaults: { ...DEFAULT_NEWS2_CONFIG.defaults, enabled: false } },
  technical: { ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 },
};
const SPO2 = MDC.PULS_OXIM_SAT_O2;
const HR = MDC.ECG_HEART_RATE;

type Opts = Parameters<typeof deviceAlarm>[3];
/** The device's desaturation alarm, naming SpO2 as its source metric (as HL7 PCD-04, IntelliVue and the simulator do). */
function desat(phase: AlarmEvent['phase'], atS: number, opts: Opts = {}, metric: AlarmEvent['sourceMetric'] = SPO2): AlarmEvent {
  return { ...deviceAlarm('desat', phase, atS, { text: 'Desat', priority: 'high', ...opts }), sourceMetric: metric };
}

/** SpO2 76 every second on mon-1 / bed-1 (DESAT high after 5 s, LOW medium after 10 s), with device events at given seconds. */
function run(e: AlarmEngine, to: number, events: Record<number, AlarmEvent[]>, extra: (t: number) => AlarmStateChange[] = () => []): AlarmStateChange[] {
  const out: AlarmStateChange[] = [];
  for (let t = 0; t <= to; t++) {
    out.push(...e.ingest(numeric(SPO2, 76, t)), ...extra(t));
    for (const ev of events[t] ?? []) out.push(...e.ingest(ev));
    out.push(...e.tick(s(t)));
  }
  return out;
}

const limitAlarm = (e: AlarmEngine, label: string) => e.list().find((a) => a.source === 'limit' && a.condition.text.startsWith(label));

describe('device alarm answered at the bedside: the agent\'s limit alarms for the same metric', () => {
  it('acknowledged at the device: SpO2 DESAT and SpO2 LOW are acknowledged too, audited as the device, and do not escalate', () => {
    const e = new AlarmEngine(QUIET);
    const out = run(e, 120, { 6: [desat('start', 6)], 15: [desat('continue', 15, { atDevice: 'acknowledged' })], 30: [desat('continue', 30, { atDevice: 'acknowledged' })] });
    const dsat = limitAlarm(e, 'SpO2 DESAT')!;
    const low = limitAlarm(e, 'SpO2 LOW')!;
    expect(dsat).toMatchObject({ state: 'acknowledged', escalated: false });
    expect(low).toMatchObject({ state: 'acknowledged', escalated: false });
    const acks = out.filter((c) => c.change === 'acknowledged' && c.alarm.source === 'limit');
    expect(acks.map((c) => [c.alarmId, c.at])).toEqual([
      [dsat.id, s(15)],
      [low.id, s(15)],
    ]);
    for (const c of acks) {
      expect(c.actor).toEqual({ user: 'device mon-1', role: 'device', from: 'device' });
      expect(c.why).toBe('acknowledged at the device: its alarm "Desat" for the same metric');
    }
    expect(out.filter((c) => c.change === 'escalated')).toEqual([]);
  });

  it('a limit alarm raised after the acknowledgement is a new condition: a re-sent acknowledged report leaves it unanswered', () => {
    const e = new AlarmEngine(QUIET);
    // Acknowledged at the device at 3 s, before DESAT (5 s) and LOW (10 s) are raised; the device re-sends the state.
    const out = run(e, 70, { 2: [desat('start', 2)], 3: [desat('continue', 3, { atDevice: 'acknowledged' })], 20: [desat('continue', 20, { atDevice: 'acknowledged' })] });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'active', escalated: true });
    expect(limitAlarm(e, 'SpO2 LOW')).toMatchObject({ state: 'active' });
    expect(out.filter((c) => c.change === 'acknowledged' && c.alarm.source === 'limit')).toEqual([]);
  });

  it('without a source metric nothing is linked: the limit alarm stays unanswered and escalates', () => {
    const e = new AlarmEngine(QUIET);
    run(e, 80, { 6: [desat('start', 6, {}, null)], 15: [desat('continue', 15, { atDevice: 'acknowledged' }, null)] });
    expect(e.list().find((a) => a.source === 'device')).toMatchObject({ state: 'acknowledged' });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'active', escalated: true });
  });

  it('only the same device, bed and metric: HR on the same monitor, SpO2 of another monitor or bed stay unanswered', () => {
    const e = new AlarmEngine(QUIET);
    const others = (t: number) => [
      ...e.ingest(numeric(HR, 190, t)), // HR HIGH on mon-1 / bed-1
      ...e.ingest(numeric(SPO2, 76, t, { deviceId: 'mon-2', bed: 'bed-1' })),
      ...e.ingest(numeric(SPO2, 76, t, { deviceId: 'mon-1', bed: 'bed-2' })),
    ];
    run(e, 20, { 6: [desat('start', 6)], 15: [desat('continue', 15, { atDevice: 'acknowledged' })] }, others);
    const limits = e.list().filter((a) => a.source === 'limit');
    const acked = limits.filter((a) => a.state === 'acknowledged').map((a) => `${a.deviceId} ${a.bed} ${a.condition.text}`);
    expect(acked.sort()).toEqual(['mon-1 bed-1 SpO2 DESAT LOW 76 < 80 %', 'mon-1 bed-1 SpO2 LOW 76 < 90 %']);
    expect(limits.filter((a) => a.state === 'active').length).toBeGreaterThanOrEqual(5); // HR, and 2 × 2 SpO2 elsewhere
  });

  it('a device alarm of lower priority does not answer a higher limit alarm: DESAT (high) sounds on, LOW (medium) is acknowledged', () => {
    const e = new AlarmEngine(QUIET);
    run(e, 20, { 6: [desat('start', 6, { priority: 'medium', text: 'SpO2 low' })], 15: [desat('continue', 15, { priority: 'medium', text: 'SpO2 low', atDevice: 'acknowledged' })] });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'active' });
    expect(limitAlarm(e, 'SpO2 LOW')).toMatchObject({ state: 'acknowledged' });
  });

  it('a technical device alarm for the metric (SpO2 sensor off) answers no physiological limit alarm', () => {
    const e = new AlarmEngine(QUIET);
    const off = { category: 'technical', text: 'SpO2 SENSOR OFF' } as const;
    run(e, 20, { 6: [desat('start', 6, off)], 15: [desat('continue', 15, { ...off, atDevice: 'acknowledged' })] });
    expect(e.list().find((a) => a.source === 'device')).toMatchObject({ state: 'acknowledged' });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'active' });
    expect(limitAlarm(e, 'SpO2 LOW')).toMatchObject({ state: 'active' });
  });

  it('audio paused at the device: the twins are audio-paused too (not acknowledged: escalation goes on)', () => {
    const e = new AlarmEngine(QUIET);
    const out = run(e, 20, { 6: [desat('start', 6)], 15: [desat('continue', 15, { atDevice: 'audio-paused' })] });
    const pauses = out.filter((c) => c.change === 'audio-paused' && c.alarm.source === 'limit');
    expect(pauses.length).toBe(2);
    for (const c of pauses) {
      expect(c.actor).toMatchObject({ user: 'device mon-1', role: 'device' });
      expect(c.why).toBe('audio paused at the device: its alarm "Desat" for the same metric');
    }
    expect(e.audioPausedBy(limitAlarm(e, 'SpO2 DESAT')!.id)).toBe('device');
  });

  it('a twin a person already acknowledged here gets no second record; one acknowledged at the display first is still linked on the device\'s report', () => {
    const e = new AlarmEngine(QUIET);
    const out = run(e, 20, { 6: [desat('start', 6)], 15: [desat('continue', 15, { atDevice: 'acknowledged' })] }, (t) => {
      if (t !== 12) return [];
      const dev = e.list().find((a) => a.source === 'device')!;
      const dsat = limitAlarm(e, 'SpO2 DESAT')!;
      return [...e.acknowledge(dsat.id, nurse, s(t)).changes, ...e.acknowledge(dev.id, nurse, s(t)).changes];
    });
    const acks = out.filter((c) => c.change === 'acknowledged').map((c) => `${c.alarm.condition.text.split(' ').slice(0, 2).join(' ')} ${typeof c.actor === 'string' ? c.actor : c.actor.user}`);
    expect(acks).toEqual(['SpO2 DESAT nurse.jones', 'Desat nurse.jones', 'SpO2 LOW device mon-1']);
  });

  it("the previous patient's latched alarms are not answered by the new patient's acknowledgement at the device (rv104 M2)", () => {
    const e = new AlarmEngine(QUIET);
    const out: AlarmStateChange[] = [];
    // A desaturates 0..20 s (DESAT at 5 s, LOW at 10 s, nobody answers); from 21 s the monitor gives patient B, also
    // low: A's alarms latch at 23 s (a new patient), B's are new alarms.
    for (let t = 0; t <= 50; t++) {
      const patientId = t <= 20 ? 'PAT-A' : 'PAT-B';
      out.push(...e.ingest(numeric(SPO2, 76, t, { patientId })));
      if (t === 40) out.push(...e.ingest({ ...desat('start', 40), patientId: 'PAT-B' }));
      if (t === 45) out.push(...e.ingest({ ...desat('continue', 45, { atDevice: 'acknowledged' }), patientId: 'PAT-B' }));
      out.push(...e.tick(s(t)));
    }
    const limits = e.list().filter((a) => a.source === 'limit').map((a) => `${a.condition.text} ${a.patientId} ${a.state}`);
    expect(limits.sort()).toEqual([
      'SpO2 DESAT LOW 76 < 80 % PAT-A latched',
      'SpO2 DESAT LOW 76 < 80 % PAT-B acknowledged',
      'SpO2 LOW 76 < 90 % PAT-A latched',
      'SpO2 LOW 76 < 90 % PAT-B acknowledged',
    ]);
    const acks = out.filter((c) => c.change === 'acknowledged' && c.alarm.source === 'limit').map((c) => c.alarm.patientId);
    expect(acks).toEqual(['PAT-B', 'PAT-B']);
  });

  it('a latched limit alarm (its condition gone) is not answered by the device: nobody at the device was shown it', () => {
    const e = new AlarmEngine(QUIET);
    // DESAT (high, latching) at 5 s; SpO2 recovers at 8 s, so DESAT latches and LOW never comes; the device's Desat
    // is acknowledged at 12 s.
    for (let t = 0; t <= 14; t++) {
      e.ingest(numeric(SPO2, t < 8 ? 76 : 97, t));
      if (t === 6) e.ingest(desat('start', 6));
      if (t === 12) e.ingest(desat('continue', 12, { atDevice: 'acknowledged' }));
      e.tick(s(t));
    }
    expect(e.list().find((a) => a.source === 'device')).toMatchObject({ state: 'acknowledged' });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'latched', conditionPresent: false });
  });
});

describe('review rv104 M1: a second bedside action on the same device alarm reaches its twins again', () => {
  it('paused at the device, all pauses run out, paused again there: SpO2 DESAT and LOW are paused again too', () => {
    const e = new AlarmEngine(QUIET);
    const out = run(e, 170, {
      12: [desat('start', 12)],
      15: [desat('continue', 15, { atDevice: 'audio-paused' })],
      140: [desat('continue', 140)], // the monitor's pause ran out too: reported without it
      150: [desat('continue', 150, { atDevice: 'audio-paused' })],
    });
    expect(e.list().find((a) => a.source === 'device')).toMatchObject({ state: 'audio-paused' });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'audio-paused' });
    expect(limitAlarm(e, 'SpO2 LOW')).toMatchObject({ state: 'audio-paused' });
    const pauses = out.filter((c) => c.change === 'audio-paused' && c.alarm.source === 'limit').map((c) => c.at);
    expect(pauses).toEqual([s(15), s(15), s(150), s(150)]);
  });

  it('acknowledged at medium, the device alarm rises to high, acknowledged at high: the high SpO2 DESAT is answered then and does not escalate', () => {
    const e = new AlarmEngine(QUIET);
    const low = { priority: 'medium', text: 'SpO2 low' } as const;
    const out = run(e, 100, {
      12: [desat('start', 12, low)],
      15: [desat('continue', 15, { ...low, atDevice: 'acknowledged' })],
      20: [desat('continue', 20)], // worse: high, unanswered again
      22: [desat('continue', 22, { atDevice: 'acknowledged' })],
    });
    const dsat = limitAlarm(e, 'SpO2 DESAT')!;
    expect(dsat).toMatchObject({ state: 'acknowledged', escalated: false });
    const ack = out.find((c) => c.alarmId === dsat.id && c.change === 'acknowledged')!;
    expect(ack).toMatchObject({ at: s(22), actor: { user: 'device mon-1', role: 'device' } });
    expect(out.filter((c) => c.change === 'escalated')).toEqual([]);
  });

  it('a device that keeps its acknowledged state on the report of the rise: acknowledged here again at high, and so is the twin', () => {
    const e = new AlarmEngine(QUIET);
    const low = { priority: 'medium', text: 'SpO2 low' } as const;
    run(e, 100, {
      12: [desat('start', 12, low)],
      15: [desat('continue', 15, { ...low, atDevice: 'acknowledged' })],
      20: [desat('continue', 20, { atDevice: 'acknowledged' })], // high, still flagged acknowledged by the device
    });
    expect(e.list().find((a) => a.source === 'device')).toMatchObject({ state: 'acknowledged', priority: 'high' });
    expect(limitAlarm(e, 'SpO2 DESAT')).toMatchObject({ state: 'acknowledged', escalated: false });
  });
});

describe('review rv185 L1: the README says what an answer at the monitor does', () => {
  it('an answer at the monitor also answers the agent\'s limit alarms on the metric the device alarm names (it said "the device\'s alarm only")', () => {
    // What the engine does (above): the monitor's Desat, acknowledged there, answers SpO2 DESAT and SpO2 LOW too.
    const e = new AlarmEngine(QUIET);
    run(e, 20, { 6: [desat('start', 6)], 15: [desat('continue', 15, { atDevice: 'acknowledged' })] });
    expect(e.list().filter((a) => a.source === 'limit').map((a) => a.state)).toEqual(['acknowledged', 'acknowledged']);
    const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(readme.includes("answers the device's alarm only"), 'README: "answers the device\'s alarm only"').toBe(false);
    expect(readme.includes("also answers the agent's limit alarms on the same device, bed and metric"), 'README names the linked limit alarms').toBe(true);
  });
});
