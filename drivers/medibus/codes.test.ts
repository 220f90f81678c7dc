// Medibus units as the agent's shared unit table spells them (review rv114 L2).
import { describe, expect, it } from 'vitest';
import { UNITS } from '../../agent/model/mdc.js';
import { lookup, MB_UNITS } from './codes.js';

describe('Medibus units', () => {
  it('mbar, kPa and L/min carry the shared UCUM spelling and their MDC unit code, as from HL7 and IntelliVue', () => {
    expect(MB_UNITS.MBAR).toEqual(UNITS.MILLI_BAR);
    expect(MB_UNITS.KPA).toEqual(UNITS.KILO_PASCAL);
    expect(MB_UNITS.L_PER_MIN).toEqual(UNITS.X_L_PER_MIN);
    expect(lookup('cp1', 0x78, 'classic').unit).toEqual({ ucum: 'mbar', mdc: { code: 266098, refid: 'MDC_DIM_MILLI_BAR' } }); // PEEP
    expect(lookup('cp1', 0xe3, 'classic').unit).toEqual({ ucum: 'kPa', mdc: { code: 265987, refid: 'MDC_DIM_KILO_PASCAL' } }); // etCO2
    expect(lookup('cp1', 0xb9, 'classic').unit).toEqual({ ucum: 'L/min', mdc: { code: 265216, refid: 'MDC_DIM_X_L_PER_MIN' } }); // MV
  });
});
