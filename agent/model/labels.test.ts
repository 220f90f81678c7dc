// Display text of units: one spelling per unit, whichever driver sent it (review rv114 L2).
import { describe, expect, it } from 'vitest';
import { unitText } from './labels.js';
import { UNITS } from './mdc.js';

describe('unitText', () => {
  it('shows °F, mbar, hPa and kPa as people write them, not as UCUM codes', () => {
    expect(unitText(UNITS.FAHR.ucum)).toBe('°F');
    expect(unitText(UNITS.DEGC.ucum)).toBe('°C');
    expect(unitText(UNITS.MILLI_BAR.ucum)).toBe('mbar');
    expect(unitText(UNITS.HECTO_PASCAL.ucum)).toBe('hPa');
    expect(unitText(UNITS.KILO_PASCAL.ucum)).toBe('kPa');
    expect(unitText(UNITS.MMHG.ucum)).toBe('mmHg');
  });
});
