// Ingest: the stage between drivers and everything downstream. It normalises what drivers emit, commits it
// to the outbox (group commit: everything that arrives within commitIntervalMs, or until COMMIT_AT_EVENTS, goes in one transaction), then
// — only after the commit — resolves the drivers' promises and hands the events to downstream listeners
// (alarm engine, display, model). Data moves one way: drivers → ingest → store → listeners / forwarder.
// Events the store refuses (disk full) still go to the listeners: a reading that cannot be kept must still be
// shown and alarmed at the bedside. The driver is told they were not accepted, and the store's state is reported.
import type { Logger } from 'pino';
import type { DriverEvent, MdcCode, NumericReading, Reading, WaveformSegment } from './model/reading.js';
import { standInDeviceId } from './model/reading.js';
import type { Metrics } from './metrics.js';
import { recordBytes, RecordTooLargeError, type AppendBatch, type AppendOutcome, type Outbox, type OutboxRecord } from './store/outbox.js';
import { alarmRecord, deviceStatusRecord, numericJson, numericJsonBytes, waveformJson } from './forward/wire.js';
import { encodeSamples, SAMPLES_PLACEHOLDER } from './store/samples.js';
import { LogGate } from './log-gate.js';
import { BEHIND_MS, OutOfOrder } from './out-of-order.js';
import { GATEWAY_BED } from './alarms/types.js';
import { mdcByCode } from './model/mdc.js';
import { stampOf, withStamp } from './model/measured.js';

export interface IngestOptions {
  commitIntervalMs: number;
  forwardWaveforms: boolean;
  /** Applied to patient ids of what is stored and forwarded (privacy.pseudonymizePatientIds); listeners see the original. */
  patientId?: (id: string) => string;
  /**
   * The bed configured for a device (alarms.devices.<id>.bed), given to its events that carry none: stored, forwarded
   * and shown on that bed, where its alarms are (without it, its readings went to the "unassigned" tile).
   */
  bedOf?: (deviceId: string) => string | undefined;
}

/**
 * Events that make a commit due at once, whatever commitIntervalMs. Large enough to keep transactions large (a ward of
 * 128 beds with waveforms sends ~1,000 records a second), small enough that a flood does not wait on the window.
 */
export const COMMIT_AT_EVENTS = 4096;

export type IngestListener = (events: readonly DriverEvent[]) => void;

/** The store refusing events (`refusing`: since when, and why), or taking them again (null). */
export type StoreStateListener = (refusing: { since: number; reason: string } | null) => void;
/** A record left out of a stored emit because it was over the store's record limit (it could never be stored). */
export interface DroppedRecord {
  deviceId: string;
  kind: DriverEvent['kind'];
  bytes: number;
  limitBytes: number;
}
export type DroppedRecordListener = (dropped: DroppedRecord) => void;

interface Pending {
  /** The driver that emitted it (ingest_refused_total{source}, the refusal log). */
  source: string;
  idempotencyKey?: string;
  events: DriverEvent[];
  resolve: () => void;
  reject: (err: Error) => void;
  /** Events of this emit whose record is over the store's record limit and cannot be split: not stored (see records()). */
  tooLarge?: Map<DriverEvent, number>;
  /** Events of this emit that cannot be written as a record (with why): not stored (see records()). */
  unserialisable?: Map<DriverEvent, unknown>;
}

/** Keys of refused emits remembered as shown (~10 MB at most); past it the oldest are forgotten and shown again. */
const MAX_SHOWN_WHILE_REFUSED = 100_000;
/** Unmapped codes logged once each; past this many (a sender inventing codes) they are only counted, so memory stays bounded. */
const MAX_UNMAPPED_LOGGED = 1000;
/** Characters of a raw code, system or text kept for the once-per-code log (a sender's field can be any length). */
const MAX_RAW_CHARS = 200;
/** While the store refuses, one line per reason and minute (each refused emit logged was 44 lines/s for 32 beds). */
const REFUSED_LOG_EVERY_MS = 60_000;
const NON_FINITE_LOG_EVERY_MS = 10 * 60_000;

export class IngestRefusedError extends Error {
  constructor(message: string, override readonly cause: unknown) {
    super(message);
    this.name = 'IngestRefusedError';
  }
}

/**
 * A waveform segment as listeners get it. `zeroed`: indexes (ascending) of the samples normalise replaced by 0
 * because the device sent them non-finite (invalid), for a listener that must not read them as signal (the edge
 * model, trained with them as invalid).
 */
export interface NormalisedWaveform extends WaveformSegment {
  zeroed?: readonly number[];
}

function refusedCount(n: { emits: number; events: number; sources: Set<string> }): { emits: number; events: number; sources: string[] } {
  return { emits: n.emits, events: n.events, sources: [...n.sources] };
}

function capped(s: string): string {
  return s.length > MAX_RAW_CHARS ? `${s.slice(0, MAX_RAW_CHARS)}…` : s;
}

/** A counter labelled by source, for the hot path: one handle per source, kept. */
function bySource(metrics: Metrics, name: string): (source: string, by?: number) => void {
  const handles = new Map<string, (by?: number) => void>();
  return (source, by = 1) => {
    let count = handles.get(source);
    if (!count) {
      count = metrics.counter(name, { source });
      handles.set(source, count);
    }
    count(by);
  };
}

/** The event without its bed (a device's "*", the gateway's own id: see Ingest.reservedBed). */
function withoutBed(e: DriverEvent): DriverEvent {
  const copy = { ...e };
  delete copy.bed;
  return copy;
}

/** Whether the event names its device (a non-empty string): the store needs it, and downstream keys by it. */
function hasDeviceId(e: DriverEvent): boolean {
  return typeof e.deviceId === 'string' && e.deviceId !== '';
}

/** The event with its device's configured bed, when it carries none. */
function withConfiguredBed(e: DriverEvent, bedOf: (deviceId: string) => string | undefined): DriverEvent {
  if (e.bed !== undefined) return e;
  const bed = bedOf(e.deviceId);
  // A configured "*" (alarms.devices.<id>.bed, warned by --check and the start) is no bed (review rv123 M1).
  return bed === undefined || bed === GATEWAY_BED ? e : { ...e, bed };
}

/** Quality lowered to at least questionable (never raised), with the reason added unless it is there already. */
function worse(q: WaveformSegment['quality'], reason: string): WaveformSegment['quality'] {
  const reasons = q.reasons ?? [];
  return { state: q.state === 'valid' ? 'questionable' : q.state, reasons: reasons.includes(reason) ? reasons : [...reasons, reason] };
}

/**
 * The real times (ms): years 0000 to 9998. Past a Date's ±8.64e15 toISOString throws, as on NaN (review rv157 F1); beyond
 * year 9999 or before 0000 it writes "+010000-…", which the schema refuses, and a validating consumer with it the whole
 * message (review rv164 F1). Year 9999 is HL7's "no date" 99991231235959, which lands in 9999 or 10000 by the zone it
 * is read in (review rv168 F5): no device measures then, so the whole year is no time.
 */
const MIN_TIME_MS = -62167219200000; // 0000-01-01T00:00:00.000Z
const END_TIME_MS = 253370764800000; // 9999-01-01T00:00:00.000Z, not included

/** Whether `t` is a real time: not NaN, not infinite, within years 0000–9998 (not ns read as ms, not a "no date" sentinel). */
function isTime(t: number): boolean {
  return t >= MIN_TIME_MS && t < END_TIME_MS;
}

/** A time for a log line, which must never throw: ISO when a Date can hold it, else the number as given. */
function logTime(t: number): string | number {
  return isTime(t) ? new Date(t).toISOString() : t;
}

/**
 * Whether the gateway's own time of an event (its receipt time, a status's time) is no time a Date can hold. A driver
 * sets it from the gateway's clock, so only a driver bug gets here; kept, the event was left out of the store and its
 * listeners got a time that throws when formatted (fx234).
 */
function gatewayTimeBad(e: DriverEvent): boolean {
  const t = stampOf(e);
  return !(typeof t === 'number' && isTime(t));
}

/** A waveform's rate that is no rate (NaN, infinite, 0 or below) and not yet marked as unknown (review rv157 F2). */
function rateUnknown(w: WaveformSegment): boolean {
  if (w.sampleRateHz > 0 && Number.isFinite(w.sampleRateHz)) return false;
  // A 0 its driver marked already (questionable or worse, with the reason) is left as it is: normalise ends there.
  return !(Object.is(w.sampleRateHz, 0) && w.quality.state !== 'valid' && (w.quality.reasons ?? []).includes('sample-rate-unknown'));
}

/**
 * Makes a driver event safe to store: non-finite numbers become null with quality 'invalid', so that a
 * NaN from a device can never be shown or forwarded as a value. Non-finite waveform samples become 0 (a
 * segment keeps its length and timing); which ones is kept in `zeroed` (not stored or forwarded).
 */
export function normalise(e: DriverEvent): DriverEvent {
  // A device time that is not a time (NaN from a driver's failed parse, past what a Date can hold: ns read as ms, or
  // outside years 0000–9998: a "no date" sentinel, review rv164 F1, rv168 F5)
  // is an unknown one: the reading is kept. Kept as it was, it crashed the agent after the commit (review rv157 F1).
  if ((e.kind === 'numeric' || e.kind === 'alarm') && e.deviceTime !== null && !isTime(e.deviceTime)) return normalise({ ...e, deviceTime: null });
  // A waveform needs a start time: one that is not a time puts it at receipt, marked as HL7 marks a segment with no
  // sender time (review rv114 L5). Left as it was, its record could not be written and the segment was dropped.
  if (e.kind === 'waveform' && !isTime(e.startTime) && isTime(e.receivedAt)) {
    return normalise({ ...e, startTime: e.receivedAt, quality: worse(e.quality, 'time-from-receipt') });
  }
  // A rate that is not a number, or not above 0: unknown (0), as a driver writes one it was not given (the schema's
  // 0 with sample-rate-unknown; a negative rate was forwarded as valid, review rv157 F2).
  if (e.kind === 'waveform' && rateUnknown(e)) return normalise({ ...e, sampleRateHz: 0, quality: worse(e.quality, 'sample-rate-unknown') });
  if (e.kind === 'numeric' && typeof e.value === 'number' && !Number.isFinite(e.value)) {
    return {
      ...e,
      value: null,
      quality: { state: 'invalid', reasons: [...(e.quality.reasons ?? []), 'not-a-finite-number'] },
    };
  }
  if (e.kind === 'waveform' && e.samples.some((s) => !Number.isFinite(s))) {
    const zeroed: number[] = [];
    const samples = e.samples.map((s, i) => {
      if (Number.isFinite(s)) return s;
      zeroed.push(i);
      return 0;
    });
    const w: NormalisedWaveform = {
      ...e,
      samples,
      zeroed,
      quality: {
        state: e.quality.state === 'valid' ? 'questionable' : e.quality.state,
        reasons: [...(e.quality.reasons ?? []), 'non-finite-samples-zeroed'],
      },
    };
    return w;
  }
  return e;
}

/**
 * A waveform segment cut into consecutive segments whose records fit `maxRecordBytes`: the same samples, each part
 * starting where the one before ended (startTime + index / sampleRateHz). A device or an HL7 message may carry a long
 * segment (30,000 samples are ~270 kB of JSON) in one emit with the readings and alarms it belongs to; refused whole,
 * it took them all with it. Null when it cannot be cut (a single sample too large, or no sample rate to time parts by).
 */
export function splitWaveform(
  w: WaveformSegment,
  maxRecordBytes: number,
  record: (part: WaveformSegment) => OutboxRecord,
): OutboxRecord[] | null {
  if (w.samples.length < 2 || !(w.sampleRateHz > 0) || !Number.isFinite(w.sampleRateHz)) return null;
  const whole = record(w);
  const bytes = recordBytes(whole);
  if (bytes <= maxRecordBytes) return [whole];
  // Parts of about 90 % of the limit; a part still over it (samples of uneven length) is cut again.
  const parts = Math.max(2, Math.ceil(bytes / (maxRecordBytes * 0.9)));
  const size = Math.ceil(w.samples.length / parts);
  const out: OutboxRecord[] = [];
  for (let i = 0; i < w.samples.length; i += size) {
    const part: WaveformSegment = { ...w, startTime: w.startTime + (i * 1000) / w.sampleRateHz, samples: w.samples.slice(i, i + size) };
    const r = record(part);
    if (recordBytes(r) <= maxRecordBytes) {
      out.push(r);
      continue;
    }
    const again = splitWaveform(part, maxRecordBytes, record);
    if (!again) return null;
    out.push(...again);
  }
  return out;
}

export function toRecord(event: DriverEvent, forwardWaveforms: boolean, patientId?: (id: string) => string): OutboxRecord | null {
  const e = patientId && event.patientId !== undefined ? { ...event, patientId: patientId(event.patientId) } : event;
  switch (e.kind) {
    // The two hot record types are written straight to JSON text (same text as JSON.stringify of their records).
    case 'numeric': {
      const body = numericJson(e);
      return { stream: 'telemetry', cls: 1, deviceId: e.deviceId, body, bytes: numericJsonBytes() };
    }
    case 'waveform': {
      if (!forwardWaveforms) return null;
      // Samples are stored in binary and written as JSON when packed (store/samples.ts); the body holds a
      // placeholder. The last "samples" key is the record's own: the keys after it hold no objects.
      const body = waveformJson(e, SAMPLES_PLACEHOLDER);
      const at = body.lastIndexOf(`"samples":${SAMPLES_PLACEHOLDER}`) + '"samples":'.length;
      return { stream: 'telemetry', cls: 2, deviceId: e.deviceId, body, samples: encodeSamples(e.samples, at) };
    }
    case 'alarm':
      return { stream: 'alarms', cls: 0, deviceId: e.deviceId, body: JSON.stringify(alarmRecord(e)) };
    case 'device-status':
      return { stream: 'telemetry', cls: 1, deviceId: e.deviceId, body: JSON.stringify(deviceStatusRecord(e)) };
  }
}


/** An emit's records, serialised when iterated (Ingest.toBatch). A class: an object literal with a computed key was a visible cost per emit. */
class EmitRecords implements Iterable<OutboxRecord> {
  constructor(private readonly serialise: () => OutboxRecord[]) {}

  [Symbol.iterator](): Iterator<OutboxRecord> {
    return this.serialise()[Symbol.iterator]();
  }
}

/** A device time further than this from its arrival is worth telling (a clock set wrong, a zone, a backlog). */
const CLOCK_OFF_MS = 10 * 60_000;

/**
 * Quality reason on the forwarded records of readings whose device's time is further than CLOCK_OFF_MS from their
 * arrival (review rv146 F3): the cloud cannot tell otherwise (a wrong clock, or a backlog: a consumer decides). Quality state
 * unchanged, and on the records only: the listeners judge by reasons too (a bound, a timing doubt) and get the reading
 * as sent.
 */
export const DEVICE_TIME_FAR_FROM_RECEIPT = 'device-time-far-from-receipt';

/**
 * The numerics of an emit whose device's time is far from their arrival, judged as checkClock judges a delivery: per run
 * of one source, device and bed, by the newest device time (an NBP measured 25 min ago beside an HR of now is no clock
 * off). Null when none, the common case (no allocation).
 */
function clockOffReadings(events: readonly DriverEvent[]): Set<DriverEvent> | null {
  let out: Set<DriverEvent> | null = null;
  let first: NumericReading | null = null;
  let start = 0;
  let newest = 0;
  const end = (stop: number) => {
    if (!first || Math.abs(newest - first.receivedAt) <= CLOCK_OFF_MS) return;
    // Every numeric with a device time between start and stop is of this run (runs are consecutive among them).
    for (let j = start; j < stop; j++) {
      const x = events[j]!;
      if (x.kind === 'numeric' && x.deviceTime !== null) (out ??= new Set()).add(x);
    }
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind !== 'numeric' || e.deviceTime === null) continue;
    if (!first || e.source !== first.source || e.deviceId !== first.deviceId || e.bed !== first.bed) {
      end(i);
      first = e;
      start = i;
      newest = e.deviceTime;
    } else if (e.deviceTime > newest) newest = e.deviceTime;
  }
  end(events.length);
  return out;
}

/** The reading as its record is written: DEVICE_TIME_FAR_FROM_RECEIPT added to its reasons, its state kept. */
function farFromReceipt(e: NumericReading): NumericReading {
  const reasons = e.quality.reasons ?? [];
  return reasons.includes(DEVICE_TIME_FAR_FROM_RECEIPT) ? e : { ...e, quality: { state: e.quality.state, reasons: [...reasons, DEVICE_TIME_FAR_FROM_RECEIPT] } };
}

export class Ingest {
  private queue: Pending[] = [];
  /** Events in `queue`. */
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  /** A commit due at once: the queue reached COMMIT_AT_EVENTS. */
  private soon: NodeJS.Immediate | null = null;
  private readonly listeners: IngestListener[] = [];
  private closed = false;
  /** ingest_events_total by source: counted on every emit, so the handles are kept (bySource). */
  private readonly countEvents: (source: string, by?: number) => void;
  /** Readings measured long before the newest of their kind from their device and bed (a backlog): marked for the listeners. */
  private readonly outOfOrder = new OutOfOrder();
  private readonly outOfOrderLog = new LogGate(10 * 60_000, 1000);
  private readonly clockOffLog = new LogGate(60 * 60_000, 1000);
  private readonly storeStateListeners: StoreStateListener[] = [];
  private readonly droppedRecordListeners: DroppedRecordListener[] = [];
  private refusing: { since: number; reason: string } | null = null;
  /** Idempotency keys of refused emits whose events the listeners were given (oldest first, bounded). */
  private readonly shownWhileRefused = new Set<string>();
  /** Refusals per reason since the last line logged for it: told in the next line, or when the store takes events again. */
  private readonly refusedLog = new LogGate(REFUSED_LOG_EVERY_MS, 100);
  private readonly refusedSinceLine = new Map<string, { emits: number; events: number; sources: Set<string> }>();
  /**
   * ingest_unmapped_codes_total and ingest_nonfinite_values_total by source. Both count readings: a waveform segment
   * with non-finite samples counts once, however many samples were zeroed. The second also counts an alarm or a status
   * whose gateway time was none (fx234).
   */
  private readonly countUnmapped: (source: string) => void;
  private readonly countNonFinite: (source: string) => void;
  /** source|system|code of unmapped codes logged (at most MAX_UNMAPPED_LOGGED). */
  private readonly unmappedLogged = new Set<string>();
  /** ingest_unknown_mdc_codes_total by source; source|code of those logged (at most MAX_UNMAPPED_LOGGED). */
  private readonly countUnknownMdc: (source: string) => void;
  private readonly unknownMdcLogged = new Set<string>();
  /** Non-finite readings per source|device since the last line logged for it. */
  private readonly nonFiniteLog = new LogGate(NON_FINITE_LOG_EVERY_MS, 1000);
  private readonly unserialisableLog = new LogGate(60_000, 100);
  private readonly nonFiniteSinceLine = new Map<string, number>();
  /** ingest_bed_reserved_total by source; source|device of those warned about (bounded, see reservedBed). */
  private readonly countBedReserved: (source: string) => void;
  private readonly bedReservedLogged = new Set<string>();

  constructor(
    private readonly outbox: Outbox,
    private readonly opts: IngestOptions,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** Called after each commit, e.g. to wake the forwarder. */
    private readonly onCommitted: () => void = () => {},
  ) {
    this.countEvents = bySource(metrics, 'ingest_events_total');
    this.countUnmapped = bySource(metrics, 'ingest_unmapped_codes_total');
    this.countUnknownMdc = bySource(metrics, 'ingest_unknown_mdc_codes_total');
    this.countNonFinite = bySource(metrics, 'ingest_nonfinite_values_total');
    this.countBedReserved = bySource(metrics, 'ingest_bed_reserved_total');
  }

  /**
   * Listeners see events after they were committed, or after the store refused them. One failing listener does not
   * stop the others.
   */
  subscribe(listener: IngestListener): void {
    this.listeners.push(listener);
  }

  /** Told when the store starts refusing events and when it takes them again. */
  onStoreState(listener: StoreStateListener): void {
    this.storeStateListeners.push(listener);
  }

  /** Told of each record left out of a stored emit for being over the store's record limit. */
  onRecordDropped(listener: DroppedRecordListener): void {
    this.droppedRecordListeners.push(listener);
  }

  /**
   * Accepts a driver's events. Resolves once they are committed; rejects (IngestRefusedError) if the store
   * refused them. With an idempotency key already committed before (a sender's resend), nothing is stored again
   * and the promise resolves as for a fresh commit, so the driver acknowledges it the same way.
   */
  accept(source: string, events: DriverEvent[], opts: { idempotencyKey?: string } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new IngestRefusedError('agent is stopping', null));
    if (events.length === 0) return Promise.resolve();
    const bedOf = this.opts.bedOf;
    const normalised: DriverEvent[] = [];
    // Ingest's receipt time, read once and only when a driver gave a gateway time that is none (same clock as drivers').
    let receipt: number | undefined;
    for (const e of events) {
      const named = hasDeviceId(e) ? e : this.noDeviceId(source, e);
      const retimed = gatewayTimeBad(named);
      let n = normalise(retimed ? withStamp(named, (receipt ??= Date.now())) : named);
      // Against `named`: the stand-in device id's copy is no non-finite value.
      const nonFinite = n !== named;
      if (n.bed === GATEWAY_BED) n = this.reservedBed(source, n);
      if (bedOf) n = withConfiguredBed(n, bedOf);
      if (n.kind === 'numeric' || n.kind === 'waveform') {
        if (nonFinite) this.nonFinite(source, n);
        if (!n.mdc) this.unmapped(source, n);
        else if (n.kind === 'numeric' && !n.setting && !mdcByCode(n.mdc.code)) this.unknownMdc(source, n, n.mdc);
      } else if (retimed) this.nonFinite(source, n);
      normalised.push(n);
    }
    this.countEvents(source, events.length);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ source, events: normalised, resolve, reject, ...(opts.idempotencyKey !== undefined && { idempotencyKey: opts.idempotencyKey }) });
      this.queued += normalised.length;
      this.schedule();
    });
  }

  /**
   * An event with no device id (a driver bug, a cast): the store's device_id is NOT NULL, so the whole emit failed as
   * a store failure, raising "cannot store data" against a healthy store and telling the sender to resend it for ever
   * (review rv157 F3). Kept, as from a stand-in device named after its driver (`<driver>:no-device-id`): stored,
   * forwarded and shown (an alarm is never dropped), counted and logged once a minute per driver.
   */
  private noDeviceId(source: string, e: DriverEvent): DriverEvent {
    const deviceId = standInDeviceId(source);
    this.metrics.inc('ingest_no_device_id_total', { source });
    if (this.unserialisableLog.open(`${source}|no-device-id`, Date.now())) {
      this.log.error(
        {
          source, deviceId, kind: e.kind, bed: typeof e.bed === 'string' ? capped(e.bed) : e.bed,
          ...(e.kind === 'alarm' && { alarm: { text: typeof e.text === 'string' ? capped(e.text) : e.text, priority: e.priority, phase: e.phase } }),
        },
        'an event from a driver without a device id (a driver fault): kept as from the stand-in device `deviceId` (stored, forwarded, shown); said once a minute per driver, counted in ingest_no_device_id_total',
      );
    }
    return { ...e, deviceId };
  }

  /**
   * A device's bed "*" is the agent's own id for gateway-wide conditions: kept, its patient's alarms would show as the
   * gateway's and its vitals beside the gateway's own alarms (review rv121 M4). Taken as no bed (the device's configured
   * bed, else "unassigned"), counted, and warned once per source and device.
   */
  private reservedBed(source: string, e: DriverEvent): DriverEvent {
    this.countBedReserved(source);
    const key = `${source}|${e.deviceId}`;
    if (!this.bedReservedLogged.has(key)) {
      if (this.bedReservedLogged.size >= 1000) this.bedReservedLogged.clear();
      this.bedReservedLogged.add(key);
      this.log.warn(
        { source, deviceId: capped(e.deviceId), kind: e.kind, bed: GATEWAY_BED },
        'a device reports the bed "*", the id reserved for the gateway\'s own alarms: its data is taken as having no bed (its bed from alarms.devices, else "unassigned"); set a real bed on the device (HL7: PV1-3) or in the config; said once per device, counted in ingest_bed_reserved_total',
      );
    }
    return withoutBed(e);
  }

  /**
   * A reading under a code the driver could not map to MDC is kept (raw code), but the limit rules and NEWS2 only
   * know MDC codes: a vendor code for SpO2 would escape them without a word. Counted, and logged once per source and
   * code (naming the first device) so that someone can map it.
   */
  private unmapped(source: string, r: Reading): void {
    this.countUnmapped(source);
    if (this.unmappedLogged.size > MAX_UNMAPPED_LOGGED) return;
    const system = capped(r.raw?.system ?? '');
    const code = capped(r.raw?.code ?? '');
    // A setting or a waveform is never judged by the limit rules anyway: only a measurement is worth a warning.
    const level = r.kind === 'numeric' && !r.setting ? 'warn' : 'info';
    // Per code, not per device: a central station relaying 128 beds would fill the cap with one code (review rv43 §4).
    // And per level: a setting's info line, sent first under the measurement's code, must not stand for the
    // measurement's warning (review rv114 L4).
    const key = `${source}|${system}|${code}|${level}`;
    if (this.unmappedLogged.has(key)) return;
    this.unmappedLogged.add(key);
    if (this.unmappedLogged.size > MAX_UNMAPPED_LOGGED) {
      this.log.warn({ codes: MAX_UNMAPPED_LOGGED }, 'many distinct codes without an MDC mapping: further ones are only counted (ingest_unmapped_codes_total), not logged');
      return;
    }
    this.log[level](
      {
        source, deviceId: r.deviceId, bed: r.bed, kind: r.kind, ...(r.kind === 'numeric' && r.setting && { setting: true }), unit: r.unit.ucum,
        raw: { system, code, ...(r.raw?.text !== undefined && { text: capped(r.raw.text) }) },
      },
      'a reading under a code with no IEEE 11073 (MDC) mapping: stored, forwarded and shown, but the agent\'s alarm rules (limits, NEWS2) cannot judge this metric; logged once per source and code (the first device that sent it), counted in ingest_unmapped_codes_total',
    );
  }

  /**
   * A well-formed MDC code the agent's table does not name (HL7, IntelliVue, Medibus keep it): no limit rule or NEWS2
   * takes it, as NIBP sent as MDC_PRESS_CUFF_SYS went unnoticed (review rv126 H2). Measurements only (a setting is never
   * judged); counted, and logged once per source and code like unmapped codes, at info: the code itself is valid.
   */
  private unknownMdc(source: string, r: NumericReading, mdc: MdcCode): void {
    this.countUnknownMdc(source);
    if (this.unknownMdcLogged.size > MAX_UNMAPPED_LOGGED) return;
    const key = `${source}|${mdc.code}`;
    if (this.unknownMdcLogged.has(key)) return;
    this.unknownMdcLogged.add(key);
    if (this.unknownMdcLogged.size > MAX_UNMAPPED_LOGGED) {
      this.log.warn({ codes: MAX_UNMAPPED_LOGGED }, 'many distinct MDC codes not in the agent\'s table: further ones are only counted (ingest_unknown_mdc_codes_total), not logged');
      return;
    }
    this.log.info(
      { source, deviceId: r.deviceId, bed: r.bed, unit: r.unit.ucum, mdc: { code: mdc.code, refid: capped(mdc.refid) } },
      `a measurement under MDC code ${mdc.code} (${capped(mdc.refid)}), not in the agent's MDC table: stored, forwarded and shown only, the agent's alarm rules (limits, NEWS2) do not take it; logged once per source and code (the first device that sent it), counted in ingest_unknown_mdc_codes_total`,
    );
  }

  /**
   * Events left out of stored emits because they cannot be serialised: counted, and logged once a minute per source.
   * Reported once the emit is stored, as tooLargeDropped(): records() runs again for each attempt at a commit, and an
   * emit the store refuses lost nothing to this (its sender is told to resend it).
   */
  private unserialisableDropped(stored: readonly Pending[]): void {
    for (const p of stored) {
      if (!p.unserialisable) continue;
      for (const [e, err] of p.unserialisable) {
        this.metrics.inc('ingest_records_dropped_total', { reason: 'unserialisable' });
        if (!this.unserialisableLog.open(p.source, Date.now())) continue;
        this.log.error(
          { err, source: p.source, deviceId: e.deviceId, bed: e.bed, kind: e.kind },
          'an event from a driver that cannot be written as a record (a driver fault) was not stored or forwarded; shown and alarmed here, the rest of its emit stored (said once a minute per source, counted in ingest_records_dropped_total{reason="unserialisable"})',
        );
      }
      p.unserialisable = undefined;
    }
  }

  /**
   * A reading normalise() changed (a NaN or Infinity, an impossible time or rate, from a device or a driver bug), or an
   * event of any kind whose gateway time was none (taken as the receipt time): counted, and told per device now and then.
   */
  private nonFinite(source: string, r: DriverEvent): void {
    this.countNonFinite(source);
    const key = `${source}|${r.deviceId}`;
    const readings = (this.nonFiniteSinceLine.get(key) ?? 0) + 1;
    if (!this.nonFiniteLog.open(key, Date.now())) {
      if (this.nonFiniteSinceLine.size >= 1000 && !this.nonFiniteSinceLine.has(key)) this.nonFiniteSinceLine.clear();
      this.nonFiniteSinceLine.set(key, readings);
      return;
    }
    this.nonFiniteSinceLine.delete(key);
    const metric = r.kind !== 'numeric' && r.kind !== 'waveform' ? undefined : r.mdc ? r.mdc.refid : r.raw ? `${capped(r.raw.system)}:${capped(r.raw.code)}` : undefined;
    this.log.warn(
      { source, deviceId: r.deviceId, bed: r.bed, kind: r.kind, metric, readings, everyMinutes: NON_FINITE_LOG_EVERY_MS / 60_000 },
      'non-finite values (NaN, Infinity) from a device, or a time past what a date can hold or outside years 0000–9998 (9999: the HL7 no-date sentinel), or a sample rate of 0 or below: stored, forwarded and shown as invalid (a value null, waveform samples 0), never as a number, a device time as unknown (null), a sample rate as unknown (0); and a gateway\'s own time from a driver (receivedAt, a status\'s at) that is none is taken as the receipt time at ingest (a driver fault); `readings` counts those events since the last such line for this device',
    );
  }

  /**
   * The records of a pending emit, serialised when the store comes to insert them (and not at all for a duplicate):
   * its bodies then live only until its rows are inserted, which keeps the collector's work small at high rates. One
   * array per emit rather than a generator per record: a generator's resume and result object per record were a
   * visible cost, and an emit's records share rows anyway (toRows), so they lived together already.
   */
  private toBatch(p: Pending): AppendBatch {
    return { records: new EmitRecords(() => this.records(p)), ...(p.idempotencyKey !== undefined && { idempotencyKey: p.idempotencyKey }) };
  }

  /**
   * A record over the store's limit would have the store refuse the whole emit, the readings and alarms with it: a
   * waveform segment is split into records that fit (nothing lost); any other record that large is left out and noted
   * in `p.tooLarge` (reported once the rest is stored: tooLargeDropped()).
   */
  private records(p: Pending): OutboxRecord[] {
    const limit = this.outbox.maxRecordBytes;
    const out: OutboxRecord[] = [];
    // Marked here, before they are written, for the cloud (rv146 F3); checkClock tells of them after the commit.
    const far = clockOffReadings(p.events);
    for (const e of p.events) {
      let r: OutboxRecord | null;
      try {
        r = toRecord(far !== null && e.kind === 'numeric' && far.has(e) ? farFromReceipt(e) : e, this.opts.forwardWaveforms, this.opts.patientId);
      } catch (err) {
        // An event that cannot be written as a record (a driver bug: a value JSON cannot hold) says nothing of the store:
        // refusing the emit would raise "cannot store data" and have an HL7 sender resend it for ever. Noted, reported
        // once the emit is stored (unserialisableDropped()).
        (p.unserialisable ??= new Map()).set(e, err);
        continue;
      }
      if (!r) continue;
      // At most 3 UTF-8 bytes per UTF-16 unit: most records are known to fit without counting their bytes. Bytes
      // counted are kept on the record, so that the store does not count them again (toRows).
      const bytes = !r.samples && r.body.length * 3 <= limit ? 0 : (r.bytes ??= recordBytes(r));
      if (bytes <= limit) {
        out.push(r);
        continue;
      }
      const parts = e.kind === 'waveform' ? splitWaveform(e, limit, (w) => toRecord(w, true, this.opts.patientId)!) : null;
      if (parts) {
        for (const part of parts) out.push(part);
        continue;
      }
      (p.tooLarge ??= new Map()).set(e, bytes);
    }
    return out;
  }

  /**
   * Records of stored emits that were too large to store at all: counted, logged with what they were, and told
   * (onRecordDropped: the agent raises a latched loss alarm): the rest of the emit is stored, and every event went to
   * the listeners. A sender is not asked to resend (it could never be stored).
   */
  private tooLargeDropped(stored: readonly Pending[]): void {
    for (const p of stored) {
      if (!p.tooLarge) continue;
      for (const [e, bytes] of p.tooLarge) {
        this.metrics.inc('ingest_records_dropped_total', { reason: 'too-large' });
        this.log.error(
          { deviceId: e.deviceId, source: e.source, kind: e.kind, bytes, limitBytes: this.outbox.maxRecordBytes, idempotencyKey: p.idempotencyKey },
          'a record over the store\'s record limit was not stored or forwarded (shown and alarmed here); the rest of its emit was stored',
        );
        const dropped: DroppedRecord = { deviceId: e.deviceId, kind: e.kind, bytes, limitBytes: this.outbox.maxRecordBytes };
        for (const l of this.droppedRecordListeners) {
          try {
            l(dropped);
          } catch (err) {
            this.log.error({ err }, 'dropped-record listener failed');
          }
        }
      }
      p.tooLarge = undefined;
    }
  }

  private schedule(): void {
    // A window that has gathered this much commits at once (after the current turn of the event loop, so that what
    // arrives with it joins): waiting out the window then only left the process idle under load, drivers' promises
    // (HL7 acknowledgements) unanswered and the queue growing.
    if (this.queued >= COMMIT_AT_EVENTS) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.soon ??= setImmediate(() => {
        this.soon = null;
        this.commit();
      });
      return;
    }
    if (this.timer || this.soon) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.commit();
    }, this.opts.commitIntervalMs);
  }

  /** Commits what is queued now. */
  commit(): void {
    const batch = this.queue;
    this.queue = [];
    this.queued = 0;
    if (batch.length === 0) return;
    let outcomes: AppendOutcome[];
    try {
      outcomes = this.outbox.appendBatches(batch.map((p) => this.toBatch(p)));
    } catch (err) {
      // Nothing of this batch was committed (one transaction). Refuse it loudly; senders that can retry
      // (HL7 gets a NAK) will. Try the emits one by one so one bad record (too large, or one that cannot be
      // serialised) does not refuse the rest.
      if (batch.length > 1) {
        const results = batch.map((p) => this.commitOne(p));
        this.afterCommit(batch.filter((_, i) => results[i] === 'stored'), batch.filter((_, i) => results[i] === 'refused'));
        return;
      }
      this.refuse(batch[0]!, err);
      this.afterCommit([], batch);
      return;
    }
    batch.forEach((p) => p.resolve());
    this.afterCommit(batch.filter((p, i) => this.stored(p, outcomes[i]!)), []);
  }

  private commitOne(p: Pending): 'stored' | 'duplicate' | 'refused' {
    try {
      const [outcome] = this.outbox.appendBatches([this.toBatch(p)]);
      p.resolve();
      return this.stored(p, outcome!) ? 'stored' : 'duplicate';
    } catch (err) {
      return this.refuse(p, err);
    }
  }

  /** Whether the batch was stored now; a duplicate is counted and logged, not passed on again. */
  private stored(p: Pending, outcome: AppendOutcome): boolean {
    if (outcome === 'stored') return true;
    this.metrics.inc('ingest_duplicates_total', undefined, p.events.length);
    this.log.info({ idempotencyKey: p.idempotencyKey, events: p.events.length }, 'resend of an already accepted batch: not stored again');
    return false;
  }

  /**
   * The store failed (disk full, I/O error; a record too large from a caller that did not split it): the driver is
   * told, and the events still go to the listeners — a reading that cannot be kept must still be shown and alarmed.
   */
  private refuse(p: Pending, err: unknown): 'refused' {
    const code = (err as { code?: string }).code;
    const reason = code ?? (err as Error).name ?? 'error';
    this.metrics.inc('ingest_refused_total', { reason, source: p.source }, p.events.length);
    // A full disk refuses every emit of every driver: the first is logged, then one line a minute per reason with the
    // count since (this log is likely written to the disk that is full).
    let since = this.refusedSinceLine.get(reason);
    if (!since) {
      since = { emits: 0, events: 0, sources: new Set() };
      this.refusedSinceLine.set(reason, since);
    }
    since.emits += 1;
    since.events += p.events.length;
    since.sources.add(p.source);
    if (this.refusedLog.open(reason, Date.now())) {
      this.refusedSinceLine.delete(reason);
      this.log.error(
        {
          err, code, source: p.source, events: p.events.length, devices: [...new Set(p.events.map((e) => e.deviceId))],
          ...(since.emits > 1 && { refusedSinceLastLine: refusedCount(since), logEveryMinutes: REFUSED_LOG_EVERY_MS / 60_000 }),
        },
        'store refused events; the sender is told they were not accepted',
      );
    }
    p.reject(new IngestRefusedError(`store refused: ${(err as Error).message}`, err));
    // Too large says nothing of the store's state (records() keeps such records out of an emit; this is a safeguard).
    if (err instanceof RecordTooLargeError) return 'refused';
    if (!this.refusing) {
      this.refusing = { since: Date.now(), reason: code ?? (err as Error).message };
      this.tellStoreState();
    }
    return 'refused';
  }

  private tellStoreState(): void {
    for (const l of this.storeStateListeners) {
      try {
        l(this.refusing);
      } catch (err) {
        this.log.error({ err }, 'store state listener failed');
      }
    }
  }

  private afterCommit(stored: Pending[], refused: Pending[]): void {
    // A plain loop: flatMap is a visible cost at 20,000 events per commit.
    const events: DriverEvent[] = [];
    let committed = 0;
    for (const p of stored) {
      committed += p.events.length;
      // Shown already, when the store refused it (a sender's resend that the store now takes): not passed on twice.
      if (p.idempotencyKey !== undefined && this.shownWhileRefused.delete(p.idempotencyKey)) continue;
      for (const e of p.events) events.push(e);
    }
    if (committed > 0) {
      this.metrics.inc('store_committed_total', undefined, committed);
      this.onCommitted();
      if (this.refusing) {
        // Refusals not told yet (the last minute's) are told here; the next refusal is logged at once.
        const notLogged = [...this.refusedSinceLine].map(([reason, n]) => ({ reason, ...refusedCount(n) }));
        this.refusedSinceLine.clear();
        this.refusedLog.reset();
        this.log.info(
          { refusingSince: new Date(this.refusing.since).toISOString(), reason: this.refusing.reason, ...(notLogged.length > 0 && { refusedNotLogged: notLogged }) },
          'store takes events again',
        );
        this.refusing = null;
        this.tellStoreState();
      }
    }
    this.tooLargeDropped(stored);
    this.unserialisableDropped(stored);
    for (const p of refused) {
      // A sender told to resend (HL7 AR) sends the same message again and again while the disk is full: shown once,
      // so that a resend is not taken for fresh data (the bed would look live, and 'No data' would never come).
      if (p.idempotencyKey !== undefined) {
        if (this.shownWhileRefused.has(p.idempotencyKey)) continue;
        if (this.shownWhileRefused.size >= MAX_SHOWN_WHILE_REFUSED) this.shownWhileRefused.delete(this.shownWhileRefused.values().next().value!);
        this.shownWhileRefused.add(p.idempotencyKey);
      }
      for (const e of p.events) events.push(e);
    }
    if (events.length === 0) return;
    // A fault in these checks (an impossible time once crashed the agent here, review rv157 F1) must not keep the
    // events from the alarm engine and the display: they go on, perhaps not marked out of order.
    try {
      this.markOutOfOrder(events);
    } catch (err) {
      this.metrics.inc('ingest_after_commit_errors_total');
      this.log.error({ err, events: events.length }, 'ingest\'s checks after a commit failed (out of order, device clock); the events still go to the listeners');
    }
    for (const l of this.listeners) {
      try {
        l(events);
      } catch (err) {
        this.metrics.inc('listener_errors_total');
        this.log.error({ err }, 'ingest listener failed; other listeners still ran');
      }
    }
  }

  /** Marks (in place, with a copy) the readings listeners must not take for current: they are stored as they came. */
  private markOutOfOrder(events: DriverEvent[]): void {
    // A device's readings come together: the text of their origin (source, device, bed) is written once for them.
    let source: string | undefined;
    let deviceId: string | undefined;
    let bed: string | undefined;
    let origin = '';
    // The device's clock is judged by the newest time of its readings here: an NBP sent with the time the cuff
    // measured it is older than the clock, the HR beside it is not.
    let first: NumericReading | null = null;
    let newest = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind !== 'numeric' || e.deviceTime === null) continue;
      if (e.source !== source || e.deviceId !== deviceId || e.bed !== bed) {
        if (first) this.checkClock(first, newest, origin);
        source = e.source;
        deviceId = e.deviceId;
        bed = e.bed;
        origin = `${source}|${deviceId}|${bed ?? ''}`;
        first = e;
        newest = e.deviceTime;
      } else if (e.deviceTime > newest) newest = e.deviceTime;
      // An MDC code by its number; a setting, or a raw code, by its text (never a number, and with a ':' where a raw code is).
      const metric = e.mdc ? (e.setting ? `${e.mdc.code}#set` : e.mdc.code) : `${e.raw?.system ?? ''}:${e.raw?.code ?? ''}${e.setting ? '#set' : ''}`;
      if (!this.outOfOrder.check(origin, metric, e.deviceTime, e.receivedAt)) continue;
      events[i] = { ...e, outOfOrder: true };
      this.metrics.inc('ingest_out_of_order_total', { source: e.source });
      if (this.outOfOrderLog.open(origin, e.receivedAt)) {
        this.log.warn(
          { source: e.source, deviceId: e.deviceId, bed: e.bed, deviceTime: logTime(e.deviceTime), behindMinutes: Math.round((e.receivedAt - e.deviceTime) / 60_000) },
          `readings measured more than ${BEHIND_MS / 60_000} min before the newest of their kind this device gave for this bed (a backlog): stored and forwarded, not shown or alarmed as current`,
        );
      }
    }
    if (first) this.checkClock(first, newest, origin);
  }

  /**
   * A device whose time is far from the gateway's when its readings arrive: a clock set wrong (a year off, a zone
   * read wrong), or a backlog. Its readings are stored and forwarded with that time, their records marked
   * DEVICE_TIME_FAR_FROM_RECEIPT (records()), so it is told: counted per
   * device's delivery (by the newest time among its readings of an emit), logged once an hour per device and bed.
   */
  private checkClock(e: NumericReading, deviceTime: number, origin: string): void {
    const offMs = deviceTime - e.receivedAt;
    if (Math.abs(offMs) <= CLOCK_OFF_MS) return;
    this.metrics.inc('ingest_device_clock_off_total', { source: e.source });
    if (!this.clockOffLog.open(origin, e.receivedAt)) return;
    const minutes = Math.round(Math.abs(offMs) / 60_000);
    this.log.warn(
      { source: e.source, deviceId: e.deviceId, bed: e.bed, deviceTime: logTime(deviceTime), offsetMinutes: Math.round(offMs / 60_000) },
      `device time is ${minutes} min ${offMs < 0 ? 'behind' : 'ahead of'} the gateway's clock as its readings arrive (a device clock set wrong, a time zone read wrong, or a backlog): ` +
        'they are stored and forwarded with the device\'s time; check the device\'s clock (said once an hour per device and bed)',
    );
  }

  /** Commits anything queued and refuses further events. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearImmediate(this.soon);
    this.timer = null;
    this.soon = null;
    this.commit();
    this.closed = true;
  }
}
