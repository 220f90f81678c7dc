// The driver's own options, as written in the agent's YAML config (see README.md and schema.ts).
// There is deliberately no field that could express a write: the driver only reads.
import type { ByteOrder, ValueType } from './decode.js';

/** Modbus data tables: coils (FC1), discrete inputs (FC2), input registers (FC4), holding registers (FC3). */
export type Table = 'coil' | 'discrete' | 'input' | 'holding';
export const TABLES: readonly Table[] = ['coil', 'discrete', 'input', 'holding'];

export type SentinelQuality = 'unavailable' | 'invalid' | 'questionable';

export interface SentinelOptions {
  /** Raw decoded value (before scale/offset) the device uses to say "no value", e.g. 32767 or -1. */
  value: number | string;
  quality: SentinelQuality;
  /** Reason added to the reading's quality, e.g. "sensor-off". Default "sentinel". */
  reason?: string;
}

export interface PointOptions {
  /** Name of the value, unique within the device (goes into the raw code's text and logs). */
  name: string;
  table: Table;
  /** Zero-based protocol address (register 40001 in "Modicon" numbering is holding address 0). */
  address: number;
  /** Default: bool for coil/discrete, uint16 for registers. */
  type?: ValueType;
  /** Byte/word order; default: the device's order, else ABCD. */
  order?: ByteOrder;
  /** string: registers to read (2 characters each). */
  length?: number;
  /** bitfield: first bit (0 = least significant) and width. */
  bit?: number;
  bitLength?: number;
  /** value = raw × scale + offset (numeric types only). */
  scale?: number;
  offset?: number;
  /** MDC term: a refid known to the agent (e.g. "MDC_PULS_OXIM_SAT_O2") or an explicit {code, refid}. */
  mdc?: string | { code: number; refid: string };
  /** Unit: a UNITS key ("MMHG"), an MDC_DIM_* refid, a UCUM code ("mm[Hg]"), or {ucum, mdc?}. */
  unit?: string | { ucum: string; mdc?: { code: number; refid: string } };
  /** Report a numeric value only when it moved by more than this (in scaled units). */
  deadband?: number;
  /** Report only when the value or its quality changes. */
  reportOnChange?: boolean;
  /** With deadband/reportOnChange: still report at least this often (default and maximum 5000, below the agent's 10 s stale and 30 s no-data limits). */
  heartbeatMs?: number;
  /** Overrides the device's polling interval for this value. */
  pollIntervalMs?: number;
  sentinels?: SentinelOptions[];
  /** Scaled values outside this range are marked questionable ("out-of-range"). */
  validRange?: { min?: number; max?: number };
  /** A value set on the device (a pump's programmed rate), not measured: never compared with alarm limits. */
  setting?: boolean;
}

export interface DeviceOptions {
  /** Stable device id (origin.deviceId), unique across the driver. */
  id: string;
  /** Modbus unit id (slave address) 1–247; on TCP also 255 (preferred) or 0 for a device addressed by its IP alone. */
  unitId: number;
  bed?: string;
  /** Default polling interval for this device's values (default 1000 ms). */
  pollIntervalMs?: number;
  /** Default byte/word order for this device's multi-byte values. */
  order?: ByteOrder;
  /** Merge reads of values at most this many unused registers/bits apart (default 0: never read unmapped addresses). */
  maxGap?: number;
  /** Largest single read in registers (default 125, the protocol limit) and bits (default 2000). */
  maxRegistersPerRead?: number;
  maxBitsPerRead?: number;
  points: PointOptions[];
}

interface BusCommon {
  id: string;
  /** Response timeout per request (default 1000 ms). */
  timeoutMs?: number;
  devices: DeviceOptions[];
}

export interface TcpBusOptions extends BusCommon {
  transport: 'tcp';
  host: string;
  port?: number;
}

export type Parity = 'none' | 'even' | 'odd' | 'mark' | 'space';

export interface RtuBusOptions extends BusCommon {
  transport: 'rtu';
  /** Serial device, e.g. /dev/ttyUSB0. */
  path: string;
  baudRate: number;
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
  parity?: Parity;
  /** Silence between frames; default 3.5 character times at the baud rate (≥ 1.75 ms), rounded up to whole ms. */
  interFrameGapMs?: number;
}

export type BusOptions = TcpBusOptions | RtuBusOptions;

export interface ModbusOptions {
  buses: BusOptions[];
  /** Consecutive communication failures before a device is reported offline (default 3). */
  offlineAfterFailures?: number;
  /** Retry delays for offline devices, failed connections and failing reads (default 1000 → 30000 ms, doubling). */
  backoff?: { initialMs?: number; maxMs?: number };
}
