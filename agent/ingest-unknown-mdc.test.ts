// A well-formed MDC code the agent's table does not name (HL7, IntelliVue, Medibus keep it as `mdc: {code, refid}`)
// reaches no alarm rule and no NEWS2: counted and told once, as unmapped codes are (review rv126 H2 follow-up).
import { describe, expect, it } from 'vitest';
import { Ingest } from './ingest.js';
import { Outbox } from './store/outbox.js';
import { Metrics } from './metrics.js';
import { MDC, mdcByCode, UNITS } from './model/mdc.js';
import type { DriverEvent, NumericReading } from './model/reading.js';
import { captureLog } from '../test/support/log.js';

const PA_SYS = { code: 150045, refid: 'MDC_PRESS_BLD_ART_PULM_SYS' };

const reading = (deviceId: string, extra: Partial<NumericReading> = {}): NumericReading => ({
  kind: 'numeric', deviceId, bed: 'ICU-01', source: 'hl7', mdc: PA_SYS, value: 25, unit: UNITS.MMHG,
  deviceTime: 1000, receivedAt: 1000, quality: { state: 'valid' }, ...extra,
});

function setup() {
  const metrics = new Metrics();
  const cap = captureLog();
  const ingest = new Ingest(new Outbox(':memory:'), { commitIntervalMs: 0, forwardWaveforms: false }, cap.log, metrics);
  const seen: DriverEvent[] = [];
  ingest.subscribe((e) => seen.push(...e));
  return { metrics, cap, ingest, seen };
}

const told = (cap: ReturnType<typeof captureLog>) => cap.lines.filter((l) => /not in the agent's MDC table/.test(String(l.msg)));

describe('Ingest: a measurement under an MDC code the agent does not name', () => {
  it('is counted per reading by source and logged once per source and code (info, naming the first device); a known code or a setting is not', async () => {
    expect(mdcByCode(PA_SYS.code)).toBeUndefined(); // the premise: not in the agent's table
    const { metrics, cap, ingest, seen } = setup();
    await ingest.accept('hl7', [reading('mon-1'), reading('mon-2')]);
    await ingest.accept('hl7', [reading('mon-1'), reading('mon-1', { mdc: MDC.PULS_OXIM_SAT_O2, unit: UNITS.PERCENT })]);
    await ingest.accept('hl7', [reading('mon-1', { mdc: { code: 151976, refid: 'MDC_VENT_PRESS_AWAY_END_EXP_POS' }, setting: true })]);
    await ingest.accept('medibus', [reading('vent-1')]);
    expect(seen).toHaveLength(6); // kept and passed on as ever
    expect(metrics.get('ingest_unknown_mdc_codes_total', { source: 'hl7' })).toBe(3);
    expect(metrics.get('ingest_unknown_mdc_codes_total', { source: 'medibus' })).toBe(1);
    expect(metrics.get('ingest_unmapped_codes_total', { source: 'hl7' })).toBe(0);
    const lines = told(cap);
    expect(lines.map((l) => [l.level, l.source, l.deviceId, l.mdc])).toEqual([
      [30, 'hl7', 'mon-1', PA_SYS],
      [30, 'medibus', 'vent-1', PA_SYS],
    ]);
    expect(String(lines[0]!.msg)).toMatch(/alarm rules.*NEWS2/);
  });

  it('stops logging new codes after 1000 (bounded like unmapped codes), still counting them', async () => {
    const { metrics, cap, ingest } = setup();
    const codes = Array.from({ length: 1500 }, (_, i) => reading('mon-1', { mdc: { code: 160000 + i, refid: `MDC_X_${i}` } }));
    await ingest.accept('hl7', codes);
    expect(metrics.get('ingest_unknown_mdc_codes_total', { source: 'hl7' })).toBe(1500);
    expect(told(cap)).toHaveLength(1000);
  });
});
