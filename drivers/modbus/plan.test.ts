import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MDC, UNITS } from '../../agent/model/mdc.js';
import { ChangeFilter } from './change-filter.js';
import { ModbusConfigError } from './errors.js';
import { classify } from './faults.js';
import type { ModbusOptions } from './options.js';
import { DeviceRunner } from './device.js';
import { buildPlan, groupReads, MAX_HEARTBEAT_MS, type PlannedPoint } from './plan.js';
import { judge } from './readings.js';
import { configSchema } from './schema.js';
import { Backoff, interFrameGapMs, rtuReadWireMs } from './timing.js';

const here = dirname(fileURLToPath(import.meta.url));

function base(): ModbusOptions {
  return {
    buses: [
      {
        id: 'line1',
        transport: 'rtu',
        path: '/dev/ttyUSB0',
        baudRate: 9600,
        parity: 'even',
        devices: [
          {
            id: 'gas-1',
            unitId: 1,
            points: [
              { name: 'etco2', table: 'input', address: 0, type: 'float32', mdc: 'MDC_CONC_AWAY_CO2_ET', unit: 'MMHG' },
              { name: 'rr', table: 'input', address: 2, type: 'uint16', mdc: 'MDC_RESP_RATE', unit: 'RESP_PER_MIN' },
            ],
          },
        ],
      },
    ],
  };
}

function problems(opts: unknown): Array<{ field: string; message: string }> {
  try {
    buildPlan(opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ModbusConfigError);
    return (e as ModbusConfigError).problems;
  }
  throw new Error('expected the config to be rejected');
}

describe('buildPlan', () => {
  it('builds grouped reads with decoders, MDC terms and units', () => {
    const plan = buildPlan(base());
    const bus = plan.buses[0];
    expect(bus?.transport).toBe('rtu');
    // 9600 baud: 3.5 × 11 bits / 9600 = 4.01 ms → 5 ms
    expect(bus?.gapMs).toBe(5);
    const dev = bus?.devices[0];
    expect(dev?.groups).toHaveLength(1);
    expect(dev?.groups[0]).toMatchObject({ table: 'input', address: 0, count: 3, label: 'input 0..2' });
    const [etco2, rr] = dev?.groups[0]?.points ?? [];
    expect(etco2?.point.mdc).toEqual(MDC.CONC_AWAY_CO2_ET);
    expect(etco2?.point.unit).toEqual(UNITS.MMHG);
    expect(rr?.at).toBe(2);
    expect(rr?.point.raw).toEqual({ system: 'modbus', code: '1/input/2', text: 'rr' });
    expect(etco2?.point.decode([0x42c5, 0])).toBe(98.5);
  });

  it('names every bad field at once', () => {
    const o = base() as unknown as { buses: Array<Record<string, unknown> & { devices: Array<Record<string, unknown> & { points: Array<Record<string, unknown>> }> }> };
    const bus = o.buses[0]!;
    const dev = bus.devices[0]!;
    dev.points.push({ name: 'etco2', table: 'input', address: 10 }); // duplicate name
    dev.points.push({ name: 'x', table: 'holding', address: 65535, type: 'float32' }); // runs past the end
    dev.points.push({ name: 'y', table: 'coil', address: 0, type: 'int16' }); // coil with register type
    dev.points.push({ name: 'z', table: 'holding', address: 0, type: 'bitfield', bit: 12, bitLength: 8 });
    dev.points.push({ name: 's', table: 'holding', address: 0, type: 'string' }); // no length
    dev.points.push({ name: 'b', table: 'holding', address: 0, type: 'bool', scale: 2 });
    dev.points.push({ name: 'm', table: 'holding', address: 0, mdc: 'MDC_NOT_A_THING' });
    dev.points.push({ name: 'w', table: 'holding', address: 0, write: true });
    const ps = problems(o);
    const fields = ps.map((p) => p.field);
    expect(fields).toContain('options.buses[0].devices[0].points[2].name');
    expect(fields).toContain('options.buses[0].devices[0].points[3].address');
    expect(fields).toContain('options.buses[0].devices[0].points[4].type');
    expect(fields).toContain('options.buses[0].devices[0].points[5].bitLength');
    expect(fields).toContain('options.buses[0].devices[0].points[6].length');
    expect(fields).toContain('options.buses[0].devices[0].points[7].scale');
    expect(fields).toContain('options.buses[0].devices[0].points[8].mdc');
    expect(fields).toContain('options.buses[0].devices[0].points[9].write');
    expect(ps.find((p) => p.field.endsWith('points[9].write'))?.message).toMatch(/only reads/);
  });

  it('rejects bus-level mistakes', () => {
    const o = base();
    const bus = o.buses[0]!;
    o.buses.push({ ...bus, id: 'line2' }); // same serial path twice
    bus.devices.push({ id: 'gas-1', unitId: 1, points: [{ name: 'a', table: 'input', address: 9 }] }); // dup id + unit
    bus.devices.push({ id: 'bcast', unitId: 0, points: [{ name: 'a', table: 'input', address: 9 }] }); // RTU broadcast
    const fields = problems(o).map((p) => p.field);
    expect(fields).toContain('options.buses[1].path');
    expect(fields).toContain('options.buses[0].devices[1].id');
    expect(fields).toContain('options.buses[0].devices[1].unitId');
    expect(fields).toContain('options.buses[0].devices[2].unitId');
    expect(problems({ buses: [] })[0]?.field).toBe('options.buses');
    expect(problems({ buses: [{ id: 'x', transport: 'udp', devices: [] }] })[0]?.field).toBe('options.buses[0].transport');
    expect(problems({ buses: [{ id: 'x', transport: 'tcp', devices: [{ id: 'd', unitId: 1, points: [{ name: 'a', table: 'input', address: 0 }] }] }] }).map((p) => p.field)).toEqual(['options.buses[0].host']);
  });

  it('never throws anything but ModbusConfigError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        try {
          buildPlan(x);
        } catch (e) {
          expect(e).toBeInstanceOf(ModbusConfigError);
        }
      }),
      { numRuns: 500 },
    );
    const pointArb = fc.record({
      name: fc.constantFrom('a', 'b', 'c'),
      table: fc.constantFrom('coil', 'discrete', 'input', 'holding', 'nope'),
      address: fc.integer({ min: -1, max: 66000 }),
      type: fc.constantFrom('bool', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64', 'bitfield', 'string', 'x'),
      length: fc.option(fc.integer({ min: -1, max: 200 }), { nil: undefined }),
      bit: fc.option(fc.integer({ min: -1, max: 20 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(pointArb, { minLength: 1, maxLength: 6 }), (points) => {
        try {
          buildPlan({ buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'd', unitId: 1, points }] }] });
        } catch (e) {
          expect(e).toBeInstanceOf(ModbusConfigError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** A TCP (or RTU) plan with one device (unit id `unitId`) holding the given points. */
function onePlan(points: unknown[], unitId = 1, transport: 'tcp' | 'rtu' = 'tcp'): unknown {
  const bus = transport === 'tcp' ? { id: 'b', transport, host: 'h' } : { id: 'b', transport, path: '/dev/ttyS0', baudRate: 9600 };
  return { buses: [{ ...bus, devices: [{ id: 'd', unitId, points }] }] };
}

function firstPoint(points: unknown[]): PlannedPoint {
  return (buildPlan(onePlan(points)).buses[0]!.devices[0]!.groups[0]!.points[0] as { point: PlannedPoint }).point;
}

/** The register words a big-endian float32 device sends for x. */
function f32words(x: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return [b.readUInt16BE(0), b.readUInt16BE(2)];
}

describe('unit ids', () => {
  it('1..247 on both transports, 0 and 255 on TCP only; 248..254 rejected naming the field', () => {
    for (const u of [1, 247]) {
      expect(() => buildPlan(onePlan([{ name: 'a', table: 'holding', address: 0 }], u, 'tcp'))).not.toThrow();
      expect(() => buildPlan(onePlan([{ name: 'a', table: 'holding', address: 0 }], u, 'rtu'))).not.toThrow();
    }
    expect(buildPlan(onePlan([{ name: 'a', table: 'holding', address: 0 }], 255, 'tcp')).buses[0]!.devices[0]!.unitId).toBe(255);
    for (const [u, transport] of [[248, 'tcp'], [254, 'tcp'], [0, 'rtu'], [248, 'rtu'], [255, 'rtu']] as const) {
      const found = problems(onePlan([{ name: 'a', table: 'holding', address: 0 }], u, transport));
      expect(found, `${transport} ${u}`).toEqual([{ field: 'options.buses[0].devices[0].unitId', message: expect.stringContaining(`got ${u}`) }]);
    }
    expect(problems(onePlan([{ name: 'a', table: 'holding', address: 0 }], 0, 'rtu'))[0]?.message).toMatch(/0 is broadcast/);
    expect(problems(onePlan([{ name: 'a', table: 'holding', address: 0 }], 248, 'tcp'))[0]?.message).not.toMatch(/broadcast/);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(configSchema);
    expect(validate(onePlan([{ name: 'a', table: 'holding', address: 0 }], 256))).toBe(false);
    expect(validate.errors?.[0]?.instancePath).toBe('/buses/0/devices/0/unitId');
  });

  it('unit id 0 on TCP: a device addressed directly (MODBUS Messaging on TCP/IP Implementation Guide accepts 0 as well as 255)', () => {
    expect(buildPlan(onePlan([{ name: 'a', table: 'holding', address: 0 }], 0, 'tcp')).buses[0]!.devices[0]!.unitId).toBe(0);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(configSchema);
    expect(validate(onePlan([{ name: 'a', table: 'holding', address: 0 }], 0, 'tcp'))).toBe(true);
  });
});

describe('serial line settings', () => {
  it('refuses 7 data bits on an RTU line, naming the field (RTU characters are 8-bit; 7 is Modbus ASCII)', () => {
    const opts = base();
    const bus = opts.buses[0]!;
    if (bus.transport !== 'rtu') throw new Error('base() is an RTU bus');
    bus.dataBits = 7;
    expect(problems(opts)).toEqual([{ field: 'options.buses[0].dataBits', message: expect.stringMatching(/8 data bits.*ASCII/) }]);
    bus.dataBits = 8;
    expect(buildPlan(opts).buses[0]).toMatchObject({ transport: 'rtu', dataBits: 8 });
  });
});

describe('reads sized to the line speed (RTU)', () => {
  /** One device on a line at `baudRate` reading holding 0..n-1, one uint16 each (merged into as few reads as allowed). */
  function line(baudRate: number, n: number, extra: Record<string, unknown> = {}, transport: 'rtu' | 'tcp' = 'rtu'): unknown {
    const points = Array.from({ length: n }, (_, i) => ({ name: `r${i}`, table: 'holding', address: i }));
    const bus = transport === 'rtu' ? { id: 'l', transport, path: '/dev/ttyS0', baudRate } : { id: 'l', transport, host: 'h' };
    return { buses: [{ ...bus, ...extra, devices: [{ id: 'd', unitId: 1, points }] }] };
  }
  const groupsOf = (opts: unknown) => buildPlan(opts).buses[0]!.devices[0]!.groups;

  it('wire time of a read: request and answer at 11 bits a character, with the 3.5-character silences', () => {
    // 125 registers: 8 + 255 bytes = 2893 bits, 1205 ms at 2400 baud, + 2 × 16.04 ms
    expect(rtuReadWireMs(2400, false, 125)).toBeCloseTo(1237.5, 1);
    // 16 coils: 8 + 7 bytes; above 19200 baud the silence is 1.75 ms
    expect(rtuReadWireMs(38400, true, 16)).toBeCloseTo((15 * 11 * 1000) / 38400 + 3.5, 6);
  });

  it('at 1200 and 2400 baud, merged reads are split so each fits in half of timeoutMs; every register is still read once', () => {
    for (const baudRate of [1200, 2400]) {
      for (const timeoutMs of [undefined, 600]) {
        const groups = groupsOf(line(baudRate, 125, timeoutMs ? { timeoutMs } : {}));
        const budget = (timeoutMs ?? 1000) / 2;
        expect(groups.length, `${baudRate} baud`).toBeGreaterThan(1);
        for (const g of groups) expect(rtuReadWireMs(baudRate, false, g.count), `${baudRate} baud ${g.label}`).toBeLessThanOrEqual(budget);
        // None needlessly small: one more register would not fit.
        expect(Math.max(...groups.map((g) => rtuReadWireMs(baudRate, false, g.count + 1)))).toBeGreaterThan(budget);
        for (const g of groups) for (const { point, at } of g.points) expect(g.address + at).toBe(point.address);
        const read = groups.flatMap((g) => g.points.map(({ point }) => point.address));
        expect(read.sort((a, b) => a - b)).toEqual(Array.from({ length: 125 }, (_, i) => i));
        for (const g of groups) expect(g.label).toBe(`holding ${g.address}..${g.address + g.count - 1}`);
      }
    }
    // 2400 baud, default timeout: 44 registers fit in 500 ms (463 ms), 45 do not.
    expect(groupsOf(line(2400, 125)).map((g) => g.count)).toEqual([44, 44, 37]);
  });

  it('fast lines and TCP keep reads of up to 125 registers', () => {
    expect(groupsOf(line(19200, 125)).map((g) => g.count)).toEqual([125]);
    expect(groupsOf(line(1200, 125, {}, 'tcp')).map((g) => g.count)).toEqual([125]);
  });

  it('a value too long for the line on its own is refused naming timeoutMs, with the wire time and a value that fits', () => {
    const opts = { buses: [{ id: 'l', transport: 'rtu', path: '/dev/ttyS0', baudRate: 1200, devices: [{ id: 'vent', unitId: 1, points: [{ name: 'serial', table: 'holding', address: 0, type: 'string', length: 60 }] }] }] };
    // 8 + 125 bytes at 1200 baud: 1219 ms + 2 × 32 ms = 1283 ms; twice that, rounded up to 100 ms: 2600.
    expect(problems(opts)).toEqual([
      { field: 'options.buses[0].timeoutMs', message: expect.stringMatching(/^1000 ms \(the default\) is too short .*1200 baud.*"serial" of device "vent" \(60 registers\) takes 1283 ms on the wire.*at least 2600$/) },
    ]);
    const fixed = { buses: [{ ...opts.buses[0], timeoutMs: 2600 }] };
    expect(buildPlan(fixed).buses[0]!.devices[0]!.groups.map((g) => g.count)).toEqual([60]);
  });
});

describe('sentinels the register type can never produce', () => {
  const field = 'options.buses[0].devices[0].points[0].sentinels[0].value';
  const point = (type: string, value: unknown, extra: Record<string, unknown> = {}) => [
    { name: 'v', table: 'holding', address: 0, type, ...extra, sentinels: [{ value, quality: 'unavailable', reason: 'sensor-off' }] },
  ];

  it('are refused naming the field, the type\'s range and the value meant (-1 on uint16, 32768 on int16, a scaled value)', () => {
    expect(problems(onePlan(point('uint16', -1)))).toEqual([{ field, message: '-1 can never be read from a uint16 (0..65535); did you mean 65535 (0xFFFF)?' }]);
    expect(problems(onePlan(point('int16', 32768, { scale: 0.1 })))).toEqual([{ field, message: '32768 can never be read from an int16 (-32768..32767); did you mean -32768 (0x8000)?' }]);
    expect(problems(onePlan(point('int16', 3276.7, { scale: 0.1 })))).toEqual([{ field, message: expect.stringMatching(/^3276\.7 can never be read from an int16, which holds whole numbers: a sentinel is the raw register value, before scale and offset; did you mean 32767\?$/) }]);
    expect(problems(onePlan(point('bitfield', 4, { bit: 0, bitLength: 2 })))).toEqual([{ field, message: '4 can never be read from a bitfield (0..3)' }]);
    expect(problems(onePlan(point('uint32', 2 ** 32)))).toEqual([{ field, message: expect.stringContaining('(0..4294967295)') }]);
    expect(problems(onePlan(point('uint16', 'n/a')))).toEqual([{ field, message: 'must be a number or a hex string such as "0xFFFF" for a uint16 value, got "n/a"' }]);
    expect(problems(onePlan(point('uint16', '0x10000')))).toEqual([{ field, message: '0x10000 does not fit the 16 bit(s) of a uint16' }]);
    expect(problems(onePlan(point('float32', '0x7FC00000')))).toEqual([{ field, message: expect.stringMatching(/^must be a number for a float32 value/) }]);
    expect(problems(onePlan(point('string', 0, { length: 2 })))).toEqual([{ field, message: expect.stringMatching(/^a string value is compared as text/) }]);
  });

  it('a hex string gives the register bits, read as the type reads them, and matches', () => {
    const cases: Array<[string, string, number[]]> = [
      ['uint16', '0xFFFF', [0xffff]],
      ['int16', '0x8000', [0x8000]],
      ['int16', '0xffff', [0xffff]],
      ['int32', '0xFFFFFFFF', [0xffff, 0xffff]],
    ];
    for (const [type, hex, words] of cases) {
      const pt = firstPoint(point(type, hex, { scale: 0.1 }));
      expect(judge(pt, pt.decode(words)), `${type} ${hex}`).toEqual({ value: null, quality: { state: 'unavailable', reasons: ['sensor-off'] } });
      expect(judge(pt, pt.decode(words.map(() => 1))).quality.state).toBe('valid');
    }
  });
});

describe('float32 values', () => {
  it('a float32 sentinel matches what the device sends, though the number is not exactly representable', () => {
    for (const s of [9999.9, -999.9, 0.1, 3.4028235e38]) {
      const pt = firstPoint([{ name: 'v', table: 'input', address: 0, type: 'float32', sentinels: [{ value: s, quality: 'unavailable', reason: 'no-value' }] }]);
      expect(judge(pt, pt.decode(f32words(s))), String(s)).toEqual({ value: null, quality: { state: 'unavailable', reasons: ['no-value'] } });
      expect(judge(pt, pt.decode(f32words(12.5))).quality.state).toBe('valid');
    }
  });

  it('a float32 sentinel beyond the float32 range is a config error naming it', () => {
    expect(problems(onePlan([{ name: 'v', table: 'input', address: 0, type: 'float32', sentinels: [{ value: 1e39, quality: 'invalid' }] }])).map((p) => p.field)).toEqual([
      'options.buses[0].devices[0].points[0].sentinels[0].value',
    ]);
  });

  it('a float32 value is reported without its representation error, before scale and offset', () => {
    const pt = firstPoint([{ name: 't', table: 'input', address: 0, type: 'float32' }]);
    expect(judge(pt, pt.decode(f32words(37.2))).value).toBe(37.2);
    const scaled = firstPoint([{ name: 't', table: 'input', address: 0, type: 'float32', scale: 10, offset: 0.5 }]);
    expect(judge(scaled, scaled.decode(f32words(37.2))).value).toBe(372.5);
  });
});

describe('setting', () => {
  it('marks the point as a setting; anything but a boolean is refused by the plan and the schema, naming the field', () => {
    expect(firstPoint([{ name: 'rate', table: 'holding', address: 0, setting: true }]).setting).toBe(true);
    expect(firstPoint([{ name: 'rate', table: 'holding', address: 0, setting: false }]).setting).toBeUndefined();
    const bad = onePlan([{ name: 'rate', table: 'holding', address: 0, setting: 'yes' }]);
    expect(problems(bad)).toEqual([{ field: 'options.buses[0].devices[0].points[0].setting', message: 'must be true or false' }]);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(configSchema);
    expect(validate(bad)).toBe(false);
    expect(validate.errors?.[0]?.instancePath).toBe('/buses/0/devices/0/points/0/setting');
  });
});

describe('heartbeat', () => {
  it('defaults to 5 s; a longer one is rejected by the plan and the schema, naming the field', () => {
    expect(firstPoint([{ name: 'v', table: 'holding', address: 0, deadband: 1 }]).filter.heartbeatMs).toBe(5000);
    const bad = onePlan([{ name: 'v', table: 'holding', address: 0, deadband: 1, heartbeatMs: 60_000 }]);
    expect(problems(bad)).toEqual([{ field: 'options.buses[0].devices[0].points[0].heartbeatMs', message: expect.stringMatching(/at most 5000 ms, got 60000: .*stale/) }]);
    const validate = new Ajv({ allErrors: true, strict: false }).compile(configSchema);
    expect(validate(bad)).toBe(false);
    expect(validate.errors?.[0]?.instancePath).toBe('/buses/0/devices/0/points/0/heartbeatMs');
    expect(() => buildPlan(onePlan([{ name: 'v', table: 'holding', address: 0, deadband: 1, heartbeatMs: MAX_HEARTBEAT_MS }]))).not.toThrow();
  });

  it('a steady value behind a deadband, polled every second for 35 s of simulated time, is reported at least every 5 s', () => {
    const pt = firstPoint([{ name: 'spo2', table: 'holding', address: 0, deadband: 1 }]);
    const filter = new ChangeFilter(pt.filter);
    const reported: number[] = [];
    for (let t = 0; t <= 35_000; t += 1000) {
      const { value, quality } = judge(pt, pt.decode([98]));
      if (filter.accept(value, quality, t)) reported.push(t);
    }
    const gaps = reported.slice(1).map((t, i) => t - reported[i]!);
    expect(reported[0]).toBe(0);
    expect(reported.at(-1)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5000);
  });
});

describe('poll schedule', () => {
  it('stays on its own grid when reads start late, and skips ticks it missed instead of catching up', () => {
    const plan = buildPlan({ buses: [{ id: 'b', transport: 'tcp', host: 'h', devices: [{ id: 'd', unitId: 1, pollIntervalMs: 200, points: [{ name: 'a', table: 'holding', address: 0 }] }] }] });
    const dev = new DeviceRunner(plan.buses[0]!.devices[0]!, { source: 's', offlineAfterFailures: 3, backoff: { initialMs: 1000, maxMs: 30_000 } }, 0);
    const due: number[] = [];
    for (let i = 0; i < 100; i++) {
      const { group, at } = dev.next();
      due.push(at);
      dev.succeeded(group, [1], at + 5); // each read starts 3 ms late and takes 2 ms
    }
    expect(due).toEqual(due.map((_, i) => i * 200));
    // A read that ends 1 s late (say the bus was busy): the next one is the next tick, not five at once.
    const { group, at } = dev.next();
    dev.succeeded(group, [1], at + 1010);
    expect(dev.next().at).toBe(at + 1200);
  });
});

describe('groupReads', () => {
  const pt = (address: number, width = 1, table: PlannedPoint['table'] = 'holding', intervalMs = 1000) =>
    ({ name: `p${address}`, table, address, width, intervalMs }) as PlannedPoint & { intervalMs: number };

  it('merges contiguous values, splits at gaps, tables, intervals and the size limit', () => {
    const groups = groupReads([pt(0, 2), pt(2), pt(5), pt(0, 1, 'input'), pt(3, 1, 'holding', 5000), pt(6, 2)], { maxGap: 0, maxRegisters: 125, maxBits: 2000 });
    expect(groups.map((g) => g.label).sort()).toEqual(['holding 0..2', 'holding 3..3', 'holding 5..7', 'input 0..0'].sort());
    const bridged = groupReads([pt(0), pt(3)], { maxGap: 2, maxRegisters: 125, maxBits: 2000 });
    expect(bridged.map((g) => [g.address, g.count])).toEqual([[0, 4]]);
    const limited = groupReads([pt(0, 2), pt(2, 2)], { maxGap: 0, maxRegisters: 3, maxBits: 2000 });
    expect(limited.map((g) => [g.address, g.count])).toEqual([
      [0, 2],
      [2, 2],
    ]);
    // overlapping values (two bit fields of one register) share the read
    const overlap = groupReads([pt(7), pt(7)], { maxGap: 0, maxRegisters: 125, maxBits: 2000 });
    expect(overlap.map((g) => [g.address, g.count, g.points.length])).toEqual([[7, 1, 2]]);
  });
});

describe('change filter', () => {
  it('reports only moves beyond the deadband, quality changes, and a heartbeat', () => {
    const f = new ChangeFilter({ deadband: 0.5, reportOnChange: false, heartbeatMs: 10_000 });
    expect(f.accept(10, { state: 'valid' }, 0)).toBe(true);
    expect(f.accept(10.4, { state: 'valid' }, 1000)).toBe(false);
    expect(f.accept(10.6, { state: 'valid' }, 2000)).toBe(true);
    expect(f.accept(10.6, { state: 'questionable' }, 3000)).toBe(true);
    expect(f.accept(10.6, { state: 'questionable' }, 4000)).toBe(false);
    expect(f.accept(10.6, { state: 'questionable' }, 13_000)).toBe(true);
  });
  it('report-on-change compares strings and nulls exactly; no filter passes everything', () => {
    const f = new ChangeFilter({ reportOnChange: true, heartbeatMs: 60_000 });
    expect(f.accept('A', { state: 'valid' }, 0)).toBe(true);
    expect(f.accept('A', { state: 'valid' }, 1)).toBe(false);
    expect(f.accept(null, { state: 'unavailable' }, 2)).toBe(true);
    const none = new ChangeFilter({ reportOnChange: false, heartbeatMs: 60_000 });
    expect(none.accept(1, { state: 'valid' }, 0) && none.accept(1, { state: 'valid' }, 1)).toBe(true);
  });
});

describe('timing', () => {
  it('inter-frame gap is 3.5 characters of 11 bits, fixed 1.75 ms above 19200 baud, in whole ms', () => {
    expect(interFrameGapMs(9600)).toBe(5); // 4.01 ms
    expect(interFrameGapMs(19200)).toBe(3); // 2.005 ms
    expect(interFrameGapMs(1200)).toBe(33); // 32.08 ms
    expect(interFrameGapMs(115200)).toBe(2); // 1.75 ms
  });
  it('backoff doubles up to its cap and resets', () => {
    const b = new Backoff(100, 1000);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });
});

describe('fault classification', () => {
  it('maps modbus-serial errors to kinds and counters', () => {
    expect(classify({ name: 'TransactionTimedOutError', message: 'Timed out', errno: 'ETIMEDOUT' })).toMatchObject({ kind: 'timeout', counter: 'timeouts', communication: true });
    expect(classify(Object.assign(new Error('Modbus exception 2: Illegal data address'), { modbusCode: 2 }))).toMatchObject({ kind: 'exception', code: 2, counter: 'exception_illegal_address', communication: false });
    expect(classify(Object.assign(new Error('x'), { modbusCode: 6 }))).toMatchObject({ counter: 'exception_device_busy' });
    expect(classify(Object.assign(new Error('x'), { modbusCode: 11 }))).toMatchObject({ communication: true });
    expect(classify(new Error('CRC error'))).toMatchObject({ kind: 'crc', counter: 'crc_errors' });
    expect(classify(new Error('Data length error, expected 9 got 7'))).toMatchObject({ kind: 'bad-frame' });
    const overrun = Object.assign(new RangeError('The value of "offset" is out of range.'), { code: 'ERR_OUT_OF_RANGE' });
    expect(classify(overrun)).toMatchObject({ kind: 'bad-frame', counter: 'bad_frames', communication: true });
    expect(classify(new RangeError('Maximum call stack size exceeded'))).toMatchObject({ kind: 'other' });
    expect(classify({ name: 'PortNotOpenError', message: 'Port Not Open' })).toMatchObject({ kind: 'disconnected' });
  });
});

describe('quality from the map', () => {
  const plan = buildPlan({
    buses: [
      {
        id: 'b',
        transport: 'tcp',
        host: 'h',
        devices: [
          {
            id: 'd',
            unitId: 1,
            points: [
              { name: 'spo2', table: 'holding', address: 0, type: 'int16', scale: 0.1, sentinels: [{ value: -1, quality: 'unavailable', reason: 'sensor-off' }, { value: 9999, quality: 'questionable' }], validRange: { min: 0, max: 100 } },
              { name: 'f', table: 'holding', address: 1, type: 'float32' },
            ],
          },
        ],
      },
    ],
  });
  const [spo2, f] = plan.buses[0]!.devices[0]!.groups[0]!.points.map((p) => p.point);
  it('sentinels, range and NaN mark quality', () => {
    expect(judge(spo2!, 975)).toEqual({ value: 97.5, quality: { state: 'valid' } });
    expect(judge(spo2!, -1)).toEqual({ value: null, quality: { state: 'unavailable', reasons: ['sensor-off'] } });
    expect(judge(spo2!, 9999)).toEqual({ value: 999.9, quality: { state: 'questionable', reasons: ['sentinel'] } });
    expect(judge(spo2!, 1200)).toEqual({ value: 120, quality: { state: 'questionable', reasons: ['out-of-range'] } });
    expect(judge(f!, Number.NaN)).toEqual({ value: null, quality: { state: 'invalid', reasons: ['not-a-number'] } });
  });
});

describe('read-only by design', () => {
  it('the config schema has no way to express a write', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(configSchema);
    expect(validate(base())).toBe(true);
    const withWrite = base() as unknown as { buses: Array<{ devices: Array<{ points: Array<Record<string, unknown>> }> }> };
    withWrite.buses[0]!.devices[0]!.points[0]!.write = 42;
    expect(validate(withWrite)).toBe(false);
    expect(validate({ ...base(), writes: [] })).toBe(false);
    expect(JSON.stringify(configSchema)).not.toMatch(/"write/i);
  });

  it('no driver source calls a modbus-serial write function', () => {
    // The simulator (a device, which answers) and tests are not the driver.
    const files = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'simulator.ts');
    expect(files).toContain('transport.ts');
    for (const f of files) {
      const src = readFileSync(join(here, f), 'utf8');
      expect(src, f).not.toMatch(/\.(writeFC\d+|writeCoils?|writeRegisters?|writeRegisterEnron|maskWriteRegister|customFunction|writeCustomFC)\s*\(/);
    }
  });
});
