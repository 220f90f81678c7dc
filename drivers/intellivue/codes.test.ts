// IntelliVue nomenclature → MDC: terms mapped by meaning, and the fallback to the agent's own table (review rv114).
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../../agent/model/mdc.js';
import { lookupPhysio, lookupUnit } from './codes.js';

describe('lookupPhysio', () => {
  it('maps every IntelliVue body-temperature site to its MDC term, the predictive ones too (review rv114 M1)', () => {
    const sites: [string, number, typeof MDC[keyof typeof MDC]][] = [
      ['NOM_TEMP_TYMP', 19320, MDC.TEMP_TYMP],
      ['NOM_TEMP_RECT', 57348, MDC.TEMP_RECT],
      ['NOM_TEMP_ORAL', 61704, MDC.TEMP_ORAL],
      ['NOM_TEMP_AXIL', 61708, MDC.TEMP_AXILLA],
      ['NOM_TEMP_ORAL_PRED', 61712, MDC.TEMP_ORAL],
      ['NOM_TEMP_RECT_PRED', 61716, MDC.TEMP_RECT],
      ['NOM_TEMP_AXIL_PRED', 61720, MDC.TEMP_AXILLA],
    ];
    for (const [name, id, term] of sites) {
      const l = lookupPhysio(id);
      expect(l.mdc, name).toBe(term);
      // The device's own code is kept for traceability.
      expect(l.raw, name).toMatchObject({ system: 'intellivue', code: `2:${id}` });
    }
  });

  it('falls back to the agent\'s MDC table for an id the IntelliVue table does not name (the mapping is mechanical)', () => {
    // NOM_TEMP_EAR (2::57356) is not in the IntelliVue table; the agent knows MDC_TEMP_EAR.
    expect(lookupPhysio(57356)).toMatchObject({ mdc: MDC.TEMP_EAR, raw: { system: 'intellivue', code: '2:57356' } });
    // An id neither table knows stays unmapped, with its raw code.
    expect(lookupPhysio(61739)).toEqual({ mdc: null, raw: { system: 'intellivue', code: '2:61739' }, label: null });
  });

  it('maps NOM_AWAY_CO2_ET to MDC_CONC_AWAY_CO2_ET (151708), as every other driver sends etCO2 (review rv114 M3)', () => {
    const l = lookupPhysio(20656);
    expect(l.mdc).toBe(MDC.CONC_AWAY_CO2_ET);
    expect(l.raw).toEqual({ system: 'intellivue', code: '2:20656', text: 'etCO2' });
  });
});

describe('lookupUnit', () => {
  it('spells units as the agent\'s shared table does, hPa included (review rv114 L2)', () => {
    expect(lookupUnit(0x0f72)).toEqual(UNITS.MILLI_BAR);
    expect(lookupUnit(0x0f02)).toEqual(UNITS.HECTO_PASCAL); // NOM_DIM_HECTO_PASCAL: was {intellivue-dim:3842}
    expect(lookupUnit(0x0f03)).toEqual(UNITS.KILO_PASCAL);
    expect(lookupUnit(0x1140)).toEqual(UNITS.FAHR);
    expect(lookupUnit(0x0c00)).toEqual(UNITS.X_L_PER_MIN);
    expect(lookupUnit(0x0f20)).toEqual(UNITS.MMHG);
    expect(lookupUnit(0x0880)).toEqual({ ucum: 's', mdc: { code: 264320, refid: 'MDC_DIM_SEC' } }); // IntelliVue's own table
    expect(lookupUnit(0x7777)).toEqual({ ucum: '{intellivue-dim:30583}' });
  });
});
