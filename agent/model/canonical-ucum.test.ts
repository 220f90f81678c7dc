// `1/min` is UCUM for "per minute", the same unit as `/min` (review rv143 L3): taken as `/min` like other spellings.
import { describe, expect, it } from 'vitest';
import { convert } from '../alarms/units.js';
import { canonicalUcum } from './mdc.js';

describe('canonicalUcum and 1/min', () => {
  it('1/min is /min; other units are left as written', () => {
    expect(canonicalUcum('1/min')).toBe('/min');
    expect(canonicalUcum('/min')).toBe('/min');
    expect(canonicalUcum('1/s')).toBe('1/s'); // not a unit of the table: left alone
    expect(canonicalUcum('10/min')).toBe('10/min'); // not the same unit
    expect(canonicalUcum('L/min')).toBe('L/min');
  });
  it('an alarm rule in /min takes a value in 1/min', () => {
    expect(convert(72, '1/min', '/min')).toBe(72);
  });
});
