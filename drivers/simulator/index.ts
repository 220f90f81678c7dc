// The `simulator` driver: a simulated ward of bedside monitors (numerics, NIBP, ECG and pleth waveforms,
// episodes, technical alarms), deterministic from a seed. What the agent runs by default with no hardware.
import type { Driver, DriverContext, DriverFactory } from '../types.js';
import { SimulatorDriver, type SimulatorHooks } from './driver.js';
import { DEFAULTS, simulatedBedName, simulatedDeviceId, type SimulatorOptions } from './options.js';
import { configSchema } from './schema.js';

export { SimulatorDriver, type SimulatorHooks, type BedSnapshot } from './driver.js';
export { EVT } from './bed.js';
export { EPISODE_KINDS, VITALS, SimulatorConfigError } from './options.js';
export type { EpisodeKind, ScenarioStep, SimulatorOptions, Vital, VitalValues, BedRef } from './options.js';

/** For tests and benchmarks: a simulator with a manual clock or a fixed start time. */
export function createSimulator(options: SimulatorOptions, ctx: DriverContext, hooks: SimulatorHooks = {}): SimulatorDriver {
  return new SimulatorDriver(options, ctx, hooks);
}

export const simulatorDriver: DriverFactory<SimulatorOptions> = {
  simulated: true,
  type: 'simulator',
  description: 'Simulated ward: bedside monitors with plausible vitals, NIBP, ECG and pleth waveforms, episodes and technical alarms; seeded',
  configSchema,
  create(options: SimulatorOptions, ctx: DriverContext): Driver {
    return new SimulatorDriver(options, ctx);
  },
  claims(options: SimulatorOptions) {
    const prefix = options.deviceIdPrefix ?? DEFAULTS.deviceIdPrefix;
    const bedPrefix = options.bedPrefix ?? DEFAULTS.bedPrefix;
    const numbers = Array.from({ length: options.beds ?? DEFAULTS.beds }, (_, i) => i + 1);
    const beds = numbers.map((n) => ({ bed: simulatedBedName(bedPrefix, n), field: 'options.bedPrefix' }));
    return {
      deviceIds: numbers.map((n) => ({ id: simulatedDeviceId(prefix, n), field: 'options.deviceIdPrefix' })),
      monitorBeds: beds,
      beds,
      deviceBeds: numbers.map((n, i) => ({ id: simulatedDeviceId(prefix, n), ...beds[i]! })),
    };
  },
};

export default simulatorDriver;
