// The body-temperature sites NEWS2 scores are the ones the TEMP limit rule judges and the ones held to a slow metric's
// pace (review rv114 H1: a core or tympanic 40.5 °C scored NEWS2 but raised no TEMP HIGH).
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../model/mdc.js';
import type { MdcCode } from '../model/reading.js';
import { numeric, s } from './fixtures.js';
import { DEFAULT_LIMIT_RULES, LimitEvaluator } from './limits.js';
import { BODY_TEMPERATURE, News2Monitor } from './news2.js';
import { AlarmEngine } from './engine.js';

const tempRule = DEFAULT_LIMIT_RULES.find((r) => r.id === 'temp')!;
const degC = { unit: UNITS.DEGC };

/** The codes NEWS2 scores as temperature, found by feeding every term the agent knows. */
function news2TemperatureCodes(): number[] {
  const codes: number[] = [];
  for (const term of Object.values(MDC) as MdcCode[]) {
    const m = new News2Monitor();
    m.reading(numeric(term, 37.5, 0, degC));
    if (m.score('bed-1', s(0))?.params.find((p) => p.param === 'temperature')?.status === 'measured') codes.push(term.code);
  }
  return codes.sort((a, b) => a - b);
}

describe('one body-temperature code set for NEWS2, the TEMP rule and slow metrics (review rv114 H1)', () => {
  it('every code NEWS2 scores as temperature is watched by the temp rule, and no other', () => {
    const news2 = news2TemperatureCodes();
    expect(news2.length).toBeGreaterThanOrEqual(10);
    expect([...tempRule.metrics].sort((a, b) => a - b)).toEqual(news2);
    expect(BODY_TEMPERATURE.map((t) => t.code).sort((a, b) => a - b)).toEqual(news2);
  });

  it('a tympanic 40.5 °C held for the delay raises TEMP HIGH', () => {
    const ev = new LimitEvaluator();
    const up = [];
    for (let t = 0; t <= 10; t++) up.push(...ev.reading(numeric(MDC.TEMP_TYMP, 40.5, t, degC)), ...ev.tick(s(t)));
    const raised = up.filter((u) => u.present);
    expect(raised).toHaveLength(1);
    const u = raised[0]!;
    if (u.present) {
      expect(u.spec.key).toBe(`limit:bed-1:mon-1:temp-high:${MDC.TEMP_TYMP.code}`);
      expect(u.spec.condition.text).toBe('TEMP HIGH 40.5 > 39 °C');
    }
  });

  it('each site is a slow metric: a lone fever spot check on a monitor streaming HR stands for hours, not 10 min', () => {
    const sites = (Object.values(MDC) as MdcCode[]).filter((t) => news2TemperatureCodes().includes(t.code));
    for (const term of sites) {
      const e = new AlarmEngine();
      for (let t = 0; t <= 3600; t += 5) {
        e.ingest(numeric(MDC.ECG_HEART_RATE, 80, t));
        if (t === 0) e.ingest(numeric(term, 39.6, t, degC));
        e.tick(s(t));
      }
      const present = e.list().filter((a) => a.source === 'limit' && a.conditionPresent).map((a) => a.condition.text);
      expect({ site: term.refid, present }).toEqual({ site: term.refid, present: ['TEMP HIGH 39.6 > 39 °C'] });
    }
  });
});
