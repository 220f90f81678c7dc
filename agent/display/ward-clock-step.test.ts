// The display's ages across a step of the gateway's wall clock (NTP/chrony step, set by hand; review rv147 F2): the
// alarm service tells the step (AlarmService.onClockStep) and WardState.shiftClock moves every instant the display
// ages or orders values by, so a stopped value goes stale on time and a fresh one is not shown an hour old.
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { numeric, s, wave } from '../alarms/fixtures.js';
import { WardState } from './ward.js';

const opts = { staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 2 };
const H = 3600;
const spo2 = (w: WardState, atS: number) => w.vitals('bed-1', s(atS)).find((v) => v.label === 'SpO2')!;

describe('WardState.shiftClock (rv147 F2)', () => {
  it('a step back of 1 h: an SpO2 that stopped is stale 30 s after its last reading, as without a step', () => {
    const w = new WardState(opts);
    w.handle([numeric(MDC.ECG_HEART_RATE, 80, 0), numeric(MDC.PULS_OXIM_SAT_O2, 97, 0)]);
    w.shiftClock(-H * 1000, s(5 - H)); // the wall clock stepped back 1 h at real second 5
    for (let t = 6; t <= 30; t++) w.handle([numeric(MDC.ECG_HEART_RATE, 80, t - H)]);
    expect(spo2(w, 30 - H)).toMatchObject({ value: 97, ageS: 30, stale: true });
    const hr = w.vitals('bed-1', s(30 - H)).find((v) => v.label === 'HR')!;
    expect(hr).toMatchObject({ value: 80, ageS: 0, stale: false });
    expect(w.lastDataAt('bed-1')).toBe(s(30 - H));
  });

  it('a step forward of 1 h: an NIBP measured 60 s earlier is 60 s old, not stale', () => {
    const w = new WardState(opts);
    w.handle([numeric(MDC.PRESS_BLD_NONINV_SYS, 120, 0)]);
    w.shiftClock(H * 1000, s(30 + H));
    const v = w.vitals('bed-1', s(60 + H))[0]!;
    expect(v).toMatchObject({ value: 120, ageS: 60, stale: false });
  });

  it('a step back: readings of a device without its own time go on replacing the value (not left out as older for 1 h)', () => {
    const w = new WardState(opts);
    w.handle([numeric(MDC.PULS_OXIM_SAT_O2, 97, 0)]);
    w.shiftClock(-H * 1000, s(1 - H));
    w.handle([numeric(MDC.PULS_OXIM_SAT_O2, 88, 2 - H)]);
    expect(spo2(w, 2 - H)).toMatchObject({ value: 88, ageS: 0 });
  });

  it('moves device states, waveforms and trend points with the step: the trend goes on from where it was', () => {
    const w = new WardState(opts);
    w.handle([{ kind: 'device-status', deviceId: 'mon-1', bed: 'bed-1', source: 'test', state: 'online', detail: '', at: s(0) }]);
    w.handle([wave(MDC.ECG_ELEC_POTL_II, 0, { state: 'valid' })]);
    for (let t = 0; t <= 10; t += 5) w.handle([numeric(MDC.ECG_HEART_RATE, 80 + t, t)]);
    w.shiftClock(-H * 1000, s(11 - H));
    expect(w.devices('bed-1')[0]!.at).toBe(s(0 - H));
    expect(w.waves('bed-1')[0]!.at).toBe(s(0 - H));
    w.handle([numeric(MDC.ECG_HEART_RATE, 95, 15 - H)]);
    const points = w.trends('bed-1').find((t) => t.label === 'HR')!.points;
    expect(points).toEqual([[s(0 - H), 80], [s(5 - H), 85], [s(10 - H), 90], [s(15 - H), 95]]);
  });

  it('a reading stamped before the step and handled after it is moved onto the new clock', () => {
    const w = new WardState(opts);
    w.handle([numeric(MDC.PULS_OXIM_SAT_O2, 97, 0), numeric(MDC.ECG_HEART_RATE, 80, 0)]);
    w.shiftClock(-H * 1000, s(5 - H));
    w.handle([numeric(MDC.PULS_OXIM_SAT_O2, 96, 4.8)]); // in flight across the step: stamped on the old clock
    w.handle([numeric(MDC.ECG_HEART_RATE, 81, 4.9)]); // a second batch in flight
    expect(spo2(w, 5 - H)).toMatchObject({ value: 96, ageS: 0.2 });
    expect(w.vitals('bed-1', s(5 - H)).find((v) => v.label === 'HR')).toMatchObject({ value: 81, ageS: 0.1 });
    w.handle([numeric(MDC.PULS_OXIM_SAT_O2, 95, 6 - H)]);
    expect(spo2(w, 6 - H)).toMatchObject({ value: 95, ageS: 0 });
    // Long after, a reading far from both clocks is taken as it is.
    w.handle([numeric(MDC.PULS_OXIM_SAT_O2, 94, 60 - H)]);
    expect(spo2(w, 60 - H)).toMatchObject({ value: 94, ageS: 0 });
  });
});
