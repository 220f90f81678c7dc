// The alarm view's `model` field: what the bedside page shows of the edge model's annotations; the priority colours.
import { describe, expect, it, vi } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { MODEL_ANNOTATION_KIND, type Actor } from '../alarms/types.js';
import { alarmView, bedTile, changeView, presentation, unconfirmedOf } from './view.js';
import { WardState } from './ward.js';

const model: Actor = { user: 'edge-model edge-alarm-gbt-4', role: 'model', from: 'sha256:ab' };
const nurse: Actor = { user: 'nurse', role: 'clinician', from: '10.0.0.9' };

function raised() {
  const e = new AlarmEngine({ idPrefix: 't' });
  const [c] = e.condition({
    present: true,
    at: 1000,
    why: 'test',
    spec: { key: 'k', source: 'device', bed: 'bed-1', deviceId: 'm', condition: { code: null, text: 'VTACH' }, priority: 'high', category: 'physiological' },
  });
  const id = c!.alarmId;
  const annotate = (values: Record<string, string | number | null>, note?: string, by: Actor = model) =>
    expect(e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values, ...(note !== undefined && { note }) }, by, 2000).ok).toBe(true);
  return { view: () => alarmView(e.get(id)!), annotate, e, id };
}

describe('alarmView model', () => {
  it('is null without a model annotation, also with other annotations', () => {
    const a = raised();
    expect(a.view().model).toBeNull();
    expect(a.e.annotate(a.id, { kind: 'note', values: { text: 'x' } }, nurse, 1500).ok).toBe(true);
    expect(a.view().model).toBeNull();
  });

  it('shows the latest assessment; a later "not assessed" does not hide it, and is shown when there is nothing else', () => {
    const a = raised();
    a.annotate({ verdict: 'not-assessed', action: 'none' }, 'not assessed: model not loaded (x)');
    expect(a.view().model).toEqual({ verdict: 'not-assessed', probability: null, threshold: null, version: null, note: 'not assessed: model not loaded (x)' });
    a.annotate({ verdict: 'likely-false', probability: 0.031, threshold: 0.0749, modelVersion: 'edge-alarm-gbt-4' });
    a.annotate({ verdict: 'not-assessed', action: 'hold-ended' }, 'hold ended');
    expect(a.view().model).toEqual({ verdict: 'likely-false', probability: 0.031, threshold: 0.0749, version: 'edge-alarm-gbt-4', note: 'then: hold ended' });
    a.annotate({ verdict: 'likely-true', probability: 0.81, threshold: 0.0749, modelVersion: 'edge-alarm-gbt-4' }, 're-check');
    expect(a.view().model).toMatchObject({ verdict: 'likely-true', probability: 0.81, note: 're-check' });
  });

  it('a returned condition (a later episode): the earlier verdict is not shown as current, only as the earlier episode\'s (rv101 M1)', () => {
    const a = raised();
    a.annotate({ verdict: 'likely-false', probability: 0.01, threshold: 0.07, modelVersion: 'v' });
    a.annotate({ verdict: 're-assessing', action: 'none', episode: 2 }, 're-assessing: the condition returned');
    expect(a.view().model).toEqual({
      verdict: 're-assessing', probability: null, threshold: null, version: null,
      note: 're-assessing: the condition returned; earlier episode: likely-false, p 0.01',
    });
    // A late verdict on the earlier episode does not take its place either.
    a.annotate({ verdict: 'likely-false', probability: 0.02, threshold: 0.07, modelVersion: 'v' }, 'not held: an earlier episode');
    expect(a.view().model).toMatchObject({ verdict: 're-assessing', note: 're-assessing: the condition returned; earlier episode: likely-false, p 0.02' });
    a.annotate({ verdict: 'not-assessed', action: 'none', episode: 2 }, 'not assessed: queue full');
    expect(a.view().model).toMatchObject({ verdict: 'not-assessed', probability: null, note: 'not assessed: queue full; earlier episode: likely-false, p 0.02' });
    a.annotate({ verdict: 'likely-true', probability: 0.9, threshold: 0.07, modelVersion: 'v', episode: 2 });
    expect(a.view().model).toEqual({ verdict: 'likely-true', probability: 0.9, threshold: 0.07, version: 'v', note: null });
  });
});

describe('alarmView audioPausedBy', () => {
  const ward = new WardState({ staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 4 });
  const tileView = (a: ReturnType<typeof raised>) => bedTile(ward, a.e, 'bed-1', 3000).alarms.find((x) => x.id === a.id)!;

  it("tells the edge model's hold from a person's pause, in the bed's tile and in the pause's change", () => {
    const a = raised();
    expect(tileView(a).audioPausedBy).toBeNull();
    const held = a.e.audioPause({ alarmId: a.id }, model, 10, 2000, 'high');
    expect(changeView(held.changes[0]!, true, unconfirmedOf(a.e)).alarm).toMatchObject({ state: 'audio-paused', audioPausedBy: 'model' });
    expect(tileView(a)).toMatchObject({ state: 'audio-paused', audioPausedBy: 'model', audioPausedUntil: 12_000 });
    // The model's annotation right after its pause: that change does not say who paused (null), the tile still does.
    a.annotate({ verdict: 'likely-false', probability: 0.01, action: 'audio-paused' }, 'likely false: audio paused 10 s');
    expect(tileView(a).audioPausedBy).toBe('model');

    const mine = a.e.audioPause({ alarmId: a.id }, nurse, 60, 2500, 'high');
    expect(changeView(mine.changes[0]!, false, unconfirmedOf(a.e)).alarm.audioPausedBy).toBe('person');
    expect(tileView(a)).toMatchObject({ audioPausedBy: 'person', audioPausedUntil: 62_500 });
  });

  it('is null when the audio is not paused, and from the alarm alone', () => {
    const a = raised();
    a.e.audioPause({ alarmId: a.id }, model, 10, 2000, 'high');
    expect(alarmView(a.e.get(a.id)!).audioPausedBy).toBeNull();
    expect(a.e.acknowledge(a.id, nurse, 2100).ok).toBe(true);
    expect(tileView(a)).toMatchObject({ state: 'acknowledged', audioPausedBy: null });
  });
});

/** WCAG relative luminance, optionally as seen through a colour-vision-deficiency matrix (linear RGB). */
function luminance(hex: string, m?: number[][]): number {
  const lin = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const v = m ? m.map((row) => Math.min(1, Math.max(0, row[0]! * lin[0]! + row[1]! * lin[1]! + row[2]! * lin[2]!))) : lin;
  return 0.2126 * v[0]! + 0.7152 * v[1]! + 0.0722 * v[2]!;
}
const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
/** Machado, Oliveira & Fernandes (2009), severity 1.0. */
const PROTANOPIA = [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]];
const DEUTERANOPIA = [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]];
/** The tiles' panel colour (app.css --panel), behind the alarm rows and tile borders. */
const PANEL = '#161b22';

describe('presentation colours', () => {
  it('high-priority red stands out from the panel by luminance (3:1) with normal vision, protanopia and deuteranopia', () => {
    const red = presentation().high.colour;
    for (const m of [undefined, PROTANOPIA, DEUTERANOPIA]) expect(contrast(luminance(red, m), luminance(PANEL, m))).toBeGreaterThanOrEqual(3);
  });
});

describe('alarmView unconfirmed (review rv177 M2)', () => {
  // A device alarm is kept open up to NEW_EPISODE_AFTER_MS after its device goes quiet: while the engine holds the
  // device's "No data" (or "disconnected") alarm open, its rows say the device no longer confirms it.
  const ward = new WardState({ staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 4 });
  const t0 = 1_000_000;
  const at = (sec: number) => t0 + sec * 1000;
  function silentMonitor() {
    const e = new AlarmEngine({ idPrefix: 't' });
    const alarm = (phase: 'start' | 'continue', sec: number, deviceId = 'mon-1', bed = 'bed-1') =>
      e.deviceAlarm({ kind: 'alarm', deviceId, bed, source: 'test', alarmId: 'hr', condition: null, text: 'HR HIGH', priority: 'medium', category: 'physiological', phase, deviceTime: null, receivedAt: at(sec) });
    alarm('start', 0);
    alarm('start', 0, 'mon-2', 'bed-2');
    const id = e.list({ bed: 'bed-1' })[0]!.id;
    return { e, id, alarm };
  }
  const view = (e: AlarmEngine, id: string, bed = 'bed-1') => bedTile(ward, e, bed, at(60)).alarms.find((x) => x.id === id)!;

  it('is null while the device is heard from; set, with when and why, while its "No data" alarm is open; null again when it sends', () => {
    const { e, id, alarm } = silentMonitor();
    expect(e.tick(at(20))).toEqual([]);
    expect(view(e, id).unconfirmed).toBeNull();
    // Silent past silentAfterS (30 s): "No data from mon-1 …" is raised on the bed.
    const raised = e.tick(at(31));
    const noData = raised.find((c) => c.alarm.source === 'technical' && c.alarm.deviceId === 'mon-1')!;
    expect(noData.alarm.condition.text).toMatch(/^No data from mon-1/);
    expect(view(e, id).unconfirmed).toEqual({ since: noData.alarm.raisedAt, kind: 'no-data', text: noData.alarm.condition.text });
    // The no-data row itself, and another device's alarm, are not marked.
    expect(view(e, noData.alarmId).unconfirmed).toBeNull();
    // A change of the alarm (an acknowledgement) made while the device is silent says so too, and its plain view.
    const ack = e.acknowledge(id, nurse, at(40));
    expect(changeView(ack.changes[0]!, true, unconfirmedOf(e)).alarm.unconfirmed).toMatchObject({ kind: 'no-data' });
    expect(alarmView(e.get(id)!, unconfirmedOf(e)).unconfirmed).toMatchObject({ kind: 'no-data' });
    // Data again: the no-data alarm ends, the alarm is confirmed again.
    alarm('continue', 45);
    expect(view(e, id).unconfirmed).toBeNull();
  });

  it('marks a device alarm of a device its driver reports disconnected (its connection alarm open)', () => {
    const { e, id } = silentMonitor();
    e.deviceStatus({ kind: 'device-status', deviceId: 'mon-1', bed: 'bed-1', source: 'test', state: 'offline', detail: 'cable', at: at(5) });
    const raised = e.tick(at(16));
    const conn = raised.find((c) => c.alarm.source === 'technical')!;
    expect(conn.alarm.condition.text).toMatch(/disconnected/);
    expect(view(e, id).unconfirmed).toEqual({ since: conn.alarm.raisedAt, kind: 'connection', text: conn.alarm.condition.text });
  });

  it('does not mark the alarms of a device in error whose data still comes (its "fault" alarm shares the connection key; review rv179 H1)', () => {
    const { e, id, alarm } = silentMonitor();
    // One register refused (a Modbus exception): the driver reports error while the device's other data flows.
    e.deviceStatus({ kind: 'device-status', deviceId: 'mon-1', bed: 'bed-1', source: 'test', state: 'error', detail: 'register 7 refused', at: at(5) });
    for (let sec = 6; sec <= 20; sec += 2) {
      alarm('continue', sec);
      e.tick(at(sec));
    }
    const fault = e.list({ bed: 'bed-1' }).find((a) => a.source === 'technical')!;
    expect(fault.condition.text).toMatch(/fault/);
    expect(view(e, id).unconfirmed).toBeNull();
    // Offline later (its data stops too): then the device no longer confirms it.
    e.deviceStatus({ kind: 'device-status', deviceId: 'mon-1', bed: 'bed-1', source: 'test', state: 'offline', detail: 'cable', at: at(21) });
    e.tick(at(60));
    expect(view(e, id).unconfirmed).toMatchObject({ kind: expect.stringMatching(/connection|no-data/) });
  });

  it('reads only the silent device\'s technical alarms, without copying and sorting every open alarm (review rv179 L4)', () => {
    const { e, id } = silentMonitor();
    e.tick(at(31)); // "No data" for both monitors
    const list = vi.spyOn(e, 'list');
    const get = vi.spyOn(e, 'get');
    const a = e.get(id)!;
    get.mockClear();
    expect(unconfirmedOf(e)(a)).toMatchObject({ kind: 'no-data' });
    expect(list).not.toHaveBeenCalled();
    expect(get).not.toHaveBeenCalled();
  });
});

describe('bed tile under a device alarm flood (review rv185 M2)', () => {
  const ward = new WardState({ staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 4 });
  it('carries at most MAX_TILE_ALARMS rows, the most urgent, and counts the rest by priority', () => {
    const e = new AlarmEngine({ idPrefix: 't' });
    const start = (id: string, priority: 'high' | 'medium' | 'low' | 'none', at: number) =>
      e.deviceAlarm({ kind: 'alarm', deviceId: 'noisy', bed: 'bed-1', source: 'test', alarmId: id, condition: null, text: id, priority, category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at });
    start('vt', 'high', 1000);
    for (let i = 0; i < 30; i++) start(`m${i}`, 'medium', 2000 + i);
    for (let i = 0; i < 5; i++) start(`i${i}`, 'none', 3000 + i);
    const tile = bedTile(ward, e, 'bed-1', 10_000);
    expect(tile.alarms).toHaveLength(20);
    expect(tile.alarms[0]!.text).toBe('vt');
    expect(tile.alarmsNotSent).toMatchObject({ total: 16, high: 0, medium: 11, low: 0, information: 5 });
    expect(JSON.stringify(tile).length).toBeLessThan(20_000);
  });

  it('puts unacknowledged alarms first, then priority, then newest: an older unanswered HIGH is never left out behind acknowledged ones (review rv188 H3)', () => {
    const e = new AlarmEngine({ idPrefix: 't' });
    const start = (id: string, at: number) =>
      e.deviceAlarm({ kind: 'alarm', deviceId: 'mon-1', bed: 'bed-1', source: 'test', alarmId: id, condition: null, text: id, priority: 'high', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at });
    start('VFIB', 1000);
    for (let i = 0; i < 20; i++) {
      const [c] = start(`H${i}`, 2000 + i);
      expect(e.acknowledge(c!.alarmId, nurse, 3000).ok).toBe(true);
    }
    expect(e.tick(71_000).filter((c) => c.change === 'escalated').map((c) => c.alarm.condition.text)).toEqual(['VFIB']);
    const tile = bedTile(ward, e, 'bed-1', 71_000);
    expect(tile.alarms).toHaveLength(20);
    expect(tile.alarms[0]).toMatchObject({ text: 'VFIB', state: 'active', escalated: true });
    // Then the other unanswered one (the device's "No data", raised by the tick), then the acknowledged ones, newest
    // first; the two oldest acknowledged ones are counted.
    expect(tile.alarms.slice(0, 3).map((a) => a.text)).toEqual(['VFIB', 'No data from mon-1 for 30 s or more', 'H19']);
    expect(tile.alarmsNotSent).toEqual({ total: 2, high: 2, medium: 0, low: 0, information: 0, unacknowledged: { total: 0, high: 0, medium: 0, low: 0, information: 0 } });
  });

  it('the flood alarm itself always has a row, so it can be seen and acknowledged however many unanswered HIGH rows flood the tile (review rv190 H1)', () => {
    const e = new AlarmEngine({ idPrefix: 't', maxOpenDeviceAlarms: 64 });
    const start = (id: string, at: number) =>
      e.deviceAlarm({ kind: 'alarm', deviceId: 'mon-1', bed: 'bed-1', source: 'test', alarmId: id, condition: null, text: id, priority: 'high', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at });
    start('ASYSTOLE', 1000);
    for (let i = 0; i < 80; i++) start(`junk${i}`, 2000 + i);
    const tile = bedTile(ward, e, 'bed-1', 5000);
    expect(tile.alarms).toHaveLength(20);
    expect(tile.alarms[0]!.text).toMatch(/mon-1 has \d+ open alarms on bed-1/);
  });

  it('an unanswered alarm of another device on the bed keeps its row, however many newer unanswered alarms a flooding device sends', () => {
    const e = new AlarmEngine({ idPrefix: 't', maxOpenDeviceAlarms: 64 });
    const start = (deviceId: string, id: string, at: number) =>
      e.deviceAlarm({ kind: 'alarm', deviceId, bed: 'bed-1', source: 'test', alarmId: id, condition: null, text: id, priority: 'high', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at });
    start('vent-1', 'APNEA', 1000);
    for (let i = 0; i < 80; i++) start('mon-1', `junk${i}`, 2000 + i);
    const tile = bedTile(ward, e, 'bed-1', 5000);
    expect(tile.alarms).toHaveLength(20);
    expect(tile.alarms.map((a) => a.text)).toContain('APNEA');
    expect(tile.alarms[0]!.text).toMatch(/mon-1 has \d+ open alarms on bed-1/);
    // The rows still in tileOrder: the flood alarm, then the unanswered HIGH ones newest first, APNEA (the oldest) last.
    expect(tile.alarms.at(-1)!.text).toBe('APNEA');
    expect(tile.alarmsNotSent.total).toBe(81 + 1 - 20);
  });

  it('counts the unacknowledged alarms left out (more than 20 unanswered), for the ward strip', () => {
    const e = new AlarmEngine({ idPrefix: 't' });
    for (let i = 0; i < 23; i++) {
      e.deviceAlarm({ kind: 'alarm', deviceId: 'mon-1', bed: 'bed-1', source: 'test', alarmId: `a${i}`, condition: null, text: `A${i}`, priority: i < 2 ? 'high' : 'low', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: 1000 + i });
    }
    const tile = bedTile(ward, e, 'bed-1', 5000);
    expect(tile.alarmsNotSent).toEqual({ total: 3, high: 0, medium: 0, low: 3, information: 0, unacknowledged: { total: 3, high: 0, medium: 0, low: 3, information: 0 } });
  });
});

describe('alarmView unconfirmed: a device alarm its source may not repeat (review rv185 M3)', () => {
  const ward = new WardState({ staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 4 });
  const t0 = 1_000_000;
  const at = (sec: number) => t0 + sec * 1000;
  function streaming(repeatMs?: number) {
    const e = new AlarmEngine({ idPrefix: 't' });
    e.deviceAlarm({ kind: 'alarm', deviceId: 'mon-1', bed: 'bed-1', source: 'test', alarmId: 'asys', condition: null, text: 'ASYSTOLE', priority: 'high', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: at(0), ...(repeatMs !== undefined && { repeatMs }) });
    // The device streams on: never silent.
    for (let sec = 1; sec <= 720; sec++) e.reading({ kind: 'numeric', deviceId: 'mon-1', bed: 'bed-1', source: 'test', mdc: { code: 147842, refid: 'MDC_ECG_HEART_RATE' }, value: 80, unit: { ucum: '/min' }, deviceTime: null, receivedAt: at(sec), quality: { state: 'valid' } });
    return e;
  }

  it('says "last reported" once the device has not reported it for 5 min, not before', () => {
    const e = streaming();
    const id = e.list()[0]!.id;
    expect(bedTile(ward, e, 'bed-1', at(299)).alarms.find((a) => a.id === id)!.unconfirmed).toBeNull();
    expect(bedTile(ward, e, 'bed-1', at(720)).alarms.find((a) => a.id === id)!.unconfirmed).toEqual({
      since: at(0),
      kind: 'not-reported',
      text: `last reported by mon-1 at ${new Date(at(0)).toISOString()}`,
    });
  });

  it('is not set for a source that declares its repeat (the engine ends such an alarm itself)', () => {
    const e = streaming(60_000);
    const id = e.list()[0]!.id;
    expect(bedTile(ward, e, 'bed-1', at(720)).alarms.find((a) => a.id === id)!.unconfirmed).toBeNull();
  });
});
