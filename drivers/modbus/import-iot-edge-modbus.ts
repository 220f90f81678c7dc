// Import of Azure's archived iot-edge-modbus module configuration (module twin desired properties, or a
// whole deployment manifest holding them) into this driver's options, with a report of everything that
// could not be carried over or was assumed.
//
// Format facts (Azure/iot-edge-modbus README, sample deployment.template.json and its C# config classes):
// - PublishInterval; SlaveConfigs: { name: { SlaveConnection, HwId, TcpPort (502), RetryCount, RetryInterval,
//   BaudRate, DataBits, StopBits, Parity, FlowControl, EndianSwap, MidEndianSwap, AdditionalProperties,
//   Operations: { name: { PollingInterval, UnitId, StartAddress, Count, DisplayName, CorrelationId,
//   IsSimpleValue, ValueType ("float") | DataType (Int16/Int32/Float/Bool) + SwapMode } } } }.
// - Values are often strings ("2000"). SlaveConnection is TCP when it parses as an IP address, RTU when it
//   contains "COM" or "tty".
// - StartAddress is 5- or 6-digit Modicon style: first digit 0 coil, 1 discrete input, 3 input register,
//   4 holding register; the rest minus 1 is the protocol address (400001 → holding 0).
// - Basic operations publish each register (or bit) as its own unsigned value.
// - SwapMode (newer versions; wire order assumed big-endian): None → ABCD, Bytes → BADC, Words → CDAB,
//   BytesAndWords → DCBA, applied to each value's bytes (ByteSwapper.Swap), so Bytes and BytesAndWords also
//   byte-swap an Int16. In that version Count is the number of values, not registers.
// - ValueType "float" (older versions) merged two registers low word first, i.e. CDAB.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import type { ByteOrder, ValueType } from './decode.js';
import { ModbusImportError } from './errors.js';
import type { BusOptions, DeviceOptions, ModbusOptions, Parity, PointOptions, Table } from './options.js';
import { buildPlan } from './plan.js';
import { ModbusConfigError } from './errors.js';

export interface ImportReport {
  /** Fields that were not carried over, and why. */
  unmapped: Array<{ field: string; value?: unknown; reason: string }>;
  /** Things carried over with an assumption the engineer should check. */
  notes: Array<{ field: string; message: string }>;
}

export interface ImportResult {
  options: ModbusOptions;
  report: ImportReport;
}

const ENTITY: Record<string, Table> = { '0': 'coil', '1': 'discrete', '3': 'input', '4': 'holding' };

/** "400001" → holding 0; "30010" → input 9. Returns a reason string when it cannot be read. */
export function parseModiconAddress(s: string): { table: Table; address: number; digits: 5 | 6 } | string {
  if (!/^\d{5,6}$/.test(s)) return `StartAddress must be 5 or 6 digits, got ${JSON.stringify(s)}`;
  const table = ENTITY[s[0] as string];
  if (!table) return `StartAddress ${s} starts with ${s[0]}; only 0 (coil), 1 (discrete input), 3 (input register), 4 (holding register) exist`;
  const n = Number(s.slice(1));
  if (n < 1 || n > 65536) return `StartAddress ${s}: register number ${n} is outside 1..65536`;
  return { table, address: n - 1, digits: s.length as 5 | 6 };
}

/** The address written back the way iot-edge-modbus printed it (entity digit + zero-padded number). */
function modicon(table: Table, address: number, digits: 5 | 6): string {
  const entity = Object.entries(ENTITY).find(([, t]) => t === table)?.[0] ?? '4';
  return entity + String(address + 1).padStart(digits - 1, '0');
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return undefined;
}

function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
  return undefined;
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'bus';
}

/** Find the module's desired properties in a deployment manifest, or take the input as the properties. */
function desiredProperties(input: unknown, report: ImportReport): Record<string, unknown> {
  if (!isObj(input)) throw new ModbusImportError('(root)', 'must be a JSON object');
  if (isObj(input.SlaveConfigs)) return input;
  const mc = input.modulesContent;
  if (isObj(mc)) {
    for (const [name, mod] of Object.entries(mc)) {
      const desired = isObj(mod) ? mod['properties.desired'] : undefined;
      if (isObj(desired) && isObj(desired.SlaveConfigs)) {
        report.notes.push({ field: `modulesContent.${name}`, message: 'read the module twin desired properties from this deployment manifest; other modules and routes were ignored' });
        return desired;
      }
    }
  }
  throw new ModbusImportError('SlaveConfigs', 'not found (expected module twin desired properties with SlaveConfigs, or a deployment manifest containing them)');
}

const SLAVE_KEYS = new Set(['SlaveConnection', 'HwId', 'TcpPort', 'RetryCount', 'RetryInterval', 'BaudRate', 'DataBits', 'StopBits', 'Parity', 'FlowControl', 'EndianSwap', 'MidEndianSwap', 'AdditionalProperties', 'Operations']);
const OP_KEYS = new Set(['PollingInterval', 'UnitId', 'StartAddress', 'Count', 'DisplayName', 'CorrelationId', 'IsSimpleValue', 'ValueType', 'DataType', 'SwapMode']);

const SWAP: Record<string, ByteOrder> = { none: 'ABCD', bytes: 'BADC', words: 'CDAB', bytesandwords: 'DCBA' };
const DATATYPE: Record<string, ValueType> = { int16: 'int16', int32: 'int32', float: 'float32', bool: 'bool' };
const PARITY: Record<string, Parity> = { none: 'none', odd: 'odd', even: 'even', mark: 'mark', space: 'space', '0': 'none', '1': 'odd', '2': 'even', '3': 'mark', '4': 'space' };

interface Op {
  key: string;
  field: string;
  unitId: number;
  intervalMs: number;
  points: PointOptions[];
}

function importOperation(opName: string, op: unknown, field: string, report: ImportReport): Op | undefined {
  if (!isObj(op)) {
    report.unmapped.push({ field, reason: 'operation is not an object' });
    return undefined;
  }
  for (const k of Object.keys(op)) if (!OP_KEYS.has(k)) report.unmapped.push({ field: `${field}.${k}`, value: op[k], reason: 'unknown operation field' });
  const start = typeof op.StartAddress === 'number' ? String(op.StartAddress) : op.StartAddress;
  if (typeof start !== 'string') {
    report.unmapped.push({ field: `${field}.StartAddress`, value: op.StartAddress, reason: 'missing; operation skipped' });
    return undefined;
  }
  const addr = parseModiconAddress(start.trim());
  if (typeof addr === 'string') {
    report.unmapped.push({ field: `${field}.StartAddress`, value: start, reason: `${addr}; operation skipped` });
    return undefined;
  }
  let unitId = toInt(op.UnitId);
  if (unitId === undefined || unitId < 0 || unitId > 255) {
    report.notes.push({ field: `${field}.UnitId`, message: `missing or invalid (${JSON.stringify(op.UnitId)}); using unit 1` });
    unitId = 1;
  }
  let intervalMs = toInt(op.PollingInterval);
  if (intervalMs === undefined || intervalMs < 1) {
    report.notes.push({ field: `${field}.PollingInterval`, message: 'missing; using 1000 ms (the module default)' });
    intervalMs = 1000;
  }
  let count = toInt(op.Count);
  if (count === undefined || count < 1) {
    report.notes.push({ field: `${field}.Count`, message: `missing or invalid (${JSON.stringify(op.Count)}); using 1` });
    count = 1;
  }
  const display = typeof op.DisplayName === 'string' && op.DisplayName.trim() ? op.DisplayName.trim() : opName;
  if (op.CorrelationId !== undefined) {
    report.unmapped.push({ field: `${field}.CorrelationId`, value: op.CorrelationId, reason: 'message grouping is not needed: every value becomes its own reading' });
  }
  const isBits = addr.table === 'coil' || addr.table === 'discrete';
  const simple = toBool(op.IsSimpleValue);
  let type: ValueType = isBits ? 'bool' : 'uint16';
  let order: ByteOrder | undefined;
  let countIsValues = false;

  if (op.DataType !== undefined) {
    const t = DATATYPE[String(op.DataType).toLowerCase()];
    if (!t) report.unmapped.push({ field: `${field}.DataType`, value: op.DataType, reason: 'unknown DataType; reading raw uint16 registers' });
    else if (!isBits) {
      type = t === 'bool' ? 'bool' : t;
      countIsValues = true;
    }
    if (op.SwapMode !== undefined) {
      order = SWAP[String(op.SwapMode).toLowerCase()];
      if (!order) report.unmapped.push({ field: `${field}.SwapMode`, value: op.SwapMode, reason: 'unknown SwapMode; byte order left at ABCD' });
    }
  } else if (op.ValueType !== undefined && simple !== true) {
    const vt = String(op.ValueType).toLowerCase();
    if (isBits) report.unmapped.push({ field: `${field}.ValueType`, value: op.ValueType, reason: 'bits are read as bool' });
    else if (vt === 'float' || vt === 'int32') {
      type = vt === 'float' ? 'float32' : 'int32';
      order = 'CDAB';
      report.notes.push({ field: `${field}.ValueType`, message: `${op.ValueType} mapped to ${type} with order CDAB (low word first, as the module merged registers); check against the device manual` });
    } else if (vt !== 'basic') {
      report.unmapped.push({ field: `${field}.ValueType`, value: op.ValueType, reason: 'unknown ValueType; reading raw uint16 registers' });
    }
  } else if (op.ValueType !== undefined) {
    report.unmapped.push({ field: `${field}.ValueType`, value: op.ValueType, reason: 'IsSimpleValue is true, so the module published raw registers; ValueType ignored' });
  }
  if (op.SwapMode !== undefined && op.DataType === undefined) {
    report.unmapped.push({ field: `${field}.SwapMode`, value: op.SwapMode, reason: 'SwapMode without DataType has no effect' });
  }

  const width = type === 'float32' || type === 'int32' ? 2 : 1;
  let values: number;
  if (countIsValues || width === 1) values = count;
  else {
    values = Math.floor(count / width);
    if (values === 0) {
      values = 1;
      report.notes.push({ field: `${field}.Count`, message: `Count ${count} is less than one ${type} (${width} registers); reading ${width} registers` });
    } else if (count % width !== 0) {
      report.unmapped.push({ field: `${field}.Count`, value: count, reason: `last register does not make a whole ${type}; not read` });
    }
  }
  const points: PointOptions[] = [];
  for (let i = 0; i < values; i++) {
    const address = addr.address + i * width;
    if (address + width > 65536) {
      report.unmapped.push({ field: `${field}.Count`, value: count, reason: `values past address 65535 dropped` });
      break;
    }
    points.push({
      name: values === 1 ? display : `${display} ${modicon(addr.table, address, addr.digits)}`,
      table: addr.table,
      address,
      type,
      // The module swapped each value's bytes, 16-bit ones too (Bytes and BytesAndWords swap the two bytes of an
      // Int16; Words leaves it as is), which BADC/DCBA do here. A register read as bool is non-zero either way.
      ...(order && (width > 1 || (type !== 'bool' && (order === 'BADC' || order === 'DCBA'))) ? { order } : {}),
    });
  }
  return { key: opName, field, unitId, intervalMs, points };
}

function importSlave(name: string, slave: unknown, report: ImportReport, usedIds: Set<string>): BusOptions | undefined {
  const field = `SlaveConfigs.${name}`;
  if (!isObj(slave)) {
    report.unmapped.push({ field, reason: 'slave is not an object; skipped' });
    return undefined;
  }
  for (const k of Object.keys(slave)) if (!SLAVE_KEYS.has(k)) report.unmapped.push({ field: `${field}.${k}`, value: slave[k], reason: 'unknown slave field' });
  const conn = typeof slave.SlaveConnection === 'string' ? slave.SlaveConnection.trim() : '';
  if (!conn) {
    report.unmapped.push({ field: `${field}.SlaveConnection`, value: slave.SlaveConnection, reason: 'missing; slave skipped' });
    return undefined;
  }
  if (!isIP(conn) && !/COM|tty/.test(conn)) {
    report.unmapped.push({ field: `${field}.SlaveConnection`, value: conn, reason: 'neither an IP address nor a serial port (COM…/tty…), as the module also required; slave skipped' });
    return undefined;
  }
  for (const k of ['RetryCount', 'RetryInterval'] as const) {
    if (slave[k] !== undefined) report.unmapped.push({ field: `${field}.${k}`, value: slave[k], reason: 'replaced by the driver\'s offlineAfterFailures and exponential backoff' });
  }
  for (const k of ['EndianSwap', 'MidEndianSwap'] as const) {
    if (slave[k] !== undefined && toBool(slave[k]) === true) {
      report.unmapped.push({ field: `${field}.${k}`, value: slave[k], reason: 'its effect differed between module versions; set `order` on the values by the device manual' });
    }
  }
  if (slave.AdditionalProperties !== undefined) {
    report.unmapped.push({ field: `${field}.AdditionalProperties`, value: slave.AdditionalProperties, reason: 'extra message properties have no place in readings' });
  }
  const hwId = typeof slave.HwId === 'string' && slave.HwId.trim() ? slave.HwId.trim() : name;
  if (hwId === name) report.notes.push({ field: `${field}.HwId`, message: `missing; device id taken from the slave name ${JSON.stringify(name)}` });

  // Operations → devices by unit id.
  const ops: Op[] = [];
  if (!isObj(slave.Operations)) report.unmapped.push({ field: `${field}.Operations`, reason: 'missing; slave has nothing to read' });
  else for (const [opName, op] of Object.entries(slave.Operations)) {
    const o = importOperation(opName, op, `${field}.Operations.${opName}`, report);
    if (o && o.points.length) ops.push(o);
  }
  if (ops.length === 0) {
    report.unmapped.push({ field, reason: 'no readable operations; slave skipped' });
    return undefined;
  }
  const units = [...new Set(ops.map((o) => o.unitId))];
  const devices: DeviceOptions[] = units.map((unitId) => {
    const mine = ops.filter((o) => o.unitId === unitId);
    let id = units.length === 1 ? hwId : `${hwId}-unit${unitId}`;
    while (usedIds.has(id)) id += '-2';
    usedIds.add(id);
    const pollIntervalMs = (mine[0] as Op).intervalMs;
    const names = new Set<string>();
    const points: PointOptions[] = [];
    for (const o of mine) {
      for (const p of o.points) {
        let n = p.name;
        if (names.has(n)) n = `${n} (${o.key})`;
        while (names.has(n)) n += "'";
        names.add(n);
        points.push({ ...p, name: n, ...(o.intervalMs !== pollIntervalMs ? { pollIntervalMs: o.intervalMs } : {}) });
      }
    }
    return { id, unitId, pollIntervalMs, points };
  });
  if (units.length > 1) report.notes.push({ field, message: `operations use unit ids ${units.join(', ')}: one device per unit id (${devices.map((d) => d.id).join(', ')})` });

  const id = slug(name);
  if (isIP(conn)) {
    const port = slave.TcpPort === undefined ? 502 : toInt(slave.TcpPort);
    if (port === undefined || port < 1 || port > 65535) {
      report.unmapped.push({ field: `${field}.TcpPort`, value: slave.TcpPort, reason: 'invalid port; slave skipped' });
      return undefined;
    }
    for (const k of ['BaudRate', 'DataBits', 'StopBits', 'Parity', 'FlowControl'] as const) {
      if (slave[k] !== undefined) report.unmapped.push({ field: `${field}.${k}`, value: slave[k], reason: 'serial setting on a TCP connection: ignored' });
    }
    return { id, transport: 'tcp', host: conn, port, devices };
  }
  let path = conn;
  if (!conn.startsWith('/')) {
    if (conn.startsWith('tty')) {
      path = `/dev/${conn}`;
      report.notes.push({ field: `${field}.SlaveConnection`, message: `serial port ${conn} taken as ${path}` });
    } else {
      report.notes.push({ field: `${field}.SlaveConnection`, message: `${conn} is a Windows port name; set the Linux device path (e.g. /dev/ttyUSB0)` });
    }
  }
  let baudRate = toInt(slave.BaudRate);
  if (baudRate === undefined || baudRate < 50) {
    report.notes.push({ field: `${field}.BaudRate`, message: 'missing; using 9600' });
    baudRate = 9600;
  }
  const bus: BusOptions = { id, transport: 'rtu', path, baudRate, devices };
  if (slave.DataBits !== undefined) {
    const d = toInt(slave.DataBits);
    if (d === 8) bus.dataBits = d;
    else if (d === 7) report.unmapped.push({ field: `${field}.DataBits`, value: slave.DataBits, reason: 'Modbus RTU needs 8 data bits (7 is Modbus ASCII, which this driver does not speak); using 8: check the device\'s serial settings' });
    else report.unmapped.push({ field: `${field}.DataBits`, value: slave.DataBits, reason: 'Modbus RTU uses 8 data bits; using 8' });
  }
  if (slave.StopBits !== undefined) {
    const s = String(slave.StopBits).toLowerCase();
    if (s === '1' || s === 'one') bus.stopBits = 1;
    else if (s === '2' || s === 'two') bus.stopBits = 2;
    else report.unmapped.push({ field: `${field}.StopBits`, value: slave.StopBits, reason: 'only 1 or 2 stop bits are supported; using 1' });
  }
  if (slave.Parity !== undefined) {
    const p = PARITY[String(slave.Parity).toLowerCase()];
    if (p) bus.parity = p;
    else report.unmapped.push({ field: `${field}.Parity`, value: slave.Parity, reason: 'unknown parity; using none' });
  }
  if (slave.FlowControl !== undefined && String(slave.FlowControl).toUpperCase() !== 'NONE') {
    report.unmapped.push({ field: `${field}.FlowControl`, value: slave.FlowControl, reason: 'flow control is not supported (the module supported only NONE too)' });
  }
  return bus;
}

/** Convert an iot-edge-modbus configuration. Throws ModbusImportError only if there is nothing to convert. */
export function importIotEdgeModbus(input: unknown): ImportResult {
  const report: ImportReport = { unmapped: [], notes: [] };
  const desired = desiredProperties(input, report);
  for (const [k, v] of Object.entries(desired)) {
    if (k === 'SlaveConfigs' || k.startsWith('$')) continue;
    const reason =
      k === 'PublishInterval'
        ? 'readings are emitted as they are polled and stored; batching for the cloud is the forwarder\'s job'
        : k === 'IoTCentralConnectionString'
          ? 'a secret for a different cloud path; not copied (the agent has its own IoT Hub connection)'
          : k === 'Version'
            ? 'message payload version of the old module; readings have one format'
            : 'unknown top-level field';
    report.unmapped.push({ field: k, value: k === 'IoTCentralConnectionString' ? '(redacted)' : v, reason });
  }
  const slaves = desired.SlaveConfigs as Record<string, unknown>;
  const buses: BusOptions[] = [];
  const used = new Set<string>();
  const busIds = new Set<string>();
  for (const [name, slave] of Object.entries(slaves)) {
    const bus = importSlave(name, slave, report, used);
    if (!bus) continue;
    while (busIds.has(bus.id)) bus.id += '-2';
    busIds.add(bus.id);
    // Two slaves on the same serial line or TCP endpoint become one bus.
    const same = buses.find((b) => (b.transport === 'tcp' && bus.transport === 'tcp' && b.host === bus.host && b.port === bus.port) || (b.transport === 'rtu' && bus.transport === 'rtu' && b.path === bus.path));
    if (same) {
      for (const d of bus.devices) {
        if (same.devices.some((x) => x.unitId === d.unitId)) report.unmapped.push({ field: `SlaveConfigs.${name}`, reason: `unit ${d.unitId} on the same connection as bus ${same.id} is already imported; merge its values by hand` });
        else same.devices.push(d);
      }
      report.notes.push({ field: `SlaveConfigs.${name}`, message: `same connection as bus ${same.id}; its devices were added to that bus` });
    } else buses.push(bus);
  }
  if (buses.length === 0) throw new ModbusImportError('SlaveConfigs', 'no slave could be imported');
  report.notes.push({ field: 'SlaveConfigs', message: 'no MDC codes or units in the source: readings carry raw codes modbus/<unit>/<table>/<address>; add `mdc` and `unit` to each value for clinical use' });
  const options: ModbusOptions = { buses };
  try {
    buildPlan(options);
  } catch (e) {
    if (e instanceof ModbusConfigError) for (const p of e.problems) report.unmapped.push({ field: p.field, reason: `result does not validate: ${p.message}` });
    else throw e;
  }
  return { options, report };
}

export function formatReport(report: ImportReport): string {
  const lines: string[] = [];
  lines.push(`Not mapped (${report.unmapped.length}):`);
  for (const u of report.unmapped) lines.push(`  - ${u.field}${u.value !== undefined ? ` = ${JSON.stringify(u.value)}` : ''}: ${u.reason}`);
  lines.push(`Check (${report.notes.length}):`);
  for (const n of report.notes) lines.push(`  - ${n.field}: ${n.message}`);
  return lines.join('\n') + '\n';
}

// CLI: npx tsx drivers/modbus/import-iot-edge-modbus.ts in.json [--name my-modbus] [--json]
// Prints the driver entry as YAML (or JSON) on stdout and the report on stderr.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1] !== '--name');
  const nameIdx = args.indexOf('--name');
  const name = nameIdx >= 0 ? (args[nameIdx + 1] ?? 'modbus') : 'modbus';
  if (!file) {
    process.stderr.write('usage: npx tsx drivers/modbus/import-iot-edge-modbus.ts <iot-edge-modbus config.json> [--name <driver name>] [--json]\n');
    process.exit(2);
  }
  try {
    const { options, report } = importIotEdgeModbus(JSON.parse(readFileSync(file, 'utf8')) as unknown);
    const entry = { type: 'modbus', name, options };
    if (args.includes('--json')) process.stdout.write(JSON.stringify({ driver: entry, report }, null, 2) + '\n');
    else process.stdout.write(`# Imported from ${file} (iot-edge-modbus). Read-only: the old module's write input has no equivalent.\n${stringify(entry)}`);
    process.stderr.write(formatReport(report));
  } catch (e) {
    process.stderr.write(`import failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
