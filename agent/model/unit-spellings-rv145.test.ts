// rv145 F3: common spellings devices send for heart rate, temperature and pressure units are those units (never a
// conversion), so the limit rules and NEWS2 judge such readings instead of going silent on a `{bpm}` annotation.
import { describe, expect, it } from 'vitest';
import { convert } from '../alarms/units.js';
import { UNITS, canonicalUcum } from './mdc.js';

describe('rv145 F3: unit spellings bpm, °C, ℃, °F, mm Hg, mmhg', () => {
  it('each is the unit it spells', () => {
    expect(canonicalUcum('bpm')).toBe(UNITS.BEAT_PER_MIN.ucum);
    expect(canonicalUcum('BPM')).toBe(UNITS.BEAT_PER_MIN.ucum);
    expect(canonicalUcum('°C')).toBe(UNITS.DEGC.ucum);
    expect(canonicalUcum('℃')).toBe(UNITS.DEGC.ucum);
    expect(canonicalUcum('°F')).toBe(UNITS.FAHR.ucum);
    expect(canonicalUcum('mm Hg')).toBe(UNITS.MMHG.ucum);
    expect(canonicalUcum('mmhg')).toBe(UNITS.MMHG.ucum);
  });

  it('the limit rules convert them: an HR of 32 bpm is 32 /min, 98.6 °F is 37 Cel', () => {
    expect(convert(32, 'bpm', '/min')).toBe(32);
    expect(convert(37.2, '°C', 'Cel')).toBe(37.2);
    expect(convert(120, 'mm Hg', 'mm[Hg]')).toBe(120);
    expect(convert(98.6, '°F', 'Cel')).toBeCloseTo(37, 5);
  });

  it('other units and near spellings stay as they are', () => {
    for (const s of ['bpm2', 'b/min', '°K', 'mm H2O', 'cmH2O']) expect(canonicalUcum(s), s).toBe(s);
  });
});
