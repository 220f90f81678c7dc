// The contract between the agent core and every driver.
// A driver turns a device's protocol into DriverEvents. It knows nothing of the store, alarms or cloud.
import type { Logger } from 'pino';
import type { DriverEvent } from '../agent/model/reading.js';

export interface DriverContext {
  /** Instance name from config (e.g. "ward-sim", "icu-mllp"); goes into every event's `source`. */
  name: string;
  log: Logger;
  /**
   * Hand events to the pipeline. Resolves once they are durably accepted (committed to the store);
   * rejects if they could not be accepted (e.g. disk full). Protocols that acknowledge (HL7 ACK)
   * must wait for this before acknowledging; others may ignore the promise but must not drop errors.
   * `idempotencyKey`: a stable key of what the sender sent (e.g. HL7 sender + control id + content hash). If
   * a batch with that key was already committed (a resend after a lost acknowledgement, even across a
   * restart), it is not stored again and the promise resolves as usual.
   */
  emit(events: DriverEvent[], opts?: { idempotencyKey?: string }): Promise<void>;
  /** Bump a named counter for this driver, e.g. "frames_bad_checksum". */
  count(counter: string, by?: number): void;
}

/** What a driver reports about itself for health endpoints and the twin. */
export interface DriverHealth {
  state: 'starting' | 'running' | 'degraded' | 'stopped' | 'failed';
  detail?: string;
  /**
   * A fault of the driver itself that must raise a gateway technical alarm even while the driver has devices (the
   * agent raises none for a degraded driver with devices, whose own alarms tell): an HL7 sender whose every message is
   * refused has no device, so no device alarm can ever fire for it. A short alarm text, the same while the fault is the
   * same (no counts or times in it); absent when there is none.
   */
  selfFault?: string;
  /** Per-device view, keyed by device id. */
  devices?: Record<string, { state: string; lastDataAt: number | null; detail?: string }>;
}

export interface Driver {
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): DriverHealth;
}

/**
 * A registered driver type. `configSchema` is a JSON Schema for the driver's own options; the
 * agent validates every driver entry against it at start, so a bad option fails before anything runs.
 */
export interface DriverFactory<Options = unknown> {
  type: string;
  description: string;
  configSchema: Record<string, unknown>;
  create(options: Options, ctx: DriverContext): Driver;
  /**
   * What these options take that no other driver (or the display) may also take, for the agent's cross-driver
   * checks at config load. Called with options that passed `configSchema`; opens nothing. Optional: a driver
   * that learns its device ids from the data (HL7) does not list them.
   */
  claims?(options: Options): DriverClaims;
  /**
   * What --check and the start say of options that build but will not work as meant (a Modbus value no alarm rule
   * will judge); fields relative to the driver entry, as in claims. Optional.
   */
  warnings?(options: Options): DriverWarning[];
  /**
   * Its patients are made up (the simulator) or recorded (a replay), generated anew at each start: when every driver
   * is, alarms left open at a stop are not carried over a restart (there is no bedside to check).
   */
  simulated?: true;
}

/**
 * A warning of a driver's options. `alarm`: a short alarm text, set when the warning is a slip someone must put right
 * (a Modbus code that is not its refid's), not a choice that may be meant (a vendor's own term): the agent raises it
 * as a low gateway alarm while the options are in force, since a line at start or in --check is not seen on the ward
 * (review rv97 M2).
 */
export interface DriverWarning {
  field: string;
  message: string;
  alarm?: string;
}

/** Each claim names the option it comes from, relative to the driver entry (e.g. `options.buses[0].devices[1].id`). */
export interface DriverClaims {
  /** Device ids the driver's events will carry. */
  deviceIds?: Array<{ id: string; field: string }>;
  /** Serial ports it opens. */
  serialPorts?: Array<{ path: string; field: string }>;
  /** TCP addresses it listens on (host as in the options; a wildcard host clashes with any host on that port). */
  listens?: Array<{ host: string; port: number; field: string }>;
  /**
   * Beds whose whole patient monitor the driver is (the simulator): a second such driver on one bed would show two
   * patients' vitals as one. A driver for one device among several at a bed (a ventilator) claims none.
   */
  monitorBeds?: Array<{ bed: string; field: string }>;
  /**
   * Every bed its events will name, from its options ([] when none is set: its data goes to the bed "unassigned").
   * Absent when the driver learns beds from the data (HL7): per-bed alarm settings cannot then be judged from the
   * config, and are not (agent/config/check.ts, configWarnings).
   */
  beds?: Array<{ bed: string; field: string }>;
  /**
   * How often each device is polled when the driver itself polls (the shortest period among its values): its events
   * may come no more often than that. Absent for a device that streams, or whose polls are another host's.
   */
  pollPeriods?: Array<{ id: string; ms: number; field: string }>;
  /** The bed the driver's options give each device's events (so alarms.devices.<id>.bed is not used for it). */
  deviceBeds?: Array<{ id: string; bed: string; field: string }>;
}
