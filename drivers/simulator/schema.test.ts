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

describe('simulator: scenario values must be measurable', () => {
  const step = (s: Record<string, unknown>) => ({ scenario: [{ atS: 0, bed: 1, ...s }] });

  it('the schema refuses set values no monitor can show, naming the field (--check)', () => {
    expect(problems(step({ set: { spo2: 150, hr: -20, temp: 3.7 } }))).toEqual([
      { path: 'drivers[0].options.scenario[0].set.hr', message: 'must be >= 0 (got -20)' },
      { path: 'drivers[0].options.scenario[0].set.spo2', message: 'must be <= 100 (got 150)' },
      { path: 'drivers[0].options.scenario[0].set.temp', message: 'must be >= 25 (got 3.7)' },
    ]);
    for (const [k, v] of [['pr', 301], ['rr', -1], ['sys', 301], ['dia', -5], ['temp', 45.1]] as const) {
      expect(problems(step({ set: { [k]: v } })).map((p) => p.path)).toEqual([`drivers[0].options.scenario[0].set.${k}`]);
    }
    // The limits themselves are measurable.
    expect(problems(step({ set: { spo2: 0, hr: 300, pr: 0, rr: 0, sys: 300, dia: 0, temp: 25 } }))).toEqual([]);
    expect(problems(step({ set: { spo2: 100, temp: 45 } }))).toEqual([]);
  });

  it('an episode target outside the measurable range is refused, naming the field, by the schema or the driver check', () => {
    expect(problems(step({ episode: 'desaturation', target: -10 }))).toEqual([{ path: 'drivers[0].options.scenario[0].target', message: expect.stringMatching(/>= 0/) }]);
    expect(problems(step({ episode: 'tachycardia', target: 301 }))).toEqual([{ path: 'drivers[0].options.scenario[0].target', message: expect.stringMatching(/<= 300/) }]);
    // A desaturation to 150 %: only the driver knows the target is SpO2 (what --check and the start run).
    const config = validateConfig({ drivers: [{ name: 'sim', type: 'simulator', options: step({ episode: 'desaturation', target: 150 }) }] }, registry, 'test.yaml');
    expect(driverProblems(config, registry)).toEqual([{ path: 'drivers[0].options.scenario[0].target', message: 'must be from 0 to 100 (SpO2 %) for a desaturation (got 150)' }]);
    expect(() => resolveOptions(step({ episode: 'tachycardia', target: 250 }) as SimulatorOptions)).not.toThrow();
  });

  it('a target on a step without a desaturation or tachycardia episode is refused, naming the field (rv95 L3)', () => {
    const check = (options: unknown) => driverProblems(validateConfig({ drivers: [{ name: 'sim', type: 'simulator', options }] }, registry, 'test.yaml'), registry);
    // Most likely a mis-indented YAML step whose episode landed in the step before: it used to pass and do nothing.
    for (const extra of [{}, { episode: 'sensor-off' }, { episode: 'lead-off' }, { end: 'desaturation' }]) {
      expect(check(step({ ...extra, target: 50 }))).toEqual([
        { path: 'drivers[0].options.scenario[0].target', message: expect.stringMatching(/^needs episode: desaturation or tachycardia/) },
      ]);
    }
    expect(check(step({ episode: 'desaturation', target: 50 }))).toEqual([]);
  });

  it('the scenario API refuses the same values', async () => {
    const { createSimulator } = await import('./index.js');
    const { fakeContext, T0 } = await import('./test-helpers.js');
    const sim = createSimulator({ beds: 1 }, fakeContext(), { clock: 'manual', startTime: T0 });
    await sim.start();
    expect(() => sim.schedule({ atS: 0, bed: 1, set: { spo2: 101 } })).toThrow(/set\.spo2: must be from 0 to 100/);
    expect(() => sim.force(1, { temp: 3.7 })).toThrow(/temp: must be from 25 to 45 \(got 3\.7\)/);
    expect(() => sim.startEpisode(1, 'desaturation', { target: -10 })).toThrow(/target: must be from 0 to 100/);
    expect(() => sim.startEpisode(1, 'tachycardia', { target: 400 })).toThrow(/target: must be from 0 to 300/);
    expect(() => sim.startEpisode(1, 'sensor-off', { target: 50 })).toThrow(/target: needs episode: desaturation or tachycardia \(got sensor-off\)/);
    expect(() => sim.schedule({ atS: 0, bed: 1, target: 50 })).toThrow(/scenario step\.target: needs episode/);
    await sim.stop();
  });
});
