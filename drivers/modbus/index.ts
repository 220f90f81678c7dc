// The `modbus` driver: reads coils, discrete inputs, input and holding registers over Modbus TCP or
// RTU, decodes them by a typed register map, and emits NumericReadings and device status. Read-only.
import type { Driver, DriverClaims, DriverContext, DriverFactory, DriverHealth, DriverWarning } from '../types.js';
import { BusPoller, type TransportFactory } from './bus.js';
import type { ModbusOptions } from './options.js';
import { buildPlan, planWarnings, type Plan } from './plan.js';
import { configSchema } from './schema.js';
import { systemClock, type Clock } from './timing.js';
import { ModbusSerialTransport } from './transport.js';

export class ModbusDriver implements Driver {
  private readonly buses: BusPoller[];
  private stopped = true;
  private started = false;

  constructor(
    readonly plan: Plan,
    private readonly ctx: DriverContext,
    transportFactory: TransportFactory = (bus, events) => new ModbusSerialTransport(bus, events),
    clock: Clock = systemClock,
  ) {
    const settings = { source: ctx.name, offlineAfterFailures: plan.offlineAfterFailures, backoff: plan.backoff };
    this.buses = plan.buses.map((b) => new BusPoller(b, ctx, settings, transportFactory, clock));
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.started = true;
    const devices = this.buses.reduce((n, b) => n + b.devices.length, 0);
    this.ctx.log.info({ buses: this.buses.length, devices }, 'modbus driver starting (read-only)');
    for (const b of this.buses) b.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.buses.map((b) => b.stop()));
  }

  health(): DriverHealth {
    const devices: NonNullable<DriverHealth['devices']> = {};
    let allOnline = true;
    for (const b of this.buses) {
      for (const d of b.devices) {
        devices[d.plan.id] = { state: d.state, lastDataAt: d.lastDataAt, detail: d.detail };
        if (d.state !== 'online') allOnline = false;
      }
    }
    const state: DriverHealth['state'] = this.stopped ? (this.started ? 'stopped' : 'starting') : allOnline ? 'running' : 'degraded';
    return { state, devices };
  }
}

/**
 * The factory; its `warnings`: what --check and the start say of a map that builds but whose values the alarm rules
 * will not judge (plan.ts planWarnings; agent/config/check.ts driverWarnings calls it), and the agent alarms those that
 * carry an `alarm` text (agent.ts configAlarms). Options that do not build give none: they are refused, through create().
 */
export const modbusDriver: DriverFactory<ModbusOptions> = {
  type: 'modbus',
  description: 'Modbus TCP / RTU master, read-only: typed register maps to readings, with fault handling and backoff',
  configSchema,
  create(options: ModbusOptions, ctx: DriverContext): Driver {
    // Throws ModbusConfigError naming every bad field, before anything runs.
    return new ModbusDriver(buildPlan(options), ctx);
  },
  warnings(options: ModbusOptions): DriverWarning[] {
    try {
      buildPlan(options);
    } catch {
      return [];
    }
    return planWarnings(options);
  },
  claims(options: ModbusOptions): DriverClaims {
    // TCP buses connect out to a device or gateway, which may take other connections: only RTU lines are taken.
    const claims: Required<Pick<DriverClaims, 'deviceIds' | 'serialPorts' | 'beds'>> = { deviceIds: [], serialPorts: [], beds: [] };
    options.buses.forEach((bus, b) => {
      if (bus.transport === 'rtu') claims.serialPorts.push({ path: bus.path, field: `options.buses[${b}].path` });
      bus.devices.forEach((d, i) => {
        claims.deviceIds.push({ id: d.id, field: `options.buses[${b}].devices[${i}].id` });
        if (d.bed) claims.beds.push({ bed: d.bed, field: `options.buses[${b}].devices[${i}].bed` });
      });
    });
    return claims;
  },
};

export default modbusDriver;
