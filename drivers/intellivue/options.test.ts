// Options the JSON Schema cannot relate, checked when the plan is built (at start and by --check).
import { describe, expect, it } from 'vitest';
import { IntellivueConfigError, buildPlan } from './options.js';

const problems = (o: Parameters<typeof buildPlan>[0]): string[] => {
  try {
    buildPlan(o);
    return [];
  } catch (err) {
    if (!(err instanceof IntellivueConfigError)) throw err;
    return err.problems;
  }
};

describe('IntelliVue options cross-checks', () => {
  it('maxMtu below 500 with waves enabled is refused, naming the field (L4)', () => {
    const base = { id: 'm', path: '/dev/ttyUSB0' };
    expect(problems({ ...base, maxMtu: 300 })).toEqual([expect.stringMatching(/^maxMtu: must be at least 500 with waves enabled/)]);
    expect(problems({ ...base, maxMtu: 499, waves: { enabled: true } })).toHaveLength(1);
    expect(problems({ ...base, maxMtu: 500 })).toEqual([]);
    expect(problems({ ...base, maxMtu: 300, waves: { enabled: false } })).toEqual([]);
  });
});
