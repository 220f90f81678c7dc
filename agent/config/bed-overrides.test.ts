import { describe, expect, it } from 'vitest';
import { bedOverrideKeys, unmatchedBedOverrides } from './bed-overrides.js';

describe('per-bed overrides keyed to beds that never report', () => {
  const keys = bedOverrideKeys({ limits: { beds: { 'ICU-1': {}, 'ICU-02': {} } }, news2: { beds: { 'icu/3001/1': {}, 'PED-7': {} } } });

  it('lists the keys no seen bed has, with a seen bed that looks like it', () => {
    const seen = new Set(['ICU-01', 'ICU-02', 'ICU/3001/1']);
    expect(unmatchedBedOverrides(keys, seen)).toEqual([
      { field: 'alarms.limits.beds.ICU-1', bed: 'ICU-1', similar: 'ICU-01' },
      { field: 'alarms.news2.beds.icu/3001/1', bed: 'icu/3001/1', similar: 'ICU/3001/1' },
      { field: 'alarms.news2.beds.PED-7', bed: 'PED-7' },
    ]);
  });

  it('nothing when every key is a seen bed', () => {
    expect(unmatchedBedOverrides(keys, new Set(['ICU-1', 'ICU-02', 'icu/3001/1', 'PED-7']))).toEqual([]);
  });
});
