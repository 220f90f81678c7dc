// The project's own Modbus device simulator, for tests, the benchmark and bench-top trials.
// - RegisterBank: per-unit coils / discrete inputs / input / holding registers, plus fault switches
//   (a unit stops answering, answers with an exception, sends corrupt CRCs, answers late).
// - TCP server on modbus-serial's ServerTCP.
// - RTU server with its own framing on a real serial port (or one end of a pty pair).
// Addresses never set answer "illegal data address", as a real device with gaps in its map does.
import { pathToFileURL } from 'node:url';
import modbusSerial from 'modbus-serial';
import { SerialPort } from 'serialport';
import { crcOk, withCrc } from './crc.js';
import type { ByteOrder, ValueType } from './decode.js';
import type { PointOptions, Table } from './options.js';

interface UnitMemory {
  coil: Map<number, boolean>;
  discrete: Map<number, boolean>;
  input: Map<number, number>;
  holding: Map<number, number>;
}

export type SimAnswer =
  | { kind: 'registers'; words: number[] }
  | { kind: 'bits'; bits: boolean[] }
  | { kind: 'exception'; code: number }
  | { kind: 'silent' };

export class RegisterBank {
  private readonly units = new Map<number, UnitMemory>();
  private readonly silent = new Set<number>();
  private readonly exceptions = new Map<string, number>();
  private readonly corrupt = new Map<number, number>();
  private readonly delays = new Map<number, number>();
  /** Requests answered or ignored, per unit. */
  readonly requests = new Map<number, number>();

  unit(unitId: number): UnitMemory {
    let u = this.units.get(unitId);
    if (!u) {
      u = { coil: new Map(), discrete: new Map(), input: new Map(), holding: new Map() };
      this.units.set(unitId, u);
    }
    return u;
  }

  setRegisters(unitId: number, table: 'input' | 'holding', address: number, words: number[]): void {
    const m = this.unit(unitId)[table];
    words.forEach((w, i) => m.set(address + i, w & 0xffff));
  }

  setBits(unitId: number, table: 'coil' | 'discrete', address: number, bits: boolean[]): void {
    const m = this.unit(unitId)[table];
    bits.forEach((b, i) => m.set(address + i, b));
  }

  /** The unit stops answering entirely (as if unplugged) until called again with false. */
  setSilent(unitId: number, silent: boolean): void {
    if (silent) this.silent.add(unitId);
    else this.silent.delete(unitId);
  }

  /** Answer reads touching this address with a Modbus exception (e.g. 6 = busy); code 0 clears it. */
  setException(unitId: number, table: Table, address: number, code: number): void {
    const key = `${unitId}/${table}/${address}`;
    if (code === 0) this.exceptions.delete(key);
    else this.exceptions.set(key, code);
  }

  /** RTU only: the next n answers of this unit carry a wrong CRC. */
  corruptNext(unitId: number, n: number): void {
    this.corrupt.set(unitId, n);
  }

  /** RTU only: the unit's next answer comes `ms` late, and it ignores requests until then (busy). */
  delayNext(unitId: number, ms: number): void {
    this.delays.set(unitId, ms);
  }

  /** RTU server asks how late to send this answer (0: now). */
  takeDelay(unitId: number): number {
    const ms = this.delays.get(unitId) ?? 0;
    this.delays.delete(unitId);
    return ms;
  }

  /** RTU server asks whether to spoil this answer's CRC. */
  takeCorrupt(unitId: number): boolean {
    const n = this.corrupt.get(unitId) ?? 0;
    if (n <= 0) return false;
    this.corrupt.set(unitId, n - 1);
    return true;
  }

  read(unitId: number, table: Table, address: number, count: number): SimAnswer {
    this.requests.set(unitId, (this.requests.get(unitId) ?? 0) + 1);
    const u = this.units.get(unitId);
    if (!u || this.silent.has(unitId)) return { kind: 'silent' };
    for (let a = address; a < address + count; a++) {
      const code = this.exceptions.get(`${unitId}/${table}/${a}`);
      if (code) return { kind: 'exception', code };
    }
    if (table === 'coil' || table === 'discrete') {
      const bits: boolean[] = [];
      for (let a = address; a < address + count; a++) {
        const b = u[table].get(a);
        if (b === undefined) return { kind: 'exception', code: 2 };
        bits.push(b);
      }
      return { kind: 'bits', bits };
    }
    const words: number[] = [];
    for (let a = address; a < address + count; a++) {
      const w = u[table].get(a);
      if (w === undefined) return { kind: 'exception', code: 2 };
      words.push(w);
    }
    return { kind: 'registers', words };
  }
}

// ---------------------------------------------------------------------------------------------
// Known values: every type in every byte order, as literal register words (written out by hand from
// the IEEE 754 / two's complement encodings, not produced by the driver's decoder).

export interface KnownPoint {
  name: string;
  table: Table;
  address: number;
  type: ValueType;
  order?: ByteOrder;
  length?: number;
  bit?: number;
  bitLength?: number;
  scale?: number;
  offset?: number;
  words?: number[];
  bits?: boolean[];
  /** The value the driver must report (after scale/offset); null for a sentinel. */
  expected: number | string | null;
  /** float32 values are compared to this many decimals. */
  digits?: number;
  sentinel?: number;
}

const o4 = (name: string, type: ValueType, base: number, step: number, w: Record<ByteOrder, number[]>, expected: number, digits?: number): KnownPoint[] =>
  (['ABCD', 'CDAB', 'BADC', 'DCBA'] as const).map((order, i) => ({
    name: `${name}_${order}`,
    table: 'holding' as const,
    address: base + i * step,
    type,
    order,
    words: w[order],
    expected,
    ...(digits !== undefined ? { digits } : {}),
  }));

export const KNOWN_POINTS: KnownPoint[] = [
  // -12345 = 0xCFC7
  ...o4('int16', 'int16', 0, 1, { ABCD: [0xcfc7], CDAB: [0xcfc7], BADC: [0xc7cf], DCBA: [0xc7cf] }, -12345),
  // 54321 = 0xD431
  ...o4('uint16', 'uint16', 10, 1, { ABCD: [0xd431], CDAB: [0xd431], BADC: [0x31d4], DCBA: [0x31d4] }, 54321),
  // -123456789 = 0xF8A432EB
  ...o4('int32', 'int32', 20, 2, { ABCD: [0xf8a4, 0x32eb], CDAB: [0x32eb, 0xf8a4], BADC: [0xa4f8, 0xeb32], DCBA: [0xeb32, 0xa4f8] }, -123456789),
  // 3000000000 = 0xB2D05E00
  ...o4('uint32', 'uint32', 30, 2, { ABCD: [0xb2d0, 0x5e00], CDAB: [0x5e00, 0xb2d0], BADC: [0xd0b2, 0x005e], DCBA: [0x005e, 0xd0b2] }, 3000000000),
  // 123.456f = 0x42F6E979
  ...o4('float32', 'float32', 40, 2, { ABCD: [0x42f6, 0xe979], CDAB: [0xe979, 0x42f6], BADC: [0xf642, 0x79e9], DCBA: [0x79e9, 0xf642] }, 123.456, 4),
  // pi = 0x400921FB54442D18
  ...o4(
    'float64',
    'float64',
    50,
    4,
    {
      ABCD: [0x4009, 0x21fb, 0x5444, 0x2d18],
      CDAB: [0x2d18, 0x5444, 0x21fb, 0x4009],
      BADC: [0x0940, 0xfb21, 0x4454, 0x182d],
      DCBA: [0x182d, 0x4454, 0xfb21, 0x0940],
    },
    Math.PI,
  ),
  // 0xA635 = 1010 0110 0011 0101: bits 4..7 = 0011 = 3, bit 13 = 1
  { name: 'bits4_7', table: 'holding', address: 70, type: 'bitfield', bit: 4, bitLength: 4, words: [0xa635], expected: 3 },
  { name: 'bit13', table: 'holding', address: 70, type: 'bitfield', bit: 13, expected: 1 },
  // "ICU-VENT1" NUL-padded in 5 registers
  { name: 'string_ABCD', table: 'holding', address: 80, type: 'string', order: 'ABCD', length: 5, words: [0x4943, 0x552d, 0x5645, 0x4e54, 0x3100], expected: 'ICU-VENT1' },
  { name: 'string_BADC', table: 'holding', address: 90, type: 'string', order: 'BADC', length: 5, words: [0x4349, 0x2d55, 0x4556, 0x544e, 0x0031], expected: 'ICU-VENT1' },
  { name: 'bool_register', table: 'holding', address: 100, type: 'bool', words: [0x0100], expected: 1 },
  // 372 × 0.1 = 37.2 (e.g. a temperature in tenths)
  { name: 'scaled', table: 'holding', address: 110, type: 'int16', scale: 0.1, words: [372], expected: 37.2, digits: 9 },
  // 1000 × 0.01 − 5 = 5
  { name: 'scaled_offset', table: 'holding', address: 111, type: 'uint16', scale: 0.01, offset: -5, words: [1000], expected: 5, digits: 9 },
  // 0x7FFF is this simulated device's "no value"
  { name: 'sentinel', table: 'holding', address: 120, type: 'int16', words: [0x7fff], expected: null, sentinel: 32767 },
  // 98.5f = 0x42C50000 in an input register
  { name: 'input_float', table: 'input', address: 0, type: 'float32', order: 'ABCD', words: [0x42c5, 0x0000], expected: 98.5 },
  { name: 'coil0', table: 'coil', address: 0, type: 'bool', bits: [true, false, true, true], expected: 1 },
  { name: 'coil1', table: 'coil', address: 1, type: 'bool', expected: 0 },
  { name: 'coil3', table: 'coil', address: 3, type: 'bool', expected: 1 },
  { name: 'discrete1', table: 'discrete', address: 0, type: 'bool', bits: [false, true], expected: 0 },
];

/** Load the known values into one unit of a bank. */
export function loadKnownValues(bank: RegisterBank, unitId: number): void {
  for (const k of KNOWN_POINTS) {
    if (k.words && (k.table === 'holding' || k.table === 'input')) bank.setRegisters(unitId, k.table, k.address, k.words);
    if (k.bits && (k.table === 'coil' || k.table === 'discrete')) bank.setBits(unitId, k.table, k.address, k.bits);
  }
}

/** The register map that reads the known values (what a device profile for the simulator looks like). */
export function knownPointOptions(): PointOptions[] {
  return KNOWN_POINTS.map((k) => ({
    name: k.name,
    table: k.table,
    address: k.address,
    type: k.type,
    ...(k.order ? { order: k.order } : {}),
    ...(k.length !== undefined ? { length: k.length } : {}),
    ...(k.bit !== undefined ? { bit: k.bit } : {}),
    ...(k.bitLength !== undefined ? { bitLength: k.bitLength } : {}),
    ...(k.scale !== undefined ? { scale: k.scale } : {}),
    ...(k.offset !== undefined ? { offset: k.offset } : {}),
    ...(k.sentinel !== undefined ? { sentinels: [{ value: k.sentinel, quality: 'unavailable' as const, reason: 'no-value' }] } : {}),
  }));
}

// ---------------------------------------------------------------------------------------------
// TCP

export interface RunningSimulator {
  close(): Promise<void>;
}

type Cb<T> = (err: Error | null, value: T) => void;

/** ServerTCP turns an error carrying `modbusErrorCode` into that exception response. */
function modbusException(code: number): Error {
  return Object.assign(new Error(`modbus exception ${code}`), { modbusErrorCode: code });
}

/** Modbus TCP simulator on loopback; port 0 (default) lets the OS choose. */
export async function startTcpSimulator(bank: RegisterBank, opts: { host?: string; port?: number } = {}): Promise<RunningSimulator & { port: number }> {
  const answer = <T>(r: SimAnswer, pick: (r: SimAnswer) => T, cb: Cb<T>): void => {
    if (r.kind === 'silent') return; // never call back: the client times out
    if (r.kind === 'exception') return cb(modbusException(r.code), undefined as T);
    cb(null, pick(r));
  };
  const word = (r: SimAnswer): number => (r.kind === 'registers' ? (r.words[0] ?? 0) : 0);
  const words = (r: SimAnswer): number[] => (r.kind === 'registers' ? r.words : []);
  const bit = (r: SimAnswer): boolean => (r.kind === 'bits' ? (r.bits[0] ?? false) : false);
  const vector = {
    getCoil: (addr: number, unit: number, cb: Cb<boolean>) => answer(bank.read(unit, 'coil', addr, 1), bit, cb),
    getDiscreteInput: (addr: number, unit: number, cb: Cb<boolean>) => answer(bank.read(unit, 'discrete', addr, 1), bit, cb),
    getInputRegister: (addr: number, unit: number, cb: Cb<number>) => answer(bank.read(unit, 'input', addr, 1), word, cb),
    getHoldingRegister: (addr: number, unit: number, cb: Cb<number>) => answer(bank.read(unit, 'holding', addr, 1), word, cb),
    getMultipleInputRegisters: (addr: number, len: number, unit: number, cb: Cb<number[]>) => answer(bank.read(unit, 'input', addr, len), words, cb),
    getMultipleHoldingRegisters: (addr: number, len: number, unit: number, cb: Cb<number[]>) => answer(bank.read(unit, 'holding', addr, len), words, cb),
  };
  const server = new modbusSerial.ServerTCP(vector, {
    host: opts.host ?? '127.0.0.1',
    // ServerTCP treats a numeric 0 as "not given" and falls back to 502; the string "0" reaches
    // net.listen intact and asks the OS for a free port.
    port: (opts.port ?? '0') as number,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', (err) => reject(err));
  });
  // The bound port is only visible on the underlying net.Server (not in the typings).
  const address = (server as unknown as { _server: { address(): { port: number } } })._server.address();
  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// ---------------------------------------------------------------------------------------------
// RTU: own framing. Read requests (FC1–4) are always 8 bytes: unit, fc, addr(2), count(2), crc(2).

export interface RtuLine {
  path: string;
  baudRate: number;
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
  parity?: 'none' | 'even' | 'odd';
}

const FC_TABLE: Record<number, Table> = { 1: 'coil', 2: 'discrete', 3: 'holding', 4: 'input' };

/** Build the RTU response for one request frame, or null for no answer. Pure, for the server and tests. */
export function rtuRespond(bank: RegisterBank, frame: Uint8Array): Buffer | null {
  const unit = frame[0] as number;
  const fc = frame[1] as number;
  const table = FC_TABLE[fc];
  if (!table) {
    bank.requests.set(unit, (bank.requests.get(unit) ?? 0) + 1);
    return withCrc(Uint8Array.of(unit, fc | 0x80, 1));
  }
  const address = ((frame[2] as number) << 8) | (frame[3] as number);
  const count = ((frame[4] as number) << 8) | (frame[5] as number);
  const r = bank.read(unit, table, address, count);
  let out: Buffer;
  switch (r.kind) {
    case 'silent':
      return null;
    case 'exception':
      out = withCrc(Uint8Array.of(unit, fc | 0x80, r.code));
      break;
    case 'bits': {
      const bytes = new Uint8Array(Math.ceil(r.bits.length / 8));
      r.bits.forEach((b, i) => {
        if (b) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7));
      });
      out = withCrc(Uint8Array.of(unit, fc, bytes.length, ...bytes));
      break;
    }
    case 'registers': {
      const body = Buffer.alloc(3 + r.words.length * 2);
      body[0] = unit;
      body[1] = fc;
      body[2] = r.words.length * 2;
      r.words.forEach((w, i) => body.writeUInt16BE(w, 3 + i * 2));
      out = withCrc(body);
      break;
    }
  }
  if (bank.takeCorrupt(unit)) out[out.length - 1] = (out[out.length - 1] as number) ^ 0xff;
  return out;
}

/** RTU simulator on a serial port path (e.g. one end of a socat pty pair). */
export async function startRtuSimulator(bank: RegisterBank, line: RtuLine): Promise<RunningSimulator> {
  const port = new SerialPort({ path: line.path, baudRate: line.baudRate, dataBits: line.dataBits ?? 8, stopBits: line.stopBits ?? 1, parity: line.parity ?? 'none', autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  let buf = Buffer.alloc(0);
  let idle: NodeJS.Timeout | undefined;
  let late: NodeJS.Timeout | undefined;
  port.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const frame = buf.subarray(0, 8);
      if (!crcOk(frame)) {
        buf = buf.subarray(1); // resynchronise byte by byte
        continue;
      }
      buf = buf.subarray(8);
      if (late) continue; // still busy with a late answer: like a real half-duplex device, deaf
      const response = rtuRespond(bank, frame);
      const delay = response ? bank.takeDelay(frame[0] as number) : 0;
      if (response && delay > 0) {
        late = setTimeout(() => {
          late = undefined;
          if (port.isOpen) port.write(response);
        }, delay);
      } else if (response) port.write(response);
    }
    // A partial frame followed by silence is line noise: drop it.
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => (buf = Buffer.alloc(0)), 50);
  });
  port.on('error', () => undefined); // a closed pty peer is not the simulator's problem
  return {
    close: () =>
      new Promise<void>((resolve) => {
        if (idle) clearTimeout(idle);
        if (late) clearTimeout(late);
        if (port.isOpen) port.close(() => resolve());
        else resolve();
      }),
  };
}

// CLI for bench-top trials: `npx tsx drivers/modbus/simulator.ts [port]` serves the known values as units 1 and 2.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const bank = new RegisterBank();
  loadKnownValues(bank, 1);
  loadKnownValues(bank, 2);
  const sim = await startTcpSimulator(bank, { port: Number(process.argv[2] ?? 0) || undefined, host: '127.0.0.1' });
  process.stdout.write(`modbus simulator listening on 127.0.0.1:${sim.port} (units 1, 2)\n`);
}
