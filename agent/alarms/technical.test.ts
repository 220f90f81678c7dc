import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { standInDeviceId } from '../model/reading.js';
import { numeric, s, status, wave } from './fixtures.js';
import { DEFAULT_TECHNICAL_CONFIG, TechnicalMonitor } from './technical.js';
import type { ConditionUpdate } from './types.js';

const keys = (us: ConditionUpdate[]) => us.map((u) => (u.present ? `+${u.spec.key}` : `-${u.key}`));

describe('technical: silent feed', () => {
  it('raises when a device sends nothing past its interval, ends when data returns', () => {
    const m = new TechnicalMonitor();
    m.reading(numeric(MDC.ECG_HEART_RATE, 80, 0));
    expect(m.tick(s(30))).toEqual([]); // exactly 30 s: not yet past
    const up = m.tick(s(31));
    expect(keys(up)).toEqual(['+tech:mon-1:no-data']);
    expect(up[0]!.present && up[0]!.spec).toMatchObject({ category: 'technical', priority: 'medium', bed: 'bed-1', source: 'technical' });
    expect(m.tick(s(60))).toEqual([]); // raised once
    expect(keys(m.reading(numeric(MDC.ECG_HEART_RATE, 80, 61)))).toEqual(['-tech:mon-1:no-data']);
  });

  it("ingest's stand-in for events whose driver named no device is not watched: no \"No data\" for a device that never was (rv159 F2)", () => {
    const m = new TechnicalMonitor();
    m.reading(numeric(MDC.ECG_HEART_RATE, 80, 0, { deviceId: standInDeviceId('icu-mllp') }));
    m.reading(numeric(MDC.ECG_HEART_RATE, 80, 0));
    expect(keys(m.tick(s(31)))).toEqual(['+tech:mon-1:no-data']);
  });

  it('per-device interval, and devices expected but never heard from', () => {
    const m = new TechnicalMonitor({ ...DEFAULT_TECHNICAL_CONFIG, devices: { pump: { silentAfterS: 120, bed: 'bed-2' } } });
    m.expect('pump', s(0));
    m.expect('vent', s(0), 'bed-3');
    const at31 = m.tick(s(31));
    expect(keys(at31)).toEqual(['+tech:vent:no-data']);
    expect(at31[0]!.present && at31[0]!.spec.bed).toBe('bed-3');
    const at121 = m.tick(s(121));
    expect(keys(at121)).toEqual(['+tech:pump:no-data']);
    expect(at121[0]!.present && at121[0]!.spec.bed).toBe('bed-2');
  });

  it('driver status: silent at once; offline after connectionAfterS; online ends the connection alarm', () => {
    const m = new TechnicalMonitor();
    expect(keys(m.status(status('silent', 0)))).toEqual(['+tech:mon-1:no-data']);
    expect(m.status(status('offline', 1, 'mon-1', 'ECONNREFUSED 10.0.0.5:502'))).toEqual([]);
    expect(m.status(status('connecting', 5))).toEqual([]);
    const down = m.tick(s(11));
    expect(keys(down)).toEqual(['+tech:mon-1:connection']);
    expect(down[0]!.present && down[0]!.spec.condition.text).toContain('ECONNREFUSED 10.0.0.5:502');
    expect(keys(m.status(status('online', 12)))).toEqual(['-tech:mon-1:connection']);
    // online is not data: the no-data alarm stays until data flows
    expect(keys(m.reading(numeric(MDC.ECG_HEART_RATE, 80, 13)))).toEqual(['-tech:mon-1:no-data']);
  });

  it('a keep-alive from the device (PCD-04 watchdog) keeps an alarm-only feed from being called silent', () => {
    const m = new TechnicalMonitor();
    const watchdog = (atS: number) => ({ ...status('online', atS, 'acm-1', 'PCD-04 watchdog'), alive: true as const });
    for (let t = 0; t <= 120; t += 10) expect(m.status(watchdog(t))).toEqual([]);
    expect(m.tick(s(125))).toEqual([]);
    // Once the watchdogs stop, the feed is silent; the next one ends it.
    expect(keys(m.tick(s(151)))).toEqual(['+tech:acm-1:no-data']);
    expect(keys(m.status(watchdog(160)))).toEqual(['-tech:acm-1:no-data']);
    // A plain 'online' (a link that opened) is not data.
    const plain = new TechnicalMonitor();
    plain.status(status('online', 0));
    expect(keys(plain.tick(s(31)))).toEqual(['+tech:mon-1:no-data']);
  });

  it("a driver's 'error' (part of a device failing) is not ended by data from the parts still answering; 'online' ends it", () => {
    const m = new TechnicalMonitor();
    m.reading(numeric(MDC.ECG_HEART_RATE, 80, 0));
    m.status(status('error', 1, 'mon-1', 'exception 4 (server device failure) on SpO2'));
    for (let t = 2; t <= 12; t++) m.reading(numeric(MDC.ECG_HEART_RATE, 80, t));
    const up = m.tick(s(12));
    expect(keys(up)).toEqual(['+tech:mon-1:connection']);
    expect(up[0]!.present && up[0]!.spec.condition.text).toBe('Device mon-1 fault: exception 4 (server device failure) on SpO2');
    expect(m.reading(numeric(MDC.ECG_HEART_RATE, 80, 13))).toEqual([]);
    expect(keys(m.status(status('online', 14)))).toEqual(['-tech:mon-1:connection']);
    // 'offline' is still ended by data: the link works after all.
    m.status(status('offline', 20));
    m.reading(numeric(MDC.ECG_HEART_RATE, 80, 21));
    expect(m.tick(s(40))).toEqual([]);
  });

  it('a brief offline that recovers does not alarm', () => {
    const m = new TechnicalMonitor();
    m.status(status('offline', 0));
    m.status(status('online', 5));
    expect(m.tick(s(20))).toEqual([]);
  });
});

describe('technical: sensor off, lead off, invalid', () => {
  const off = (t: number, reason = 'sensor-off') => numeric(MDC.PULS_OXIM_SAT_O2, null, t, { quality: { state: 'unavailable', reasons: [reason] } });

  it('sensor off persisting 5 s raises; valid readings for validAfterS (5 s) end it', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 5; t++) out.push(...m.reading(off(t)));
    expect(keys(out)).toEqual(['+tech:mon-1|bed-1:sensor-off']);
    expect(out[0]!.present && out[0]!.spec.condition.text).toBe('SpO2 SENSOR OFF');
    expect(out[0]!.present && out[0]!.spec.metric).toEqual(MDC.PULS_OXIM_SAT_O2);
    for (let t = 6; t <= 10; t++) expect(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, t))).toEqual([]);
    expect(keys(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 11)))).toEqual(['-tech:mon-1|bed-1:sensor-off']);
  });

  it('a loose probe (off 6 s, one valid sample, off again, for 10 min) is one alarm, not one every few seconds', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t < 600; t++) out.push(...m.reading(t % 7 === 6 ? numeric(MDC.PULS_OXIM_SAT_O2, 96, t) : off(t)), ...m.tick(s(t)));
    expect(keys(out)).toEqual(['+tech:mon-1|bed-1:sensor-off']);
  });

  it('a value beyond the measuring range (HL7 SN >^40) is a measurement, not "not valid"; it counts as valid for the end too', () => {
    const m = new TechnicalMonitor();
    const beyond = { state: 'questionable' as const, reasons: ['sn-comparator:>'] };
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 40; t++) out.push(...m.reading(numeric(MDC.RESP_RATE, 40, t, { quality: beyond })), ...m.tick(s(t)));
    expect(out).toEqual([]);
    // Questionable for another reason as well: not valid.
    const m2 = new TechnicalMonitor();
    for (let t = 0; t <= 31; t++) out.push(...m2.reading(numeric(MDC.RESP_RATE, 40, t, { quality: { state: 'questionable', reasons: ['sn-comparator:>', 'repeated-value'] } })));
    expect(keys(out)).toEqual([`+tech:mon-1|bed-1|${MDC.RESP_RATE.code}:invalid`]);
    for (let t = 32; t <= 36; t++) out.push(...m2.reading(numeric(MDC.RESP_RATE, 40, t, { quality: beyond })));
    expect(keys(out)).toEqual([`+tech:mon-1|bed-1|${MDC.RESP_RATE.code}:invalid`]);
    expect(keys(m2.reading(numeric(MDC.RESP_RATE, 40, 37, { quality: beyond })))).toEqual([`-tech:mon-1|bed-1|${MDC.RESP_RATE.code}:invalid`]);
  });

  it('a probe reseated within the delay does not alarm', () => {
    const m = new TechnicalMonitor();
    const out = [...m.reading(off(0)), ...m.reading(off(2)), ...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 3)), ...m.tick(s(10))];
    expect(out).toEqual([]);
  });

  it('lead off on an ECG waveform, confirmed by tick', () => {
    const m = new TechnicalMonitor();
    m.reading(wave(MDC.ECG_ELEC_POTL_II, 0, { state: 'invalid', reasons: ['lead-off'] }));
    m.reading(wave(MDC.ECG_ELEC_POTL_II, 1, { state: 'invalid', reasons: ['lead-off'] }));
    const up = m.tick(s(5));
    expect(up).toHaveLength(1);
    expect(up[0]!.present && up[0]!.spec.condition.text).toBe('ECG II LEAD OFF');
  });

  it('one lead off is one alarm naming every metric it takes; it ends when the last of them is valid again', () => {
    const m = new TechnicalMonitor();
    const leadOff = { state: 'unavailable' as const, reasons: ['lead-off'] };
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 5; t++) {
      out.push(...m.reading(numeric(MDC.ECG_HEART_RATE, null, t, { quality: leadOff })));
      out.push(...m.reading(numeric(MDC.RESP_RATE, null, t, { quality: leadOff })));
      out.push(...m.reading(wave(MDC.ECG_ELEC_POTL_II, t, { state: 'invalid', reasons: ['lead-off'] })));
      // SpO2 goes on reading: it is not part of it.
      out.push(...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, t)));
    }
    expect(keys(out)).toEqual(['+tech:mon-1|bed-1:lead-off']);
    expect(out[0]!.present && out[0]!.spec.condition.text).toBe('HR, RR, ECG II LEAD OFF');
    // A metric that goes off later joins the alarm without a second one.
    for (let t = 6; t <= 12; t++) out.push(...m.reading(wave(MDC.ECG_ELEC_POTL_I, t, { state: 'invalid', reasons: ['lead-off'] })), ...m.tick(s(t)));
    expect(keys(out)).toEqual(['+tech:mon-1|bed-1:lead-off']);
    for (let t = 13; t <= 17; t++) {
      expect(m.reading(numeric(MDC.ECG_HEART_RATE, 80, t))).toEqual([]);
      expect(m.reading(numeric(MDC.RESP_RATE, 16, t))).toEqual([]);
      expect(m.reading(wave(MDC.ECG_ELEC_POTL_I, t, { state: 'valid' }))).toEqual([]);
      expect(m.reading(wave(MDC.ECG_ELEC_POTL_II, t, { state: 'valid' }))).toEqual([]);
    }
    expect(m.reading(numeric(MDC.ECG_HEART_RATE, 80, 18))).toEqual([]);
    expect(m.reading(numeric(MDC.RESP_RATE, 16, 18))).toEqual([]);
    expect(m.reading(wave(MDC.ECG_ELEC_POTL_I, 18, { state: 'valid' }))).toEqual([]);
    const end = m.reading(wave(MDC.ECG_ELEC_POTL_II, 18, { state: 'valid' }));
    expect(keys(end)).toEqual(['-tech:mon-1|bed-1:lead-off']);
    expect(end[0]!.present === false && end[0]!.why).toBe('ECG II valid again');
    // Off again later: a new alarm, raised again after the delay.
    const again: ConditionUpdate[] = [];
    for (let t = 20; t <= 25; t++) again.push(...m.reading(numeric(MDC.RESP_RATE, null, t, { quality: leadOff })));
    expect(keys(again)).toEqual(['+tech:mon-1|bed-1:lead-off']);
    expect(again[0]!.present && again[0]!.spec.condition.text).toBe('RR LEAD OFF');
  });

  it('sensor off and lead off on one device are two alarms; a metric changing reason moves from one to the other', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 5; t++) {
      out.push(...m.reading(off(t)));
      out.push(...m.reading(numeric(MDC.ECG_HEART_RATE, null, t, { quality: { state: 'unavailable', reasons: ['lead-off'] } })));
    }
    expect(keys(out).sort()).toEqual(['+tech:mon-1|bed-1:lead-off', '+tech:mon-1|bed-1:sensor-off']);
    // SpO2 now reports lead-off (odd, but a device may): it leaves the sensor-off alarm, which ends, and joins lead-off after the delay.
    const moved: ConditionUpdate[] = [];
    for (let t = 6; t <= 11; t++) moved.push(...m.reading(off(t, 'lead-off')), ...m.tick(s(t)));
    expect(keys(moved)).toEqual(['-tech:mon-1|bed-1:sensor-off']);
    for (let t = 12; t <= 16; t++) expect([...m.reading(numeric(MDC.ECG_HEART_RATE, 80, t)), ...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, t))]).toEqual([]);
    expect(keys(m.reading(numeric(MDC.ECG_HEART_RATE, 80, 17)))).toEqual([]);
    expect(keys(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 17)))).toEqual(['-tech:mon-1|bed-1:lead-off']);
  });

  it('one device id carrying several beds (a central station without equipment ids): each bed has its own off alarm', () => {
    const m = new TechnicalMonitor();
    const offOn = (bed: string, mdc: typeof MDC.PULS_OXIM_SAT_O2, t: number) =>
      m.reading(numeric(mdc, null, t, { bed, deviceId: 'CENTRAL', quality: { state: 'unavailable', reasons: ['sensor-off'] } }));
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 8; t++) {
      out.push(...offOn('ICU-01', MDC.PULS_OXIM_SAT_O2, t));
      if (t >= 3) out.push(...offOn('ICU-02', MDC.TEMP_BODY, t));
    }
    expect(out.filter((u) => u.present).map((u) => u.present && [u.spec.key, u.spec.bed, u.spec.condition.text])).toEqual([
      ['tech:CENTRAL|ICU-01:sensor-off', 'ICU-01', 'SpO2 SENSOR OFF'],
      ['tech:CENTRAL|ICU-02:sensor-off', 'ICU-02', 'Temp SENSOR OFF'],
    ]);
    // ICU-01's probe back (for validAfterS): its alarm ends; ICU-02's stays.
    for (let t = 9; t <= 13; t++) expect(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, t, { bed: 'ICU-01', deviceId: 'CENTRAL' }))).toEqual([]);
    expect(keys(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 14, { bed: 'ICU-01', deviceId: 'CENTRAL' })))).toEqual(['-tech:CENTRAL|ICU-01:sensor-off']);
  });

  it('an intermittent metric (NIBP) ends its "not valid" or sensor-off alarm with its next valid reading; a stat one too', () => {
    const NIBP = MDC.PRESS_BLD_NONINV_SYS;
    const cases = [
      { bad: { state: 'invalid' as const, reasons: ['cuff-error'] }, kind: 'invalid', key: `tech:mon-1|bed-1|${NIBP.code}:invalid` },
      { bad: { state: 'unavailable' as const, reasons: ['sensor-off'] }, kind: 'sensor-off', key: 'tech:mon-1|bed-1:sensor-off' },
    ];
    for (const c of cases) {
      // A failed determination, retried every 10 s for 40 s; the next good one 15 min later.
      const m = new TechnicalMonitor({ ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 });
      const out: ConditionUpdate[] = [];
      for (let t = 0; t <= 40; t += 10) out.push(...m.reading(numeric(NIBP, null, t, { quality: c.bad })));
      for (let t = 0; t <= 60; t++) out.push(...m.tick(s(t)));
      expect(keys(out), c.kind).toEqual([`+${c.key}`]);
      const end = m.reading(numeric(NIBP, 120, 900));
      expect(keys(end), c.kind).toEqual([`-${c.key}`]);
      expect(end[0]!.present === false && end[0]!.why).toBe('NIBP sys valid again');
      // A single stat measurement that failed: its next good one ends it too (no second one may ever come).
      const stat = new TechnicalMonitor({ ...DEFAULT_TECHNICAL_CONFIG, silentAfterS: 1e6 });
      stat.reading(numeric(NIBP, null, 0, { quality: c.bad }));
      expect(keys(stat.tick(s(60))), c.kind).toEqual([`+${c.key}`]);
      expect(keys(stat.reading(numeric(NIBP, 118, 1200))), c.kind).toEqual([`-${c.key}`]);
    }
  });

  it('a 1 Hz feed keeps the hysteresis even when the metric paused while off: one valid sample after the pause does not end it', () => {
    const m = new TechnicalMonitor();
    const off = { state: 'unavailable' as const, reasons: ['sensor-off'] };
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 6; t++) out.push(...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, null, t, { quality: off })), ...m.tick(s(t)));
    expect(keys(out)).toEqual(['+tech:mon-1|bed-1:sensor-off']);
    // Nothing for 8 s (the device drops the metric), then valid for 4 s: not yet; at 5 s of valid samples it ends.
    for (let t = 14; t <= 18; t++) expect(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, t))).toEqual([]);
    expect(keys(m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 19)))).toEqual(['-tech:mon-1|bed-1:sensor-off']);
  });

  it('readings invalid for longer than invalidAfterS raise one "not valid" alarm', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 31; t++) out.push(...m.reading(numeric(MDC.ECG_HEART_RATE, 300, t, { quality: { state: 'invalid', reasons: ['artifact'] } })));
    expect(keys(out)).toEqual([`+tech:mon-1|bed-1|${MDC.ECG_HEART_RATE.code}:invalid`]);
    expect(out[0]!.present && out[0]!.spec.condition.text).toBe('HR readings not valid (artifact)');
  });
});

describe('technical: gateway', () => {
  it('store nearly full with hysteresis', () => {
    const m = new TechnicalMonitor();
    expect(m.storeUsage(0.89, s(0))).toEqual([]);
    const up = m.storeUsage(0.9, s(1));
    expect(keys(up)).toEqual(['+tech:gateway:store']);
    expect(up[0]!.present && up[0]!.spec).toMatchObject({ bed: '*', deviceId: 'gateway', value: 0.9 });
    expect(m.storeUsage(0.86, s(2))).toEqual([]);
    expect(keys(m.storeUsage(0.84, s(3)))).toEqual(['-tech:gateway:store']);
  });

  it('review rv187 L2: the store and hub alarms carry the gateway id when given, as every gateway alarm', () => {
    const m = new TechnicalMonitor({ ...DEFAULT_TECHNICAL_CONFIG, gatewayId: 'gw-ward3' });
    const store = m.storeUsage(0.95, s(0));
    m.hubReachable(false, s(0));
    const hub = m.tick(s(301));
    expect([...store, ...hub].map((u) => u.present && [u.spec.key, u.spec.deviceId])).toEqual([
      ['tech:gateway:store', 'gw-ward3'],
      ['tech:gateway:hub', 'gw-ward3'],
    ]);
    // The keys stay as they were: only what the records carry changes.
    expect(keys(m.storeUsage(0.5, s(2)))).toEqual(['-tech:gateway:store']);
  });

  it('hub unreachable for long raises; reachable ends it; a short outage does not', () => {
    const m = new TechnicalMonitor();
    m.hubReachable(false, s(0));
    m.hubReachable(true, s(100));
    expect(m.tick(s(400))).toEqual([]);
    m.hubReachable(false, s(500));
    expect(m.tick(s(799))).toEqual([]);
    expect(keys(m.tick(s(800)))).toEqual(['+tech:gateway:hub']);
    expect(keys(m.hubReachable(true, s(900)))).toEqual(['-tech:gateway:hub']);
  });

  it('a hub that refuses the credentials says so, and the open alarm follows the reason (review rv42 §8)', () => {
    const text = (us: ReturnType<TechnicalMonitor['tick']>) => us.map((u) => (u.present ? u.spec.condition.text : `-${u.key}`));
    const m = new TechnicalMonitor();
    m.hubReachable(false, s(0), 'auth');
    // A gateway clock behind by more than the token life looks the same to the hub: the text names it (rv133 M3), but
    // not its time, which the text would keep from the raise on (rv135 M3): the forwarder's log line has it.
    expect(text(m.tick(s(300)))).toEqual([`IoT Hub refuses the gateway's credentials (for 300 s): check its connection string or key, or the gateway's clock is wrong (SAS tokens expire hub.sasTokenTtlS after it; compare the gateway's clock with a watch: the log line gives the time it read)`]);
    expect(m.hubReachable(false, s(301), 'auth')).toEqual([]); // unchanged: nothing new
    // The key was fixed, and now the hub is down: the same alarm, its text now "unreachable".
    expect(text(m.hubReachable(false, s(400), 'tls'))).toEqual([`IoT Hub's certificate is not trusted (for 400 s): check hub.caFile, or as an IoT Edge module the edge CA and trust bundle (iotedge check); if the log says expired or not yet valid, the gateway's clock (compare it with a watch: the log line gives the time it read)`]);
    expect(text(m.hubReachable(false, s(450), null))).toEqual(['IoT Hub unreachable for 450 s']);
    expect(text(m.hubReachable(true, s(500)))).toEqual(['-tech:gateway:hub']);
  });

  it('the hub alarm\'s text claims no clock reading: read hours after the raise, it would tell a right clock as wrong (review rv135 M3)', () => {
    const t0 = Date.parse('2026-12-06T18:00:00.000Z');
    const m = new TechnicalMonitor();
    for (const cause of ['auth', 'tls'] as const) {
      m.hubReachable(false, t0, cause);
      const raised = [...m.tick(t0 + 300_000), ...m.hubReachable(false, t0 + 300_000, cause)];
      const texts = raised.map((u) => (u.present ? u.spec.condition.text : ''));
      expect(texts).toHaveLength(1);
      // Neither the raise time nor any other date or time of day.
      expect(texts[0]).not.toMatch(/\d{4}-\d\d-\d\d|\d\d:\d\d/);
      expect(texts[0]).toMatch(/compare (the gateway's clock|it) with a watch: the log line gives the time it read/);
      // Two hours on, the open alarm is not re-issued (nothing in it has gone stale).
      expect([...m.tick(t0 + 2 * 3600_000), ...m.hubReachable(false, t0 + 2 * 3600_000, cause)]).toEqual([]);
      m.hubReachable(true, t0 + 2 * 3600_000);
    }
  });

  it('a backlog (ingest marks it outOfOrder) keeps the feed alive but neither ends nor holds off a "not valid" alarm of now', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    const unavailable = { state: 'unavailable' as const, reasons: ['no-value'] };
    // Valid once first: unavailable from the first sample on is "not measured", no alarm (review rv173 M1).
    out.push(...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, -1)));
    for (let t = 0; t <= 40; t++) {
      out.push(...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, null, t, { quality: unavailable })));
      // Valid SpO2 measured 40 min ago, arriving between the current readings.
      out.push(...m.reading({ ...numeric(MDC.PULS_OXIM_SAT_O2, 97, t), deviceTime: s(t) - 40 * 60_000, outOfOrder: true }));
      out.push(...m.tick(s(t)));
    }
    expect(keys(out).filter((k) => k.startsWith('+'))).toHaveLength(1);
    expect(keys(out).some((k) => k.startsWith('-'))).toBe(false);
  });

  it('readings marked out of order (a clock stepped back) keep the bed monitored: a sensor-off alarm does not end as "no longer monitored"', () => {
    const m = new TechnicalMonitor();
    const off = { state: 'unavailable' as const, reasons: ['sensor-off'] };
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 200; t++) {
      const r = numeric(MDC.PULS_OXIM_SAT_O2, null, t, { quality: off });
      out.push(...m.reading(t >= 60 && t < 120 ? { ...r, outOfOrder: true } : r), ...m.tick(s(t)));
    }
    expect(keys(out)).toEqual(['+tech:mon-1|bed-1:sensor-off']);
  });
});

describe('technical: a device that sends for several beds', () => {
  const hr = (bed: string, t: number, deviceId = 'CENTRAL') => numeric(MDC.ECG_HEART_RATE, 80, t, { bed, deviceId, patientId: `P-${bed}` });

  it('stops sending for one bed while it sends for others: "no data for bed" on that bed after silentAfterS, ending when its data returns', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 200; t++) {
      if (t <= 60 || t >= 150) out.push(...m.reading(hr('ICU-01', t))); // ICU-01 last heard at 60 s
      out.push(...m.reading(hr('ICU-02', t)));
      const ticked = m.tick(s(t));
      if (t === 90) expect(ticked).toEqual([]); // exactly silentAfterS: not yet past
      out.push(...ticked);
    }
    expect(keys(out)).toEqual(['+tech:CENTRAL|ICU-01:no-data', '-tech:CENTRAL|ICU-01:no-data']);
    const up = out[0]!;
    expect(up.at).toBe(s(91));
    expect(up.present && up.spec).toMatchObject({ bed: 'ICU-01', deviceId: 'CENTRAL', priority: 'medium', category: 'technical', patientId: 'P-ICU-01', condition: { text: 'No data from CENTRAL for bed ICU-01' } });
    expect(out[1]!.at).toBe(s(150));
  });

  it('not for a monitor moved to another bed, nor for a bed of a device silent altogether (its own no-data alarm says so)', () => {
    const moved = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 15; t++) out.push(...moved.reading(hr('bed-1', t, 'mon-1')), ...moved.tick(s(t)));
    for (let t = 30; t <= 300; t++) out.push(...moved.reading(hr('bed-2', t, 'mon-1')), ...moved.tick(s(t)));
    expect(out).toEqual([]);
    const central = new TechnicalMonitor();
    const all: ConditionUpdate[] = [];
    for (let t = 0; t <= 20; t++) all.push(...central.reading(hr('ICU-01', t)), ...central.reading(hr('ICU-02', t)), ...central.tick(s(t)));
    for (let t = 21; t <= 300; t++) all.push(...central.tick(s(t)));
    expect(keys(all)).toEqual(['+tech:CENTRAL:no-data']);
  });
});

describe('technical: not measured, and a device that goes quiet (review rv173 M1)', () => {
  const TSKIN = MDC.TEMP_BODY;
  const key = `tech:mon-1|bed-1|${TSKIN.code}:invalid`;
  const dashed = { state: 'unavailable' as const, reasons: ['device-value:"----"'] };

  it('a metric unavailable since it was first seen (a dashed field, a sensor never fitted) raises no "not valid" alarm', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 600; t++) out.push(...m.reading(numeric(TSKIN, null, t, { quality: dashed })), ...m.reading(numeric(MDC.ECG_HEART_RATE, 80, t)), ...m.tick(s(t)));
    expect(out).toEqual([]);
    // IntelliVue's flag the same.
    const iv = new TechnicalMonitor();
    for (let t = 0; t <= 60; t++) out.push(...iv.reading(numeric(TSKIN, null, t, { quality: { state: 'unavailable', reasons: ['device-flag:unavailable', 'value:NaN'] } })), ...iv.tick(s(t)));
    expect(out).toEqual([]);
  });

  it('a metric never valid whose device alternates invalid and unavailable raises it after invalidAfterS: unavailable does not restart the count (review rv174 F5)', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 40; t++) {
      const quality = t % 2 === 0 ? { state: 'invalid' as const, reasons: ['device-flag:invalid'] } : dashed;
      out.push(...m.reading(numeric(TSKIN, null, t, { quality })), ...m.reading(numeric(MDC.ECG_HEART_RATE, 80, t)), ...m.tick(s(t)));
    }
    expect(keys(out)).toEqual([`+${key}`]);
  });

  it('once valid, unavailable for invalidAfterS raises it as before (a sensor that came off), and valid samples end it', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 10; t++) out.push(...m.reading(numeric(TSKIN, null, t, { quality: dashed })), ...m.tick(s(t)));
    for (let t = 11; t <= 20; t++) out.push(...m.reading(numeric(TSKIN, 36.8, t)), ...m.tick(s(t)));
    expect(out).toEqual([]);
    for (let t = 21; t <= 51; t++) out.push(...m.reading(numeric(TSKIN, null, t, { quality: dashed })), ...m.tick(s(t)));
    expect(keys(out)).toEqual([`+${key}`]);
    expect(out[0]!.at).toBe(s(51));
    expect(out[0]!.present && out[0]!.spec.condition.text).toBe('Temp readings not valid (device-value:"----")');
    for (let t = 52; t <= 57; t++) out.push(...m.reading(numeric(TSKIN, 36.9, t)));
    expect(keys(out)).toEqual([`+${key}`, `-${key}`]);
  });

  it('"invalid" (the device says the value is wrong) counts from the first sample, as before', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    for (let t = 0; t <= 30; t++) out.push(...m.reading(numeric(TSKIN, null, t, { quality: { state: 'invalid', reasons: ['device-flag:invalid'] } })), ...m.tick(s(t)));
    expect(keys(out)).toEqual([`+${key}`]);
  });

  it('a device silent (the driver says so) or offline while a metric counts towards "not valid": that alarm is not raised, only the device\'s own', () => {
    for (const state of ['silent', 'offline'] as const) {
      const m = new TechnicalMonitor();
      const out: ConditionUpdate[] = [];
      m.reading(numeric(TSKIN, 36.8, 0));
      for (let t = 1; t <= 10; t++) out.push(...m.reading(numeric(TSKIN, null, t, { quality: { state: 'invalid', reasons: ['artifact'] } })), ...m.tick(s(t)));
      out.push(...m.status(status(state, 11)));
      for (let t = 11; t <= 120; t++) out.push(...m.tick(s(t)));
      expect(keys(out), state).toEqual([state === 'silent' ? '+tech:mon-1:no-data' : '+tech:mon-1:connection', ...(state === 'offline' ? ['+tech:mon-1:no-data'] : [])]);
    }
  });

  it('back after a short silence and still not valid: raised at once (its run went on)', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    const bad = (t: number) => numeric(TSKIN, null, t, { quality: { state: 'invalid', reasons: ['artifact'] } });
    m.reading(numeric(TSKIN, 36.8, 0));
    for (let t = 1; t <= 10; t++) out.push(...m.reading(bad(t)), ...m.tick(s(t)));
    out.push(...m.status(status('silent', 11)));
    for (let t = 11; t <= 34; t++) out.push(...m.tick(s(t)));
    expect(keys(out)).toEqual(['+tech:mon-1:no-data']);
    const back = m.reading(bad(35));
    expect(keys(back)).toEqual(['-tech:mon-1:no-data', `+${key}`]);
  });

  it('nor a sensor-off alarm, for the same reason', () => {
    const m = new TechnicalMonitor();
    const out: ConditionUpdate[] = [];
    m.reading(numeric(MDC.PULS_OXIM_SAT_O2, 97, 0));
    for (let t = 1; t <= 3; t++) out.push(...m.reading(numeric(MDC.PULS_OXIM_SAT_O2, null, t, { quality: { state: 'unavailable', reasons: ['sensor-off'] } })), ...m.tick(s(t)));
    out.push(...m.status(status('silent', 4)));
    for (let t = 4; t <= 60; t++) out.push(...m.tick(s(t)));
    expect(keys(out)).toEqual(['+tech:mon-1:no-data']);
  });
});
