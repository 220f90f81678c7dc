// The `alarms` config section: validated with the rest of the config, mapped onto the AlarmEngine.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { DEFAULT_RHYTHM_CONFIG } from '../alarms/rhythm.js';
import { numeric } from '../alarms/fixtures.js';
import { MDC } from '../model/mdc.js';
import { ConfigError, validateConfig } from './load.js';
import { engineConfigFromPolicy, limitRangeWarnings } from './alarm-policy.js';
import { configWarnings } from './check.js';
import { registry } from '../../drivers/registry.js';
import { resolveOverlay } from '../control/overlay.js';

const base = { store: { path: ':memory:' }, hub: { mode: 'off' } };

describe('alarm policy config', () => {
  it('fills defaults matching the engine defaults', () => {
    const c = validateConfig(structuredClone(base), registry, 'test');
    expect(c.alarms).toEqual({ escalation: { enabled: true, afterS: 60, priorities: ['high'] }, audioPause: { defaultS: 120, maxS: 300 }, limits: { beds: {} }, rhythm: { enabled: false, asystoleS: 4, bradyBpm: 40, tachyBpm: 140, pulseVeto: false }, news2: { beds: {}, clearAfterS: 300, priorities: {} }, silentAfterS: 30, devices: {} });
    expect(engineConfigFromPolicy(c.alarms).rhythm).toEqual(DEFAULT_RHYTHM_CONFIG);
    expect(c.display).toMatchObject({ enabled: false, host: '127.0.0.1', port: 8080, viewing: 'open' });
  });

  it('alarms.silentAfterS: a feed every 45 s (an HL7 central station) raises "no data" at each gap with the default 30, never with 90; a device listed keeps its own (review rv170 M1)', () => {
    const noData = (alarms: Record<string, unknown>, deviceId: string) => {
      const engine = new AlarmEngine({ ...engineConfigFromPolicy(validateConfig({ ...structuredClone(base), alarms }, registry, 'test').alarms), idPrefix: 't' });
      let raised = 0;
      for (let t = 0; t <= 600; t++) {
        if (t % 45 === 0) engine.ingest(numeric(MDC.PULS_OXIM_SAT_O2, 97, t, { deviceId }));
        raised += engine.tick(numeric(MDC.RESP_RATE, 16, t + 0.5).receivedAt).filter((c) => c.change === 'raised' && c.alarm.source === 'technical').length;
      }
      return raised;
    };
    expect(noData({}, 'cs-bed-1')).toBeGreaterThan(5);
    expect(noData({ silentAfterS: 90 }, 'cs-bed-1')).toBe(0);
    expect(noData({ silentAfterS: 90, devices: { 'cs-bed-1': { silentAfterS: 30 } } }, 'cs-bed-1')).toBeGreaterThan(5);
    expect(noData({ devices: { 'cs-bed-1': { silentAfterS: 60 } } }, 'cs-bed-1')).toBe(0);
  });

  it("takes a bed's NEWS2 assumption (on oxygen) and the clear delay, and the score uses them", () => {
    const c = validateConfig(
      { ...structuredClone(base), alarms: { news2: { beds: { 'bed-4': { assume: { oxygen: 'oxygen' } } }, clearAfterS: 60 } } },
      registry,
      'test',
    );
    const cfg = engineConfigFromPolicy(c.alarms);
    expect(cfg.news2.clearAfterS).toBe(60);
    const engine = new AlarmEngine({ ...cfg, idPrefix: 't' });
    for (const bed of ['bed-4', 'bed-5']) engine.ingest(numeric(MDC.RESP_RATE, 16, 0, { bed }));
    const oxygen = (bed: string) => engine.news2(bed, numeric(MDC.RESP_RATE, 16, 0).receivedAt)?.params.find((p) => p.param === 'oxygen');
    expect(oxygen('bed-4')).toMatchObject({ status: 'assumed', value: 'oxygen', score: 2 });
    expect(oxygen('bed-5')).toMatchObject({ status: 'assumed', value: 'air', score: 0 });
    expect(() => validateConfig({ ...structuredClone(base), alarms: { news2: { beds: { 'bed-4': { assume: { oxygen: 'O2' } } } } } }, registry, 'test')).toThrow(
      /alarms\.news2\.beds\.bed-4\.assume\.oxygen: must be one of/,
    );
  });

  it('takes the priority of a NEWS2 trigger level (a single parameter scoring 3 as medium); the others keep theirs', () => {
    const c = validateConfig({ ...structuredClone(base), alarms: { news2: { priorities: { 'low-medium': 'medium' } } } }, registry, 'test');
    const cfg = engineConfigFromPolicy(c.alarms);
    expect(cfg.news2.priorities).toEqual({ 'low-medium': 'medium', medium: 'medium', high: 'high' });
    const engine = new AlarmEngine({ ...cfg, idPrefix: 't' });
    // RR 7 scores 3 (a single red score), all else normal: low-medium.
    const vitals: [typeof MDC.RESP_RATE, number][] = [[MDC.RESP_RATE, 7], [MDC.PULS_OXIM_SAT_O2, 98], [MDC.PRESS_BLD_NONINV_SYS, 120], [MDC.ECG_HEART_RATE, 70], [MDC.TEMP_BODY, 37]];
    const changes = vitals.flatMap(([m, v]) => engine.ingest(numeric(m, v, 0, { bed: 'bed-1' })));
    const news2 = changes.filter((ch) => ch.alarm.source === 'news2').map((ch) => ch.alarm);
    expect(news2.at(-1)).toMatchObject({ priority: 'medium', condition: { text: expect.stringMatching(/low-medium/) } });
    expect(() => validateConfig({ ...structuredClone(base), alarms: { news2: { priorities: { 'low-medium': 'urgent' } } } }, registry, 'test')).toThrow(/alarms\.news2\.priorities\.low-medium: must be one of/);
  });

  it('maps per-bed limits, NEWS2 scale and escalation onto the engine', () => {
    const c = validateConfig(
      {
        ...structuredClone(base),
        alarms: {
          escalation: { enabled: false },
          limits: { beds: { 'bed-3': { hr: { high: 140, delayS: 0 } } } },
          news2: { beds: { 'bed-3': { spo2Scale: 2 }, 'bed-9': { enabled: false } } },
          devices: { 'mon-7': { bed: 'bed-7', silentAfterS: 60 } },
        },
      },
      registry,
      'test',
    );
    const cfg = engineConfigFromPolicy(c.alarms);
    expect(cfg.escalation).toBeNull();
    expect(cfg.news2.beds).toEqual({ 'bed-3': { spo2Scale: 2 }, 'bed-9': { enabled: false } });
    expect(cfg.technical.devices).toEqual({ 'mon-7': { bed: 'bed-7', silentAfterS: 60 } });
    expect(cfg.technical.silentAfterS).toBe(30); // the rest of the technical defaults kept
    const engine = new AlarmEngine({ ...cfg, idPrefix: 't' });
    expect(engine.ingest(numeric(MDC.ECG_HEART_RATE, 135, 0, { bed: 'bed-3' })).filter((c) => c.alarm.source === 'limit')).toEqual([]);
    expect(engine.ingest(numeric(MDC.ECG_HEART_RATE, 141, 1, { bed: 'bed-3' })).map((c) => c.alarm.condition.text)).toContain('HR HIGH 141 > 140 /min');
  });

  it('names unknown rules and unusable overrides', () => {
    const bad = {
      ...structuredClone(base),
      alarms: { limits: { beds: { b: { pulse: { high: 1 }, hr: { low: 130 } } } }, audioPause: { defaultS: 200, maxS: 100 } },
    };
    try {
      validateConfig(bad, registry, 'test');
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const paths = (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      expect(paths).toEqual([
        expect.stringMatching(/^alarms\.limits\.beds\.b\.pulse: unknown limit rule; known: hr, pr/),
        'alarms.limits.beds.b.hr: rule hr: low 130 must be below high 120',
        'alarms.audioPause.defaultS: must be <= maxS (100)',
      ]);
    }
  });

  it('a per-bed limit outside its rule\'s range is warned of, naming the field, the unit and the slip, never refused: from the file, a saved overlay and the twin (review rv91 H1, rv94 H2)', () => {
    const beds = {
      'bed-1': { temp: { high: 100.4 }, hr: { high: 1800 }, spo2: { low: -90 } },
      'bed-2': { temp: { low: 36, high: 38.5 }, hr: { enabled: false, high: 1800 } },
      // What sites wrote for "no alarm" before 5db4b97, and deep hypothermia (review rv94 M2).
      'bed-3': { temp: { low: 0 }, hr: { high: 999 }, 'abp-sys': { low: -10 } },
      'bed-4': { temp: { low: 17 } },
    };
    const config = validateConfig({ ...structuredClone(base), alarms: { limits: { beds } } }, registry, 'test');
    expect(config.alarms.limits.beds['bed-3']!.temp!.low).toBe(0); // used as written
    const warnings = limitRangeWarnings(config.alarms);
    expect(warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'alarms.limits.beds.bed-1.temp.high: rule temp: high 100.4 is outside what the rule accepts (in Cel, 10..45): a Fahrenheit value? 100.4 °F is 38 Cel (used as written; a gateway technical alarm says so while it is configured)',
      'alarms.limits.beds.bed-1.hr.high: rule hr: high 1800 is outside what the rule accepts (in /min, 0..300): a digit too many? (used as written; a gateway technical alarm says so while it is configured)',
      'alarms.limits.beds.bed-1.spo2.low: rule spo2: low -90 is outside what the rule accepts (in %, 0..100): a stray minus? (used as written; a gateway technical alarm says so while it is configured)',
      'alarms.limits.beds.bed-3.temp.low: rule temp: low 0 is outside what the rule accepts (in Cel, 10..45) (used as written; a gateway technical alarm says so while it is configured)',
      'alarms.limits.beds.bed-3.hr.high: rule hr: high 999 is outside what the rule accepts (in /min, 0..300): a digit too many? (used as written; a gateway technical alarm says so while it is configured)',
      'alarms.limits.beds.bed-3.abp-sys.low: rule abp-sys: low -10 is outside what the rule accepts (in mm[Hg], 0..300): a stray minus? (used as written; a gateway technical alarm says so while it is configured)',
    ]);
    expect(warnings[0]!.alarm).toBe('Limit alarms.limits.beds.bed-1.temp.high 100.4 is outside what the rule accepts (temp is in Cel, 10..45: a Fahrenheit value?); check the configuration');
    // --check prints them and the start logs them (configWarnings).
    expect(configWarnings(config).filter((w) => w.path.startsWith('alarms.')).map((w) => w.path)).toEqual(warnings.map((w) => w.path));
    // The twin's overlay goes through the same validation: accepted, warned of the same way.
    const local = validateConfig(structuredClone(base), registry, 'test');
    const twin = resolveOverlay(local, { alarms: { limits: { beds } } }, registry);
    expect(twin.ok).toBe(true);
    expect(twin.ok && limitRangeWarnings(twin.config.alarms).map((w) => w.path)).toEqual(warnings.map((w) => w.path));
  });

  it("a bed's one-sided limit whose hysteresis puts its end point beyond any reading is warned of naming the field, never refused, from the file and the twin (review rv120 H1; a file that started before must still start)", () => {
    const problems = (beds: object) => {
      try {
        validateConfig({ ...structuredClone(base), alarms: { limits: { beds } } }, registry, 'test');
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      }
    };
    const warned = (beds: object) => limitRangeWarnings(validateConfig({ ...structuredClone(base), alarms: { limits: { beds } } }, registry, 'test').alarms).map((w) => `${w.path}: ${w.message}`);
    const unreachable = { 'ICU-07': { hr: { low: null, high: 120, hysteresis: 150 }, temp: { low: null, high: 39, hysteresis: 30 }, rr: { low: 8, high: null, hysteresis: 200 } } };
    expect(problems(unreachable)).toEqual([]);
    expect(warned(unreachable)).toEqual([
      expect.stringMatching(/^alarms\.limits\.beds\.ICU-07\.hr\.hysteresis: rule hr: high 120 - hysteresis 150 = -30 is below 0 \/min, .*the high alarm could never end.*hysteresis 5 is used instead \(the alarm ends at 115\)/),
      expect.stringMatching(/^alarms\.limits\.beds\.ICU-07\.temp\.hysteresis: rule temp: high 39 - hysteresis 30 = 9 is below 10 Cel, .*hysteresis 0\.2 is used instead/),
      expect.stringMatching(/^alarms\.limits\.beds\.ICU-07\.rr\.hysteresis: rule rr: low 8 \+ hysteresis 200 = 208 is above 150 \/min, .*hysteresis 2 is used instead/),
    ]);
    // The default hysteresis kept: the limit written is the field named.
    expect(problems({ b: { spo2: { low: 99 } } })).toEqual([]);
    expect(warned({ b: { spo2: { low: 99 } } })).toEqual([expect.stringMatching(/^alarms\.limits\.beds\.b\.spo2\.low: rule spo2: low 99 \+ hysteresis 2 = 101 is above 100 %/)]);
    // Reasonable one-sided rules, a switched-off one and range-slip idioms: no end-point warning.
    const fine = { b: { hr: { low: null, high: 120, hysteresis: 20 }, rr: { low: 8, high: null, hysteresis: 5 }, temp: { low: null, high: 39, hysteresis: 1 } }, c: { hr: { enabled: false, low: null, hysteresis: 150 } }, d: { temp: { low: 0 }, hr: { high: 999 } } };
    expect(warned(fine).map((w) => w.split(':')[0])).toEqual(['alarms.limits.beds.d.temp.low', 'alarms.limits.beds.d.hr.high']);
    // The twin's overlay goes through the same check, whichever side wrote which part: accepted, warned of the same way.
    const local = validateConfig({ ...structuredClone(base), alarms: { limits: { beds: { 'ICU-07': { hr: { low: null } } } } } }, registry, 'test');
    const twin = resolveOverlay(local, { alarms: { limits: { beds: { 'ICU-07': { hr: { hysteresis: 150 } } } } } }, registry);
    expect(twin.ok).toBe(true);
    expect(twin.ok && limitRangeWarnings(twin.config.alarms).map((w) => w.path)).toEqual(['alarms.limits.beds.ICU-07.hr.hysteresis']);
    const fixed = resolveOverlay(local, { alarms: { limits: { beds: { 'ICU-07': { hr: { hysteresis: 20 } } } } } }, registry);
    expect(fixed.ok && limitRangeWarnings(fixed.config.alarms)).toEqual([]);
  });

  it('names an unknown rule in the same run as a schema problem elsewhere in the file', () => {
    const bad = { ...structuredClone(base), store: { pth: 'x' }, alarms: { limits: { beds: { b: { spO2: { low: 88 } } } } } };
    expect(() => validateConfig(bad, registry, 'test')).toThrow(ConfigError);
    try {
      validateConfig(bad, registry, 'test');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.path)).toEqual(['store.pth', 'alarms.limits.beds.b.spO2']);
    }
  });

  it('relates settings the schema cannot: headers timeout within the request timeout; pauses at least the model\'s re-check when it may hold alarms', () => {
    const problems = (over: Record<string, unknown>) => {
      try {
        validateConfig({ ...structuredClone(base), ...over }, registry, 'test');
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      }
    };
    expect(problems({ display: { limits: { headersTimeoutMs: 60000, requestTimeoutMs: 30000 } } })).toEqual([
      'display.limits.headersTimeoutMs: must not exceed display.limits.requestTimeoutMs (30000)',
    ]);
    expect(problems({ alarms: { audioPause: { defaultS: 10, maxS: 10 } }, model: { policy: { mode: 'delay', recheckS: 20 } } })).toEqual([
      'alarms.audioPause.maxS: must be at least model.policy.recheckS (20) while the edge model may hold alarms (policy delay)',
    ]);
    // Annotating only, the model holds nothing.
    expect(problems({ alarms: { audioPause: { defaultS: 10, maxS: 10 } }, model: { policy: { mode: 'annotate', recheckS: 20 } } })).toEqual([]);
  });
});
