// A per-bed limit whose hysteresis puts its alarm's end beyond what a reading can (plausibly) be: a file that started
// before must still start (under IoT Edge a refusal is a restart loop with no alarms at all). Warned of naming the
// field, run with a hysteresis whose end a reading can reach, and a gateway technical alarm while configured.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from '../agent.js';
import { AlarmEngine } from '../alarms/engine.js';
import { numeric, s } from '../alarms/fixtures.js';
import { GATEWAY_BED } from '../alarms/types.js';
import { MDC } from '../model/mdc.js';
import type { MdcCode } from '../model/reading.js';
import { idleHub } from '../forward/test-support.js';
import { registry } from '../../drivers/registry.js';
import { captureLog } from '../../test/support/log.js';
import { tempDir } from '../../test/support/agent-process.js';
import { resolveOverlay } from '../control/overlay.js';
import { engineConfigFromPolicy, limitRangeWarnings } from './alarm-policy.js';
import { configWarnings } from './check.js';
import { loadConfigFile, validateConfig } from './load.js';

const base = { store: { path: ':memory:' }, hub: { mode: 'off' } };
const withBeds = (beds: object) => validateConfig({ ...structuredClone(base), alarms: { limits: { beds } } }, registry, 'test');

/** The limit alarms present on `bed` after each value, fed one a second (each held 12 s, beyond every rule's delay). */
function presentAfter(config: ReturnType<typeof withBeds>, bed: string, mdc: MdcCode, values: number[]): string[][] {
  const engine = new AlarmEngine({ ...engineConfigFromPolicy(config.alarms), idPrefix: 't' });
  const out: string[][] = [];
  let t = 0;
  for (const v of values) {
    for (let i = 0; i < 12; i++, t++) {
      engine.ingest(numeric(mdc, v, t, { bed }));
      engine.tick(s(t));
    }
    out.push(engine.list({ bed }).filter((a) => a.source === 'limit' && a.conditionPresent).map((a) => a.key));
  }
  return out;
}

const idle = idleHub();

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

/** Starts the real agent on a file with these per-bed limits; the gateway's present alarms. */
async function gatewayAlarms(beds: object): Promise<string[]> {
  const path = join(tempDir(), 'config.json');
  const config = { gateway: { id: 'test-gw' }, log: { level: 'debug', pretty: 'never' }, store: { path: join(path, '..', 'agent.db'), synchronous: 'normal' }, hub: { mode: 'off' }, drivers: [], alarms: { limits: { beds } } };
  writeFileSync(path, JSON.stringify(config));
  agent = new Agent({ config: loadConfigFile(path, registry), configPath: path, registry, log: captureLog().log, transport: idle });
  await agent.start();
  return agent.alarms.engine.list({ bed: GATEWAY_BED }).filter((x) => x.conditionPresent).map((x) => x.condition.text);
}

describe('a hysteresis putting a limit alarm\'s end beyond the rule\'s range: warned, substituted, alarmed, never refused (review rv120 H1 made to start)', () => {
  it('hr high 120 with hysteresis 150 (end at -30) starts, warns naming hysteresis, runs hysteresis 5 (the rule\'s default) and raises a gateway alarm', async () => {
    const beds = { 'ICU-07': { hr: { low: null, high: 120, hysteresis: 150 } } };
    const config = withBeds(beds); // refused before: the file's bedside had no alarms at all
    const warnings = configWarnings(config).filter((w) => w.path.startsWith('alarms.'));
    expect(warnings).toEqual([
      {
        path: 'alarms.limits.beds.ICU-07.hr.hysteresis',
        message: expect.stringMatching(/^rule hr: high 120 - hysteresis 150 = -30 is below 0 \/min, .*the high alarm could never end.*; hysteresis 5 is used instead \(the alarm ends at 115\)/),
      },
    ]);
    // The alarm ends at the substitute's end point, 115, not before (and not never).
    expect(presentAfter(config, 'ICU-07', MDC.ECG_HEART_RATE, [150, 116, 115])).toEqual([['limit:ICU-07:mon-1:hr-high'], ['limit:ICU-07:mon-1:hr-high'], []]);
    expect(await gatewayAlarms(beds)).toEqual([
      "Limit alarms.limits.beds.ICU-07.hr.hysteresis 150 puts the high alarm's end at -30, below 0 /min, the least hr accepts: hysteresis 5 is used (ends at 115); check the configuration",
    ]);
  });

  it('rr low 8 with hysteresis 200 and temp high 39 with hysteresis 30 are substituted the same way', () => {
    const config = withBeds({ b: { rr: { low: 8, high: null, hysteresis: 200 }, temp: { low: null, high: 39, hysteresis: 30 } } });
    expect(limitRangeWarnings(config.alarms).map((w) => `${w.path}=${w.value}`)).toEqual(['alarms.limits.beds.b.rr.hysteresis=200', 'alarms.limits.beds.b.temp.hysteresis=30']);
    // Rules watching several metrics key the alarm by the metric's code too.
    const rr = `limit:b:mon-1:rr-low:${MDC.RESP_RATE.code}`;
    expect(presentAfter(config, 'b', MDC.RESP_RATE, [5, 9, 10])).toEqual([[rr], [rr], []]); // default 2: ends at 10
    const temp = `limit:b:mon-1:temp-high:${MDC.TEMP_BODY.code}`;
    expect(presentAfter(config, 'b', MDC.TEMP_BODY, [40, 38.9, 38.8])).toEqual([[temp], [temp], []]); // default 0.2: ends at 38.8
  });

  it('a twin change holding one is accepted as a range slip is (alarms apply at the next start, where it is warned and alarmed)', () => {
    const local = validateConfig({ ...structuredClone(base), alarms: { limits: { beds: { 'ICU-07': { hr: { low: null } } } } } }, registry, 'test');
    const twin = resolveOverlay(local, { alarms: { limits: { beds: { 'ICU-07': { hr: { hysteresis: 150 } } } } } }, registry);
    expect(twin.ok).toBe(true);
    expect(twin.ok && limitRangeWarnings(twin.config.alarms).map((w) => w.path)).toEqual(['alarms.limits.beds.ICU-07.hr.hysteresis']);
  });

  it('reasonable hysteresis, a switched-off rule and a range slip get no end-point warning', () => {
    const config = withBeds({ b: { hr: { low: null, high: 120, hysteresis: 20 }, rr: { low: 8, high: null, hysteresis: 142 } }, c: { hr: { enabled: false, low: null, hysteresis: 150 } }, d: { temp: { low: 0 } } });
    expect(limitRangeWarnings(config.alarms).map((w) => w.path)).toEqual(['alarms.limits.beds.d.temp.low']); // the range slip alone
  });
});

describe('SpO2 low 99 (with the default hysteresis 2 it would end at 101 %): refused since 535f010, a file valid before it starts again', () => {
  it('starts, warns naming low (hysteresis was not written), runs hysteresis 1 (ending at 100 %) and raises a gateway alarm', async () => {
    const beds = { b: { spo2: { low: 99 } } };
    const config = withBeds(beds);
    expect(configWarnings(config).filter((w) => w.path.startsWith('alarms.'))).toEqual([
      { path: 'alarms.limits.beds.b.spo2.low', message: expect.stringMatching(/^rule spo2: low 99 \+ hysteresis 2 = 101 is above 100 %, the most a reading can be: the low alarm could never end.*; hysteresis 1 is used instead \(the alarm ends at 100\)/) },
    ]);
    // 99 is no longer below the limit but the alarm holds until 100, the end point the substitute gives.
    expect(presentAfter(config, 'b', MDC.PULS_OXIM_SAT_O2, [95, 99, 100])).toEqual([['limit:b:mon-1:spo2-low'], ['limit:b:mon-1:spo2-low'], []]);
    expect(await gatewayAlarms(beds)).toEqual([
      "Limit alarms.limits.beds.b.spo2.low 99 puts the low alarm's end at 101, above 100 %, the most a reading can be: hysteresis 1 is used (ends at 100); check the configuration",
    ]);
  });

  it('spo2 high 1 with no low (ending at -1 %) is substituted the same way, and spo2 low 98 (ending at 100) is not', () => {
    const config = withBeds({ b: { spo2: { low: null, high: 1 } }, c: { spo2: { low: 98 } } });
    expect(limitRangeWarnings(config.alarms).map((w) => `${w.path}=${w.value}: ${w.message}`)).toEqual([
      expect.stringMatching(/^alarms\.limits\.beds\.b\.spo2\.high=1: rule spo2: high 1 - hysteresis 2 = -1 is below 0 %, the least a reading can be: .*hysteresis 1 is used instead \(the alarm ends at 0\)/),
    ]);
  });
});

describe('a two-sided limit whose low + hysteresis is above its high: refused since 535f010, a file valid before it starts again (review rv127 M1)', () => {
  const warned = (beds: object) => limitRangeWarnings(withBeds(beds).alarms);

  it('spo2 low 99 high 100 (the default hysteresis 2 does not fit) starts, warns naming low, runs hysteresis 1 (low alarm ends at 100) and raises a gateway alarm', async () => {
    const beds = { b: { spo2: { low: 99, high: 100 } } };
    const config = withBeds(beds);
    expect(configWarnings(config).filter((w) => w.path.startsWith('alarms.'))).toEqual([
      {
        path: 'alarms.limits.beds.b.spo2.low',
        message: expect.stringMatching(/^rule spo2: low 99 \+ hysteresis 2 = 101 is above high 100: the low alarm would end only at a value that is itself too high.*; hysteresis 1 is used instead \(the low alarm ends at 100, the high at 99\)/),
      },
    ]);
    expect(presentAfter(config, 'b', MDC.PULS_OXIM_SAT_O2, [95, 99, 100])).toEqual([['limit:b:mon-1:spo2-low'], ['limit:b:mon-1:spo2-low'], []]);
    expect(await gatewayAlarms(beds)).toEqual([
      "Limit alarms.limits.beds.b.spo2.low 99 puts the low alarm's end at 101, above high 100 (the high alarm's at 98, below low 99): hysteresis 1 is used (ends at 100 and 99); check the configuration",
    ]);
  });

  it('hr hysteresis 150 with the default low 50 and high 120 starts with one warning naming hysteresis, runs the default 5 (ends at 55 and 115) and raises one gateway alarm', async () => {
    const beds = { b: { hr: { hysteresis: 150 } } };
    const config = withBeds(beds);
    // One warning, though its high alarm's end (-30) is also below the range: the substitute answers both.
    expect(configWarnings(config).filter((w) => w.path.startsWith('alarms.'))).toEqual([
      {
        path: 'alarms.limits.beds.b.hr.hysteresis',
        message: expect.stringMatching(/^rule hr: low 50 \+ hysteresis 150 = 200 is above high 120: .*the high alarm only at -30.*; hysteresis 5 is used instead \(the low alarm ends at 55, the high at 115\)/),
      },
    ]);
    expect(presentAfter(config, 'b', MDC.ECG_HEART_RATE, [45, 54, 55])).toEqual([['limit:b:mon-1:hr-low'], ['limit:b:mon-1:hr-low'], []]);
    expect(presentAfter(config, 'b', MDC.ECG_HEART_RATE, [125, 116, 115])).toEqual([['limit:b:mon-1:hr-high'], ['limit:b:mon-1:hr-high'], []]);
    expect(await gatewayAlarms(beds)).toEqual([
      "Limit alarms.limits.beds.b.hr.hysteresis 150 puts the low alarm's end at 200, above high 120 (the high alarm's at -30, below low 50): hysteresis 5 is used (ends at 55 and 115); check the configuration",
    ]);
  });

  it('rr hysteresis 25 runs the default 2; hr low 50 high 52 runs 2, the gap (the default 5 does not fit): each ends at its substitute end point', async () => {
    const config = withBeds({ b: { rr: { hysteresis: 25 } }, c: { hr: { low: 50, high: 52 } } });
    expect(warned({ b: { rr: { hysteresis: 25 } }, c: { hr: { low: 50, high: 52 } } }).map((w) => `${w.path}=${w.value}: ${w.message}`)).toEqual([
      expect.stringMatching(/^alarms\.limits\.beds\.b\.rr\.hysteresis=25: rule rr: low 8 \+ hysteresis 25 = 33 is above high 30: .*hysteresis 2 is used instead \(the low alarm ends at 10, the high at 28\)/),
      expect.stringMatching(/^alarms\.limits\.beds\.c\.hr\.low=50: rule hr: low 50 \+ hysteresis 5 = 55 is above high 52: .*hysteresis 2 is used instead \(the low alarm ends at 52, the high at 50\)/),
    ]);
    const rr = `limit:b:mon-1:rr-low:${MDC.RESP_RATE.code}`;
    expect(presentAfter(config, 'b', MDC.RESP_RATE, [5, 9, 10])).toEqual([[rr], [rr], []]);
    // Low alarm ends at 52 (inclusive, and 52 is not above high); the high alarm at 50 (not below low).
    expect(presentAfter(config, 'c', MDC.ECG_HEART_RATE, [45, 51, 52])).toEqual([['limit:c:mon-1:hr-low'], ['limit:c:mon-1:hr-low'], []]);
    expect(presentAfter(config, 'c', MDC.ECG_HEART_RATE, [55, 51, 50])).toEqual([['limit:c:mon-1:hr-high'], ['limit:c:mon-1:hr-high'], []]);
    expect(await gatewayAlarms({ c: { hr: { low: 50, high: 52 } } })).toEqual([
      "Limit alarms.limits.beds.c.hr.low 50 puts the low alarm's end at 55, above high 52 (the high alarm's at 47, below low 50): hysteresis 2 is used (ends at 52 and 50); check the configuration",
    ]);
  });

  it('names high where the bed wrote only high; low + hysteresis = high is no slip; a range slip on the same field is one warning', () => {
    expect(warned({ b: { hr: { high: 52 } } }).map((w) => w.path)).toEqual(['alarms.limits.beds.b.hr.high']);
    expect(warned({ b: { hr: { low: 50, high: 55 } }, c: { hr: { hysteresis: 70 } } })).toEqual([]); // ends at 55 = high; 50 + 70 = 120
    const both = warned({ b: { spo2: { low: -1, high: 0 } } }); // low outside 0..100 and -1 + 2 = 1 above high 0
    expect(both.map((w) => w.path)).toEqual(['alarms.limits.beds.b.spo2.low']);
    expect(both[0]!.message).toMatch(/^rule spo2: low -1 is outside what the rule accepts.*; rule spo2: low -1 \+ hysteresis 2 = 1 is above high 0: /);
    expect(both[0]!.alarm).toMatch(/^Limit alarms\.limits\.beds\.b\.spo2\.low -1 is outside what the rule accepts .*; puts the low alarm's end at 1, above high 0 .*; check the configuration$/);
  });

  it('what never started stays refused: low at or above high, a negative hysteresis', () => {
    expect(() => withBeds({ b: { hr: { low: 52, high: 50 } } })).toThrow(/low 52 must be below high 50/);
    expect(() => withBeds({ b: { hr: { low: 50, high: 50 } } })).toThrow(/low 50 must be below high 50/);
    expect(() => withBeds({ b: { hr: { hysteresis: -1 } } })).toThrow(/hysteresis/);
  });
});
