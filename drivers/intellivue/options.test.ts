// Options the JSON Schema cannot relate, checked when the plan is built (at start and by --check).
import { describe, expect, it } from 'vitest';
import { IntellivueConfigError, buildPlan } from './options.js';
import { validateConfig } from '../../agent/config/load.js';
import { driverProblems } from '../../agent/config/check.js';
import { registry } from '../registry.js';

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

  it('backoff.maxMs below backoff.initialMs is refused, naming the field, as Medibus does (review rv120 L2)', () => {
    const base = { id: 'm', path: '/dev/ttyUSB0' };
    expect(problems({ ...base, backoff: { initialMs: 60000, maxMs: 1000 } })).toEqual(['backoff.maxMs: must be at least backoff.initialMs (60000 ms), got 1000']);
    expect(problems({ ...base, backoff: { initialMs: 5000, maxMs: 5000 } })).toEqual([]);
    // Only initialMs written, above the default 30000: the default maximum follows it (a file that started still starts).
    expect(problems({ ...base, backoff: { initialMs: 60000 } })).toEqual([]);
    expect(buildPlan({ ...base, backoff: { initialMs: 60000 } }).backoff).toMatchObject({ initialMs: 60000, maxMs: 60000 });
    expect(buildPlan(base).backoff).toMatchObject({ initialMs: 1000, maxMs: 30000 });
    expect(problems({ ...base, backoff: { maxMs: 500 } })).toEqual(['backoff.maxMs: must be at least backoff.initialMs (1000 ms), got 500']);
    // --check and the start name it under the driver entry.
    const config = validateConfig({ store: { path: ':memory:' }, hub: { mode: 'off' }, drivers: [{ name: 'iv', type: 'intellivue', options: { ...base, backoff: { initialMs: 60000, maxMs: 1000 } } }] }, registry, 'test');
    expect(driverProblems(config, registry)).toEqual([{ path: 'drivers[0].options.backoff.maxMs', message: 'must be at least backoff.initialMs (60000 ms), got 1000' }]);
  });
});
