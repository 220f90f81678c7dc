// The options schema: valid for the agent's strict Ajv, defaults as documented, bad options named.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { driverProblems } from '../../agent/config/check.js';
import { ConfigError, validateConfig } from '../../agent/config/load.js';
import { registry } from '../registry.js';
import { DEFAULTS, resolveOptions, SimulatorConfigError, type SimulatorOptions } from './options.js';
import { simulatorDriver } from './index.js';

function problems(options: unknown): { path: string; message: string }[] {
  try {
    validateConfig({ drivers: [{ name: 'sim', type: 'simulator', options }] }, registry, 'test.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('simulator: options schema', () => {
  it('compiles under strict Ajv and fills in the same defaults the driver uses', () => {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
    const validate = ajv.compile(simulatorDriver.configSchema);
    const options = {};
    expect(validate(options)).toBe(true);
    expect(options).toEqual(DEFAULTS);
    expect(simulatorDriver.type).toBe('simulator');
  });

  it('accepts a full example, including a scenario', () => {
    expect(
      problems({
        beds: 8,
        seed: 42,
        waveforms: false,
        episodesPerHour: 0.5,
        episodeKinds: ['desaturation', 'sensor-off'],
        scenario: [
          { atS: 60, bed: 'ICU-02', episode: 'tachycardia', durationS: 300, target: 150 },
          { atS: 90, bed: 3, set: { spo2: 86 } },
          { atS: 200, bed: 3, release: 'all', nibp: true },
          { atS: 210, bed: 3, release: ['hr', 'spo2'] },
        ],
      }),
    ).toEqual([]);
  });

  it('names each bad option', () => {
    expect(problems({ beds: 0 })).toEqual([{ path: 'drivers[0].options.beds', message: expect.stringMatching(/>= 1/) }]);
    expect(problems({ bedz: 4 })[0]!.path).toBe('drivers[0].options.bedz');
    expect(problems({ episodeKinds: ['fainting'] })[0]!.path).toBe('drivers[0].options.episodeKinds[0]');
    expect(problems({ scenario: [{ atS: 1, bed: 1, set: { heart: 120 } }] })[0]!.path).toBe('drivers[0].options.scenario[0].set.heart');
    expect(problems({ scenario: [{ bed: 1 }] }).length).toBeGreaterThan(0);
  });
});

describe('simulator: scenario steps name beds of this ward', () => {
  const steps = (beds: number, ...refs: (number | string)[]): SimulatorOptions => ({ beds, scenario: refs.map((bed) => ({ atS: 5, bed, nibp: true })) });

  it('accepts bed numbers 1..beds, bed names and device ids, also with other prefixes', () => {
    expect(() => resolveOptions(steps(2, 1, 2, 'ICU-02', 'sim-monitor-01'))).not.toThrow();
    expect(() => resolveOptions({ ...steps(128, 128, 'W3-128', 'mon-07'), bedPrefix: 'W3-', deviceIdPrefix: 'mon-' })).not.toThrow();
  });

  it('refuses a bed that is not there when the options are resolved, naming the step', () => {
    const refused = (o: SimulatorOptions) => {
      try {
        resolveOptions(o);
      } catch (err) {
        expect(err).toBeInstanceOf(SimulatorConfigError);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused(steps(2, 1, 7))).toBe('options.scenario[1].bed: unknown bed 7; beds are 1–2, ICU-01…ICU-02 or sim-monitor-01…sim-monitor-02');
    expect(refused(steps(2, 0))).toMatch(/^options\.scenario\[0\]\.bed: unknown bed 0;/);
    expect(refused(steps(2, 'ICU-03'))).toMatch(/^options\.scenario\[0\]\.bed: unknown bed "ICU-03";/);
    expect(refused({ ...steps(2, 'ICU-01'), bedPrefix: 'W3-' })).toMatch(/^options\.scenario\[0\]\.bed: unknown bed "ICU-01"; beds are 1–2, W3-01…W3-02 or/);
  });

  it('--check and the start (driverProblems) report it as a problem of that field', () => {
    const config = validateConfig({ drivers: [{ name: 'sim', type: 'simulator', options: steps(2, 7) }] }, registry, 'test.yaml');
    expect(driverProblems(config, registry)).toEqual([{ path: 'drivers[0].options.scenario[0].bed', message: expect.stringMatching(/^unknown bed 7; beds are 1–2/) }]);
  });
});
