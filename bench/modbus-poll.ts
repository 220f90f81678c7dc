// Modbus driver throughput on loopback TCP against the project's simulator.
// Baseline in the same run: a bare modbus-serial client loop against the same simulator (what the
// simulator and the library can do without the driver).
//   npx tsx bench/modbus-poll.ts [seconds per scenario, default 2]
import modbusSerial from 'modbus-serial';
import { pino } from 'pino';
import { modbusDriver } from '../drivers/modbus/index.js';
import type { BusOptions, DeviceOptions } from '../drivers/modbus/options.js';
import { RegisterBank, startTcpSimulator } from '../drivers/modbus/simulator.js';
import type { DriverContext } from '../drivers/types.js';

const seconds = Number(process.argv[2] ?? 2) || 2;
const REGISTERS = 10; // one read of 10 registers → 10 readings per poll
const UNITS = 40;

const bank = new RegisterBank();
for (let u = 1; u <= UNITS; u++) bank.setRegisters(u, 'holding', 0, Array.from({ length: REGISTERS }, (_, i) => 100 + i));
// One simulator listener per connection (all in this process, sharing one register bank): the driver
// allows one bus per host:port, so parallel buses need distinct endpoints.
const CONNECTIONS = 8;
const sims = await Promise.all(Array.from({ length: CONNECTIONS }, () => startTcpSimulator(bank)));

interface Row {
  scenario: string;
  connections: number;
  devices: number;
  'requests/s': number;
  'polls/s': number;
  'readings/s': number;
}
const rows: Row[] = [];

async function bareClients(connections: number): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const c = new modbusSerial.default();
      c.on('error', () => undefined);
      c.setTimeout(1000);
      await c.connectTCP('127.0.0.1', { port: (sims[i] ?? sims[0])!.port });
      c.setID(i + 1);
      return c;
    }),
  );
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < end) {
        await c.readHoldingRegisters(0, REGISTERS);
        n++;
      }
    }),
  );
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.destroy(() => r()))));
  const rate = Math.round(n / seconds);
  rows.push({ scenario: 'baseline: bare modbus-serial loop', connections, devices: connections, 'requests/s': rate, 'polls/s': rate, 'readings/s': rate * REGISTERS });
}

async function driverRun(scenario: string, buses: number, devicesPerBus: number): Promise<void> {
  const counters = new Map<string, number>();
  const ctx: DriverContext = {
    name: 'bench',
    log: pino({ level: 'silent' }),
    emit: async () => undefined,
    count: (c, by = 1) => void counters.set(c, (counters.get(c) ?? 0) + by),
  };
  let unit = 1;
  const options: { buses: BusOptions[] } = {
    buses: Array.from({ length: buses }, (_, b) => ({
      id: `bus${b}`,
      transport: 'tcp' as const,
      host: '127.0.0.1',
      port: (sims[b] ?? sims[0])!.port,
      devices: Array.from({ length: devicesPerBus }, (): DeviceOptions => {
        const unitId = unit++;
        return {
          id: `dev${unitId}`,
          unitId,
          pollIntervalMs: 1,
          points: Array.from({ length: REGISTERS }, (_, i) => ({ name: `r${i}`, table: 'holding' as const, address: i, type: 'uint16' as const })),
        };
      }),
    })),
  };
  const driver = modbusDriver.create(options, ctx);
  await driver.start();
  await new Promise((r) => setTimeout(r, 300)); // connect and settle
  const p0 = counters.get('polls') ?? 0;
  const r0 = counters.get('readings') ?? 0;
  const q0 = counters.get('requests') ?? 0;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const polls = (counters.get('polls') ?? 0) - p0;
  const readings = (counters.get('readings') ?? 0) - r0;
  const requests = (counters.get('requests') ?? 0) - q0;
  await driver.stop();
  rows.push({
    scenario,
    connections: buses,
    devices: buses * devicesPerBus,
    'requests/s': Math.round(requests / seconds),
    'polls/s': Math.round(polls / seconds),
    'readings/s': Math.round(readings / seconds),
  });
}

await bareClients(1);
await driverRun('driver: one device', 1, 1);
await driverRun('driver: 40 devices behind one gateway', 1, 40);
await bareClients(CONNECTIONS);
await driverRun(`driver: ${CONNECTIONS} buses × 5 devices`, CONNECTIONS, 5);
await Promise.all(sims.map((s) => s.close()));

process.stdout.write(`\nModbus TCP on loopback, ${seconds} s per scenario, ${REGISTERS} registers per read (Node ${process.version})\n`);
console.table(rows);
process.stdout.write('Driver devices poll every 1 ms at most; each bus sends one request at a time (as on a real line).\n');
