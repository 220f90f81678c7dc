// IEEE 11073-10101 codes the rules depend on: a wrong number silently takes a metric out of the limit rules and
// NEWS2, or renames another one for every consumer.
import { describe, expect, it } from 'vitest';
import { MDC, UNITS, UNIT_SPELLINGS, canonicalUcum, mdcByCode, mdcByRefid, metricByRefid, unitByMdc, unitByRefid } from './mdc.js';

/** Partition and term code: code = partition × 2^16 + term. */
const code = (partition: number, term: number) => partition * 65536 + term;

describe('MDC terms', () => {
  it('respiration rate by method: generic 2::20490, direct airway flow 2::20498, transthoracic impedance 2::20506', () => {
    expect(MDC.RESP_RATE).toEqual({ refid: 'MDC_RESP_RATE', code: code(2, 20490) });
    expect(MDC.AWAY_RESP_RATE).toEqual({ refid: 'MDC_AWAY_RESP_RATE', code: code(2, 20498) });
    expect(MDC.TTHOR_RESP_RATE).toEqual({ refid: 'MDC_TTHOR_RESP_RATE', code: code(2, 20506) });
    expect(mdcByCode(151578)?.refid).toBe('MDC_TTHOR_RESP_RATE');
    expect(mdcByCode(151570)?.refid).toBe('MDC_AWAY_RESP_RATE');
  });

  // Partition and term of every entry, from IEEE 11073-10101 (partition 2 SCADA, 4 DIM), checked against public
  // tables in review rv79. A wrong number mislabels every forwarded reading and takes it out of NEWS2 and the limits.
  const METRICS: [keyof typeof MDC, string, number, number][] = [
    ['ECG_HEART_RATE', 'MDC_ECG_HEART_RATE', 2, 16770],
    ['PULS_RATE', 'MDC_PULS_RATE', 2, 18442],
    ['PULS_OXIM_PULS_RATE', 'MDC_PULS_OXIM_PULS_RATE', 2, 18458],
    ['PULS_OXIM_SAT_O2', 'MDC_PULS_OXIM_SAT_O2', 2, 19384],
    ['PULS_OXIM_PLETH', 'MDC_PULS_OXIM_PLETH', 2, 19380],
    ['RESP_RATE', 'MDC_RESP_RATE', 2, 20490],
    ['AWAY_RESP_RATE', 'MDC_AWAY_RESP_RATE', 2, 20498],
    ['TTHOR_RESP_RATE', 'MDC_TTHOR_RESP_RATE', 2, 20506],
    ['PRESS_BLD_NONINV', 'MDC_PRESS_BLD_NONINV', 2, 18948],
    ['PRESS_BLD_NONINV_SYS', 'MDC_PRESS_BLD_NONINV_SYS', 2, 18949],
    ['PRESS_BLD_NONINV_DIA', 'MDC_PRESS_BLD_NONINV_DIA', 2, 18950],
    ['PRESS_BLD_NONINV_MEAN', 'MDC_PRESS_BLD_NONINV_MEAN', 2, 18951],
    // NIBP as cuff pressure, as Mindray and Comen send it over HL7 (review rv126 H2).
    ['PRESS_CUFF', 'MDC_PRESS_CUFF', 2, 19228],
    ['PRESS_CUFF_SYS', 'MDC_PRESS_CUFF_SYS', 2, 19229],
    ['PRESS_CUFF_DIA', 'MDC_PRESS_CUFF_DIA', 2, 19230],
    ['PRESS_CUFF_MEAN', 'MDC_PRESS_CUFF_MEAN', 2, 19231],
    ['PRESS_BLD_ART_SYS', 'MDC_PRESS_BLD_ART_SYS', 2, 18961],
    ['PRESS_BLD_ART_ABP_SYS', 'MDC_PRESS_BLD_ART_ABP_SYS', 2, 18965],
    ['PRESS_BLD_ART_ABP_DIA', 'MDC_PRESS_BLD_ART_ABP_DIA', 2, 18966],
    ['PRESS_BLD_ART_ABP_MEAN', 'MDC_PRESS_BLD_ART_ABP_MEAN', 2, 18967],
    ['TEMP_BODY', 'MDC_TEMP_BODY', 2, 19292],
    ['TEMP', 'MDC_TEMP', 2, 19272],
    ['TEMP_CORE', 'MDC_TEMP_CORE', 2, 19296],
    ['TEMP_ESOPH', 'MDC_TEMP_ESOPH', 2, 19300],
    ['TEMP_NASOPH', 'MDC_TEMP_NASOPH', 2, 19308],
    ['TEMP_TYMP', 'MDC_TEMP_TYMP', 2, 19320],
    ['TEMP_RECT', 'MDC_TEMP_RECT', 2, 57348],
    ['TEMP_ORAL', 'MDC_TEMP_ORAL', 2, 57352],
    ['TEMP_EAR', 'MDC_TEMP_EAR', 2, 57356],
    ['TEMP_AXILLA', 'MDC_TEMP_AXILLA', 2, 57380],
    ['ECG_ELEC_POTL_I', 'MDC_ECG_ELEC_POTL_I', 2, 257],
    ['ECG_ELEC_POTL_II', 'MDC_ECG_ELEC_POTL_II', 2, 258],
    ['ECG_ELEC_POTL_III', 'MDC_ECG_ELEC_POTL_III', 2, 317],
    ['CONC_AWAY_CO2_ET', 'MDC_CONC_AWAY_CO2_ET', 2, 20636],
  ];
  const UNIT_TERMS: [keyof typeof UNITS, string, string, number, number][] = [
    ['BEAT_PER_MIN', 'MDC_DIM_BEAT_PER_MIN', '/min', 4, 2720],
    ['RESP_PER_MIN', 'MDC_DIM_RESP_PER_MIN', '/min', 4, 2784],
    ['PERCENT', 'MDC_DIM_PERCENT', '%', 4, 544],
    ['MMHG', 'MDC_DIM_MMHG', 'mm[Hg]', 4, 3872],
    ['DEGC', 'MDC_DIM_DEGC', 'Cel', 4, 6048],
    ['MILLI_VOLT', 'MDC_DIM_MILLI_VOLT', 'mV', 4, 4274],
    ['DIMLESS', 'MDC_DIM_DIMLESS', '1', 4, 512],
    ['MILLI_L', 'MDC_DIM_MILLI_L', 'mL', 4, 1618],
    ['CM_H2O', 'MDC_DIM_CM_H2O', 'cm[H2O]', 4, 3904],
    // One spelling per unit for every driver (review rv114 L2): HL7 OBX-6, IntelliVue NOM_DIM_* and Medibus take these.
    ['MILLI_BAR', 'MDC_DIM_MILLI_BAR', 'mbar', 4, 3954],
    ['HECTO_PASCAL', 'MDC_DIM_HECTO_PASCAL', 'hPa', 4, 3842],
    ['KILO_PASCAL', 'MDC_DIM_KILO_PASCAL', 'kPa', 4, 3843],
    ['FAHR', 'MDC_DIM_FAHR', '[degF]', 4, 4416],
    ['X_L_PER_MIN', 'MDC_DIM_X_L_PER_MIN', 'L/min', 4, 3072],
  ];

  it.each(METRICS)('metric %s is %s, %i::%i', (name, refid, partition, term) => {
    expect(MDC[name]).toEqual({ refid, code: code(partition, term) });
    expect(mdcByCode(code(partition, term))?.refid).toBe(refid);
    expect(mdcByRefid(refid)?.code).toBe(code(partition, term));
  });

  it.each(UNIT_TERMS)('unit %s is %s (UCUM %s), %i::%i', (name, refid, ucum, partition, term) => {
    expect(UNITS[name]).toEqual({ ucum, mdc: { refid, code: code(partition, term) } });
    expect(unitByMdc(code(partition, term))?.ucum).toBe(ucum);
    expect(mdcByRefid(refid)?.code).toBe(code(partition, term));
    expect(unitByRefid(refid)).toBe(UNITS[name]);
  });

  it('a unit term is never taken for a metric: the metric lookups refuse MDC_DIM_* codes and refids (review rv114 L3)', () => {
    for (const u of Object.values(UNITS)) {
      expect(mdcByCode(u.mdc.code), u.mdc.refid).toBeUndefined();
      expect(metricByRefid(u.mdc.refid), u.mdc.refid).toBeUndefined();
    }
    for (const m of Object.values(MDC)) {
      expect(metricByRefid(m.refid)).toBe(m);
      expect(unitByRefid(m.refid)).toBeUndefined();
      expect(unitByMdc(m.code)).toBeUndefined();
    }
  });

  it('the tables above cover every entry', () => {
    expect(METRICS.map(([name]) => name).sort()).toEqual(Object.keys(MDC).sort());
    expect(UNIT_TERMS.map(([name]) => name).sort()).toEqual(Object.keys(UNITS).sort());
  });

  it('no two terms share a code or a refid', () => {
    const terms = Object.values(MDC);
    expect(new Set(terms.map((t) => t.code)).size).toBe(terms.length);
    expect(new Set(terms.map((t) => t.refid)).size).toBe(terms.length);
  });
});

// One unit spelling whichever driver sends it (review rv125 M2): the spellings devices use for a unit of UNITS are that
// unit; anything else, another unit above all, is left as it is (no conversion here).
describe('unit spellings', () => {
  it('rate annotations ({beat}/min, {beats}/min, {breath}/min, beats/min…) are /min, as UCUM ignores annotations', () => {
    for (const s of ['{beat}/min', '{beats}/min', '{Beats}/min', '{breath}/min', '{breaths}/min', '{Breaths}/min', '{resp}/min', '{beats/min}', 'beats/min', 'breaths/min']) {
      expect(canonicalUcum(s), s).toBe('/min');
    }
  });

  it('mmHg, degC and degF are mm[Hg], Cel and [degF]', () => {
    expect(canonicalUcum('mmHg')).toBe('mm[Hg]');
    expect(canonicalUcum('degC')).toBe('Cel');
    expect(canonicalUcum('degF')).toBe('[degF]');
  });

  it('the UCUM code itself, another unit and an unknown spelling stay as they are', () => {
    for (const u of Object.values(UNITS)) expect(canonicalUcum(u.ucum)).toBe(u.ucum);
    for (const s of ['kPa', '[degF]', 'mg/dL', '{drops}/min', '{beat}', '/s', '{mmHg}x', 'MMHG', '']) expect(canonicalUcum(s), s).toBe(s);
  });

  it('every spelling names a unit of the shared table', () => {
    const ucum = new Set<string>(Object.values(UNITS).map((u) => u.ucum));
    for (const [from, to] of Object.entries(UNIT_SPELLINGS)) expect(ucum.has(to), `${from} → ${to}`).toBe(true);
  });
});
