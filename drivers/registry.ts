// The driver registry: type name → factory. The only place the core learns a driver exists.
// Adding a driver is one line here plus its folder.
import type { DriverFactory } from './types.js';
import { simulatorDriver } from './simulator/index.js';
import { modbusDriver } from './modbus/index.js';
import { medibusDriver } from './medibus/index.js';
import { hl7MllpFactory } from './hl7/index.js';
import { intellivueDriver } from './intellivue/index.js';
import { wfdbReplayDriver } from './wfdb-replay/index.js';

// Each factory has its own option type; the registry holds them by their shared contract.
type AnyFactory = DriverFactory<never>;

const factories: AnyFactory[] = [simulatorDriver, hl7MllpFactory, intellivueDriver, modbusDriver, medibusDriver, wfdbReplayDriver];

export const registry: ReadonlyMap<string, DriverFactory> = new Map(
  factories.map((f) => [f.type, f as unknown as DriverFactory]),
);
