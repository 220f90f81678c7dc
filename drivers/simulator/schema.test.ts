// The options schema: valid for the agent's strict Ajv, defaults as documented, bad options named.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../agent/config/load.js';
import { registry } from '../registry.js';
import { DEFAULTS } from './options.js';
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
