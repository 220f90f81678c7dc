import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ModbusImportError } from './errors.js';
import { importIotEdgeModbus, parseModiconAddress } from './import-iot-edge-modbus.js';
import type { RtuBusOptions, TcpBusOptions } from './options.js';
import { buildPlan } from './plan.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'iot-edge-modbus-twin.json');
const twin = JSON.parse(readFileSync(fixture, 'utf8')) as Record<string, unknown>;

describe('Modicon addresses', () => {
  it('reads 5- and 6-digit start addresses', () => {
    expect(parseModiconAddress('400001')).toEqual({ table: 'holding', address: 0, digits: 6 });
    expect(parseModiconAddress('40001')).toEqual({ table: 'holding', address: 0, digits: 5 });
    expect(parseModiconAddress('300010')).toEqual({ table: 'input', address: 9, digits: 6 });
    expect(parseModiconAddress('10002')).toEqual({ table: 'discrete', address: 1, digits: 5 });
    expect(parseModiconAddress('00001')).toEqual({ table: 'coil', address: 0, digits: 5 });
    expect(parseModiconAddress('465536')).toEqual({ table: 'holding', address: 65535, digits: 6 });
    expect(parseModiconAddress('500001')).toMatch(/starts with 5/);
    expect(parseModiconAddress('4001')).toMatch(/5 or 6 digits/);
    expect(parseModiconAddress('400000')).toMatch(/outside/);
  });
});

describe('import of an iot-edge-modbus module twin', () => {
  const { options, report } = importIotEdgeModbus(twin);
  const byId = new Map(options.buses.map((b) => [b.id, b]));

  it('produces options that pass the driver\'s own validation', () => {
    expect(() => buildPlan(options)).not.toThrow();
    expect(report.unmapped.filter((u) => u.reason.startsWith('result does not validate'))).toEqual([]);
  });

  it('maps a TCP slave: registers, coils, per-operation intervals', () => {
    const gas = byId.get('GasMonitor') as TcpBusOptions;
    expect(gas).toMatchObject({ transport: 'tcp', host: '192.168.10.21', port: 502 });
    const dev = gas.devices[0];
    expect(dev).toMatchObject({ id: 'GasMon-ICU3', unitId: 1, pollIntervalMs: 1000 });
    expect(dev?.points).toEqual([
      { name: 'EtCO2 400001', table: 'holding', address: 0, type: 'uint16' },
      { name: 'EtCO2 400002', table: 'holding', address: 1, type: 'uint16' },
      { name: 'Status', table: 'input', address: 9, type: 'uint16', pollIntervalMs: 5000 },
      { name: 'Alarm 00001', table: 'coil', address: 0, type: 'bool' },
      { name: 'Alarm 00002', table: 'coil', address: 1, type: 'bool' },
      { name: 'Alarm 00003', table: 'coil', address: 2, type: 'bool' },
    ]);
  });

  it('maps a serial slave with two unit ids into one RTU bus with two devices', () => {
    const pump = byId.get('PumpLine') as RtuBusOptions;
    expect(pump).toMatchObject({ transport: 'rtu', path: '/dev/ttyS0', baudRate: 19200, dataBits: 8, stopBits: 1, parity: 'even' });
    expect(pump.devices.map((d) => [d.id, d.unitId])).toEqual([
      ['PumpBox-0a:01-unit3', 3],
      ['PumpBox-0a:01-unit4', 4],
    ]);
    expect(pump.devices[0]?.points).toEqual([
      { name: 'Rate 40001', table: 'holding', address: 0, type: 'float32', order: 'CDAB' },
      { name: 'Rate 40003', table: 'holding', address: 2, type: 'float32', order: 'CDAB' },
    ]);
    expect(pump.devices[1]?.points).toEqual([{ name: 'Status', table: 'holding', address: 2, type: 'uint16' }]);
  });

  it('maps DataType + SwapMode, Count as number of values, TcpPort', () => {
    const vent = byId.get('Ventilator') as TcpBusOptions;
    expect(vent.port).toBe(5020);
    expect(vent.devices[0]?.points).toEqual([
      { name: 'Paw 400101', table: 'holding', address: 100, type: 'float32', order: 'CDAB' },
      { name: 'Paw 400103', table: 'holding', address: 102, type: 'float32', order: 'CDAB' },
      { name: 'Breaths', table: 'holding', address: 200, type: 'int32', order: 'ABCD', pollIntervalMs: 1000 },
    ]);
    expect(vent.devices[0]?.pollIntervalMs).toBe(500);
  });

  it('keeps SwapMode on 16-bit values: Bytes and BytesAndWords byte-swap an Int16 as the module did', () => {
    const op = (name: string, start: string, swap: string) => ({ PollingInterval: '1000', UnitId: '1', StartAddress: start, Count: '1', DisplayName: name, DataType: 'Int16', SwapMode: swap });
    const r = importIotEdgeModbus({ SlaveConfigs: { S: { SlaveConnection: '10.0.0.9', HwId: 'vent', Operations: {
      a: op('Paw', '400001', 'Bytes'), b: op('PEEP', '400011', 'BytesAndWords'), c: op('FiO2', '400021', 'Words'), d: op('RR', '400031', 'None'),
    } } } });
    const points = r.options.buses[0]!.devices[0]!.points;
    expect(points.map((p) => [p.name, p.type, p.order])).toEqual([
      ['Paw', 'int16', 'BADC'],
      ['PEEP', 'int16', 'DCBA'],
      ['FiO2', 'int16', undefined], // Words on 2 bytes: reversed, then bytes swapped back; no change
      ['RR', 'int16', undefined],
    ]);
    expect(r.report.unmapped).toEqual([]);
    // Register 0x3412 on the wire: the module (SwapMode Bytes) published 0x1234 = 4660; so does the imported map.
    const plan = buildPlan(r.options);
    const decoded = plan.buses[0]!.devices[0]!.groups.flatMap((g) => g.points).map(({ point }) => [point.name, point.decode([0x3412])]);
    expect(decoded).toEqual([['Paw', 4660], ['PEEP', 4660], ['FiO2', 13330], ['RR', 13330]]);
  });

  it('reports 7 data bits instead of carrying them to an RTU line', () => {
    const r = importIotEdgeModbus({ SlaveConfigs: { S: { SlaveConnection: '/dev/ttyUSB0', HwId: 'pump', BaudRate: '9600', DataBits: '7', Operations: {
      a: { PollingInterval: '1000', UnitId: '1', StartAddress: '400001', Count: '1' },
    } } } });
    expect(r.options.buses[0]).not.toHaveProperty('dataBits');
    expect(r.report.unmapped).toEqual([{ field: 'SlaveConfigs.S.DataBits', value: '7', reason: expect.stringMatching(/8 data bits.*ASCII/) }]);
    expect(() => buildPlan(r.options)).not.toThrow();
  });

  it('reports everything it could not map, with field paths and reasons', () => {
    const fields = report.unmapped.map((u) => u.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'PublishInterval',
        'Version',
        'IoTCentralConnectionString',
        'SlaveConfigs.GasMonitor.RetryCount',
        'SlaveConfigs.GasMonitor.RetryInterval',
        'SlaveConfigs.GasMonitor.Operations.Op01.CorrelationId',
        'SlaveConfigs.GasMonitor.Operations.Op04.StartAddress',
        'SlaveConfigs.PumpLine.Operations.Op02.ValueType',
        'SlaveConfigs.Ventilator.EndianSwap',
        'SlaveConfigs.Broken.SlaveConnection',
      ]),
    );
    // The connection string is a secret: reported, never echoed.
    expect(JSON.stringify(report)).not.toContain('SharedAccessKey');
    expect(report.unmapped.find((u) => u.field === 'SlaveConfigs.Broken.SlaveConnection')?.reason).toMatch(/neither an IP address nor a serial port/);
    expect(report.notes.map((n) => n.field)).toEqual(expect.arrayContaining(['SlaveConfigs.PumpLine.SlaveConnection', 'SlaveConfigs.PumpLine.Operations.Op01.ValueType', 'SlaveConfigs.Ventilator.Operations.Counter.PollingInterval']));
    expect(options.buses.map((b) => b.id)).not.toContain('Broken');
  });

  it('reads a deployment manifest holding the twin', () => {
    const manifest = { modulesContent: { $edgeAgent: { 'properties.desired': {} }, modbus: { 'properties.desired': twin } } };
    const r = importIotEdgeModbus(manifest);
    expect(r.options).toEqual(options);
    expect(r.report.notes[0]?.field).toBe('modulesContent.modbus');
  });

  it('fails clearly when there is nothing to import, and never throws other errors', () => {
    expect(() => importIotEdgeModbus({ foo: 1 })).toThrow(/SlaveConfigs: not found/);
    fc.assert(
      fc.property(fc.anything(), (x) => {
        try {
          importIotEdgeModbus({ SlaveConfigs: { s: x } });
          importIotEdgeModbus({ SlaveConfigs: { s: { SlaveConnection: '10.0.0.1', HwId: 'h', Operations: { o: x } } } });
        } catch (e) {
          expect(e).toBeInstanceOf(ModbusImportError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('works as a CLI: YAML on stdout, report on stderr', () => {
    const tsx = join(here, '..', '..', 'node_modules', '.bin', 'tsx');
    const r = spawnSync(tsx, [join(here, 'import-iot-edge-modbus.ts'), fixture, '--name', 'icu-modbus'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const entry = parse(r.stdout) as { type: string; name: string; options: unknown };
    expect(entry.type).toBe('modbus');
    expect(entry.name).toBe('icu-modbus');
    expect(entry.options).toEqual(options);
    expect(r.stderr).toMatch(/Not mapped \(\d+\):/);
    expect(r.stderr).toMatch(/PublishInterval/);
    expect(() => execFileSync(tsx, [join(here, 'import-iot-edge-modbus.ts')], { stdio: 'pipe' })).toThrow();
  });
});
