// The one data model every driver emits and every later stage consumes.
// Times are milliseconds since the Unix epoch (UTC); JSON output turns them into ISO 8601 strings.

/** IEEE 11073-10101 term: context-free numeric code (partition << 16 | term code) and its reference id. */
export interface MdcCode {
  code: number;
  refid: string;
}

/** A code in the sender's own vocabulary, kept verbatim when there is no MDC mapping (never dropped). */
export interface RawCode {
  /** Code system, e.g. "MDC" (unknown to our table), "medibus", "intellivue", "modbus", or an HL7 coding system name. */
  system: string;
  code: string;
  text?: string;
}

export interface Unit {
  /** UCUM case-sensitive code, e.g. "/min", "%", "mm[Hg]", "Cel". Empty string for dimensionless. */
  ucum: string;
  /** IEEE 11073 unit code (MDC_DIM_*), when known. */
  mdc?: MdcCode;
}

/**
 * Quality of a value as the device or the gateway judged it. `reasons` say why it is not valid,
 * e.g. "sensor-off", "lead-off", "artifact", "demo-data", "out-of-range", "device-flag:<x>".
 */
export type QualityState = 'valid' | 'questionable' | 'invalid' | 'unavailable';
export interface Quality {
  state: QualityState;
  reasons?: string[];
}

/** A JSON value, for protocol context carried beside an event. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined };

/**
 * Protocol context kept as the device sent it, for consumers who need it (e.g. HL7 OBX-4 containment,
 * reference range, abnormal flags, result status). Forwarded as `context`; never interpreted downstream.
 */
export type EventContext = { [key: string]: JsonValue | undefined };

/** Where the reading came from and who it belongs to. */
export interface Origin {
  /** Stable id of the device: EUI-64, serial number or configured id. */
  deviceId: string;
  /** Bed or point of care; absent when the device does not say and config does not assign one. */
  bed?: string;
  /** Patient identifier when known (a PHI field: pseudonymised before forwarding when configured). */
  patientId?: string;
  /** Name of the driver instance (from config) that produced it. */
  source: string;
  context?: EventContext;
}

export interface NumericReading extends Origin {
  kind: 'numeric';
  /** MDC term; null when the device's code is not in our tables (then `raw` carries it). */
  mdc: MdcCode | null;
  raw?: RawCode;
  /** Number for measurements, string for coded/enumerated or text observations, null when unavailable. */
  value: number | string | null;
  unit: Unit;
  /** Time the device says it measured, or null if it does not say. */
  deviceTime: number | null;
  /** Time the gateway received it. */
  receivedAt: number;
  quality: Quality;
  /**
   * True for a value set on the device (a ventilator's set rate, a pump's programmed rate, an alarm limit, a mode),
   * not measured from the patient: HL7 OBX-17 ASET/MSET/RSET or an MDC setting code, IntelliVue's settings
   * partition, Medibus settings, limits and texts, a Modbus point marked as one. Settings often share the
   * measurement's MDC code, so they are kept apart everywhere: never compared with alarm limits, never a NEWS2
   * input, shown as settings. Absent for measurements.
   */
  setting?: true;
  /**
   * Set by ingest, for its listeners only (never stored or forwarded): measured long before the newest of its kind
   * the same device gave for the same bed (a backlog arriving after live data, agent/out-of-order.ts). Not the current value: the display,
   * limit rules and NEWS2 leave it out.
   */
  outOfOrder?: true;
}

export interface WaveformSegment extends Origin {
  kind: 'waveform';
  mdc: MdcCode | null;
  raw?: RawCode;
  unit: Unit;
  /** Device time of the first sample (or gateway time if the device gives none). */
  startTime: number;
  sampleRateHz: number;
  samples: number[];
  receivedAt: number;
  quality: Quality;
}

export type Reading = NumericReading | WaveformSegment;

/** IEC 60601-1-8 alarm priority; 'none' for informational signals some devices report. */
export type AlarmPriority = 'high' | 'medium' | 'low' | 'none';

/**
 * An alarm condition as a source reports it (device alarm lists, HL7 PCD-04, the agent's own rules).
 * The alarm pipeline turns these into managed alarms with states and audit.
 */
export interface AlarmEvent extends Origin {
  kind: 'alarm';
  /** Identifier of this alarm instance at its source, stable across its phases. */
  alarmId: string;
  /** What the alarm is about: MDC event code (MDC_EVT_*) when known. */
  condition: MdcCode | null;
  raw?: RawCode;
  /** Human text as the source gives it, e.g. "SpO2 LOW". */
  text: string;
  priority: AlarmPriority;
  category: 'physiological' | 'technical';
  /** start / continue / end of the condition (PCD-04 event phase). */
  phase: 'start' | 'continue' | 'end';
  /**
   * Set on an end the driver made itself because the link to the device is gone (the device did not say the
   * condition ended): such an end is no sign of a live feed, and its audit says why.
   */
  endedBy?: 'link-lost';
  /**
   * The driver's own finding about the device (it stopped answering, its alarm information is not current), not a
   * report from the device: no sign of a live feed, so it neither counts as data nor ends the device's "No data"
   * (review rv175 M1).
   */
  driverFinding?: true;
  /**
   * The device reported an event at a point in time (PCD-04 phase tpoint or start_only): no end will follow. The
   * driver sends its start and end together; the alarm latches, so it stays in view until someone acknowledges it.
   */
  momentary?: true;
  /**
   * On an end: the condition is gone, but the device holds the alarm signal so that someone sees it happened (IHE
   * PCD ACM alarm state `latched`). Here too an alarm nobody has answered then latches, staying in view until
   * acknowledged.
   */
  latched?: true;
  /**
   * What a person did to it at the device, as the device reports (IHE PCD ACM alarm inactivation state): it was
   * acknowledged there, or its audio paused. Absent when the device says nothing or that it is enabled.
   */
  atDevice?: 'acknowledged' | 'audio-paused';
  /**
   * On a start or continue: the device (or its driver, by site agreement) reports this alarm again at least this often
   * (ms) while it lasts (IntelliVue's `continue`, an HL7 sender configured with alarmRepeatS). The engine ends one not
   * reported for a few times this while its device sends on (its end was lost). Absent: the source may send only
   * start and end, so a lost end cannot be detected (review rv185 M3).
   */
  repeatMs?: number;
  /** The metric that triggered it, and its value, when known. */
  sourceMetric?: MdcCode | null;
  value?: number | string | null;
  unit?: Unit;
  deviceTime: number | null;
  receivedAt: number;
}

/** Connection / health state of one device as its driver sees it. */
export type DeviceState = 'connecting' | 'online' | 'silent' | 'offline' | 'error';

export interface DeviceStatusEvent extends Origin {
  kind: 'device-status';
  state: DeviceState;
  /** Why, in words an engineer can act on: "no data for 12 s", "ECONNREFUSED 10.0.0.5:502". */
  detail: string;
  /** Gateway time the driver saw this state (never the device's clock: silence is timed from it). */
  at: number;
  /** Set when the device itself said it is alive (a keep-alive such as the PCD-04 watchdog): counts as data. */
  alive?: true;
}

/** Everything a driver can emit into the pipeline. */
export type DriverEvent = Reading | AlarmEvent | DeviceStatusEvent;

/**
 * The device id ingest gives an event whose driver gave none (a driver fault: `<driver>:no-device-id`), so that it is
 * kept and shown. No real device: its silence is not watched (it would raise "No data" for a device that never was).
 */
export function standInDeviceId(source: string): string {
  return `${source}:${STAND_IN_SUFFIX}`;
}
export function isStandInDeviceId(deviceId: string): boolean {
  return deviceId.endsWith(`:${STAND_IN_SUFFIX}`);
}
const STAND_IN_SUFFIX = 'no-device-id';
