// AlarmService: the order in which listeners and the journal see changes, and a journal that refuses one change.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { AlarmEngine } from './engine.js';
import { DEFAULT_RHYTHM_CONFIG } from './rhythm.js';
import type { WaveformSegment } from '../model/reading.js';
import { deviceAlarm, numeric, s } from './fixtures.js';
import { MDC } from '../model/mdc.js';
import { AlarmService, MAX_HELD_CHANGES, NEWS2_NOTE_REFRESH_MS } from './service.js';
import type { AlarmStateChange } from './types.js';
import { captureLog } from '../../test/support/log.js';

const silent = pino({ level: 'silent' });
const label = (c: AlarmStateChange) => `${c.alarmId}:${c.change}`;

describe('AlarmService', () => {
  it('delivers changes a listener causes after the ones it was given, to displays and to the journal alike', () => {
    const journal: string[] = [];
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), (cs) => journal.push(...cs.map(label)), silent, new Metrics(), () => s(0));
    // As the edge model does when its queue is full: annotate at once, from inside the listener.
    service.subscribe((cs) => {
      for (const c of cs) if (c.change === 'raised') service.annotate(c.alarmId, { kind: 'model', values: {}, note: 'not assessed' }, { user: 'model', role: 'model', from: 'test' });
    });
    const display: string[] = [];
    service.subscribe((cs) => display.push(...cs.map(label)));
    service.handle([deviceAlarm('a', 'start', 0, { text: 'VTACH' }), deviceAlarm('b', 'start', 0, { text: 'ASYSTOLE', deviceId: 'mon-2' })]);
    const expected = ['t-1:raised', 't-2:raised', 't-1:annotated', 't-2:annotated'];
    expect(journal).toEqual(expected);
    expect(display).toEqual(expected);
  });

  it('keeps every current NEWS2 observation after each new one; a store that refuses it is logged and counted, the score still uses it', () => {
    const metrics = new Metrics();
    const kept: unknown[] = [];
    let refuse = false;
    const lines: Array<{ msg: string; bed?: string }> = [];
    const log = pino({ level: 'error' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(0));
    service.keepObservationsIn((all) => {
      if (refuse) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      kept.push(all);
    });
    service.observe('bed-1', { oxygen: 'oxygen' }, { user: 'n', role: 'clinician', from: 'x' });
    service.observe('bed-2', { consciousness: 'V' }, { user: 'n', role: 'clinician', from: 'x' });
    expect(kept).toEqual([
      { 'bed-1': { oxygen: { value: 'oxygen', at: s(0) } } },
      { 'bed-1': { oxygen: { value: 'oxygen', at: s(0) } }, 'bed-2': { consciousness: { value: 'V', at: s(0) } } },
    ]);
    refuse = true;
    service.observe('bed-3', { oxygen: 'air' }, { user: 'n', role: 'clinician', from: 'x' });
    expect(metrics.get('news2_observations_unsaved_total')).toBe(1);
    expect(lines).toMatchObject([{ msg: 'NEWS2 observation in use but not saved in the store: a restart before the next one would forget it', bed: 'bed-3' }]);
    expect(service.engine.news2Observations(s(0))['bed-3']).toEqual({ oxygen: { value: 'air', at: s(0) } });
  });

  it('keeps the NEWS2 note again when a level is raised or ends (a restart holds it); a store that refuses it is logged and counted', () => {
    const metrics = new Metrics();
    const kept: unknown[] = [];
    let refuse = false;
    const lines: Array<{ msg: string; beds?: string[] }> = [];
    const log = pino({ level: 'error' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(0));
    service.keepObservationsIn((all) => {
      if (refuse) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      kept.push(JSON.parse(JSON.stringify(all)));
    });
    service.handle([numeric(MDC.RESP_RATE, 16, 0)]); // no level: nothing to keep
    expect(kept).toEqual([]);
    service.handle([numeric(MDC.RESP_RATE, 26, 0)]); // RR 3: low-medium
    expect(kept).toEqual([{ 'bed-1': { level: { value: 'low-medium', at: s(0) } } }]);
    refuse = true;
    service.handle([numeric(MDC.RESP_RATE, 26, 1), numeric(MDC.PULS_OXIM_SAT_O2, 91, 1)]); // 6: medium
    expect(metrics.get('news2_observations_unsaved_total')).toBe(1);
    expect(lines).toMatchObject([{ msg: expect.stringMatching(/^NEWS2 level change not saved in the store: a restart before the next save/), beds: ['bed-1'] }]);
  });

  it('writes the NEWS2 note again every NEWS2_NOTE_REFRESH_MS while nothing changes, so that a level held for days keeps a recent time', () => {
    let now = s(0);
    const kept: Array<Record<string, { level?: { at: number } }>> = [];
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, silent, new Metrics(), () => now);
    service.keepObservationsIn((all) => kept.push(JSON.parse(JSON.stringify(all)) as Record<string, { level?: { at: number } }>));
    // A pulse oximeter alone: SpO2 91 (3) holds low-medium while it sends (nothing changes, the level is not noted again).
    for (let t = 0; t <= 3600; t += 10) {
      now = s(t);
      service.handle([numeric(MDC.PULS_OXIM_SAT_O2, 91, t)]);
      service.tick();
    }
    expect(NEWS2_NOTE_REFRESH_MS).toBe(3_600_000);
    expect(kept.map((k) => (k['bed-1']?.level?.at ?? 0) / 1000 - s(0) / 1000)).toEqual([0, 3600]);
  });

  it('journals the changes behind one the store refuses for good (too large), and counts the refusal', () => {
    const journal: string[] = [];
    const metrics = new Metrics();
    const tooLarge = Object.assign(new Error('record of 240000 bytes exceeds 200000'), { name: 'RecordTooLargeError' });
    const service = new AlarmService(
      new AlarmEngine({ idPrefix: 't' }),
      (cs) => {
        if (cs.some((c) => c.alarm.deviceId === 'mon-huge')) throw tooLarge; // whatever made it too large
        journal.push(...cs.map(label));
      },
      silent,
      metrics,
      () => s(0),
    );
    service.handle([deviceAlarm('big', 'start', 0, { text: 'X', deviceId: 'mon-huge' })]);
    service.handle([deviceAlarm('asys', 'start', 1, { text: 'ASYSTOLE', deviceId: 'mon-2' })]);
    expect(journal).toEqual(['t-2:raised']);
    expect(metrics.get('alarm_journal_refused_total')).toBe(1);
    expect(service.journalState()).toEqual({ held: 0, dropped: 0, refused: 1 });
    service.tick();
    expect(journal).toEqual(['t-2:raised']); // nothing held back to retry
  });

  it('holds changes while the store fails for a while (disk full), in order, and journals them when it recovers', () => {
    const journal: string[] = [];
    let full = true;
    const service = new AlarmService(
      new AlarmEngine({ idPrefix: 't' }),
      (cs) => {
        if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        journal.push(...cs.map(label));
      },
      silent,
      new Metrics(),
      () => s(0),
    );
    service.handle([deviceAlarm('a', 'start', 0, { text: 'VTACH' })]);
    service.handle([deviceAlarm('b', 'start', 1, { text: 'ASYSTOLE', deviceId: 'mon-2' })]);
    expect(journal).toEqual([]);
    full = false;
    service.tick();
    expect(journal).toEqual(['t-1:raised', 't-2:raised']);
  });

  it('says a store failure once a minute while it lasts (each counted), and at once again after the store took changes', () => {
    const cap = captureLog();
    const metrics = new Metrics();
    let now = s(0);
    let failing = true;
    const service = new AlarmService(
      new AlarmEngine({ idPrefix: 't' }),
      () => {
        if (failing) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
      },
      cap.log,
      metrics,
      () => now,
    );
    const said = () => cap.lines.filter((l) => /^cannot store alarm changes/.test(String(l.msg))).length;
    service.handle([deviceAlarm('a', 'start', 0, { text: 'VTACH' })]);
    for (let i = 1; i <= 30; i++) {
      now = s(i);
      service.tick();
    }
    expect(metrics.get('alarm_journal_failures_total')).toBeGreaterThanOrEqual(31);
    expect(said()).toBe(1);
    now = s(61);
    service.tick();
    expect(said()).toBe(2);
    expect(cap.lines.filter((l) => /^cannot store alarm changes/.test(String(l.msg)))[1]).toMatchObject({ failures: expect.any(Number) });
    failing = false;
    now = s(62);
    service.tick();
    expect(service.journalState().held).toBe(0);
    failing = true;
    now = s(63);
    service.handle([deviceAlarm('b', 'start', 63, { text: 'ASYSTOLE', deviceId: 'mon-2' })]);
    expect(said()).toBe(3);
  });

  it('holds at most MAX_HELD_CHANGES while the store fails: the oldest go, counted, and journalState says so', () => {
    const metrics = new Metrics();
    const service = new AlarmService(
      new AlarmEngine({ idPrefix: 't' }),
      () => {
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      },
      silent,
      metrics,
      () => s(0),
    );
    service.handle(Array.from({ length: MAX_HELD_CHANGES + 7 }, (_, i) => deviceAlarm(`a${i}`, 'start', 0, { text: 'VTACH', deviceId: `mon-${i}` })));
    expect(service.journalState()).toEqual({ held: MAX_HELD_CHANGES, dropped: 7, refused: 0 });
    expect(metrics.get('alarm_journal_dropped_total')).toBe(7);
  });

  it('a valid reading whose unit a limit rule cannot convert is counted, and told once per device, rule and unit', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(0));
    const odd = { ucum: '{MDC_DIM_X_FOO}' };
    for (let i = 0; i < 3; i++) service.handle([numeric(MDC.TEMP_BODY, 104, i, { unit: odd })]);
    service.handle([numeric(MDC.TEMP_BODY, 37, 4)]); // degC: judged, not counted
    expect(metrics.get('alarm_rule_unit_unconvertible_total')).toBe(3);
    expect(lines.filter((l) => String(l.msg).startsWith('limit rule'))).toEqual([
      expect.objectContaining({ level: 40, deviceId: 'mon-1', bed: 'bed-1', unit: '{MDC_DIM_X_FOO}', ruleUnit: 'Cel', msg: expect.stringMatching(/^limit rule temp cannot judge readings of mon-1: their unit "\{MDC_DIM_X_FOO\}" does not convert to Cel/) }),
    ]);
  });

  it('a metric gone with its limit alarm, and devices forgotten, are counted and logged (review rv77 H1, M2)', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    let now = s(0);
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => now);
    for (let t = 0; t <= 20; t++) {
      now = s(t);
      service.handle([numeric(MDC.ECG_HEART_RATE, 80, t), numeric(MDC.PULS_OXIM_SAT_O2, 85, t), numeric(MDC.ECG_HEART_RATE, 80, t, { deviceId: 'gone', bed: 'bed-2' })]);
      service.tick();
    }
    for (let t = 21; t <= 60; t++) {
      now = s(t);
      service.handle([numeric(MDC.ECG_HEART_RATE, 80, t)]);
      service.tick();
    }
    expect(metrics.get('alarm_metric_missing_total')).toBe(1);
    expect(lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({ deviceId: 'mon-1', bed: 'bed-1', label: 'SpO2', msg: 'no SpO2 from mon-1 for 31 s while it still sends for bed bed-1: its limit alarm "SpO2 LOW 85 < 90 %" ended unconfirmed, and "No SpO2 from mon-1" (low) is raised until SpO2 comes again' }),
    ]);
    now = s(20 + 86_400 + 60);
    service.handle([numeric(MDC.ECG_HEART_RATE, 80, 20 + 86_400 + 60)]);
    service.tick();
    expect(metrics.get('alarm_devices_forgotten_total', { reason: 'day' })).toBe(1);
    expect(lines.filter((l) => l.level === 30)).toEqual([
      expect.objectContaining({ count: 1, devices: ['gone'], msg: expect.stringMatching(/^forgot the alarm state of 1 device or bed silent for a day or over the cap of 2000 devices/) }),
    ]);
  });

  describe('NEWS2 judges a bed once per committed batch, not after each reading (review rv109 M2)', () => {
    const news2 = (cs: readonly AlarmStateChange[]) => cs.filter((c) => c.alarm.source === 'news2').map((c) => `${c.change} ${c.alarm.key} at ${(c.at - s(0)) / 1000}`);
    const vitals = (atS: number, v: { rr: number; spo2: number; pulse: number }) => [
      numeric(MDC.RESP_RATE, v.rr, atS),
      numeric(MDC.PULS_OXIM_SAT_O2, v.spo2, atS),
      numeric(MDC.PULS_OXIM_PULS_RATE, v.pulse, atS),
      numeric(MDC.PRESS_BLD_NONINV_SYS, 120, atS),
      numeric(MDC.TEMP_BODY, 37, atS),
    ];

    it('a message of a sick patient raises its level only, not the levels its partial sums pass on the way', () => {
      const changes: AlarmStateChange[] = [];
      const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), (cs) => changes.push(...cs), silent, new Metrics(), () => s(0));
      // RR 26 (3), SpO2 91 (3), pulse 135 (3): 9, high. Per reading, RR alone was low-medium, then SpO2 medium.
      service.handle(vitals(0, { rr: 26, spo2: 91, pulse: 135 }));
      expect(news2(changes)).toEqual(['raised news2:bed-1:high at 0']);
    });

    it('readings of one batch whose partial sums cross a level and come back change nothing', () => {
      const changes: AlarmStateChange[] = [];
      const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), (cs) => changes.push(...cs), silent, new Metrics(), () => s(0));
      service.handle(vitals(0, { rr: 26, spo2: 97, pulse: 80 })); // RR 3 alone: low-medium
      expect(news2(changes)).toEqual(['raised news2:bed-1:low-medium at 0']);
      // The next message: pulse 135 (3) first, then RR 16 (0). Pulse with the RR before: 6, medium, for no time at all.
      service.handle([numeric(MDC.PULS_OXIM_PULS_RATE, 135, 60), numeric(MDC.RESP_RATE, 16, 60), numeric(MDC.PULS_OXIM_SAT_O2, 97, 60)]);
      expect(news2(changes)).toEqual(['raised news2:bed-1:low-medium at 0']);
      expect(service.engine.news2('bed-1', s(60))).toMatchObject({ total: 3, risk: 'low-medium' });
    });
  });

  it('scores a value NEWS2 as old as its measurement: a blood pressure re-sent with its cuff time goes stale', () => {
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, silent, new Metrics(), () => s(0));
    // A monitor's message each minute: current vitals, and the last NBP with the time it was taken (70 min before the
    // first message), on the device's own clock, which runs 2 h behind the gateway's (that must not age anything).
    const deviceClock = (atS: number) => s(atS) - 2 * 3600_000;
    const message = (atS: number) =>
      [
        { ...numeric(MDC.PULS_OXIM_PULS_RATE, 80, atS), deviceTime: deviceClock(atS) },
        { ...numeric(MDC.PRESS_BLD_NONINV_SYS, 120, atS), deviceTime: deviceClock(-70 * 60) },
      ];
    service.handle(message(0));
    const systolic = () => service.engine.news2('bed-1', s(60))!.params.find((p) => p.param === 'systolic')!;
    const pulse = () => service.engine.news2('bed-1', s(60))!.params.find((p) => p.param === 'pulse')!;
    service.handle(message(60));
    expect(pulse()).toMatchObject({ status: 'measured', value: 80, at: s(60) });
    expect(systolic()).toMatchObject({ status: 'stale', staleValue: 120, staleAt: s(60) - 71 * 60_000 });
  });

  it('scores an old blood pressure re-sent alone as old: its device clock is learned across deliveries (review rv79 M2)', () => {
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, silent, new Metrics(), () => s(0));
    // The device's clock runs 2 h behind the gateway's. 09:00 (second 0): pulse and a fresh NIBP of 85.
    const dev = (atS: number) => s(atS) - 2 * 3600_000;
    const nibp = (atS: number) => ({ ...numeric(MDC.PRESS_BLD_NONINV_SYS, 85, atS), deviceTime: dev(0) });
    service.handle([{ ...numeric(MDC.PULS_OXIM_PULS_RATE, 80, 0), deviceTime: dev(0) }, nibp(0)]);
    // From 10:00, the same NIBP re-sent alone each minute (an NIBP-only message), no other reading.
    for (let m = 60; m <= 90; m++) service.handle([nibp(m * 60)]);
    // 10:30: measured 90 min ago, past systolic's 60 min: stale, not scored 3 as measured now.
    const systolic = service.engine.news2('bed-1', s(90 * 60))!.params.find((p) => p.param === 'systolic')!;
    expect(systolic).toMatchObject({ status: 'stale', staleValue: 85, staleAt: s(0) });
  });

  it('a device clock stepped back: the fresh readings score within seconds, not the values from before the step (review rv83 H1)', () => {
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, silent, new Metrics(), () => s(0));
    let devOffset = 0; // device clock = gateway clock + devOffset
    const vitals = (spo2: number, rr: number, pulse: number, atS: number) =>
      ([[MDC.PULS_OXIM_SAT_O2, spo2], [MDC.RESP_RATE, rr], [MDC.PULS_OXIM_PULS_RATE, pulse]] as const).map(([code, v]) => ({ ...numeric(code, v, atS), deviceTime: s(atS) + devOffset }));
    for (let t = 0; t <= 600; t += 5) service.handle(vitals(97, 16, 80, t));
    expect(service.engine.news2('bed-1', s(600))!.total).toBe(0);
    // The device's clock goes back 1 h (DST set by hand, NTP of a fast clock); the patient desaturates at once. The
    // step is believed once its offset holds across 3 deliveries spanning 5 s (aged for 5 min, a HIGH came late).
    devOffset = -3600_000;
    for (let t = 605; t <= 615; t += 5) service.handle(vitals(85, 26, 125, t));
    const after = service.engine.news2('bed-1', s(616))!;
    expect(after.params.find((p) => p.param === 'spo2')).toMatchObject({ status: 'measured', value: 85 });
    expect([after.total, after.risk]).toEqual([8, 'high']);
    // Still so until the step is believed, and after.
    for (let t = 620; t <= 1200; t += 5) service.handle(vitals(85, 26, 125, t));
    expect(service.engine.news2('bed-1', s(1200))!.total).toBe(8);
  });

  it('a backlog flushed in order after an outage scores as old, not as the patient now (review rv84 H1)', () => {
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, silent, new Metrics(), () => s(0));
    const rr = (v: number, atS: number, deviceS: number) => ({ ...numeric(MDC.RESP_RATE, v, atS), deviceTime: s(deviceS) });
    for (let t = 0; t < 600; t++) service.handle([rr(16, t, t)]);
    // Link down 600..2400 s; the monitor queued an RR of 30 every 10 s to device time 900, flushed in order at 2400 s.
    for (let dt = 600, i = 0; dt <= 900; dt += 10, i++) service.handle([rr(30, 2400 + i * 0.01, dt)]);
    // Measured 25 min before: not scored 3 as the current RR.
    const respRate = service.engine.news2('bed-1', s(2401))!.params.find((p) => p.param === 'respRate')!;
    expect(respRate).not.toMatchObject({ status: 'measured', value: 30 });
  });

  it('after a restart, an old NIBP re-sent alone scores as old the first time too (review rv84 M1)', () => {
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, silent, new Metrics(), () => s(0));
    // A new service (the agent restarted): pulse each second; an NIBP of 85 measured 2 h before, re-sent alone at 60 s.
    for (let t = 0; t <= 60; t++) service.handle([{ ...numeric(MDC.PULS_OXIM_PULS_RATE, 80, t), deviceTime: s(t) }]);
    service.handle([{ ...numeric(MDC.PRESS_BLD_NONINV_SYS, 85, 60), deviceTime: s(-7200) }]);
    const systolic = service.engine.news2('bed-1', s(61))!.params.find((p) => p.param === 'systolic')!;
    expect(systolic).toMatchObject({ status: 'stale', staleValue: 85, staleAt: s(-7200) });
  });

  it('a rhythm lead switch and a device with no clean lead are counted and logged (review rv77 H2, M1)', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const engine = new AlarmEngine({ idPrefix: 't', rhythm: { ...DEFAULT_RHYTHM_CONFIG, enabled: true } });
    const service = new AlarmService(engine, () => undefined, log, metrics, () => s(0));
    const ecg = (i: number, mdc: typeof MDC.ECG_ELEC_POTL_II, state: 'valid' | 'invalid'): WaveformSegment => ({
      kind: 'waveform', deviceId: 'mon-9', bed: 'bed-1', source: 'test', mdc, unit: { ucum: 'mV' },
      startTime: s(i), sampleRateHz: 250, samples: Array.from({ length: 250 }, (_, k) => 0.05 * Math.sin(k / 10)), receivedAt: s(i),
      quality: state === 'valid' ? { state } : { state, reasons: ['lead-off'] },
    });
    // Lead II stops at 5 s, before any judgement, lead I goes on: one switch (lead II was taken back at each segment).
    for (let i = 0; i < 12; i++) service.handle(i < 5 ? [ecg(i, MDC.ECG_ELEC_POTL_II, 'valid'), ecg(i, MDC.ECG_ELEC_POTL_I, 'valid')] : [ecg(i, MDC.ECG_ELEC_POTL_I, 'valid')]);
    expect(metrics.get('alarm_rhythm_lead_switches_total', { reason: 'stopped' })).toBe(1);
    expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([expect.stringMatching(/^rhythm check of mon-9 \(bed bed-1\) switched from ECG II to I: II stopped arriving/)]);
    // Then lead I lead-off for 15 s: not judged, told once, its segments counted.
    for (let i = 12; i < 27; i++) service.handle([ecg(i, MDC.ECG_ELEC_POTL_I, 'invalid')]);
    expect(metrics.get('alarm_rhythm_ecg_skipped_total', { reason: 'no-clean-lead' })).toBeGreaterThan(0);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([expect.stringMatching(/^rhythm not judged for mon-9 \(bed bed-1\): no clean ECG lead \(II, I\) for 10 s/)]);
  });

  it('a NEWS2 input in a unit it cannot convert is counted per parameter and unit, and told once per device', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const service = new AlarmService(new AlarmEngine({ idPrefix: 't' }), () => undefined, log, metrics, () => s(0));
    for (let i = 0; i < 3; i++) service.handle([numeric(MDC.TEMP_BODY, 310, i, { unit: { ucum: 'K' } })]);
    expect(metrics.get('news2_unconvertible_total', { param: 'temperature', unit: 'K' })).toBe(3);
    expect(lines.filter((l) => String(l.msg).startsWith('NEWS2')).map((l) => l.msg)).toEqual([expect.stringMatching(/^NEWS2 cannot score temperature from mon-1 on bed bed-1: its unit "K" does not convert/)]);
  });

  it('ECG the rhythm check cannot judge (a unit it cannot scale, a rate out of range) is counted and told once per device', () => {
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const engine = new AlarmEngine({ idPrefix: 't', rhythm: { ...DEFAULT_RHYTHM_CONFIG, enabled: true } });
    const service = new AlarmService(engine, () => undefined, log, metrics, () => s(0));
    const ecg = (i: number, unit: string, rate: number): WaveformSegment => ({
      kind: 'waveform', deviceId: 'mon-9', bed: 'bed-1', source: 'test', mdc: MDC.ECG_ELEC_POTL_II, unit: { ucum: unit },
      startTime: s(i), sampleRateHz: rate, samples: [0, 0.1, 0], receivedAt: s(i), quality: { state: 'valid' },
    });
    for (let i = 0; i < 3; i++) service.handle([ecg(i, 'μV', 250), ecg(i, 'mV', 50)]);
    expect(metrics.get('alarm_rhythm_ecg_skipped_total', { reason: 'unit' })).toBe(3);
    expect(metrics.get('alarm_rhythm_ecg_skipped_total', { reason: 'rate' })).toBe(3);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^ECG from mon-9 in unit "μV", which the rhythm check cannot scale to mV: not judged/),
      expect.stringMatching(/^ECG from mon-9 at 50 Hz, outside the 100–1000 Hz the rhythm check judges/),
    ]);
  });
});
