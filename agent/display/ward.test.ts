// The display's ward state: latest values with quality and freshness, bounded trends and waveforms, bounded beds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../model/mdc.js';
import { numeric, s, wave } from '../alarms/fixtures.js';
import { NumberRing, PointRing } from './ring.js';
import { WardState } from './ward.js';
import { CLOCK_SLACK_MS } from '../model/measured.js';
import { normalise } from '../ingest.js';

const opts = { staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 2 };

describe('NumberRing and PointRing', () => {
  const value = fc.option(fc.double({ noNaN: true }), { nil: null });
  it('NumberRing keeps the newest `capacity` values in order, null as null, whatever is pushed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(value, { maxLength: 100 }), (cap, items) => {
        const r = new NumberRing(cap);
        for (const i of items) r.push(i);
        expect(r.toArray()).toEqual(items.slice(-cap));
        expect(r.size).toBe(Math.min(cap, items.length));
      }),
    );
  });

  it('PointRing keeps the newest `capacity` points; replaceLast changes only the newest', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.tuple(fc.integer(), value, fc.boolean()), { maxLength: 100 }), (cap, ops) => {
        const r = new PointRing(cap);
        const model: [number, number | null][] = [];
        for (const [t, v, replace] of ops) {
          if (replace) {
            r.replaceLast(t, v);
            if (model.length) model[model.length - 1] = [t, v];
          } else {
            r.push(t, v);
            model.push([t, v]);
          }
        }
        expect(r.toArray()).toEqual(model.slice(-cap));
        expect(r.size).toBe(Math.min(cap, model.length));
        expect(r.lastTime()).toBe(model.at(-1)?.[0]);
      }),
    );
  });
});

describe('WardState', () => {
  it('shows the latest value with its age; stale after staleAfterS; invalid values are never numbers', () => {
    const w = new WardState(opts);
    w.handle([
      numeric(MDC.ECG_HEART_RATE, 80, 0),
      numeric(MDC.ECG_HEART_RATE, 82, 1),
      numeric(MDC.PULS_OXIM_SAT_O2, 40, 1, { quality: { state: 'invalid', reasons: ['sensor-off'] } }),
      numeric(MDC.RESP_RATE, 18, 1, { quality: { state: 'questionable', reasons: ['artifact'] } }),
    ]);
    const v = Object.fromEntries(w.vitals('bed-1', s(5)).map((x) => [x.label, x]));
    expect(v.HR).toMatchObject({ value: 82, ageS: 4, stale: false });
    expect(v.SpO2).toMatchObject({ value: null, quality: 'invalid', reasons: ['sensor-off'] });
    expect(v.RR).toMatchObject({ value: 18, quality: 'questionable' });
    expect(w.vitals('bed-1', s(12)).find((x) => x.label === 'HR')).toMatchObject({ stale: true, ageS: 11 });
    // An older reading arriving late does not replace a newer one.
    w.handle([numeric(MDC.ECG_HEART_RATE, 60, 0.5)]);
    expect(w.vitals('bed-1', s(2)).find((x) => x.label === 'HR')!.value).toBe(82);
  });

  it('a bed known only from a device status has no time of last data (not 1970)', () => {
    const w = new WardState(opts);
    w.handle([{ kind: 'device-status', deviceId: 'mon-9', bed: 'bed-9', source: 't', state: 'online', detail: 'up', at: s(1) }]);
    expect(w.has('bed-9')).toBe(true);
    expect(w.lastDataAt('bed-9')).toBeNull();
    w.handle([numeric(MDC.ECG_HEART_RATE, 70, 2, { bed: 'bed-9' })]);
    expect(w.lastDataAt('bed-9')).toBe(s(2));
  });

  it('ages a reading from when it was measured, on its device\'s own clock: a blood pressure re-sent each minute turns stale', () => {
    const w = new WardState(opts);
    const MIN = 60;
    // The monitor re-sends its last NBP (measured at its minute 0) with each minute's HR; its clock is 30 min slow.
    const slow = -30 * MIN;
    const at = (r: ReturnType<typeof numeric>, deviceS: number) => ({ ...r, deviceTime: s(deviceS + slow) });
    for (const m of [1, 20, 40]) {
      w.handle([at(numeric(MDC.PRESS_BLD_NONINV_SYS, 120, m * MIN), 0), at(numeric(MDC.ECG_HEART_RATE, 70 + m, m * MIN), m * MIN)]);
    }
    const v = Object.fromEntries(w.vitals('bed-1', s(40 * MIN + 1)).map((x) => [x.label, x]));
    const sys = v['NIBP sys']!;
    const hr = v.HR!;
    expect(sys).toMatchObject({ value: 120, ageS: 40 * MIN + 1, stale: true }); // intermittentStaleAfterS 1800
    expect(hr).toMatchObject({ value: 110, ageS: 1, stale: false }); // the clock's 30 min do not age it
    // Without device times, the receipt is all there is.
    w.handle([numeric(MDC.PRESS_BLD_NONINV_SYS, 118, 41 * MIN)]);
    expect(w.vitals('bed-1', s(41 * MIN + 2)).find((x) => x.label === 'NIBP sys')).toMatchObject({ value: 118, ageS: 2 });
  });

  it('ages a value re-sent alone on its device\'s clock learned from earlier deliveries (review rv79 M2)', () => {
    const w = new WardState(opts);
    const MIN = 60;
    const slow = -30 * MIN; // the monitor's clock is 30 min slow
    const at = (r: ReturnType<typeof numeric>, deviceS: number) => ({ ...r, deviceTime: s(deviceS + slow) });
    w.handle([at(numeric(MDC.ECG_HEART_RATE, 70, 0), 0), at(numeric(MDC.PRESS_BLD_NONINV_SYS, 120, 0), 0)]);
    // The NBP measured at minute 0, re-sent alone each minute to minute 40.
    for (let m = 1; m <= 40; m++) w.handle([at(numeric(MDC.PRESS_BLD_NONINV_SYS, 120, m * MIN), 0)]);
    const sys = w.vitals('bed-1', s(40 * MIN + 1)).find((x) => x.label === 'NIBP sys')!;
    expect(sys).toMatchObject({ value: 120, stale: true }); // intermittentStaleAfterS 1800
    // Re-sent within the clock's slack of its measurement, it is judged by its delivery (a time in whole minutes,
    // delays), and the display keeps the newest time: at most CLOCK_SLACK_MS younger than it is, never more.
    expect(sys.ageS).toBeGreaterThanOrEqual(40 * MIN + 1 - CLOCK_SLACK_MS / 1000);
    expect(sys.ageS).toBeLessThanOrEqual(40 * MIN + 1);
  });

  it('shows the fresh value within seconds after its device clock stepped back (review rv83 H1)', () => {
    const w = new WardState(opts);
    let devOffset = 0;
    const rd = (v: number, atS: number) => ({ ...numeric(MDC.PULS_OXIM_SAT_O2, v, atS), deviceTime: s(atS) + devOffset });
    for (let t = 0; t <= 600; t += 5) w.handle([rd(97, t)]);
    devOffset = -3600_000;
    // The step is believed once its offset holds across 3 deliveries spanning 5 s (not after 5 min).
    for (let t = 605; t <= 615; t += 5) w.handle([rd(85, t)]);
    expect(w.vitals('bed-1', s(616)).find((x) => x.label === 'SpO2')).toMatchObject({ value: 85, ageS: 1, stale: false });
    for (let t = 620; t <= 840; t += 5) w.handle([rd(84, t)]);
    expect(w.vitals('bed-1', s(840)).find((x) => x.label === 'SpO2')).toMatchObject({ value: 84, ageS: 0, stale: false });
  });

  it('shows a setting apart from the measurement with the same code, after it, labelled as set', () => {
    const w = new WardState(opts);
    w.handle([
      numeric(MDC.RESP_RATE, 22, 1, { deviceId: 'vent-1' }),
      numeric(MDC.RESP_RATE, 14, 2, { deviceId: 'vent-1', setting: true }),
    ]);
    const rr = w.vitals('bed-1', s(3)).filter((x) => x.label.startsWith('RR'));
    expect(rr.map((x) => [x.label, x.value, x.setting])).toEqual([
      ['RR', 22, false],
      ['RR (set)', 14, true],
    ]);
    // A device's own label that already says "set" is kept as it is.
    const medibus = { kind: 'numeric' as const, deviceId: 'vent-1', bed: 'bed-1', source: 't', mdc: null, raw: { system: 'medibus', code: 'set:09', text: 'RR (set)' }, value: 12, unit: { ucum: '/min' }, deviceTime: null, receivedAt: s(2), quality: { state: 'valid' as const }, setting: true as const };
    w.handle([medibus]);
    expect(w.vitals('bed-1', s(3)).map((x) => x.label)).toContain('RR (set)');
    expect(w.vitals('bed-1', s(3)).filter((x) => x.label.includes('(set) (set)'))).toEqual([]);
    // A setting code the display has no label for: the device's own text rather than the refid; "set" inside a word
    // or at the start is not taken as saying so.
    const vt = { ...medibus, mdc: { code: 16929196, refid: 'MDC_VENT_VOL_TIDAL_SETTING' }, raw: { system: 'medibus', code: 'set:40', text: 'VT (set)' } };
    const setup = { ...medibus, raw: { system: 'x', code: '1', text: 'Set-up time' } };
    w.handle([vt, setup]);
    const labels = w.vitals('bed-1', s(3)).map((x) => x.label);
    expect(labels).toContain('VT (set)');
    expect(labels).toContain('Set-up time (set)');
  });

  it('settings have their own bound per bed: a ventilator\'s many cannot crowd out measurements; what is left out is counted', () => {
    const w = new WardState(opts);
    const raw = (i: number) => ({ system: 'medibus', code: `low-limit:cp1:${i}`, text: `limit ${i}` });
    // 80 settings first (more than either bound), then a measurement: still shown.
    w.handle(Array.from({ length: 80 }, (_, i) => ({ ...numeric(MDC.RESP_RATE, i, 1, { setting: true }), mdc: null, raw: raw(i) })));
    w.handle([numeric(MDC.ECG_HEART_RATE, 72, 2)]);
    const vitals = w.vitals('bed-1', s(3));
    expect(vitals.filter((v) => v.setting)).toHaveLength(64);
    expect(vitals.find((v) => v.label === 'HR')?.value).toBe(72);
    expect(w.droppedMetrics).toBe(16);
    // Known parameters keep updating at the bound.
    w.handle([{ ...numeric(MDC.RESP_RATE, 99, 4, { setting: true }), mdc: null, raw: raw(0) }]);
    expect(w.vitals('bed-1', s(5)).find((v) => v.label === 'limit 0 (set)')?.value).toBe(99);
    expect(w.droppedMetrics).toBe(16);
  });

  it('keeps one tile and one trend per code and unit: etCO2 in mmHg and in % never alternate in one (review rv114 L1)', () => {
    const w = new WardState(opts);
    // One Medibus response with etCO2 in % (DB) and in mmHg (E6), the order alternating between polls.
    for (let t = 0; t < 4; t++) {
      const pct = numeric(MDC.CONC_AWAY_CO2_ET, 5.1, t, { unit: UNITS.PERCENT });
      const mmhg = numeric(MDC.CONC_AWAY_CO2_ET, 38, t, { unit: UNITS.MMHG });
      w.handle(t % 2 ? [mmhg, pct] : [pct, mmhg]);
    }
    const tiles = w.vitals('bed-1', s(4)).filter((v) => v.label === 'etCO2');
    expect(tiles.map((v) => [v.value, v.unit])).toEqual([[5.1, '%'], [38, 'mmHg']]);
    expect(new Set(tiles.map((v) => v.key)).size).toBe(2);
    const trends = w.trends('bed-1').filter((t) => t.label === 'etCO2');
    expect(trends.map((t) => [t.unit, t.points.map((p) => p[1])])).toEqual([['%', [5.1]], ['mmHg', [38]]]);
  });

  it('keeps one trend point per interval (the newest), at most `points`, with gaps for invalid values', () => {
    const w = new WardState(opts);
    for (let t = 0; t < 40; t++) w.handle([numeric(MDC.ECG_HEART_RATE, 60 + t, t)]);
    w.handle([numeric(MDC.ECG_HEART_RATE, null, 41, { quality: { state: 'unavailable' } })]);
    const trend = w.trends('bed-1')[0]!;
    expect(trend.points).toHaveLength(4);
    expect(trend.points.map((p) => p[1])).toEqual([89, 94, 99, null]);
  });

  it('keeps the last seconds of a waveform and tells wave listeners', () => {
    const w = new WardState(opts);
    const chunks: number[] = [];
    w.onWave((c) => chunks.push(c.samples.length));
    for (let i = 0; i < 10; i++) w.handle([{ ...wave(MDC.ECG_ELEC_POTL_II, i, { state: 'valid' }), samples: new Array(250).fill(0.1) }]);
    expect(w.waves('bed-1')[0]!.samples).toHaveLength(500);
    expect(chunks).toEqual(new Array(10).fill(250));
  });

  it('keeps samples the device sent as invalid (zeroed by ingest) as gaps, not as 0, in the strip and its chunks (review rv132 L1)', () => {
    const w = new WardState(opts);
    const chunks: (number | null)[][] = [];
    w.onWave((c) => chunks.push(c.samples));
    const seg = (atS: number, samples: number[]) => normalise({ ...wave(MDC.ECG_ELEC_POTL_II, atS, { state: 'valid' }), samples });
    w.handle([seg(0, [0.5, 0.6])]);
    w.handle([seg(1, [0.7, Number.NaN, Number.NaN, 0.2])]);
    // The next segment valid: the strip's quality is 'valid' again, so the gap must be in the samples themselves.
    w.handle([seg(2, [0, 0.3])]);
    const strip = w.waves('bed-1')[0]!;
    expect(strip.quality).toBe('valid');
    expect(strip.samples).toEqual([0.5, 0.6, 0.7, null, null, 0.2, 0, 0.3]);
    expect(chunks[1]).toEqual([0.7, null, null, 0.2]);
    // A sample the device sent as 0 stays 0; in JSON (the page's answer and stream) a gap is null.
    expect(JSON.parse(JSON.stringify(strip)).samples).toEqual([0.5, 0.6, 0.7, null, null, 0.2, 0, 0.3]);
  });

  it('keeps a whole segment of invalid or unavailable quality (lead off) as gaps, also once a valid one follows (fx197)', () => {
    const w = new WardState(opts);
    const chunks: { quality: string; samples: (number | null)[] }[] = [];
    w.onWave((c) => chunks.push({ quality: c.quality, samples: c.samples }));
    const seg = (atS: number, state: 'valid' | 'questionable' | 'invalid' | 'unavailable', samples: number[]) =>
      normalise({ ...wave(MDC.ECG_ELEC_POTL_II, atS, { state, reasons: state === 'valid' ? [] : ['lead-off'] }), samples });
    w.handle([seg(0, 'valid', [0.5, 0.6])]);
    // Lead off: the monitor sends a flat line; drawn as values it would read as a pause once the next segment is valid.
    w.handle([seg(1, 'invalid', [0, 0, 0])]);
    w.handle([seg(2, 'unavailable', [0.1])]);
    // Questionable is shown (marked), not a gap.
    w.handle([seg(3, 'questionable', [0.4])]);
    w.handle([seg(4, 'valid', [0.2, 0.3])]);
    const strip = w.waves('bed-1')[0]!;
    expect(strip.quality).toBe('valid');
    expect(strip.samples).toEqual([0.5, 0.6, null, null, null, null, 0.4, 0.2, 0.3]);
    expect(chunks.map((c) => c.samples)).toEqual([[0.5, 0.6], [null, null, null], [null], [0.4], [0.2, 0.3]]);
    expect(chunks.map((c) => c.quality)).toEqual(['valid', 'invalid', 'unavailable', 'questionable', 'valid']);
  });

  it('tracks at most maxBeds beds and counts what it could not show', () => {
    const w = new WardState(opts);
    w.handle(['a', 'b', 'c', 'd'].map((bed) => numeric(MDC.ECG_HEART_RATE, 70, 0, { bed })));
    expect(w.bedIds()).toEqual(['a', 'b']);
    expect(w.droppedBeds).toBe(2);
  });

  it('says of every bed whose readings it left out that they are not shown, also past the beds it names (review rv78 M1)', () => {
    const w = new WardState({ ...opts, maxBeds: 1 });
    w.handle([numeric(MDC.ECG_HEART_RATE, 70, 0, { bed: 'kept' })]);
    w.handle(Array.from({ length: 30 }, (_, i) => numeric(MDC.ECG_HEART_RATE, 70, 0, { bed: `out-${i}` })));
    expect(w.readingsDropped('kept')).toBe(false);
    // Not only the first names the page is given (20).
    expect(w.readingsDropped('out-0')).toBe(true);
    expect(w.readingsDropped('out-29')).toBe(true);
    // A bed known only from its alarms has no readings to leave out.
    expect(w.readingsDropped('alarm-only')).toBe(false);
    // Past the beds it remembers by name (1000), any bed it does not keep is taken as left out.
    w.handle(Array.from({ length: 1000 }, (_, i) => numeric(MDC.ECG_HEART_RATE, 70, 0, { bed: `more-${i}` })));
    expect(w.droppedBedCount).toBe(1000);
    expect(w.readingsDropped('more-999')).toBe(true);
    expect(w.readingsDropped('alarm-only')).toBe(true);
    expect(w.readingsDropped('kept')).toBe(false);
  });
});
