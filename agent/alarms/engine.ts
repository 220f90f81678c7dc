// AlarmEngine: turns readings, device alarms, device status and clinician actions into managed alarms with
// IEC 60601-1-8 style states, and returns every change as an audit record. Pure and deterministic: no timers, no I/O;
// time comes from the events and from tick(now), which the caller drives (e.g. once a second).
import type { AlarmEvent, DeviceStatusEvent, DriverEvent, NumericReading, Reading } from '../model/reading.js';
import * as life from './lifecycle.js';
import { DEFAULT_LIMIT_CONFIG, LimitEvaluator, type LimitConfig, type MissingMetric } from './limits.js';
import { DEFAULT_RHYTHM_CONFIG, RhythmMonitor, type RhythmConfig } from './rhythm.js';
import { DEFAULT_NEWS2_CONFIG, News2Monitor, type Acvpu, type News2Config, type News2Report, type News2Score, type OxygenSupport, type RecordedObservations } from './news2.js';
import { DEFAULT_TECHNICAL_CONFIG, TechnicalMonitor, floodKey, technicalKey, type HubDownCause, type TechnicalConfig } from './technical.js';
import {
  PRIORITY_RANK,
  signalRank,
  UNASSIGNED_BED,
  type Actor,
  type Alarm,
  type AlarmAnnotation,
  type AlarmCategory,
  type AlarmStateChange,
  type ConditionSpec,
  type ConditionUpdate,
  type ManagedPriority,
  type SignalPriority,
} from './types.js';

export interface AlarmEngineConfig {
  /** Prefix of alarm ids; make it unique per gateway and run (e.g. `${gatewayId}-${startTime}-${random}`) so ids never repeat. */
  idPrefix: string;
  limits: LimitConfig;
  news2: News2Config;
  technical: TechnicalConfig;
  /** The agent's own arrhythmia detection on streamed ECG (off by default). */
  rhythm: RhythmConfig;
  /** Alarms of these priorities AND categories latch: they stay (latched) after the condition ends until acknowledged. */
  latching: { priorities: ManagedPriority[]; categories: AlarmCategory[] };
  /** Escalate an unacknowledged alarm of these priorities after afterS seconds; null switches escalation off. */
  escalation: { afterS: number; priorities: ManagedPriority[] } | null;
  /** Audio pause duration when the caller gives none, and the longest allowed. */
  audioPause: { defaultS: number; maxS: number };
  /** How many resolved alarms stay available to get()/annotate(). The durable record is the audit stream. */
  historySize: number;
  /**
   * Flood threshold of open device alarms per device and bed (review rv188 H2, M1): past it nothing is ended; each alarm
   * raised past it is counted (takeOverThreshold), and "<device> has N open alarms on <bed>" is raised until fewer are open.
   */
  maxOpenDeviceAlarms: number;
  /**
   * A patient id as the agent stores it (its pseudonymiser where configured, identity otherwise): an acknowledgement
   * restored from a note is compared in this form, as the note keeps no raw id (review rv188 M3).
   */
  patientKey: (patientId: string) => string;
}

/**
 * Defaults are our choices, not values from a standard: high physiological alarms latch (IEC 60601-1-8 leaves latching
 * to the manufacturer); escalation of an unacknowledged high alarm after 60 s; audio pause 120 s (a common monitor
 * default), at most 300 s.
 */
export const DEFAULT_ENGINE_CONFIG: AlarmEngineConfig = {
  idPrefix: 'alm',
  limits: DEFAULT_LIMIT_CONFIG,
  news2: DEFAULT_NEWS2_CONFIG,
  technical: DEFAULT_TECHNICAL_CONFIG,
  rhythm: DEFAULT_RHYTHM_CONFIG,
  latching: { priorities: ['high'], categories: ['physiological'] },
  escalation: { afterS: 60, priorities: ['high'] },
  audioPause: { defaultS: 120, maxS: 300 },
  historySize: 1000,
  maxOpenDeviceAlarms: 64,
  patientKey: (patientId) => patientId,
};

export type OperationResult = { ok: true; changes: AlarmStateChange[] } | { ok: false; error: string; changes: AlarmStateChange[] };

/**
 * A bed's pause lists, when it can, the alarms as the person saw them (`shown`: id and priority). `conditionPresent`:
 * whether the person was shown the alarm's condition present (false: shown latched, condition gone); left out by API
 * clients and older pages, which then are not checked for a return (review rv162 F2).
 */
export type AudioPauseTarget =
  | { alarmId: string; conditionPresent?: boolean }
  | { bed: string; shown?: { id: string; priority: SignalPriority; conditionPresent?: boolean }[] };

export interface AlarmFilter {
  bed?: string;
}

/** An open alarm's fields for a lookup by key (openByKey), and its condition's text. */
export type OpenByKey = Readonly<Pick<Alarm, 'source' | 'deviceId' | 'conditionPresent' | 'raisedAt'> & { text: string }>;

/**
 * A device `start` for an open alarm acknowledged here counts as a new episode (its predecessor's end lost) only when
 * the device has not reported that alarm for longer than this: 10 min, our choice. Not tied to the device's
 * silentAfterS (how often it sends anything, not how often it re-sends an alarm): a sender that repeats an alarm every
 * 10 min or more often never undoes an acknowledgement.
 */
export const NEW_EPISODE_AFTER_MS = 10 * 60_000;
/** Device alarms remembered as latched at their device (see latchedAtDevice). */
const MAX_LATCHED_AT_DEVICE = 10_000;
/**
 * A device alarm from a source that declares its repeat interval (AlarmEvent.repeatMs) ends unconfirmed when it has not
 * been reported for this many intervals while its device sends on (review rv185 M3): one or two missed repeats (a slow
 * poll, a message lost) are not a lost end.
 */
export const REPEATS_MISSED = 3;
/**
 * A device silent this long with nothing open but its own "no data" alarm is forgotten (its tracks, feeds, metrics),
 * and so is a bed a device has sent nothing for this long: ids that come and go (HL7 equipment ids, transport
 * monitors, a misconfigured sender) must not grow the state the engine scans every tick (review rv77 M2).
 */
export const FORGET_AFTER_MS = 24 * 3_600_000;
/**
 * Beyond this many devices, the least recently heard silent ones are forgotten first (as the HL7 driver's list), but
 * only those nobody is alarmed about: no open alarm at all (an acknowledged "no data" is someone going to the bedside,
 * and forgetting it ended it while the device was still down: review rv80 M2), and silent at least CAP_MIN_SILENT_MS.
 */
export const MAX_DEVICES = 2000;
/** A device silent for less than this is never forgotten for the cap (its link may just have dropped). */
export const CAP_MIN_SILENT_MS = 3_600_000;
/** A cap that cannot be met is counted at every sweep, and told (logged) at most this often. */
const CAP_TELL_EVERY_MS = 10 * 60_000;
/** How often the engine looks for state to forget (on tick). */
const SWEEP_EVERY_MS = 60_000;

/**
 * Sweeps since the last take whose devices stayed over MAX_DEVICES after forgetting what could be, with the latest:
 * devices held, silent ones kept for an open alarm, and silent ones kept for under CAP_MIN_SILENT_MS. `tell`: log it
 * (at most every CAP_TELL_EVERY_MS).
 */
export interface CapUnmet {
  sweeps: number;
  held: number;
  alarmed: number;
  recent: number;
  tell: boolean;
}

/** A device alarm raised while its device had more than maxOpenDeviceAlarms open on its bed (takeOverThreshold). */
export interface OverThresholdAlarm {
  deviceId: string;
  bed: string;
  alarmId: string;
  text: string;
  priority: ManagedPriority;
  /** Open device alarms of that device and bed with it. */
  open: number;
}

/** Device (or, with `bed`, one bed of a device) whose state was forgotten: silent for a day, or over MAX_DEVICES. */
export interface ForgottenDevice {
  deviceId: string;
  bed?: string;
  reason: 'day' | 'cap';
  silentS: number;
}

/**
 * A device alarm acknowledged before a restart, its condition present then (agent/alarms/open-notes.ts): the first
 * report of it in the new run, up to `until` and on the same bed, comes back acknowledged, unless it is above `priority`.
 * Likewise a limit alarm answered with its device's alarm (a `limit:` key): its first raise (review rv104 M3).
 */
export interface RestoredAcknowledgement {
  key: string;
  /** The bed it was on: reported for another bed, it is not the same patient's alarm (review rv99 H1). */
  bed: string;
  priority: ManagedPriority;
  acknowledgedAt: number;
  /** The last moment a report is still the same episode (the caller's: the device last heard + NEW_EPISODE_AFTER_MS). */
  until: number;
  /** Who acknowledged it (named in the restored record's why; review rv104 L2). */
  acknowledgedBy?: { user: string; role: string };
  /**
   * The patient it was for, when known, as the agent stores it (patientKey: a pseudonym where configured): an alarm for
   * another patient is not restored.
   */
  patientId?: string;
}

export function deviceAlarmKey(deviceId: string, alarmId: string): string {
  return `device:${deviceId}:${alarmId}`;
}

/** A limit key without its `:episode-<n>` (limitKey): the track, whichever patient of the device it is for. */
function withoutEpisode(key: string): string {
  return key.replace(/:episode-\d+$/, '');
}

export class AlarmEngine {
  private readonly config: AlarmEngineConfig;
  private readonly limits: LimitEvaluator;
  private readonly news2Monitor: News2Monitor;
  private readonly rhythm: RhythmMonitor;
  private readonly technical: TechnicalMonitor;
  /** Open (not resolved) alarms by id, and the open alarm per condition key. */
  private readonly open = new Map<string, Alarm>();
  private readonly byKey = new Map<string, string>();
  /** Recently resolved alarms, oldest first. */
  private readonly history = new Map<string, Alarm>();
  /**
   * When an open, unacknowledged alarm first had a priority that escalates (escalation is timed from then, so a
   * priority that wavers high ↔ medium does not restart the clock); cleared by an acknowledgement.
   */
  private readonly escalatingSince = new Map<string, number>();
  /** The priority an acknowledged alarm was acknowledged at: only a rise above it makes it active again. */
  private readonly ackedAt = new Map<string, ManagedPriority | 'none'>();
  /** When the device last reported an open device alarm present (start or continue), by alarm id. */
  private readonly reportedAt = new Map<string, number>();
  /** How often the device re-reports an open device alarm, as its latest report declared (AlarmEvent.repeatMs), by alarm id. */
  private readonly repeatsEvery = new Map<string, number>();
  /** Open device alarms by `device|bed` (their alarm ids), for maxOpenDeviceAlarms. */
  private readonly deviceOpen = new Map<string, Set<string>>();
  /** Device alarms raised past the threshold since last taken (counted and logged by the service). */
  private overThreshold: OverThresholdAlarm[] = [];
  /**
   * When a device last sent one of its own alarms (any id, any phase) for a bed, by `device|bed`: with its readings
   * for the bed (technical.feeds), what shows it still watches that bed's device alarms (silentDeviceAlarms).
   */
  private readonly alarmsSentAt = new Map<string, { deviceId: string; bed: string; at: number }>();
  /**
   * Device alarms their device reports latched (condition gone, signal held), by alarm key, with the last such
   * report: a device re-sends that state until its latch is cleared, and a re-send of an alarm already answered here
   * confirms it, it is not a new alarm. Forgotten when the device reports the alarm otherwise.
   */
  private readonly latchedAtDevice = new Map<string, number>();
  /**
   * What the device last reported done to its open alarm at the bedside (atDevice), by alarm id: the agent's limit
   * alarms for the same metric are answered with it only when it is new, so that one raised after the acknowledgement
   * (a new condition) is not answered by a re-sent report.
   */
  private readonly atDeviceState = new Map<string, 'acknowledged' | 'audio-paused'>();
  /** Who last paused an open alarm's audio (role 'model' for the edge model's hold), and at which priority. */
  private readonly pausedBy = new Map<string, { role: string; priority: SignalPriority }>();
  /** Acknowledgements from before a restart, by device alarm key, until the alarm's first report (or end). */
  private readonly restoredAcks = new Map<string, RestoredAcknowledgement>();
  /** Who acknowledged an open acknowledged alarm, for its note across a restart (acknowledgedBy; review rv104 L2). */
  private readonly ackedBy = new Map<string, { user: string; role: string }>();
  private seq = 0;
  private nextId = 1;
  /** Metrics that stopped with a limit alarm present, and devices forgotten, since last taken (for counters and logs). */
  private missingMetrics: Omit<MissingMetric, 'code'>[] = [];
  private forgotten: ForgottenDevice[] = [];
  private sweptAt = -Infinity;
  private capUnmet: CapUnmet | null = null;
  private capToldAt = -Infinity;
  /**
   * While ingestAll takes a batch: the beds whose NEWS2 inputs it changed, each with the latest receipt time among
   * those readings, judged once after the batch. Null otherwise: a reading's bed is judged at once.
   */
  private news2Due: Map<string, number> | null = null;

  constructor(config: Partial<AlarmEngineConfig> = {}) {
    this.config = { ...DEFAULT_ENGINE_CONFIG, ...config };
    this.limits = new LimitEvaluator(this.config.limits);
    this.news2Monitor = new News2Monitor(this.config.news2);
    this.technical = new TechnicalMonitor(this.config.technical);
    this.rhythm = new RhythmMonitor(this.config.rhythm);
  }

  // ---- Inputs

  /**
   * Any driver event. Waveforms feed the technical checks (quality, silence) and the rhythm check. `measuredAt`: when
   * a numeric was measured, on the gateway's clock (agent/model/measured.ts), if not when it was received. A numeric
   * that changes its bed's NEWS2 inputs has the bed judged at once; the events of a batch go through ingestAll.
   */
  ingest(event: DriverEvent, measuredAt?: number): AlarmStateChange[] {
    const changes = event.kind === 'alarm' ? this.deviceAlarm(event) : event.kind === 'device-status' ? this.deviceStatus(event) : this.reading(event, measuredAt);
    // The driver it came through: a configuration change that takes the device from it finds it (deviceSources).
    this.technical.cameThrough(event.deviceId, event.source);
    return changes;
  }

  /**
   * The events of one committed batch, in order, as ingest() each (limit rules, device alarms, technical checks at
   * each event), except that NEWS2 judges each bed whose inputs the batch changed once, after all of its readings, at
   * the latest receipt time among them (review rv109 M2): judged after each reading, one monitor message of RR, SpO2,
   * pulse, blood pressure and temperature raised and ended the levels its partial sums passed on the way, each one
   * audited, forwarded and shown. `measuredAt`: as ingest()'s, per numeric reading.
   */
  ingestAll(events: readonly DriverEvent[], measuredAt?: (r: NumericReading) => number): AlarmStateChange[] {
    const changes: AlarmStateChange[] = [];
    const due = new Map<string, number>();
    this.news2Due = due;
    try {
      for (const e of events) changes.push(...this.ingest(e, e.kind === 'numeric' ? measuredAt?.(e) : undefined));
    } finally {
      this.news2Due = null;
    }
    for (const [bed, at] of due) changes.push(...this.applyAll(this.news2Monitor.evaluate(at, bed)));
    return changes;
  }

  /** Readings a limit rule could not judge for their unit since the last call (agent/alarms/limits.ts). */
  takeUnconvertible(): ReturnType<LimitEvaluator['takeUnconvertible']> {
    return this.limits.takeUnconvertible();
  }

  /** What NEWS2 could not score (units) or restore (observations of another patient) since the last call. */
  takeNews2(): News2Report {
    return this.news2Monitor.take();
  }

  /** What the rhythm check held back or could not judge since the last call (agent/alarms/rhythm.ts take()). */
  takeRhythm(): ReturnType<RhythmMonitor['take']> {
    return this.rhythm.take();
  }

  reading(event: Reading, measuredAt?: number): AlarmStateChange[] {
    const r = this.withBed(event);
    // The technical monitor records that the device sends for its bed (any reading, an out-of-order one too: a clock
    // stepped back is no silence), which the limit evaluator's tick reads (technical.feeds).
    const updates = this.technical.reading(r);
    if (r.kind === 'numeric') updates.push(...this.numeric(r, measuredAt ?? r.receivedAt));
    else updates.push(...this.rhythm.waveform(r));
    return this.applyAll(updates);
  }

  private numeric(r: NumericReading, measuredAt: number): ConditionUpdate[] {
    const updates = this.limits.reading(r);
    // NEWS2 scores a value as old as its measurement: a blood pressure re-sent in every message is not current.
    if (this.news2Monitor.reading(r, measuredAt) && r.bed !== undefined) {
      // Within a batch (ingestAll) the bed is judged once after it; a single reading's at once.
      const due = this.news2Due;
      if (due) due.set(r.bed, Math.max(due.get(r.bed) ?? -Infinity, r.receivedAt));
      else updates.push(...this.news2Monitor.evaluate(r.receivedAt, r.bed));
    }
    return updates;
  }

  /** A device-reported alarm (HL7 PCD-04, IntelliVue, Medibus, ...): priority and phase as the device gives them. */
  deviceAlarm(event: AlarmEvent): AlarmStateChange[] {
    const e = this.withBed(event);
    const key = deviceAlarmKey(e.deviceId, e.alarmId);
    // Ended: a later start is a new episode. An end that is the first report after the restart still finds it (below).
    const restoredAtEnd = e.phase === 'end' ? this.restoredAcks.get(key) : undefined;
    if (e.phase === 'end') this.restoredAcks.delete(key);
    if (e.phase === 'end' && e.endedBy === 'link-lost') {
      // The driver lost the device and ends what it held: not data from the device, so the feed's technical
      // alarms (connection, no data) are left to run; the alarm ends, saying the device can no longer confirm it.
      // Not known to have ended (unconfirmed): an unanswered alarm latches, so the bedside keeps it in view until
      // someone acknowledges it, instead of the bed looking clear until the connection alarm comes (connectionAfterS later).
      return this.applyAll([{ present: false, key, at: e.receivedAt, why: `connection to the device lost; it can no longer confirm: ${e.text}`, unconfirmed: true }]);
    }
    // The driver's own finding (the device stopped answering) is no data from the device (review rv175 M1).
    const updates = e.driverFinding ? [] : this.technical.data(e.deviceId, e.bed, e.receivedAt, e.patientId);
    if (!e.driverFinding) {
      const sent = `${e.deviceId}|${e.bed ?? UNASSIGNED_BED}`;
      const before = this.alarmsSentAt.get(sent)?.at ?? e.receivedAt;
      this.alarmsSentAt.set(sent, { deviceId: e.deviceId, bed: e.bed ?? UNASSIGNED_BED, at: Math.max(before, e.receivedAt) });
    }
    const spec = deviceSpec(key, e);
    const latchedBefore = this.latchedAtDevice.has(key);
    if (e.latched) this.noteLatched(key, e.receivedAt);
    else this.latchedAtDevice.delete(key);
    if (latchedBefore && e.phase === 'end') {
      // An end of an alarm its device already reported latched (its condition ended then): a re-send of `latched`,
      // or `inactive` once its latch is cleared at the device (someone acknowledged or reset it there). Neither raises
      // it again when it was answered here meanwhile; `inactive` answers the alarm that mirrored the latch.
      const changes = this.applyAll(updates);
      const acted = e.latched ? e.atDevice : 'acknowledged';
      if (acted) changes.push(...this.actedOnAtDevice({ ...e, atDevice: acted }, key));
      return changes;
    }
    /**
     * Changes applied before the rest: a present report for another bed ends the old bed's alarm (and its bed); an end
     * of an alarm not seen starting raises it (and restores its acknowledgement from before a restart).
     */
    const first: AlarmStateChange[] = [];
    let from: string | undefined;
    if (e.phase === 'end') {
      if (!this.byKey.has(key)) {
        // An end for an alarm we never saw start (agent restarted, message lost): record it rather than drop it.
        updates.push({ present: true, spec, at: e.receivedAt, why: 'device reported the end of an alarm not seen starting' });
        // Acknowledged before the restart (review rv185 M1): the end resolves it answered, as a repeat would have come
        // back acknowledged; otherwise it latched unanswered and escalated, waiting for a second acknowledgement.
        if (restoredAtEnd) {
          first.push(...this.applyAll(updates.splice(0)));
          first.push(...this.restoreAcknowledgement(key, restoredAtEnd, e.receivedAt));
        }
      }
      updates.push(
        e.latched
          ? { present: false, key, at: e.receivedAt, why: 'device reported its condition ended, its alarm signal latched until acknowledged', latch: true }
          : { present: false, key, at: e.receivedAt, why: 'device reported its end' },
      );
    } else {
      const id = this.byKey.get(key);
      let open = id === undefined ? undefined : this.open.get(id);
      if (open !== undefined && e.bed !== undefined && open.bed !== e.bed) {
        // The device now reports this alarm for another bed (patient and monitor moved; review rv99 H1): it can no
        // longer be watched on the old bed, which must not show it present for a patient no longer there. It ends
        // there unconfirmed, as a limit alarm of a moved device does: unanswered it latches and stays in view until
        // acknowledged (someone may be on the way), acknowledged it resolves. It is then no longer this key's alarm,
        // so the report raises it on the new bed, unanswered there. A report without a bed (none given, none
        // configured) is no move: unknown is not a change.
        from = open.bed;
        updates.push({ present: false, key, at: e.receivedAt, why: `moved to ${e.bed}: ${e.deviceId} now reports this alarm for bed ${e.bed}, no longer for bed ${from}`, unconfirmed: true });
        first.push(...this.applyAll(updates.splice(0)));
        if (this.byKey.get(key) === open.id) this.byKey.delete(key);
        this.reportedAt.delete(open.id);
        open = undefined;
      }
      if (e.phase === 'start' && open?.state === 'acknowledged' && this.newEpisode(open, e)) {
        // A new start of an alarm acknowledged here: a new episode whose predecessor's end was lost. The old alarm
        // ends (audited) and a new one is raised, unanswered, so it sounds and escalates like any new alarm; folded
        // into the old one, it would stay silent as "acknowledged" for an episode nobody has seen.
        updates.push({ present: false, key, at: e.receivedAt, why: 'device reported a new start of this alarm (the end of the one acknowledged was not received): a new episode' });
      }
      // The device's text is the alarm's own (condition.text), not repeated here: a long one would make the audit
      // record too large to store.
      updates.push({ present: true, spec, at: e.receivedAt, why: `device reported ${e.phase} (${e.priority})${from === undefined ? '' : `, for bed ${e.bed} (moved from bed ${from})`}` });
    }
    const changes = [...first, ...this.applyAll(updates)];
    if (e.phase !== 'end') {
      // Always a report for the alarm's own bed (or one carrying no bed): one for another bed moved it above. So it
      // is proof for silentDeviceAlarms that the device still watches that bed's alarm.
      const id = this.byKey.get(key);
      if (id !== undefined) this.reportedAt.set(id, e.receivedAt);
      // The latest report says whether the source repeats it (a driver's option may change over a restart of it).
      if (id !== undefined && e.repeatMs !== undefined && Number.isFinite(e.repeatMs) && e.repeatMs > 0) this.repeatsEvery.set(id, e.repeatMs);
      else if (id !== undefined) this.repeatsEvery.delete(id);
      // Reported without a bedside state: what was done there is over, so the next action there is new (review rv104 M1).
      if (id !== undefined && !e.atDevice) this.atDeviceState.delete(id);
      const restored = this.restoredAcks.get(key);
      if (restored) {
        this.restoredAcks.delete(key); // the first report decides
        changes.push(...this.restoreAcknowledgement(key, restored, e.receivedAt));
      }
    }
    // On an end only for a latched alarm: acknowledged at the device, the signal it held is answered here too.
    if (e.atDevice && (e.phase !== 'end' || e.latched)) changes.push(...this.actedOnAtDevice(e, key));
    changes.push(...this.floodCheck(changes, e.receivedAt));
    return changes;
  }

  /**
   * A device alarm raised while its device has more than maxOpenDeviceAlarms open on its bed (a sender with a new alarm
   * id per message and no end; review rv185 M2): counted (takeOverThreshold), and one technical alarm for that device
   * and bed says so (it ends in tick once fewer are open). Nothing is ended: the threshold is per bed, so a central
   * sender's many beds are not one flood, and ending a real, unanswered alarm for a flood of others lost it (review
   * rv188 H2); a repeat of an open alarm raises nothing, so a sender repeating its alarms causes no churn (rv188 M1).
   */
  private floodCheck(changes: readonly AlarmStateChange[], at: number): AlarmStateChange[] {
    const out: AlarmStateChange[] = [];
    for (const c of changes) {
      if (c.change !== 'raised' || c.alarm.source !== 'device') continue;
      const { deviceId, bed } = c.alarm;
      const n = this.deviceOpen.get(`${deviceId}|${bed}`)?.size ?? 0;
      const max = this.config.maxOpenDeviceAlarms;
      if (n <= max) continue;
      this.overThreshold.push({ deviceId, bed, alarmId: c.alarm.id, text: c.alarm.condition.text, priority: c.alarm.priority, open: n });
      const text = `${deviceId} has ${n} open alarms on ${bed} (more than ${max}): check the device and its sender`;
      // Present again while up: no record (same priority), so a flood writes one raise, not one per alarm.
      out.push(...this.applyAll([{ present: true, spec: this.technical.floodSpec(deviceId, bed, text), at, why: `${n} open device alarms on ${bed}, more than alarms.maxOpenDeviceAlarms (${max})` }]));
    }
    return out;
  }

  /** Device alarms raised past the threshold since the last call (counted and logged by the service). */
  takeOverThreshold(): OverThresholdAlarm[] {
    const o = this.overThreshold;
    this.overThreshold = [];
    return o;
  }

  /**
   * When the device last reported an open device alarm present, and how often it declared it re-reports it (null: it
   * may send only start and end). Undefined for other alarms. For the display's "last reported … ago".
   */
  deviceReport(alarmId: string): { at: number; repeatMs: number | null } | undefined {
    const a = this.open.get(alarmId);
    if (a?.source !== 'device') return undefined;
    return { at: this.reportedAt.get(alarmId) ?? a.raisedAt, repeatMs: this.repeatsEvery.get(alarmId) ?? null };
  }

  /**
   * Device alarms acknowledged before a restart (review rv99 M3): a device that repeats its alarm would otherwise
   * bring it back unanswered, and it would escalate though someone answered it. Replaces any given before.
   */
  restoreAcknowledgements(acks: readonly RestoredAcknowledgement[]): void {
    this.restoredAcks.clear();
    for (const a of acks) this.restoredAcks.set(a.key, { ...a });
  }

  /**
   * The acknowledgement from before a restart for a limit alarm raised now. The episode in its key is a counter kept in
   * memory only (limitKey): it starts at 0 again after a restart, so the same patient's alarm of a device's later
   * episode comes back under another key (review rv106 M1). Matched on the key without the episode and on the patient,
   * which then must be the same (the real discriminator); a note without a patient only on the exact key.
   */
  private restoredLimitAck(key: string, patientId: string | undefined): RestoredAcknowledgement | undefined {
    // The note's patient is in the stored form (patientKey): compared in it.
    const stored = patientId === undefined ? undefined : this.config.patientKey(patientId);
    const exact = this.restoredAcks.get(key);
    if (exact && (exact.patientId === undefined || exact.patientId === stored)) return exact;
    if (stored === undefined) return undefined;
    const track = withoutEpisode(key);
    for (const r of this.restoredAcks.values()) {
      if (r.key.startsWith('limit:') && r.patientId === stored && withoutEpisode(r.key) === track) return r;
    }
    return undefined;
  }

  /** The first report after a restart of an alarm acknowledged before it: acknowledged again, if in time and not worse. */
  private restoreAcknowledgement(key: string, restored: RestoredAcknowledgement, at: number): AlarmStateChange[] {
    const id = this.byKey.get(key);
    const alarm = id === undefined ? undefined : this.open.get(id);
    if (!alarm || !life.isUnacknowledged(alarm) || at > restored.until || alarm.bed !== restored.bed) return [];
    // The note's patient is in the stored form (patientKey; a pseudonym where configured, review rv188 M3).
    const patient = alarm.patientId === undefined ? undefined : this.config.patientKey(alarm.patientId);
    if (restored.patientId !== undefined && patient !== undefined && patient !== restored.patientId) return [];
    // A limit alarm's note with a patient is restored only to that patient's alarm (matched across episodes; rv106 M1).
    if (key.startsWith('limit:') && restored.patientId !== undefined && patient !== restored.patientId) return [];
    // `seen` is the priority noted: a repeat above it is refused (a worse condition must sound). Done by the system
    // now, on behalf of who acknowledged it then, whom the why names (review rv104 L2).
    const by = restored.acknowledgedBy;
    const who = by === undefined ? '' : `, by ${by.role === 'device' || by.role === 'system' ? by.user : `${by.user} (${by.role})`}`;
    const why = `acknowledged before the restart (at ${new Date(restored.acknowledgedAt).toISOString()}${who})`;
    const changes = this.acknowledge(alarm.id, 'system', at, restored.priority).changes.map((c) => ({ ...c, why }));
    // Its note names the one who acknowledged it, not the system, for a further restart.
    if (by && changes.length > 0) this.ackedBy.set(alarm.id, { ...by });
    return changes;
  }

  /**
   * Alarms an earlier run left open, which this engine does not track (the agent's notes, open-notes.ts formerAlarm):
   * one `resolved` record each, actor system, numbered in this run's seq, so that a consumer keeping the newest state
   * per alarm id closes them (review rv185 M4). Not added here. Stamped at least 1 ms after the alarm's last change:
   * with the clock behind at the restart, the same `at` left the order to `seq`, which starts again in each run, and
   * the consumer kept the old state (review rv187 M1). An id this engine gave is skipped (the caller logs it): it is
   * an alarm of this run, not the earlier one's (review rv187 L1).
   */
  closeFormer(alarms: readonly Alarm[], why: string, at: number): AlarmStateChange[] {
    return alarms
      .filter((a) => !this.gaveId(a.id))
      .map((a) => {
        const closedAt = Math.max(at, a.updatedAt + 1);
        const closed: Alarm = { ...structuredClone(a), state: 'resolved', resolvedAt: closedAt, updatedAt: closedAt };
        delete closed.audioPausedUntil;
        return this.record(closed, 'resolved', a.state, why, 'system', closedAt);
      });
  }

  /** Whether this engine gave the id: its prefix and a number it has used (open, in history or forgotten since). */
  private gaveId(id: string): boolean {
    const prefix = `${this.config.idPrefix}-`;
    const n = id.startsWith(prefix) ? Number(id.slice(prefix.length)) : NaN;
    return Number.isInteger(n) && n >= 1 && n < this.nextId;
  }

  /** Who acknowledged an open, acknowledged alarm (user and role; 'system' for both when it was the system), else undefined. */
  acknowledgedBy(alarmId: string): { user: string; role: string } | undefined {
    const by = this.open.get(alarmId)?.state === 'acknowledged' ? this.ackedBy.get(alarmId) : undefined;
    return by && { ...by };
  }

  /** Remembers a device's latched report (bounded: the least recently reported is forgotten first). */
  private noteLatched(key: string, at: number): void {
    this.latchedAtDevice.delete(key);
    this.latchedAtDevice.set(key, at);
    if (this.latchedAtDevice.size > MAX_LATCHED_AT_DEVICE) this.latchedAtDevice.delete(this.latchedAtDevice.keys().next().value as string);
  }

  /**
   * Acknowledged or audio-paused at the bedside device: the same here, audited as done at the device, so that the
   * gateway does not escalate an alarm someone has already answered. Only once: a later report of the same state
   * changes nothing, and what a person does here afterwards stands.
   */
  private actedOnAtDevice(e: AlarmEvent, key: string): AlarmStateChange[] {
    const id = this.byKey.get(key);
    const alarm = id === undefined ? undefined : this.open.get(id);
    if (!alarm || !e.atDevice) return [];
    const actor = { user: `device ${e.deviceId}`, role: 'device', from: 'device' };
    const changes = this.actAsDevice(alarm, e.atDevice, actor, e.receivedAt);
    // The agent's own limit alarms for the condition the device alarms on (review rv99 M1): once per new report. New:
    // another state than the last one reported, or one that answered the device alarm here again (it had become
    // unanswered: a rise, its pause run out; review rv104 M1), so a second bedside action reaches the twins too.
    if (this.atDeviceState.get(alarm.id) !== e.atDevice || changes.length > 0) {
      changes.push(...this.twinsAtDevice(alarm, e, e.atDevice, actor));
      if (this.open.has(alarm.id)) this.atDeviceState.set(alarm.id, e.atDevice);
    }
    return changes;
  }

  private actAsDevice(alarm: Alarm, act: 'acknowledged' | 'audio-paused', actor: Actor, at: number, seen?: SignalPriority): AlarmStateChange[] {
    if (!life.isUnacknowledged(alarm)) return [];
    if (act === 'acknowledged') return this.acknowledge(alarm.id, actor, at, seen).changes;
    // Paused already: by a person (here or at the device), nothing new. By the edge model (its hold while it
    // re-checks the evidence), the person's pause at the bedside replaces it, audited, and so ends the hold.
    if (alarm.state === 'audio-paused' && this.pausedBy.get(alarm.id)?.role !== 'model') return [];
    return this.audioPause({ alarmId: alarm.id }, actor, undefined, at, seen).changes;
  }

  /**
   * The agent's limit alarms on the device alarm's device and bed for its source metric (same MDC code) get what was
   * done to it at the bedside: the nurse answered that condition there, so the gateway must not sound on and escalate
   * its twin. Without a source metric, or for a technical device alarm, nothing is linked. Only up to the device
   * alarm's priority (as an action applies to the priority seen): a medium "SpO2 low" answered at the monitor leaves
   * the agent's high DESAT sounding. Only limit alarms whose condition is present, and of the device alarm's patient
   * when both ids are known.
   */
  private twinsAtDevice(dev: Alarm, e: AlarmEvent, act: 'acknowledged' | 'audio-paused', actor: Actor): AlarmStateChange[] {
    const metric = e.sourceMetric ?? dev.metric;
    // A technical alarm on the metric (SpO2 probe off) is not the physiological condition a limit alarm watches.
    if (!metric || dev.category !== 'physiological') return [];
    const why = `${act === 'acknowledged' ? 'acknowledged' : 'audio paused'} at the device: its alarm "${dev.condition.text}" for the same metric`;
    const seen = life.signalPriority(dev);
    const out: AlarmStateChange[] = [];
    for (const a of [...this.open.values()]) {
      if (a.source !== 'limit' || a.deviceId !== dev.deviceId || a.bed !== dev.bed || a.metric?.code !== metric.code) continue;
      // Only the condition the device shows now, of its patient (review rv104 M2): a latched alarm is a past condition
      // nobody at the device was shown, and after a change of patient the previous patient's stays theirs.
      if (!a.conditionPresent) continue;
      if (a.patientId !== undefined && dev.patientId !== undefined && a.patientId !== dev.patientId) continue;
      out.push(...this.actAsDevice(a, act, actor, e.receivedAt, seen).map((c) => ({ ...c, why })));
    }
    return out;
  }

  /**
   * Whether a device's `start` for an open, acknowledged alarm begins a new episode: only after a long quiet, no report
   * of the alarm (start or continue) for more than NEW_EPISODE_AFTER_MS. A start within it is a repeat: the HL7 driver
   * reads a PCD-04 update that carries no event phase as a start, and IHE ACM senders may re-send their alarms
   * periodically (by site agreement), so a sender repeating them would otherwise undo every acknowledgement.
   */
  private newEpisode(alarm: Alarm, e: AlarmEvent): boolean {
    return e.receivedAt - (this.reportedAt.get(alarm.id) ?? alarm.raisedAt) > NEW_EPISODE_AFTER_MS;
  }

  deviceStatus(e: DeviceStatusEvent): AlarmStateChange[] {
    return this.applyAll(this.technical.status(this.withBed(e)));
  }

  /**
   * An event that carries no bed gets the one configured for its device (`technical.devices[id].bed`, from the
   * config's `alarms.devices`), for every detector alike: limits (and the bed's overrides), NEWS2 and the device's
   * own alarms, not only the technical ones, so that one device is never on two beds.
   */
  private withBed<T extends DriverEvent>(e: T): T {
    if (e.bed !== undefined) return e;
    const bed = this.config.technical.devices?.[e.deviceId]?.bed;
    return bed === undefined ? e : { ...e, bed };
  }

  /**
   * Declare a device that must be sending, so silence is reported even before its first event. `source`: the driver
   * it comes through, when known (a device heard before a restart), for deviceSources.
   */
  expectDevice(deviceId: string, at: number, bed?: string, source?: string): void {
    this.technical.expect(deviceId, at, bed, source);
  }

  /** The devices watched for silence and link, each with the driver (config entry name) it last came through. */
  deviceSources(): { deviceId: string; source: string }[] {
    return this.technical.sources();
  }

  /**
   * Devices a configuration change took from their driver (switched off live, or restarted without their id; review
   * rv120 M1), which a restart with that configuration would not expect: their technical alarms (no data, connection,
   * sensor, not valid) end with `why`, and their silence is no fault until they send again. Not unconfirmed: the
   * condition went with the decision to stop watching the device. One with nothing else open is forgotten; its other
   * alarms (limit, device) end as for any silent device. Devices listed in the config (technical.devices) stay
   * expected, as after a restart: only their "connection" alarm ends (no driver is left to report the link).
   */
  unwatch(deviceIds: readonly string[], at: number, why: string): AlarmStateChange[] {
    const updates: ConditionUpdate[] = [];
    const unwatched = new Set<string>();
    for (const id of deviceIds) {
      const expected = this.config.technical.devices?.[id] !== undefined;
      if (!this.technical.unwatch(id, expected)) continue;
      if (!expected) unwatched.add(id);
      for (const a of this.open.values()) {
        if (a.deviceId !== id || a.source !== 'technical' || !a.conditionPresent) continue;
        if (expected && a.key !== technicalKey(id, 'connection')) continue;
        updates.push({ present: false, key: a.key, at, why: expected ? `${why}; ${id} stays expected (alarms.devices): its "no data" alarm stays until it sends` : why });
      }
    }
    const changes = this.applyAll(updates);
    const open = new Set([...this.open.values()].map((a) => a.deviceId));
    const forget = new Set([...unwatched].filter((id) => !open.has(id)));
    if (forget.size > 0) {
      this.technical.forget(forget, []);
      this.limits.forget(forget, []);
      for (const [k, v] of this.alarmsSentAt) if (forget.has(v.deviceId)) this.alarmsSentAt.delete(k);
    }
    return changes;
  }

  /** Clinical observations no device measures, for NEWS2. */
  /** `actor`: the person who recorded the observation; the alarm changes it causes are audited as theirs. */
  observe(bed: string, obs: { consciousness?: Acvpu; oxygen?: OxygenSupport }, at: number, actor: Actor = 'system'): AlarmStateChange[] {
    this.news2Monitor.observe(bed, obs, at);
    const changes = this.applyAll(this.news2Monitor.evaluate(at, bed));
    return actor === 'system' ? changes : changes.map((c) => ({ ...c, actor: { ...actor } }));
  }

  /** NEWS2 observations people recorded, still current, and the levels present: the note (see News2Monitor.observations). */
  news2Observations(at: number): Record<string, RecordedObservations> {
    return this.news2Monitor.observations(at);
  }

  /**
   * Observations (and levels) an earlier run kept; returns the beds whose observations were restored. They count from
   * their next evaluation.
   */
  restoreNews2Observations(stored: unknown, now?: number): string[] {
    // `now`: entries older than NEWS2 keeps a stale observation are dropped (review rv111 M3).
    return this.news2Monitor.restoreObservations(stored, now);
  }

  storeUsage(fraction: number, at: number): AlarmStateChange[] {
    return this.applyAll(this.technical.storeUsage(fraction, at));
  }

  hubReachable(reachable: boolean, at: number, cause: HubDownCause = null): AlarmStateChange[] {
    return this.applyAll(this.technical.hubReachable(reachable, at, cause));
  }

  /**
   * A condition from another detector (the ONNX model: source 'model'), or any source the pipeline adds later.
   * Present again with the same key updates the open alarm; ended resolves or latches it.
   */
  condition(update: ConditionUpdate): AlarmStateChange[] {
    return this.applyAll([update]);
  }

  /** Advance time: delayed conditions, silence, stale NEWS2 inputs, audio-pause timeouts, escalation. */
  tick(now: number): AlarmStateChange[] {
    const limits = this.limits.tick(now, this.technical.feeds);
    // A metric that took a present limit alarm with it when it stopped: "No <label> from <device>" says so.
    for (const m of this.limits.takeMissing()) {
      const { code, ...told } = m;
      limits.push(...this.technical.metricMissing(m.deviceId, m.bed, code, now, `no ${m.label} for ${m.silentS} s while ${m.deviceId} still sends for bed ${m.bed}; its alarm "${m.alarm}" ended unconfirmed`));
      this.missingMetrics.push(told);
    }
    // ECG that stopped while its device still sends for the bed: "No ECG from <device>" (rv102 M4), as a metric above.
    const feeds = this.technical.feeds;
    const sends = (deviceId: string, bed: string, since: number): boolean => {
      const heard = feeds.lastHeard(deviceId, bed);
      return heard !== undefined && heard > since && now - heard <= feeds.silentAfterMs(deviceId);
    };
    const prio = this.config.technical.priorities;
    const rhythm = this.rhythm.tick(now, sends, prio['metric-missing'] ?? 'low', prio.invalid ?? 'low');
    const out = this.applyAll([...this.technical.tick(now), ...limits, ...this.silentDeviceAlarms(now), ...this.floodsOver(now), ...this.news2Monitor.evaluate(now), ...rhythm, ...this.sweep(now)]);
    for (const alarm of [...this.open.values()]) {
      const t = life.expireAudioPause(alarm, now);
      if (t) out.push(this.audit(alarm, t, `audio pause ended`, 'system', now));
    }
    const esc = this.config.escalation;
    if (esc) {
      for (const alarm of this.open.values()) {
        if (alarm.escalated || !life.isUnacknowledged(alarm) || !esc.priorities.includes(alarm.priority)) continue;
        // Timed from when it first had an escalating priority while unanswered: a long-open medium alarm that becomes
        // high gets the full time, and one that wavers high ↔ medium is not given it again at every rise.
        const since = this.escalatingSince.get(alarm.id);
        if (since === undefined || now - since < esc.afterS * 1000) continue;
        out.push(this.audit(alarm, life.escalate(alarm, now), `not acknowledged within ${esc.afterS} s`, 'system', now));
      }
    }
    return out;
  }

  /**
   * The gateway's clock stepped by `deltaMs` (AlarmService sees it, against a monotonic clock): every stored instant
   * that times a duration moves with it, so that silence, delays, audio pauses, escalation and forgetting run on as if
   * no step happened (rv142 F3: a 1 h step back left a dead feed unreported, and a high alarm paused, for an hour).
   * Alarm records (raisedAt, updatedAt, the audit) are history, left as written. latchedAtDevice's times only order it.
   */
  shiftClock(deltaMs: number): void {
    this.limits.shiftClock(deltaMs);
    this.news2Monitor.shiftClock(deltaMs);
    this.technical.shiftClock(deltaMs);
    this.rhythm.shiftClock(deltaMs);
    for (const [id, at] of this.escalatingSince) this.escalatingSince.set(id, at + deltaMs);
    for (const [id, at] of this.reportedAt) this.reportedAt.set(id, at + deltaMs);
    for (const sent of this.alarmsSentAt.values()) sent.at += deltaMs;
    for (const r of this.restoredAcks.values()) r.until += deltaMs;
    for (const a of this.open.values()) if (a.audioPausedUntil !== undefined) a.audioPausedUntil += deltaMs;
    this.sweptAt += deltaMs;
    this.capToldAt += deltaMs;
  }

  /** Metrics that stopped with a limit alarm present since the last call (counted and logged by the service). */
  takeMissingMetrics(): Omit<MissingMetric, 'code'>[] {
    const m = this.missingMetrics;
    this.missingMetrics = [];
    return m;
  }

  /** Devices and beds forgotten since the last call (counted and logged by the service). */
  takeForgotten(): ForgottenDevice[] {
    const f = this.forgotten;
    this.forgotten = [];
    return f;
  }

  /** Sweeps that could not bring the devices held down to MAX_DEVICES since the last call, or null (counted and logged by the service). */
  takeCapUnmet(): CapUnmet | null {
    const c = this.capUnmet;
    this.capUnmet = null;
    return c;
  }

  /** How much per-device and per-bed state the engine holds (bounded by forgetting). */
  stateSizes(): { devices: number; metrics: number; feeds: number; limitTracks: number; alarmsSentAt: number; open: number } {
    return { ...this.technical.sizes(), limitTracks: this.limits.size, alarmsSentAt: this.alarmsSentAt.size, open: this.open.size };
  }

  /**
   * Forget what no alarm needs any more (at most once a SWEEP_EVERY_MS): a device silent for FORGET_AFTER_MS when
   * nothing of it is open but its own "no data" alarm, or the least recently heard silent ones beyond MAX_DEVICES
   * with no open alarm at all, silent CAP_MIN_SILENT_MS or more (a cap not met so is counted and told: takeCapUnmet);
   * and a bed a device has sent nothing for as long, when nothing of it is open on that bed but "no data for bed".
   * That alarm ends unconfirmed, saying why: unanswered, it latches and stays in view until acknowledged; any other
   * open alarm (a latched limit alarm nobody answered) keeps the device until it is dealt with.
   */
  private sweep(now: number): ConditionUpdate[] {
    if (now - this.sweptAt < SWEEP_EVERY_MS) return [];
    this.sweptAt = now;
    const stale = this.technical.stale(now, FORGET_AFTER_MS);
    const held = this.technical.sizes().devices;
    if (stale.feeds.length === 0 && !stale.devices.some((d) => d.day) && held <= MAX_DEVICES) return [];
    const openOf = new Map<string, Alarm[]>();
    for (const a of this.open.values()) {
      let list = openOf.get(a.deviceId);
      if (!list) openOf.set(a.deviceId, (list = []));
      list.push(a);
    }
    const noData = (a: Alarm): boolean =>
      a.source === 'technical' && (a.key === technicalKey(a.deviceId, 'no-data') || a.key === technicalKey(`${a.deviceId}|${a.bed}`, 'no-data'));
    const out: ConditionUpdate[] = [];
    const devices = new Set<string>();
    let alarmed = 0;
    let recent = 0;
    for (const d of stale.devices) {
      if (!d.day && held - devices.size <= MAX_DEVICES) continue;
      const open = openOf.get(d.deviceId) ?? [];
      if (!open.every(noData)) continue;
      if (!d.day && open.length > 0) {
        alarmed++;
        continue;
      }
      if (!d.day && now - d.lastAt < CAP_MIN_SILENT_MS) {
        recent++;
        continue;
      }
      devices.add(d.deviceId);
      const silentS = Math.round((now - d.lastAt) / 1000);
      const why = d.day
        ? `forgotten: no event from ${d.deviceId} for ${silentS} s (silent for a day)`
        : `forgotten: more than ${MAX_DEVICES} devices known, ${d.deviceId} the least recently heard (silent for ${silentS} s)`;
      for (const a of open) out.push({ present: false, key: a.key, at: now, why, unconfirmed: true });
      this.forgotten.push({ deviceId: d.deviceId, reason: d.day ? 'day' : 'cap', silentS });
    }
    const feeds: { deviceId: string; bed: string }[] = [];
    for (const f of stale.feeds) {
      const open = (openOf.get(f.deviceId) ?? []).filter((a) => a.bed === f.bed);
      if (!open.every(noData)) continue;
      const silentS = Math.round((now - f.lastAt) / 1000);
      const bedKey = technicalKey(`${f.deviceId}|${f.bed}`, 'no-data');
      for (const a of open) if (a.key === bedKey) out.push({ present: false, key: a.key, at: now, why: `forgotten: nothing from ${f.deviceId} for bed ${f.bed} for ${silentS} s (a day)`, unconfirmed: true });
      feeds.push({ deviceId: f.deviceId, bed: f.bed });
      this.forgotten.push({ deviceId: f.deviceId, bed: f.bed, reason: 'day', silentS });
    }
    if (held - devices.size > MAX_DEVICES) {
      const tell = now - this.capToldAt >= CAP_TELL_EVERY_MS;
      if (tell) this.capToldAt = now;
      this.capUnmet = { sweeps: (this.capUnmet?.sweeps ?? 0) + 1, held: held - devices.size, alarmed, recent, tell: tell || (this.capUnmet?.tell ?? false) };
    }
    if (devices.size === 0 && feeds.length === 0) return out;
    this.technical.forget(devices, feeds);
    this.limits.forget(devices, feeds);
    const pairs = new Set(feeds.map((f) => `${f.deviceId}|${f.bed}`));
    for (const [k, v] of this.alarmsSentAt) if (devices.has(v.deviceId) || pairs.has(k)) this.alarmsSentAt.delete(k);
    return out;
  }

  /**
   * A device's own alarms end, unconfirmed, when the device no longer watches their bed, as limit alarms do: when it
   * has sent nothing at all for its silentAfterS, and at least NEW_EPISODE_AFTER_MS (any reading, alarm or
   * keep-alive counts), or when it sends readings for another bed and nothing for this one as long (a monitor moved; not a
   * device seen carrying several beds, whose silent bed gets "no data for bed" instead). Its end would never come (HL7
   * has no link-lost end): an acknowledged alarm would stay open, present, with no action left to clear it. An
   * unanswered one latches, so it stays in view until someone acknowledges it.
   */
  private silentDeviceAlarms(now: number): ConditionUpdate[] {
    const feeds = this.technical.feeds;
    const out: ConditionUpdate[] = [];
    for (const a of this.open.values()) {
      if (a.source !== 'device' || !a.conditionPresent) continue;
      // A source that re-reports its active alarms (AlarmEvent.repeatMs) and has not reported this one for a few of its
      // intervals while the device sends on: its end was lost (review rv185 M3). A silent device is left to the rest.
      const repeat = this.repeatsEvery.get(a.id);
      if (repeat !== undefined) {
        const reported = this.reportedAt.get(a.id) ?? a.raisedAt;
        const data = this.technical.lastData(a.deviceId);
        if (now - reported > REPEATS_MISSED * repeat && data !== undefined && data > reported && now - data <= feeds.silentAfterMs(a.deviceId)) {
          const why = `not reported by the device for ${Math.round((now - reported) / 1000)} s (it re-reports an active alarm at least every ${Math.round(repeat / 1000)} s) while ${a.deviceId} still sends: its end was not received`;
          out.push({ present: false, key: a.key, at: now, why: `no longer confirmed: ${why}`, unconfirmed: true });
          continue;
        }
      }
      // Not before a repeat of the alarm would be a new episode (NEW_EPISODE_AFTER_MS): a device may report an ongoing
      // alarm that seldom (start, then updates only on change), and a shorter wait undid an acknowledgement over a
      // pause of the device's readings (review rv52 M2). Its silence is told at once by the "no data" alarm.
      const silentMs = Math.max(feeds.silentAfterMs(a.deviceId), NEW_EPISODE_AFTER_MS);
      // raisedAt only when none of the others is known: it is history, not moved by a step of the gateway's clock
      // (shiftClock), and would hold a silent device's alarm for the size of a step back.
      const known = Math.max(feeds.lastHeard(a.deviceId, a.bed) ?? -Infinity, this.alarmsSentAt.get(`${a.deviceId}|${a.bed}`)?.at ?? -Infinity, this.reportedAt.get(a.id) ?? -Infinity);
      const forBed = known === -Infinity ? a.raisedAt : known;
      if (now - forBed <= silentMs) continue;
      const last = this.technical.lastData(a.deviceId) ?? forBed;
      let why: string;
      if (now - last > silentMs) {
        why = `device ${a.deviceId} silent for ${Math.round((now - last) / 1000)} s`;
      } else {
        // Still sending: only readings for another bed, from a device not carrying several, show it left this one;
        // and only where it once sent readings for this bed (one sending readings for one bed and only alarms for
        // another, by change, has not moved: review rv52 M1).
        const elsewhere = feeds.bedsSending(a.deviceId, now);
        if (elsewhere.length === 0 || feeds.carriesSeveralBeds(a.deviceId) || feeds.lastHeard(a.deviceId, a.bed) === undefined) continue;
        why = `${a.deviceId} now sends for bed ${elsewhere.join(', ')}, nothing for bed ${a.bed} for ${Math.round((now - forBed) / 1000)} s`;
      }
      out.push({ present: false, key: a.key, at: now, why: `no longer monitored: ${why}`, unconfirmed: true });
    }
    return out;
  }

  /**
   * A device and bed's "has N open alarms" ends once fewer than the threshold are open: under it, not at it, so that a
   * count wavering at the threshold does not raise and end it at each report.
   */
  private floodsOver(now: number): ConditionUpdate[] {
    const out: ConditionUpdate[] = [];
    const max = this.config.maxOpenDeviceAlarms;
    for (const a of this.open.values()) {
      if (a.source !== 'technical' || !a.conditionPresent || a.key !== floodKey(a.deviceId, a.bed)) continue;
      const n = this.deviceOpen.get(`${a.deviceId}|${a.bed}`)?.size ?? 0;
      if (n < max) out.push({ present: false, key: a.key, at: now, why: `${a.deviceId} has ${n} open alarm(s) on ${a.bed} now, under the threshold of ${max}` });
    }
    return out;
  }

  // ---- Clinician operations (the display authenticates; the engine records who and from where)

  /**
   * `seen` is the priority the person was shown ('none' for a row shown as information): an alarm that has risen
   * since (medium → high, or information → low, just before the click) is refused, so that nobody acknowledges a
   * condition they have not seen. `shownPresent` false: it was shown latched (condition gone); one whose condition has
   * returned since is refused too, so that clearing a past episode does not silence the present one (review rv162 F2).
   */
  acknowledge(alarmId: string, actor: Actor, now: number, seen?: SignalPriority, shownPresent?: boolean): OperationResult {
    const alarm = this.open.get(alarmId);
    if (!alarm) return { ok: false, error: this.unknown(alarmId), changes: [] };
    const rose = this.roseSince(alarm, seen) ?? returned(alarm, shownPresent);
    if (rose) return { ok: false, error: rose, changes: [] };
    const t = life.acknowledge(alarm, now);
    if ('refused' in t) return { ok: false, error: t.refused, changes: [] };
    const why = alarm.state === 'resolved' ? 'acknowledged after the condition ended' : 'acknowledged';
    const change = this.audit(alarm, t, why, actor, now);
    // Acknowledged at what the person saw (a high alarm that dropped to medium just before the click was seen high).
    const signal = life.signalPriority(alarm);
    this.ackedAt.set(alarm.id, seen !== undefined && signalRank(seen) > signalRank(signal) ? seen : signal);
    this.ackedBy.set(alarm.id, actor === 'system' ? { user: 'system', role: 'system' } : { user: actor.user, role: actor.role });
    this.escalatingSince.delete(alarm.id);
    this.settle(alarm);
    return { ok: true, changes: [change] };
  }

  /**
   * Pause the audio of one alarm, or of the unacknowledged alarms on a bed, for durationS (default from config). Like
   * acknowledge, one alarm's pause is refused when it rose above the priority `seen`; a bed's pause given `shown`
   * covers only the alarms listed there and not risen above the priority listed, so that an alarm raised, or made
   * worse, just before the click sounds on. An alarm shown latched whose condition returned since is refused, or left
   * out of a bed's pause, in the same way (`conditionPresent` in the target; review rv162 F2).
   */
  audioPause(target: AudioPauseTarget, actor: Actor, durationS: number | undefined, now: number, seen?: SignalPriority): OperationResult {
    const s = durationS ?? this.config.audioPause.defaultS;
    if (!Number.isFinite(s) || s <= 0 || s > this.config.audioPause.maxS) {
      return { ok: false, error: `audio pause duration must be > 0 and <= ${this.config.audioPause.maxS} s`, changes: [] };
    }
    let alarms: Alarm[];
    if ('alarmId' in target) {
      const a = this.open.get(target.alarmId);
      if (!a) return { ok: false, error: this.unknown(target.alarmId), changes: [] };
      const rose = this.roseSince(a, seen) ?? returned(a, target.conditionPresent);
      if (rose) return { ok: false, error: rose, changes: [] };
      alarms = [a];
    } else {
      const onBed = [...this.open.values()].filter((a) => a.bed === target.bed && life.isUnacknowledged(a));
      if (onBed.length === 0) return { ok: false, error: `no unacknowledged alarm on bed ${target.bed}`, changes: [] };
      const shown = target.shown && new Map(target.shown.map((x) => [x.id, x]));
      alarms = shown
        ? onBed.filter((a) => {
            const x = shown.get(a.id);
            return x !== undefined && !this.roseSince(a, x.priority) && !returned(a, x.conditionPresent);
          })
        : onBed;
      if (alarms.length === 0) return { ok: false, error: `the alarms of bed ${target.bed} changed since they were shown: look at them again`, changes: [] };
    }
    const changes: AlarmStateChange[] = [];
    for (const alarm of alarms) {
      const t = life.audioPause(alarm, now + s * 1000, now);
      if ('refused' in t) {
        if ('alarmId' in target) return { ok: false, error: t.refused, changes: [] };
        continue;
      }
      // With the priority the pause was given for (the one shown, or judged by the model).
      // A bed's pause too: a waver back to the priority shown keeps it, as for one alarm's (review rv51 L3).
      const shownAt = 'alarmId' in target ? undefined : target.shown?.find((x) => x.id === alarm.id)?.priority;
      this.pausedBy.set(alarm.id, { role: actor === 'system' ? 'system' : actor.role, priority: seen ?? shownAt ?? life.signalPriority(alarm) });
      changes.push(this.audit(alarm, t, `audio paused for ${s} s`, actor, now));
    }
    return { ok: true, changes };
  }

  /** Attach facts to an alarm (e.g. the model's probability and verdict). Works on open and recently resolved alarms. */
  annotate(alarmId: string, annotation: Omit<AlarmAnnotation, 'by' | 'at'>, actor: Actor, now: number): OperationResult {
    const alarm = this.open.get(alarmId) ?? this.history.get(alarmId);
    if (!alarm) return { ok: false, error: this.unknown(alarmId), changes: [] };
    const a: AlarmAnnotation = { kind: annotation.kind, values: { ...annotation.values }, by: actor, at: now };
    if (annotation.note !== undefined) a.note = annotation.note;
    alarm.annotations.push(a);
    // Bounded (review rv125 H1): the model annotates at every return of a latched alarm's condition, and every audited
    // change copies the alarm. The first (the verdict at its raise) and the latest stay; the ones between are counted.
    if (alarm.annotations.length > LATEST_ANNOTATIONS_KEPT + 1) {
      alarm.annotations.splice(1, 1);
      alarm.annotationsDropped = (alarm.annotationsDropped ?? 0) + 1;
    }
    life.touch(alarm, now);
    const change = this.audit(alarm, { change: 'annotated', from: alarm.state, to: alarm.state }, `annotation ${annotation.kind} added`, actor, now);
    return { ok: true, changes: [change] };
  }

  // ---- Queries (copies; mutating them does not affect the engine)

  /** Open alarms (every state but resolved), highest priority first, then newest first. */
  list(filter: AlarmFilter = {}): Alarm[] {
    return [...this.open.values()]
      .filter((a) => filter.bed === undefined || a.bed === filter.bed)
      .sort(compareAlarms)
      .map((a) => structuredClone(a));
  }

  get(alarmId: string): Alarm | undefined {
    const a = this.open.get(alarmId) ?? this.history.get(alarmId);
    return a && structuredClone(a);
  }

  /**
   * The role of whoever paused an open alarm's audio now ('model' for the edge model's hold, 'device' for a pause at
   * the bedside monitor, else the person's role), or undefined when its audio is not paused.
   */
  audioPausedBy(alarmId: string): string | undefined {
    // The record outlives its pause (it is kept until a rise or the alarm's end): only a pause still running counts.
    return this.open.get(alarmId)?.state === 'audio-paused' ? this.pausedBy.get(alarmId)?.role : undefined;
  }

  /**
   * The open alarm under a condition key, as the few fields a lookup needs, not copied: the display asks this per
   * alarm for its device's technical alarms (view.ts unconfirmedOf), where list() would clone and sort every open
   * alarm each time (review rv179 L4).
   */
  openByKey(key: string): OpenByKey | undefined {
    const id = this.byKey.get(key);
    const a = id === undefined ? undefined : this.open.get(id);
    if (a === undefined) return undefined;
    return { source: a.source, deviceId: a.deviceId, conditionPresent: a.conditionPresent, raisedAt: a.raisedAt, text: a.condition.text };
  }

  /** Whether the device's driver reports it in error (TechnicalMonitor.inError): a fault, not a lost device. */
  deviceInError(deviceId: string): boolean {
    return this.technical.inError(deviceId);
  }

  /** Current NEWS2 for a bed (undefined if the bed never had an input). */
  news2(bed: string, now: number): News2Score | undefined {
    return this.news2Monitor.score(bed, now);
  }

  news2Enabled(bed: string): boolean {
    return this.news2Monitor.enabled(bed);
  }

  news2Beds(): string[] {
    return this.news2Monitor.knownBeds();
  }

  // ---- Internals

  private applyAll(updates: ConditionUpdate[]): AlarmStateChange[] {
    const out: AlarmStateChange[] = [];
    for (const u of updates) out.push(...this.apply(u));
    return out;
  }

  private apply(u: ConditionUpdate): AlarmStateChange[] {
    const key = u.present ? u.spec.key : u.key;
    const id = this.byKey.get(key);
    const alarm = id !== undefined ? this.open.get(id) : undefined;
    if (!u.present) {
      if (!alarm) return [];
      if ((u.unconfirmed || u.latch) && life.isUnacknowledged(alarm)) alarm.latching = true;
      const changes = life.conditionEnded(alarm, u.at).map((t) => this.audit(alarm, t, u.why, 'system', u.at));
      this.settle(alarm);
      return changes;
    }
    if (!alarm) {
      const raised = this.raise(u.spec, u.at, u.why);
      // A limit alarm answered with its device's alarm before a restart: its first raise, the same track (key: bed,
      // device, rule, direction; the episode aside for the same patient, rv106 M1), comes back answered too, as the device
      // alarm does (review rv104 M3). Used once.
      const restored = u.spec.source === 'limit' ? this.restoredLimitAck(u.spec.key, u.spec.patientId) : undefined;
      if (!restored) return [raised];
      this.restoredAcks.delete(restored.key);
      return [raised, ...this.restoreAcknowledgement(u.spec.key, restored, u.at)];
    }
    const before = life.signalPriority(alarm);
    const transitions = life.conditionPresent(alarm, u.spec, u.at, alarm.state === 'acknowledged' ? this.ackedAt.get(alarm.id) : undefined);
    const now = life.signalPriority(alarm);
    const rose = signalRank(now) > signalRank(before);
    if (alarm.state !== 'acknowledged' && this.ackedAt.delete(alarm.id)) {
      // Risen above what was acknowledged: unanswered again, with the full escalation time from now.
      this.escalatingSince.delete(alarm.id);
    }
    this.noteEscalating(alarm, u.at);
    // A rise can make an alarm latch; a drop never unlatches it: a latching alarm signal goes on "until stopped by
    // deliberate operator action" (IEC 60601-1-8 definition), so one that latched stays so until it is acknowledged
    // or resolved, whatever its priority later.
    alarm.latching ||= this.latches(alarm.priority, alarm.category, u.spec.latch);
    const changes = transitions.map((t) => this.audit(alarm, t, u.why, 'system', u.at));
    // A pause silences the alarm as it was when paused; a rise above that priority ends it, whoever paused (a person,
    // the device, the edge model's hold): a worse condition must sound, not wait up to audioPause.maxS. Monitors do
    // this (Dräger Infinity: a new condition of higher priority sounds during an audio pause; GE CARESCAPE "breakthrough"
    // of a condition escalating to high). A waver back to the priority paused at keeps the pause.
    const pause = this.pausedBy.get(alarm.id);
    const pausedAt = pause?.priority ?? before;
    if (rose && alarm.state === 'audio-paused' && signalRank(now) > signalRank(pausedAt)) {
      this.pausedBy.delete(alarm.id);
      const whose = pause?.role === 'model' ? 'the edge model judged' : 'it was paused at';
      const word = (p: SignalPriority): string => (p === 'none' ? 'information' : p);
      changes.push(this.audit(alarm, life.endAudioPause(alarm, u.at), `priority rose to ${word(now)}, above the ${word(pausedAt)} ${whose}: its audio pause ends`, 'system', u.at));
    }
    // The edge model's pause was for the episode it judged: a condition that returns is a new one, which sounds until
    // the model has judged it (review rv101 H1). A person's or the device's pause stays.
    if (alarm.state === 'audio-paused' && this.pausedBy.get(alarm.id)?.role === 'model' && transitions.some((t) => t.change === 'condition-returned')) {
      this.pausedBy.delete(alarm.id);
      changes.push(this.audit(alarm, life.endAudioPause(alarm, u.at), "the condition returned: the edge model's audio pause, set for the earlier episode, ends", 'system', u.at));
    }
    return changes;
  }

  private raise(spec: ConditionSpec, at: number, why: string): AlarmStateChange {
    const alarm: Alarm = {
      id: `${this.config.idPrefix}-${this.nextId++}`,
      key: spec.key,
      bed: spec.bed,
      deviceId: spec.deviceId,
      source: spec.source,
      condition: spec.condition,
      priority: spec.priority,
      category: spec.category,
      state: 'active',
      conditionPresent: true,
      latching: this.latches(spec.priority, spec.category, spec.latch),
      raisedAt: at,
      updatedAt: at,
      escalated: false,
      annotations: [],
    };
    if (spec.patientId !== undefined) alarm.patientId = spec.patientId;
    if (spec.sourceAlarmId !== undefined) alarm.sourceAlarmId = spec.sourceAlarmId;
    if (spec.reportedPriority !== undefined) alarm.reportedPriority = spec.reportedPriority;
    if (spec.metric !== undefined) alarm.metric = spec.metric;
    if (spec.value !== undefined) alarm.value = spec.value;
    if (spec.unit !== undefined) alarm.unit = spec.unit;
    this.open.set(alarm.id, alarm);
    this.byKey.set(alarm.key, alarm.id);
    if (alarm.source === 'device') {
      const pair = `${alarm.deviceId}|${alarm.bed}`;
      let ids = this.deviceOpen.get(pair);
      if (!ids) this.deviceOpen.set(pair, (ids = new Set()));
      ids.add(alarm.id);
    }
    this.noteEscalating(alarm, at);
    return this.record(alarm, 'raised', null, why, 'system', at);
  }

  /** Start the escalation clock of an unanswered alarm when it first has a priority that escalates. */
  private noteEscalating(alarm: Alarm, at: number): void {
    const esc = this.config.escalation;
    if (!esc || !life.isUnacknowledged(alarm) || !esc.priorities.includes(alarm.priority) || this.escalatingSince.has(alarm.id)) return;
    this.escalatingSince.set(alarm.id, at);
  }

  private latches(priority: ManagedPriority, category: AlarmCategory, latch = false): boolean {
    return latch || (this.config.latching.priorities.includes(priority) && this.config.latching.categories.includes(category));
  }

  /** Move a resolved alarm out of the open set into the bounded history. */
  private settle(alarm: Alarm): void {
    if (life.isOpen(alarm)) return;
    this.open.delete(alarm.id);
    this.escalatingSince.delete(alarm.id);
    this.ackedAt.delete(alarm.id);
    this.reportedAt.delete(alarm.id);
    this.repeatsEvery.delete(alarm.id);
    this.pausedBy.delete(alarm.id);
    this.atDeviceState.delete(alarm.id);
    this.ackedBy.delete(alarm.id);
    const pair = `${alarm.deviceId}|${alarm.bed}`;
    const ids = this.deviceOpen.get(pair);
    if (ids?.delete(alarm.id) && ids.size === 0) this.deviceOpen.delete(pair);
    if (this.byKey.get(alarm.key) === alarm.id) this.byKey.delete(alarm.key);
    this.history.set(alarm.id, alarm);
    while (this.history.size > this.config.historySize) {
      const oldest = this.history.keys().next();
      if (oldest.done) break;
      this.history.delete(oldest.value);
    }
  }

  private audit(alarm: Alarm, t: life.Transition, why: string, actor: Actor, at: number): AlarmStateChange {
    return this.record(alarm, t.change, t.from, why, actor, at, t.to);
  }

  private record(alarm: Alarm, change: AlarmStateChange['change'], from: AlarmStateChange['from'], why: string, actor: Actor, at: number, to = alarm.state): AlarmStateChange {
    // Stamped no earlier than the alarm's updatedAt (which never goes back): a reading's change carries when it was
    // received, which can be before a tick's or a person's change recorded while it waited for its commit. Consumers
    // order an alarm's records by (at, seq) (docs/cloud-consumers.md), so `at` must not go back (review rv162 F3).
    const stamp = Math.max(at, alarm.updatedAt);
    return { seq: ++this.seq, alarmId: alarm.id, change, from, to, why, actor: actor === 'system' ? 'system' : { ...actor }, at: stamp, alarm: structuredClone(alarm) };
  }

  /** Why an action on an alarm shown at priority `seen` is refused because it rose since, or null. */
  private roseSince(alarm: Alarm, seen: SignalPriority | undefined): string | null {
    if (seen === undefined || signalRank(life.signalPriority(alarm)) <= signalRank(seen)) return null;
    return `alarm ${alarm.id} is now ${alarm.priority} priority (it was shown as ${seen === 'none' ? 'information' : seen}): look at it again`;
  }

  private unknown(alarmId: string): string {
    return this.history.has(alarmId) ? `alarm ${alarmId} is already resolved` : `no alarm ${alarmId}`;
  }
}

/** Why an action on an alarm shown latched (`shownPresent` false) is refused because its condition returned since, or null. */
function returned(alarm: Alarm, shownPresent: boolean | undefined): string | null {
  if (shownPresent !== false || !alarm.conditionPresent) return null;
  return `alarm ${alarm.id}'s condition returned since it was shown: look at it again`;
}

/**
 * Priority (high first), then newest first: by raise time, then (raised at the same time, e.g. several from one
 * message) by the number that ends the id, which counts up per engine: alm-10 is newer than alm-9.
 */
export function compareAlarms(a: Alarm, b: Alarm): number {
  return PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || b.raisedAt - a.raisedAt || newerId(a.id, b.id);
}

/** Negative when id `a` was made after `b` (newest first); text order for ids that do not end in a number. */
function newerId(a: string, b: string): number {
  const na = idNumber(a);
  const nb = idNumber(b);
  if (na !== null && nb !== null && na !== nb) return nb - na;
  return a < b ? -1 : a > b ? 1 : 0;
}

function idNumber(id: string): number | null {
  const m = /-(\d+)$/.exec(id);
  return m ? Number(m[1]) : null;
}

/**
 * Annotations an alarm keeps besides its first: enough for the display's word on the latest episode and the one
 * before it (a re-assessment, the verdict, an edge-model hold's re-checks).
 */
export const LATEST_ANNOTATIONS_KEPT = 20;

/** Longer device texts are cut (marked '…'): an alarm is read on a screen, and its audit record must stay storable. */
const MAX_ALARM_TEXT = 500;

function capped(text: string): string {
  return text.length > MAX_ALARM_TEXT ? `${text.slice(0, MAX_ALARM_TEXT - 1)}…` : text;
}

/** What the alarm says on a screen: the device's text, or (none given) that it gave none, and which device it was. */
function deviceAlarmText(e: AlarmEvent): string {
  const text = e.text.trim();
  if (text) return capped(text);
  const code = e.condition?.refid ?? (e.raw?.code ? `${e.raw.system} ${e.raw.code}` : null);
  return `Device alarm without text from ${e.deviceId}${code ? ` (${code})` : ''}`;
}

function deviceSpec(key: string, e: AlarmEvent): ConditionSpec {
  const spec: ConditionSpec = {
    key,
    source: 'device',
    bed: e.bed ?? UNASSIGNED_BED,
    deviceId: e.deviceId,
    sourceAlarmId: e.alarmId,
    condition: { code: e.condition, text: deviceAlarmText(e) },
    // IEC priorities have no 'none'; a device's informational signal is kept as low, with reportedPriority 'none'.
    priority: e.priority === 'none' ? 'low' : e.priority,
    reportedPriority: e.priority,
    category: e.category,
  };
  if (e.momentary) spec.latch = true; // an event without duration: its end says nothing of whether anyone saw it
  if (e.raw !== undefined) spec.condition.raw = e.raw.text !== undefined && e.raw.text.length > MAX_ALARM_TEXT ? { ...e.raw, text: capped(e.raw.text) } : e.raw;
  if (e.patientId !== undefined) spec.patientId = e.patientId;
  if (e.sourceMetric !== undefined) spec.metric = e.sourceMetric;
  if (e.value !== undefined) spec.value = e.value;
  if (e.unit !== undefined) spec.unit = e.unit;
  return spec;
}
