// The `modbus` driver: reads coils, discrete inputs, input and holding registers over Modbus TCP or
// RTU, decodes them by a typed register map, and emits NumericReadings and device status. Read-only.
import type { Driver, DriverClaims, DriverContext, DriverFactory, DriverHealth, DriverWarning } from '../types.js';
import { BusPoller, type TransportFactory } from './bus.js';
import type { ModbusOptions } from './options.js';
import { buildPlan, DEFAULTS, planWarnings, type Plan } from './plan.js';
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
    private readonly clock: Clock = systemClock,
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
    const now = this.clock.monotonic();
    for (const b of this.buses) {
      for (const d of b.devices) {
        devices[d.plan.id] = { state: d.state, lastDataAt: d.lastDataAt, detail: d.detailAt(now) };
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
    const claims: Required<Pick<DriverClaims, 'deviceIds' | 'serialPorts' | 'beds' | 'deviceBeds' | 'pollPeriods'>> = { deviceIds: [], serialPorts: [], beds: [], deviceBeds: [], pollPeriods: [] };
    options.buses.forEach((bus, b) => {
      if (bus.transport === 'rtu') claims.serialPorts.push({ path: bus.path, field: `options.buses[${b}].path` });
      bus.devices.forEach((d, i) => {
        const at = `options.buses[${b}].devices[${i}]`;
        claims.deviceIds.push({ id: d.id, field: `${at}.id` });
        if (d.bed) {
          claims.beds.push({ bed: d.bed, field: `${at}.bed` });
          claims.deviceBeds.push({ id: d.id, bed: d.bed, field: `${at}.bed` });
        }
        // Its events come as often as its most often read value (review rv120 M2).
        const own = { ms: d.pollIntervalMs ?? DEFAULTS.pollIntervalMs, field: `${at}.pollIntervalMs` };
        const periods = d.points.map((p, j) => (p.pollIntervalMs === undefined ? own : { ms: p.pollIntervalMs, field: `${at}.points[${j}].pollIntervalMs` }));
        const quickest = periods.reduce((a, c) => (c.ms < a.ms ? c : a), periods[0] ?? own);
        claims.pollPeriods.push({ id: d.id, ...quickest });
      });
    });
    return claims;
  },
};

export default modbusDriver;
