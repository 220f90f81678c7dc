// Technical alarm conditions the agent detects itself: a device or feed gone silent, a lost connection, sensor off /
// lead off, readings invalid for too long, the store nearly full, the hub unreachable for long. Pure: inputs are plain
// method calls with times, tick(now) confirms conditions whose time has come. Loss of data is an alarm, never silence.
// Technical alarms a device reports itself (AlarmEvent with category 'technical') are handled by the engine as device
// alarms, not here.
import { metricLabel } from '../model/labels.js';
import type { DeviceStatusEvent, MdcCode, RawCode, Reading } from '../model/reading.js';
import { isStandInDeviceId } from '../model/reading.js';
import { BedFeeds, bedsByDevice } from './feeds.js';
import { onlyBeyondRange } from './bound.js';
import { onlyTimingDoubt } from './timing.js';
import type { ConditionSpec, ConditionUpdate, ManagedPriority } from './types.js';
import { GATEWAY_BED, UNASSIGNED_BED } from './types.js';

/** Why the hub cannot be reached where waiting will not mend it (TechnicalMonitor.hubReachable); null: unreachable. */
export type HubDownCause = 'auth' | 'tls' | null;

export type TechnicalKind = 'no-data' | 'connection' | 'sensor-off' | 'lead-off' | 'invalid' | 'metric-missing' | 'store' | 'hub' | 'alarm-flood';

export interface TechnicalConfig {
  /** Seconds without any event from a device before its feed counts as silent. */
  silentAfterS: number;
  /** Seconds a device may stay 'offline' / 'error' (its driver's word) before that is an alarm. */
  connectionAfterS: number;
  /** Seconds a metric may carry 'sensor-off' / 'lead-off' before that is an alarm. */
  sensorOffAfterS: number;
  /** Seconds a metric may be not valid (any reason, or null values) before that is an alarm. */
  invalidAfterS: number;
  /**
   * Seconds of valid samples (from the first valid one to a later one) before a metric's sensor-off / lead-off /
   * invalid alarm ends: one valid sample between bad ones (a loose probe) must not end it and raise it anew.
   */
  validAfterS: number;
  /** Store usage fraction (0..1) at which "store nearly full" is raised, and below which it ends. */
  storeNearlyFullAt: number;
  storeClearBelow: number;
  /** Seconds the hub may be unreachable before that is an alarm. */
  hubUnreachableAfterS: number;
  /** Per-device settings: expected interval (silentAfterS) and a bed when the device's events carry none. */
  devices?: Record<string, { silentAfterS?: number; bed?: string }>;
  priorities: Record<TechnicalKind, ManagedPriority>;
  /**
   * The deviceId of the gateway's own alarms here (store nearly full, hub unreachable): the gateway id, as every
   * gateway alarm carries (the agent gives it; review rv187 L2). `gateway` when not given. Their keys do not change.
   */
  gatewayId?: string;
}

/**
 * Defaults are our choices: a monitor streaming numerics every 1–5 s is silent after 30 s; sensor/lead off after 5 s
 * (a reseated probe should not alarm); invalid for 30 s; such an alarm ends after 5 s of valid samples (as long as it
 * takes to raise one: a loose probe gives one alarm, not one every few seconds); store alarm at 90 %, ending below 85 %; hub after 5 min
 * (store-and-forward covers shorter outages). Loss of monitoring data is medium; the rest low.
 */
export const DEFAULT_TECHNICAL_CONFIG: TechnicalConfig = {
  silentAfterS: 30,
  connectionAfterS: 10,
  sensorOffAfterS: 5,
  invalidAfterS: 30,
  validAfterS: 5,
  storeNearlyFullAt: 0.9,
  storeClearBelow: 0.85,
  hubUnreachableAfterS: 300,
  priorities: { 'no-data': 'medium', connection: 'medium', 'sensor-off': 'low', 'lead-off': 'low', invalid: 'low', 'metric-missing': 'low', store: 'low', hub: 'low', 'alarm-flood': 'medium' },
};

interface DeviceTrack {
  deviceId: string;
  bed: string;
  patientId?: string;
  /** Last time any event came from the device (or when it was declared expected). */
  lastDataAt: number;
  /** Driver says 'silent' (it already applied its own interval). */
  driverSilent: boolean;
  /** Since when the driver has said 'offline' / 'error' (which of them, and its detail); null when not. */
  downSince: number | null;
  downState: 'offline' | 'error';
  downDetail: string;
  raised: Set<'no-data' | 'connection'>;
  /** The driver (config entry name) its events last came through, or it was expected through; null when not known. */
  source: string | null;
  /**
   * False once a configuration change took it from its driver (unwatch, review rv120 M1): its silence and its link
   * are no fault then, until it sends again.
   */
  watched: boolean;
}

type OffKind = 'sensor-off' | 'lead-off';

interface MetricTrack {
  deviceId: string;
  /** The bed its readings carry: one device id may carry several (a central station without equipment ids). */
  bed: string;
  patientId?: string;
  label: string;
  metric: MdcCode | null;
  raw?: RawCode;
  /** Start of the current run of not-valid samples; null when the latest sample was valid (or not measured). */
  badSince: number | null;
  /**
   * A valid sample has come in this run. Until then, 'unavailable' is "not measured" (a ventilator's dashed field, a
   * parameter of another mode, a sensor never fitted), no fault; after it, a sensor that came off (review rv173 M1).
   */
  measured: boolean;
  badReasons: string[];
  /** Start of the current run of samples carrying sensor-off / lead-off. */
  offSince: number | null;
  offKind: OffKind;
  /** The key of the off alarm that covers this metric (see `offGroups`), or null. */
  offCovered: string | null;
  invalidRaised: boolean;
  /** While its off or invalid alarm is up: the first of the current run of valid samples, or null. */
  goodSince: number | null;
  /** When its latest sample (valid or not) was received, or null before the first. */
  lastAt: number | null;
  /** The gap before that sample (gaps under BATCH_MS, samples of one message, not counted), or null. */
  lastGap: number | null;
  /** Its "No <label> from <device>" alarm is up: it stopped with a limit alarm present (metricMissing). */
  missingRaised: boolean;
}

/** Samples of a metric received closer together than this are one batch (one message), not the feed's pace. */
const BATCH_MS = 1000;

export function technicalKey(scope: string, kind: TechnicalKind): string {
  return `tech:${scope}:${kind}`;
}

/** The key of a device's "has N open alarms on <bed>" alarm: the engine raises and ends it, the tile pins it first. */
export function floodKey(deviceId: string, bed: string): string {
  return technicalKey(`${deviceId}|${bed}`, 'alarm-flood');
}

export class TechnicalMonitor {
  private readonly devices = new Map<string, DeviceTrack>();
  private readonly metrics = new Map<string, MetricTrack>();
  /**
   * Sensor-off / lead-off are one alarm per device, bed and reason, not one per metric: one ECG lead off takes HR, RR
   * and the ECG waveform at once, and three alarms for one cause is noise at the bedside. By alarm key: the metrics
   * it covers; the alarm ends when the last of them is valid again.
   */
  private readonly offGroups = new Map<string, Set<string>>();
  /**
   * Which device sends for which bed (agent/alarms/feeds.ts): a bed a device no longer sends for is not monitored by
   * it. The limit evaluator reads it too (the engine hands it `feeds`).
   */
  readonly feeds = new BedFeeds((deviceId) => this.silentAfterMs(deviceId));
  /** The `device|bed` feeds whose "no data from <device> for bed <bed>" alarm is up. */
  private readonly bedSilentRaised = new Set<string>();
  private store = { fraction: 0, raised: false, at: 0 };
  private hub = { downSince: null as number | null, raised: false, cause: null as HubDownCause };

  constructor(private config: TechnicalConfig = DEFAULT_TECHNICAL_CONFIG) {}

  setConfig(config: TechnicalConfig): void {
    this.config = config;
  }

  /**
   * Whether the device's driver reports it in error (part of it failing, e.g. a register refused): its "fault" alarm
   * shares the connection key with "disconnected", but data still comes, so its other alarms are still confirmed.
   */
  inError(deviceId: string): boolean {
    const d = this.devices.get(deviceId);
    return d !== undefined && d.downSince !== null && d.downState === 'error';
  }

  private device(deviceId: string, bed: string | undefined, at: number): DeviceTrack {
    let d = this.devices.get(deviceId);
    if (!d) {
      d = { deviceId, bed: UNASSIGNED_BED, lastDataAt: at, driverSilent: false, downSince: null, downState: 'offline', downDetail: '', raised: new Set(), source: null, watched: true };
      this.devices.set(deviceId, d);
    }
    d.bed = bed ?? this.config.devices?.[deviceId]?.bed ?? d.bed;
    return d;
  }

  /** Declare a device that should be sending, so its silence counts even if it never sent anything. */
  expect(deviceId: string, at: number, bed?: string, source?: string): void {
    const d = this.device(deviceId, bed, at);
    d.watched = true;
    if (source !== undefined) d.source = source;
  }

  /** The driver a device's event came through (the engine tells it of each event). */
  cameThrough(deviceId: string, source: string): void {
    const d = this.devices.get(deviceId);
    if (d) d.source = source;
  }

  /** The devices watched, with the driver they last came through (those known to have come through one). */
  sources(): { deviceId: string; source: string }[] {
    const out: { deviceId: string; source: string }[] = [];
    for (const d of this.devices.values()) if (d.watched && d.source !== null) out.push({ deviceId: d.deviceId, source: d.source });
    return out;
  }

  /**
   * A configuration change took the device from its driver (review rv120 M1). Its link state goes (no driver is left
   * to report it), and so does the driver it came through. `expected` (listed in alarms.devices): it stays watched for
   * silence, as after a restart. Otherwise its silence is no fault either until it sends again, and its raised
   * conditions and metric tracks are dropped (the engine ends their alarms). False when the device is not held.
   */
  unwatch(deviceId: string, expected: boolean): boolean {
    const d = this.devices.get(deviceId);
    if (!d) return false;
    d.source = null;
    d.downSince = null;
    d.raised.delete('connection');
    if (expected) return true;
    d.watched = false;
    d.driverSilent = false;
    d.raised.clear();
    for (const f of this.feeds.bedsOf(deviceId)) this.bedSilentRaised.delete(`${deviceId}|${f.bed}`);
    this.dropMetrics((t) => t.deviceId === deviceId);
    return true;
  }

  /**
   * The gateway's clock stepped (AlarmEngine.shiftClock): the instants that time silence, links, sensor-off, not-valid
   * and hub outages move with it, so those durations run on as if no step happened.
   */
  shiftClock(deltaMs: number): void {
    const move = (at: number | null): number | null => (at === null ? null : at + deltaMs);
    for (const d of this.devices.values()) {
      d.lastDataAt += deltaMs;
      d.downSince = move(d.downSince);
    }
    for (const t of this.metrics.values()) {
      t.badSince = move(t.badSince);
      t.offSince = move(t.offSince);
      t.goodSince = move(t.goodSince);
      t.lastAt = move(t.lastAt);
    }
    this.hub.downSince = move(this.hub.downSince);
    this.feeds.shiftClock(deltaMs);
  }

  /** When the device last sent anything (reading, alarm, keep-alive; or since it was expected), undefined if neither. */
  lastData(deviceId: string): number | undefined {
    return this.devices.get(deviceId)?.lastDataAt;
  }

  /** Any event from a device (reading, alarm) shows its feed is alive. */
  data(deviceId: string, bed: string | undefined, at: number, patientId?: string): ConditionUpdate[] {
    const d = this.device(deviceId, bed, at);
    if (patientId !== undefined) d.patientId = patientId;
    d.lastDataAt = Math.max(d.lastDataAt, at);
    d.driverSilent = false;
    d.watched = true;
    const out: ConditionUpdate[] = [];
    if (d.raised.delete('no-data')) out.push({ present: false, key: technicalKey(deviceId, 'no-data'), at, why: 'data received from device' });
    // Data shows an 'offline' link works after all. It does not end an 'error': a driver reports part of a device
    // failing (a Modbus read answering exceptions) while other parts still send; only the driver's 'online' ends it.
    if (d.downSince !== null && d.downState === 'error') return out;
    d.downSince = null;
    if (d.raised.delete('connection')) out.push({ present: false, key: technicalKey(deviceId, 'connection'), at, why: 'data received from device' });
    return out;
  }

  /** A reading: alive feed, plus quality tracking per metric (measurements only). */
  reading(r: Reading): ConditionUpdate[] {
    const out = this.data(r.deviceId, r.bed, r.receivedAt, r.patientId);
    const bed = r.bed ?? this.config.devices?.[r.deviceId]?.bed ?? UNASSIGNED_BED;
    // Any reading shows the device sends for its bed: a setting, and a backlog reading too (ingest's outOfOrder: a
    // clock stepped back is no silence, rv39 §5).
    out.push(...this.heard(r.deviceId, bed, r.receivedAt, r.patientId));
    // A setting shows the feed is alive, but its quality says nothing of a sensor; and sharing the measurement's
    // code, a valid setting would otherwise end the measurement's sensor-off alarm.
    if (r.kind === 'numeric' && r.setting) return out;
    // A device's backlog (ingest's outOfOrder) shows the feed alive, but its quality is of then, not now: valid old
    // readings must not end (nor invalid ones raise) a sensor or "not valid" alarm of now (review rv36 §3).
    if (r.kind === 'numeric' && r.outOfOrder) return out;
    const id = r.mdc ? String(r.mdc.code) : r.raw ? `${r.raw.system}:${r.raw.code}` : 'unknown';
    // Per bed too: a device id that carries several beds has one HR per bed.
    const key = `${r.deviceId}|${bed}|${id}`;
    let t = this.metrics.get(key);
    if (!t) {
      // Named as the display names it (HR, ECG II), not by its code, so the alarm reads like the tile it concerns.
      const label = r.mdc ? metricLabel(r.mdc, r.raw) : r.raw ? `${r.raw.system}:${r.raw.code}` : 'unknown metric';
      t = { deviceId: r.deviceId, bed, label, metric: r.mdc, badSince: null, measured: false, badReasons: [], offSince: null, offKind: 'sensor-off', offCovered: null, invalidRaised: false, goodSince: null, lastAt: null, lastGap: null, missingRaised: false };
      if (r.raw) t.raw = r.raw;
      this.metrics.set(key, t);
    }
    if (r.patientId !== undefined) t.patientId = r.patientId;
    // The metric is sent again (of any quality: a not-valid one has its own alarm): it is no longer missing.
    if (t.missingRaised) {
      t.missingRaised = false;
      out.push({ present: false, key: technicalKey(key, 'metric-missing'), at: r.receivedAt, why: `${t.label} received again` });
    }
    const gap = t.lastAt === null ? null : r.receivedAt - t.lastAt;
    const gapBefore = t.lastGap;
    if (gap !== null && gap >= BATCH_MS) t.lastGap = gap;
    if (gap === null || gap >= BATCH_MS) t.lastAt = r.receivedAt;
    const valueMissing = r.kind === 'numeric' ? r.value === null : r.samples.length === 0;
    // A value beyond the device's measuring range (HL7 SN `>^40`) is a real measurement, only bounded: not "not valid";
    // nor is one doubted only for its time (an HL7 waveform placed at receipt: review rv142 F4).
    const good = (r.quality.state === 'valid' || beyondRangeOnly(r) || onlyTimingDoubt(r.quality)) && !valueMissing;
    if (good) {
      t.badSince = null;
      t.measured = true;
      const validMs = this.config.validAfterS * 1000;
      // Hysteresis: the alarm ends only once the samples have been valid for validAfterS, for a feed that sends more
      // often than that (a loose probe). A metric that sends less often (NIBP every 15 min, a single stat measurement:
      // this sample validAfterS or more after the previous one, and the gap before that too, or none known) ends it
      // with its first valid sample: a second one would come a cycle later, or never. Both gaps, so that a 1 Hz feed
      // that paused while the probe was off keeps its hysteresis.
      const slow = gap !== null && gap >= validMs && (gapBefore === null || gapBefore >= validMs);
      if ((t.invalidRaised || t.offCovered !== null) && !slow) {
        t.goodSince ??= r.receivedAt;
        if (r.receivedAt - t.goodSince < validMs) return out;
      }
      t.goodSince = null;
      t.offSince = null;
      if (t.invalidRaised) {
        t.invalidRaised = false;
        out.push({ present: false, key: technicalKey(key, 'invalid'), at: r.receivedAt, why: `${t.label} valid again` });
      }
      out.push(...this.uncover(key, t, r.receivedAt, `${t.label} valid again`));
      return out;
    }
    const reasons = r.quality.reasons ?? [];
    t.goodSince = null;
    // Not measured (unavailable, never valid in this run) neither starts nor ends a run of "not valid"; 'invalid' (the
    // device says the value is wrong) starts it from the first sample, and unavailable samples between do not end it
    // (review rv174 F5). An alarm already up stays until valid samples end it.
    if (!(r.quality.state === 'unavailable' && !t.measured)) t.badSince ??= r.receivedAt;
    t.badReasons = reasons.length > 0 ? reasons : [valueMissing ? 'no value' : r.quality.state];
    const off = reasons.includes('lead-off') ? 'lead-off' : reasons.includes('sensor-off') ? 'sensor-off' : null;
    if (off) {
      if (t.offSince === null || t.offKind !== off) t.offSince = r.receivedAt;
      // Now off for another reason (a lead-off metric reporting sensor-off): it leaves the other kind's alarm.
      if (t.offCovered !== null && t.offCovered !== this.offKey(t, off)) out.push(...this.uncover(key, t, r.receivedAt, `${t.label} now ${off}`));
      t.offKind = off;
    } else if (t.offCovered === null) {
      t.offSince = null;
    }
    out.push(...this.checkMetric(key, t, r.receivedAt));
    return out;
  }

  /** A reading from a device for a bed: that bed is monitored by it; ends its "no data for this bed" alarm. */
  private heard(deviceId: string, bed: string, at: number, patientId: string | undefined): ConditionUpdate[] {
    this.feeds.heard(deviceId, bed, at, patientId);
    const k = `${deviceId}|${bed}`;
    if (!this.bedSilentRaised.delete(k)) return [];
    return [{ present: false, key: technicalKey(k, 'no-data'), at, why: `data for bed ${bed} received from ${deviceId}` }];
  }

  /**
   * A device that sends for several beds (a central station) and has sent nothing for one of them for its
   * silentAfterS, while it still sends for another: "no data for bed X" on that bed. Its own no-data alarm cannot
   * say so (the device is not silent), and the bed's alarms end as "no longer monitored", so without this the bed
   * would look clear. A device silent altogether has its own no-data alarm instead.
   */
  private checkBeds(now: number): ConditionUpdate[] {
    const sending = new Set<string>();
    for (const [, f] of this.feeds.all()) if (now - f.at <= this.silentAfterMs(f.deviceId)) sending.add(f.deviceId);
    const out: ConditionUpdate[] = [];
    for (const [k, f] of this.feeds.all()) {
      if (this.bedSilentRaised.has(k) || !this.feeds.carriesSeveralBeds(f.deviceId) || !sending.has(f.deviceId)) continue;
      const silentMs = this.silentAfterMs(f.deviceId);
      if (now - f.at <= silentMs) continue;
      this.bedSilentRaised.add(k);
      const s = Math.round((now - f.at) / 1000);
      const spec = this.base(technicalKey(k, 'no-data'), f.bed, f.deviceId, 'no-data', `No data from ${f.deviceId} for bed ${f.bed}`);
      if (f.patientId !== undefined) spec.patientId = f.patientId;
      out.push({ present: true, spec, at: now, why: `nothing from ${f.deviceId} for bed ${f.bed} for ${s} s (expected within ${silentMs / 1000} s), while it still sends for other beds` });
    }
    return out;
  }

  /**
   * A metric stopped while its device goes on sending for the bed, and a limit alarm on it was present (the limit
   * evaluator ended it): "No <label> from <device>", low, until the metric is sent again. Only then: a sensor taken
   * off on purpose, with no alarm on it, must not fill the ward with technical alarms.
   */
  metricMissing(deviceId: string, bed: string, code: number, at: number, why: string): ConditionUpdate[] {
    const key = `${deviceId}|${bed}|${code}`;
    const t = this.metrics.get(key);
    const d = this.devices.get(deviceId);
    if (!t || !d || t.missingRaised) return [];
    t.missingRaised = true;
    const spec = this.base(technicalKey(key, 'metric-missing'), t.bed, deviceId, 'metric-missing', `No ${t.label} from ${deviceId}`);
    spec.metric = t.metric;
    const patientId = t.patientId ?? d.patientId;
    if (patientId !== undefined) spec.patientId = patientId;
    return [{ present: true, spec, at, why }];
  }

  /**
   * What could be forgotten: devices silent for their silentAfterS at least, least recently heard first (`day`: for
   * forgetAfterMs), and feeds (device × bed) silent for forgetAfterMs of devices still sending. Devices listed in the
   * config (alarms.devices) are never: they are expected, and their "no data" alarm stays until they send.
   */
  stale(now: number, forgetAfterMs: number): { devices: { deviceId: string; lastAt: number; day: boolean }[]; feeds: { deviceId: string; bed: string; lastAt: number }[] } {
    const devices: { deviceId: string; lastAt: number; day: boolean }[] = [];
    const feeds: { deviceId: string; bed: string; lastAt: number }[] = [];
    for (const d of this.devices.values()) {
      if (this.config.devices?.[d.deviceId] !== undefined) continue;
      const silent = now - d.lastDataAt;
      if (silent > this.silentAfterMs(d.deviceId)) devices.push({ deviceId: d.deviceId, lastAt: d.lastDataAt, day: silent > forgetAfterMs });
      else for (const f of this.feeds.bedsOf(d.deviceId)) if (now - f.at > forgetAfterMs) feeds.push({ deviceId: f.deviceId, bed: f.bed, lastAt: f.at });
    }
    devices.sort((a, b) => a.lastAt - b.lastAt);
    return { devices, feeds };
  }

  /** Drop all state of these devices, and of these device × bed feeds (their alarms are the engine's to end). */
  forget(devices: ReadonlySet<string>, feeds: readonly { deviceId: string; bed: string }[]): void {
    const pairs = bedsByDevice(feeds);
    const gone = (deviceId: string, bed: string): boolean => devices.has(deviceId) || pairs.get(deviceId)?.has(bed) === true;
    for (const d of devices) {
      this.devices.delete(d);
      for (const f of this.feeds.bedsOf(d)) this.bedSilentRaised.delete(`${d}|${f.bed}`);
    }
    for (const f of feeds) this.bedSilentRaised.delete(`${f.deviceId}|${f.bed}`);
    this.dropMetrics((t) => gone(t.deviceId, t.bed));
    this.feeds.forget(devices, feeds);
  }

  private dropMetrics(gone: (t: MetricTrack) => boolean): void {
    for (const [k, t] of this.metrics) {
      if (!gone(t)) continue;
      this.metrics.delete(k);
      if (t.offCovered !== null) {
        const covered = this.offGroups.get(t.offCovered);
        covered?.delete(k);
        if (covered?.size === 0) this.offGroups.delete(t.offCovered);
      }
    }
  }

  /** How many devices, metrics and feeds are held (bounded by the engine's forgetting). */
  sizes(): { devices: number; metrics: number; feeds: number } {
    return { devices: this.devices.size, metrics: this.metrics.size, feeds: this.feeds.size };
  }

  /** Connection state as the driver sees it. */
  status(e: DeviceStatusEvent): ConditionUpdate[] {
    const d = this.device(e.deviceId, e.bed, e.at);
    if (e.patientId !== undefined) d.patientId = e.patientId;
    d.watched = true; // a driver reports on it (again): its link and silence count
    // A keep-alive from the device itself (PCD-04 watchdog) shows the feed is alive, as data would.
    const out: ConditionUpdate[] = e.alive ? this.data(e.deviceId, e.bed, e.at, e.patientId) : [];
    if (e.state === 'silent') {
      d.driverSilent = true;
      if (!d.raised.has('no-data')) {
        d.raised.add('no-data');
        out.push({ present: true, spec: this.deviceSpec(d, 'no-data', `No data from ${d.deviceId}: ${e.detail}`), at: e.at, why: `driver reports silent: ${e.detail}` });
      }
    } else if (e.state === 'offline' || e.state === 'error') {
      d.downSince ??= e.at;
      d.downState = e.state;
      d.downDetail = e.detail;
      out.push(...this.checkDevice(d, e.at));
    } else if (e.state === 'online') {
      d.downSince = null;
      if (d.raised.delete('connection')) out.push({ present: false, key: technicalKey(d.deviceId, 'connection'), at: e.at, why: `device online: ${e.detail}` });
    }
    // 'connecting' says nothing new: the silence timer and any offline run continue.
    return out;
  }

  /** Store usage as a fraction of its budget (0..1). */
  storeUsage(fraction: number, at: number): ConditionUpdate[] {
    this.store.fraction = fraction;
    this.store.at = at;
    const pct = `${Math.round(fraction * 100)} %`;
    if (!this.store.raised && fraction >= this.config.storeNearlyFullAt) {
      this.store.raised = true;
      return [{ present: true, spec: this.gatewaySpec('store', `Gateway store nearly full (${pct})`), at, why: `store at ${pct}` }];
    }
    if (this.store.raised && fraction < this.config.storeClearBelow) {
      this.store.raised = false;
      return [{ present: false, key: technicalKey('gateway', 'store'), at, why: `store down to ${pct}` }];
    }
    return [];
  }

  /**
   * Whether the forwarder currently reaches the hub; `cause`: why not, where waiting will not mend it and the alarm
   * says so instead of "unreachable": `auth`, the hub refuses the device's credentials (someone must fix the key,
   * review rv42 §8); `tls`, the hub's certificate is not trusted (hub.caFile, review rv113 L1).
   */
  hubReachable(reachable: boolean, at: number, cause: HubDownCause = null): ConditionUpdate[] {
    if (reachable) {
      this.hub.downSince = null;
      if (this.hub.raised) {
        this.hub.raised = false;
        return [{ present: false, key: technicalKey('gateway', 'hub'), at, why: 'hub reachable again' }];
      }
      return [];
    }
    this.hub.downSince ??= at;
    const changed = cause !== this.hub.cause;
    this.hub.cause = cause;
    // Raised already for the other reason: the same alarm, its text brought up to date.
    if (this.hub.raised && changed) return [this.hubAlarm(at)];
    return this.checkHub(at);
  }

  tick(now: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    for (const d of this.devices.values()) out.push(...this.checkDevice(d, now));
    out.push(...this.checkBeds(now));
    for (const [key, t] of this.metrics) out.push(...this.checkMetric(key, t, now));
    out.push(...this.checkHub(now));
    return out;
  }

  private silentAfterMs(deviceId: string): number {
    return (this.config.devices?.[deviceId]?.silentAfterS ?? this.config.silentAfterS) * 1000;
  }

  private checkDevice(d: DeviceTrack, now: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    // A stand-in for events whose driver named no device is no device that can fall silent (review rv159 F2).
    if (!d.watched || isStandInDeviceId(d.deviceId)) return out;
    const silentMs = this.silentAfterMs(d.deviceId);
    if (!d.raised.has('no-data') && now - d.lastDataAt > silentMs) {
      d.raised.add('no-data');
      const s = Math.round((now - d.lastDataAt) / 1000);
      // The text stays as raised (only a priority change updates an alarm): it says what stays true, the silence it
      // passed, not the silence so far, which would read "for 31 s" hours later (review rv51 L4). The `why` has the
      // figure of the moment; the display shows since when (raisedAt).
      out.push({ present: true, spec: this.deviceSpec(d, 'no-data', `No data from ${d.deviceId} for ${silentMs / 1000} s or more`), at: now, why: `no event for ${s} s (expected within ${silentMs / 1000} s)` });
    }
    if (d.downSince !== null && !d.raised.has('connection') && now - d.downSince >= this.config.connectionAfterS * 1000) {
      d.raised.add('connection');
      const text = d.downState === 'error' ? `Device ${d.deviceId} fault: ${d.downDetail}` : `Device ${d.deviceId} disconnected: ${d.downDetail}`;
      out.push({ present: true, spec: this.deviceSpec(d, 'connection', text), at: now, why: `driver reports ${d.downState} since ${new Date(d.downSince).toISOString()}: ${d.downDetail}` });
    }
    return out;
  }

  private checkMetric(key: string, t: MetricTrack, now: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    const d = this.devices.get(t.deviceId);
    if (!d) return out;
    const heard = this.feeds.lastHeard(t.deviceId, t.bed);
    if (heard !== undefined && now - heard > this.silentAfterMs(t.deviceId)) {
      // The device sends nothing for this bed any more (silent: its no-data alarm says so; or moved to another bed):
      // its off and invalid alarms here end, saying so, and nothing pending is raised for it.
      const why = `no longer monitored: nothing from ${t.deviceId} for bed ${t.bed} for ${Math.round((now - heard) / 1000)} s (device silent, or moved to another bed)`;
      if (t.invalidRaised) out.push({ present: false, key: technicalKey(key, 'invalid'), at: now, why });
      if (t.missingRaised) out.push({ present: false, key: technicalKey(key, 'metric-missing'), at: now, why });
      out.push(...this.uncover(key, t, now, why));
      t.invalidRaised = false;
      t.missingRaised = false;
      t.badSince = null;
      t.offSince = null;
      t.goodSince = null;
      return out;
    }
    // A device not heard from (the driver says silent or offline, or its own silence is past): its "No data" or
    // "disconnected" alarm says so, and an off or not-valid alarm raised now would end as "no longer monitored" a few
    // seconds later (review rv173). Its runs go on: the device still sending them when it is back raises them then.
    if (d.driverSilent || d.raised.has('no-data') || (d.downSince !== null && d.downState === 'offline')) return out;
    const offDelayMs = this.config.sensorOffAfterS * 1000;
    if (t.offSince !== null && t.offCovered === null && now - t.offSince >= offDelayMs) {
      const alarmKey = this.offKey(t, t.offKind);
      const covered = this.offGroups.get(alarmKey);
      if (covered) {
        // The alarm of this device, bed and reason is up already: this metric joins it (its text stays as raised).
        covered.add(key);
        t.offCovered = alarmKey;
      } else {
        // Raised once for every metric of the device and bed off for the same reason now (one cause: the others went
        // with it, maybe a reading later), named as they read on screen.
        const members = [...this.metrics].filter(([, m]) => m.offCovered === null && m.offSince !== null && this.offKey(m, m.offKind) === alarmKey);
        for (const [, m] of members) m.offCovered = alarmKey;
        this.offGroups.set(alarmKey, new Set(members.map(([k]) => k)));
        const text = `${members.map(([, m]) => m.label).join(', ')} ${t.offKind === 'lead-off' ? 'LEAD OFF' : 'SENSOR OFF'}`;
        const spec = this.base(alarmKey, t.bed, d.deviceId, t.offKind, text);
        spec.metric = t.metric;
        const patientId = t.patientId ?? d.patientId;
        if (patientId !== undefined) spec.patientId = patientId;
        out.push({ present: true, spec, at: now, why: `${t.offKind} reported for ${Math.round((now - t.offSince) / 1000)} s` });
      }
    }
    if (t.badSince !== null && t.offCovered === null && !t.invalidRaised && now - t.badSince >= this.config.invalidAfterS * 1000) {
      t.invalidRaised = true;
      const text = `${t.label} readings not valid (${t.badReasons.join(', ')})`;
      out.push({ present: true, spec: this.metricSpec(key, t, d, 'invalid', text), at: now, why: `not valid for ${Math.round((now - t.badSince) / 1000)} s` });
    }
    return out;
  }

  /** The off alarm a metric belongs under: its device, its bed, the reason. */
  private offKey(t: MetricTrack, kind: OffKind): string {
    return technicalKey(`${t.deviceId}|${t.bed}`, kind);
  }

  /** The metric leaves its off alarm; the alarm ends with the last metric it covered. */
  private uncover(key: string, t: MetricTrack, at: number, why: string): ConditionUpdate[] {
    const alarmKey = t.offCovered;
    if (alarmKey === null) return [];
    t.offCovered = null;
    const covered = this.offGroups.get(alarmKey);
    if (!covered) return [];
    covered.delete(key);
    if (covered.size > 0) return [];
    this.offGroups.delete(alarmKey);
    return [{ present: false, key: alarmKey, at, why }];
  }

  private checkHub(now: number): ConditionUpdate[] {
    if (this.hub.downSince === null || this.hub.raised) return [];
    if (now - this.hub.downSince < this.config.hubUnreachableAfterS * 1000) return [];
    this.hub.raised = true;
    return [this.hubAlarm(now)];
  }

  private hubAlarm(now: number): ConditionUpdate {
    const since = this.hub.downSince ?? now;
    const s = Math.round((now - since) / 1000);
    // A clock wrong by more than the token life, or outside the certificate's validity, looks the same to the hub and
    // to TLS: the text names it (review rv133 M3). Not the time it reads: the text is written once, at the raise, and
    // read hours later that time would tell a right clock as wrong (review rv135 M3). The forwarder's log line, written
    // at each failure, has the time, and which certificate error it was.
    const text =
      this.hub.cause === 'auth'
        ? `IoT Hub refuses the gateway's credentials (for ${s} s): check its connection string or key, or the gateway's clock is wrong (SAS tokens expire hub.sasTokenTtlS after it; compare the gateway's clock with a watch: the log line gives the time it read)`
        : this.hub.cause === 'tls'
          ? `IoT Hub's certificate is not trusted (for ${s} s): check hub.caFile, or as an IoT Edge module the edge CA and trust bundle (iotedge check); if the log says expired or not yet valid, the gateway's clock (compare it with a watch: the log line gives the time it read)`
          : `IoT Hub unreachable for ${s} s`;
    const why = this.hub.cause === 'auth' ? 'hub refuses the credentials' : this.hub.cause === 'tls' ? "hub's certificate not trusted" : 'hub unreachable';
    return { present: true, spec: this.gatewaySpec('hub', text), at: now, why: `${why} since ${new Date(since).toISOString()}` };
  }

  private deviceSpec(d: DeviceTrack, kind: 'no-data' | 'connection', text: string): ConditionSpec {
    const spec = this.base(technicalKey(d.deviceId, kind), d.bed, d.deviceId, kind, text);
    if (d.patientId !== undefined) spec.patientId = d.patientId;
    return spec;
  }

  private metricSpec(key: string, t: MetricTrack, d: DeviceTrack, kind: 'invalid', text: string): ConditionSpec {
    const spec = this.base(technicalKey(key, kind), t.bed, d.deviceId, kind, text);
    spec.metric = t.metric;
    const patientId = t.patientId ?? d.patientId;
    if (patientId !== undefined) spec.patientId = patientId;
    return spec;
  }

  private gatewaySpec(kind: 'store' | 'hub', text: string): ConditionSpec {
    const spec = this.base(technicalKey('gateway', kind), GATEWAY_BED, this.config.gatewayId ?? 'gateway', kind, text);
    if (kind === 'store') spec.value = this.store.fraction;
    return spec;
  }

  /**
   * "<device> has N open alarms on <bed>": raised by the engine while a device has more than maxOpenDeviceAlarms open
   * on one bed (AlarmEngine.floodCheck), one per device and bed. Not latching: nothing was ended, the alarms are all
   * still shown; it ends once fewer are open.
   */
  floodSpec(deviceId: string, bed: string, text: string): ConditionSpec {
    return this.base(floodKey(deviceId, bed), bed, deviceId, 'alarm-flood', text);
  }

  private base(key: string, bed: string, deviceId: string, kind: TechnicalKind, text: string): ConditionSpec {
    return {
      key,
      source: 'technical',
      bed,
      deviceId,
      condition: { code: null, raw: { system: 'agent', code: `technical:${kind}`, text }, text },
      // A config written before a kind existed has no priority for it: low, as the defaults give the new ones.
      priority: this.config.priorities[kind] ?? 'low',
      category: 'technical',
    };
  }
}

/** Questionable only because the value lies beyond the device's measuring range (HL7 SN `>^40`: `sn-comparator:>`). */
function beyondRangeOnly(r: Reading): boolean {
  return onlyBeyondRange(r.quality) !== null; // the limit rules' test too (review rv99 M2)
}
