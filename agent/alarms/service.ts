// The alarm engine at work inside the agent: fed with committed events, ticked by a timer, its changes pushed
// to live subscribers (bedside displays) first — latency matters at the bedside — and then journalled durably
// (the outbox's alarms stream, forwarded to the hub ahead of telemetry). A journal write that fails (disk full)
// is kept and retried, loudly: an alarm change is never dropped silently.
import type { Logger } from 'pino';
import type { DriverEvent } from '../model/reading.js';
import { DeviceClocks, ontoNewClock, STEP_IN_FLIGHT_MS } from '../model/measured.js';
import type { Metrics } from '../metrics.js';
import { MAX_DEVICES, type AlarmEngine, type OverThresholdAlarm, type AudioPauseTarget, type OperationResult } from './engine.js';
import type { Acvpu, OxygenSupport, RecordedObservations } from './news2.js';
import type { HubDownCause } from './technical.js';
import { GATEWAY_BED, type Actor, type Alarm, type AlarmAnnotation, type AlarmStateChange, type ManagedPriority, type SignalPriority } from './types.js';

export type AlarmListener = (changes: readonly AlarmStateChange[]) => void;
/** Writes changes durably; throws if it could not. */
export type AlarmJournal = (changes: readonly AlarmStateChange[]) => void;

/**
 * Most alarm changes held in memory while the store refuses them (a full disk): beyond this the oldest go, counted
 * and alarmed, so that a long store failure cannot exhaust the agent's memory (an alarm change is ~1 KB).
 */
export const MAX_HELD_CHANGES = 20_000;

/**
 * The NEWS2 note is written again at least this often: a level it holds carries the time the note was written, and a
 * restart takes it back only within STALE_OBSERVATION_KEEP_S of that, so a level held for days with nothing changing
 * must not age out of the note while the agent runs. Our choice: one small store write an hour.
 */
export const NEWS2_NOTE_REFRESH_MS = 3_600_000;
/** Device alarms raised past their device and bed's flood threshold are told in the log at most this often (each is counted at once). */
const OVER_TELL_EVERY_MS = 60_000;

/**
 * A wall clock that advanced more or less than the monotonic clock by more than this between two reads stepped (NTP or
 * chrony step, set by hand). Both are read at the same moments, so they part only by a slew (at most 0.5 ms/s) and
 * read jitter: far under 2 s, even over minutes between reads; and 2 s is under every duration the engine times.
 */
export const CLOCK_STEP_MS = 2_000;
/**
 * Clock-step alarms shown with their step's size while unacknowledged: each step gets its own (the engine keeps an
 * alarm's text as raised, so one alarm would keep the first step's size; review rv147 F4); beyond these one more says
 * the clock keeps stepping, so that a clock that steps every few seconds cannot flood the display.
 */
export const MAX_CLOCK_STEP_ALARMS = 3;
/**
 * Told of a step of the gateway's clock, after the alarm timers moved: `deltaMs`, its advance less the monotonic
 * clock's; `at`, the wall clock when the step was seen (on the new clock).
 */
export type ClockStepListener = (deltaMs: number, at: number) => void;

export class AlarmService {
  private readonly listeners = new Set<AlarmListener>();
  private unjournalled: AlarmStateChange[] = [];
  /** Held changes dropped over MAX_HELD_CHANGES since start. */
  private droppedChanges = 0;
  /**
   * When the last "cannot store alarm changes" line was written (null: the store took the last changes), and the
   * failures since: a store that cannot take data (a failing disk, the store in memory) fails every flush, so the
   * line is written once a minute while it lasts.
   */
  private journalFailLoggedAt: number | null = null;
  private journalFailuresSinceLine = 0;
  private refusedChanges = 0;
  /** Set while publishing; changes published meanwhile wait in `nested`. */
  private publishing = false;
  private readonly nested: AlarmStateChange[][] = [];
  /** Closing records made by a listener while publishing (closeFormer): journalled after the changes it was told of. */
  private closedMeanwhile: AlarmStateChange[] = [];
  /** The closing records closeFormer made (isClosingRecord). */
  private readonly closing = new WeakSet<AlarmStateChange>();
  private timer: NodeJS.Timeout | null = null;
  private keepObservations: ((all: Record<string, RecordedObservations>) => void) | null = null;
  /** When the NEWS2 note was last written (or tried). */
  private news2NoteAt = -Infinity;
  /** Device alarms raised past their device and bed's flood threshold not yet told in the log, and when it was last told (at most a minute). */
  private overUntold: OverThresholdAlarm[] = [];
  private overCount = 0;
  private overToldAt = -Infinity;
  /** Each device's clock, learned across deliveries: an input's age for NEWS2 (as the display ages it). */
  private readonly clocks = new DeviceClocks();
  /** Both clocks when last read (clock()), and the last step seen, with when (monotonic). */
  private clockRead: { wall: number; mono: number } | null = null;
  private lastStep: { deltaMs: number; mono: number } | null = null;
  private readonly clockStepListeners = new Set<ClockStepListener>();

  /**
   * `monotonic`: a clock no step moves, to tell the wall clock (`now`) stepped. Null: no step is looked for; the
   * default when `now` is given without it (tests driving the wall clock by hand). `gatewayId`: the deviceId of the
   * gateway alarms the service raises itself (the clock step), as the agent's own carry (review rv185 L2).
   */
  constructor(
    readonly engine: AlarmEngine,
    private readonly journal: AlarmJournal,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly now: () => number = Date.now,
    private readonly monotonic: (() => number) | null = now === Date.now ? () => performance.now() : null,
    private readonly gatewayId = 'gateway',
  ) {}

  /**
   * The wall clock, after looking whether it stepped since it was last read (review rv142 F3). The engine times its
   * durations as differences of wall-clock instants; a step of `delta` (its advance less the monotonic clock's) moves
   * every instant it holds by `delta` (AlarmEngine.shiftClock), so those durations run on as if there was no step. It
   * is looked for at every read, before the engine is given the new time, so that no instant on the new clock meets
   * state on the old one; a reading stamped before the step and handled after it is moved by handle(). Logged, counted
   * (gateway_clock_steps_total) and raised as a low gateway alarm that latches (a step is over at once, and the
   * durations around it may be off by the time between two reads).
   */
  private clock(): number {
    const wall = this.now();
    if (!this.monotonic) return wall;
    const mono = this.monotonic();
    const last = this.clockRead;
    this.clockRead = { wall, mono };
    if (last === null) return wall;
    const deltaMs = wall - last.wall - (mono - last.mono);
    if (Math.abs(deltaMs) <= CLOCK_STEP_MS) return wall;
    this.lastStep = { deltaMs, mono };
    this.engine.shiftClock(deltaMs);
    this.clocks.shiftClock(deltaMs);
    this.news2NoteAt += deltaMs;
    if (this.journalFailLoggedAt !== null) this.journalFailLoggedAt += deltaMs;
    // Before the alarm below is published: the display moves its instants before it hears of it.
    for (const listener of this.clockStepListeners) {
      try {
        listener(deltaMs, wall);
      } catch (err) {
        this.log.error({ err }, 'a clock-step listener failed: the part of the agent it serves may age values on the old clock');
      }
    }
    const stepS = Math.round(deltaMs / 1000);
    this.metrics.inc('gateway_clock_steps_total', { direction: deltaMs < 0 ? 'back' : 'forward' });
    this.log.warn(
      { stepS, from: new Date(last.wall + (mono - last.mono)).toISOString(), to: new Date(wall).toISOString() },
      `gateway clock stepped by ${stepS} s (NTP/chrony step, or set by hand): alarm timers (silence, delays, audio pauses, escalation) moved with it; alarm records keep the times they were written at (counted in gateway_clock_steps_total)`,
    );
    const key = this.clockStepKey();
    const text =
      key === 'clock-step-more'
        ? `Gateway clock keeps stepping: more than ${MAX_CLOCK_STEP_ALARMS} steps since acknowledged; each is in the log, counted in gateway_clock_steps_total`
        : `Gateway clock stepped by ${stepS} s`;
    this.gatewayCondition(this.gatewayId, key, true, text, 'low', { latch: true });
    this.gatewayCondition(this.gatewayId, key, false, `${text}: a step is over at once; latched until acknowledged`);
    return wall;
  }

  /** The first clock-step alarm key not open (unacknowledged) now; 'clock-step-more' when MAX_CLOCK_STEP_ALARMS are. */
  private clockStepKey(): string {
    const open = new Set(this.engine.list({ bed: GATEWAY_BED }).map((a) => a.key));
    for (let i = 1; i <= MAX_CLOCK_STEP_ALARMS; i++) {
      const key = i === 1 ? 'clock-step' : `clock-step-${i}`;
      if (!open.has(`gateway:${key}`)) return key;
    }
    return 'clock-step-more';
  }

  /**
   * Told of each step of the gateway's clock clock() sees (the one detector for the whole agent), after the alarm
   * timers moved and before the step's alarm is published: for parts that age or time on the wall clock (the display;
   * review rv147 F2). Returns the unsubscribe function.
   */
  onClockStep(listener: ClockStepListener): () => void {
    this.clockStepListeners.add(listener);
    return () => this.clockStepListeners.delete(listener);
  }

  /**
   * Events stamped on the clock before a step just seen and committed after it, moved onto the new clock before the
   * engine sees them (clock()), for STEP_IN_FLIGHT_MS (monotonic) after the step.
   */
  private onNewClock(events: readonly DriverEvent[], now: number): readonly DriverEvent[] {
    const step = this.lastStep;
    if (!step || !this.monotonic || this.monotonic() - step.mono > STEP_IN_FLIGHT_MS) return events;
    return ontoNewClock(events, step.deltaMs, now);
  }

  /** Ticks the engine (delays, silence, escalation, audio-pause timeouts) and retries a failed journal. */
  start(tickMs = 500): void {
    this.timer ??= setInterval(() => this.tick(), tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.tick();
  }

  /** Live changes, for displays. Returns the unsubscribe function. */
  subscribe(listener: AlarmListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Committed events from ingest. */
  handle(delivered: readonly DriverEvent[]): void {
    const events = this.onNewClock(delivered, this.clock());
    // One batch: NEWS2 judges each bed once after all of its readings (ingestAll), not at each reading.
    const changes = this.engine.ingestAll(events, this.clocks.delivery(events));
    this.publish(changes);
    this.keepNews2Levels(changes);
    this.rhythmCounts();
    const u = this.engine.takeUnconvertible();
    if (u.count > 0) this.metrics.inc('alarm_rule_unit_unconvertible_total', undefined, u.count);
    for (const m of u.fresh) {
      this.log.warn(
        m,
        `limit rule ${m.rule} cannot judge readings of ${m.deviceId}: their unit "${m.unit}" does not convert to ${m.ruleUnit}, so the rule stays silent for them (told once per device, rule and unit)`,
      );
    }
    this.news2Counts();
  }

  /**
   * NEWS2 inputs in units it cannot convert (counted, each told once), and observations not restored (another patient,
   * or pseudonyms no patient can match). Also called at start, right after the observations are restored.
   */
  news2Counts(): void {
    const n = this.engine.takeNews2();
    for (const c of n.unconvertible) this.metrics.inc('news2_unconvertible_total', { param: c.param, unit: c.unit }, c.count);
    for (const m of n.newUnconvertible) {
      this.log.warn(
        m,
        `NEWS2 cannot score ${m.param} from ${m.deviceId} on bed ${m.bed}: its unit "${m.unit}" does not convert to ${m.want}, so ${m.param} shows missing while it arrives (told once per device, parameter and unit; counted in news2_unconvertible_total)`,
      );
    }
    for (const d of n.observationsDropped) {
      this.metrics.inc('news2_observations_not_restored_total', { reason: 'another-patient' });
      this.log.warn(d, `NEWS2 observations recorded before the restart for bed ${d.bed} not restored: ${d.deviceId} now gives another patient id (record them again for this patient)`);
    }
    // Kept with pseudonyms that no patient can match now (review rv83 L1): one line per cause, with its beds.
    const why = { 'key-changed': 'the pseudonym key changed since they were recorded', 'pseudonyms-off': 'patient id pseudonymisation was switched off since they were recorded' };
    for (const reason of ['key-changed', 'pseudonyms-off'] as const) {
      const beds = n.observationsUnmatchable.filter((u) => u.reason === reason).map((u) => u.bed);
      if (!beds.length) continue;
      this.metrics.inc('news2_observations_not_restored_total', { reason }, beds.length);
      this.log.warn(
        { beds, reason },
        `NEWS2 observations recorded before the restart (oxygen, ACVPU) not restored for ${beds.length} bed(s): ${why[reason]}, so they cannot be matched with any patient; record them again (counted in news2_observations_not_restored_total)`,
      );
    }
    // A level noted before the restart that was not held (rv116 H1): its note too old, or the bed's devices not back soon.
    const heldWhy = { 'note-too-old': 'its note is older than NEWS2 keeps one', 'no-input-after-restart': 'no current device input came soon enough after the restart' };
    for (const d of n.heldLevelsDropped ?? []) {
      this.metrics.inc('news2_observations_not_restored_total', { reason: d.reason });
      this.log.warn(d, `NEWS2 level ${d.level} noted before the restart for bed ${d.bed} not held: ${heldWhy[d.reason]}; the bed is judged afresh (counted in news2_observations_not_restored_total)`);
    }
    // Written at once without it (review rv118 H1): a second restart before the next save would restore it again.
    if (n.heldLevelsDropped?.length) {
      this.keepNews2(this.clock(), { beds: n.heldLevelsDropped.map((d) => d.bed) }, 'NEWS2 note not saved after a held level was dropped: a restart before the next save could hold it again');
    }
    // Readings left out as the previous patient's (rv80 M1): counted without labels, told once per device, no patient ids.
    if (n.formerPatient.readings > 0) this.metrics.inc('news2_readings_former_patient_total', undefined, n.formerPatient.readings);
    for (const d of n.formerPatient.devices) {
      this.log.warn(
        d,
        `NEWS2 leaves out readings of ${d.deviceId} on bed ${d.bed}: it still gives the previous patient's id after a change of patient at the bed, so its parameters show missing or stale until it gives the bed's patient (told once per device; counted in news2_readings_former_patient_total)`,
      );
    }
    // Implausible values (rv107 L2: °F sent without a unit scored as °C) and temperature terms not used (rv107 L1).
    for (const [param, c] of Object.entries(n.implausible?.counts ?? {})) this.metrics.inc('news2_implausible_total', { param }, c);
    for (const d of n.implausible?.devices ?? []) {
      this.log.warn(
        d,
        `NEWS2 refuses ${d.param} ${d.value} "${d.unit}" from ${d.deviceId} on bed ${d.bed}: outside ${d.range} (a wrong or missing unit?), so ${d.param} is not scored from it (told once per device and parameter; counted in news2_implausible_total)`,
      );
    }
    if (n.temperatureNotUsed) this.metrics.inc('news2_temperature_not_used_total', undefined, n.temperatureNotUsed.readings);
    for (const d of n.temperatureNotUsed?.terms ?? []) {
      this.log.info(
        d,
        `NEWS2 does not use ${d.refid} from ${d.deviceId} on bed ${d.bed} as temperature: not a measurement site NEWS2 uses (skin, blood and the like are not; body, unspecified, core, tympanic, ear, oral, axillary and rectal are), so temperature shows missing unless another source gives one (told once per device and term; counted in news2_temperature_not_used_total)`,
      );
    }
  }

  /**
   * The rhythm check's held-back alarms and unjudged ECG: counted, and each device sending ECG it cannot judge, or
   * implausibly small ECG, told once; ECG feeds that stopped counted and told.
   */
  private rhythmCounts(): void {
    const r = this.engine.takeRhythm();
    for (const [reason, n] of Object.entries(r.notRaised)) if (n > 0) this.metrics.inc('alarm_rhythm_not_raised_total', { reason }, n);
    for (const [reason, n] of Object.entries(r.skipped)) if (n > 0) this.metrics.inc('alarm_rhythm_ecg_skipped_total', { reason }, n);
    for (const s of r.leadSwitches) {
      this.metrics.inc('alarm_rhythm_lead_switches_total', { reason: s.reason });
      const why = s.reason === 'stopped' ? `${s.from} stopped arriving` : `${s.from} not valid for 2 s (lead off, questionable)`;
      this.log.info(s, `rhythm check of ${s.deviceId} (bed ${s.bed}) switched from ECG ${s.from} to ${s.to}: ${why} (counted in alarm_rhythm_lead_switches_total)`);
    }
    for (const n of r.notJudged) {
      this.log.warn(
        n,
        `rhythm not judged for ${n.deviceId} (bed ${n.bed}): no clean ECG lead (${n.leads.join(', ')}) for ${n.seconds} s; any rhythm alarm present ended unconfirmed; counted in alarm_rhythm_ecg_skipped_total{reason="no-clean-lead"}`,
      );
    }
    for (const a of r.lowAmplitude) {
      this.metrics.inc('alarm_rhythm_low_amplitude_total');
      this.log.warn(
        a,
        `ECG ${a.lead} from ${a.deviceId} (bed ${a.bed}) under 0.1 mV peak to peak for ${a.seconds} s: too small for ECG (${a.peakToPeakMv} mV): the rhythm check misses QRS under 0.05 mV and takes their absence for an asystole; check the lead and the device's ECG unit and gain (mV sent as µV?), unless the patient is in a long asystole (told once per device; counted in alarm_rhythm_low_amplitude_total)`,
      );
    }
    for (const st of r.stopped) {
      this.metrics.inc('alarm_rhythm_feeds_stopped_total');
      const ended = st.hadPresent ? 'its rhythm alarm present ended unconfirmed' : 'no rhythm alarm was present';
      const alarm = st.alarmed
        ? `"No ECG from ${st.deviceId}: rhythm check not running" (low) raised while ${st.deviceId} sends for the bed without ECG`
        : `${st.deviceId} sends nothing else for the bed either ("No ECG from ${st.deviceId}" is raised if it sends again without ECG)`;
      this.log.warn(st, `no ECG from ${st.deviceId} (bed ${st.bed}; ${st.leads.join(', ')}) for ${st.seconds} s: the rhythm check is not running for it; ${ended}; ${alarm} (counted in alarm_rhythm_feeds_stopped_total)`);
    }
    for (const d of r.newDevices) {
      this.log.warn(
        d,
        d.reason === 'unit'
          ? `ECG from ${d.deviceId} in unit "${d.value}", which the rhythm check cannot scale to mV: not judged for arrhythmias (said once per device; counted in alarm_rhythm_ecg_skipped_total)`
          : d.reason === 'gap'
            ? `ECG from ${d.deviceId} (bed ${d.bed}) arrives with gaps (the first ${d.value} long, segments lost): the rhythm check takes them as no data, neither beat nor silence (said once per device; each gap counted in alarm_rhythm_ecg_skipped_total{reason="gap"})`
            : `ECG from ${d.deviceId} at ${d.value} Hz, outside the 100–1000 Hz the rhythm check judges: not judged for arrhythmias (said once per device; counted in alarm_rhythm_ecg_skipped_total)`,
      );
    }
  }

  tick(): void {
    const now = this.clock();
    const changes = this.engine.tick(now);
    this.publish(changes);
    this.keepNews2Levels(changes);
    if (now - this.news2NoteAt >= NEWS2_NOTE_REFRESH_MS) {
      this.keepNews2(now, {}, 'NEWS2 note not refreshed in the store: a level held for a long time may not be held again after a restart (retried in an hour)');
    }
    this.news2Counts(); // a held level dropped for want of input is found on the tick
    this.rhythmCounts(); // ECG feeds that stopped are found on the tick
    this.housekeepingCounts(now);
  }

  /**
   * Device alarms raised past their device and bed's flood threshold (review rv188 H2): each counted at once, told in
   * one line at most every OVER_TELL_EVERY_MS (a flooding sender would otherwise write a line per message), with the
   * count since the last.
   */
  private overThresholdCounts(now: number): void {
    const over = this.engine.takeOverThreshold();
    if (over.length > 0) this.metrics.inc('alarm_device_alarms_over_threshold_total', undefined, over.length);
    this.overCount += over.length;
    // Only the first few are named; the rest are counted.
    this.overUntold.push(...over.slice(0, Math.max(0, 10 - this.overUntold.length)));
    if (this.overCount === 0 || now - this.overToldAt < OVER_TELL_EVERY_MS) return;
    this.overToldAt = now;
    const where = [...new Set(this.overUntold.map((o) => `${o.deviceId} on ${o.bed}`))];
    this.log.warn(
      { count: this.overCount, where, alarms: this.overUntold.map((o) => `${o.alarmId} ${o.priority} "${o.text}" (${o.open} open on bed ${o.bed})`) },
      `${this.overCount} device alarm(s) raised while their device had more than alarms.maxOpenDeviceAlarms open on their bed (${where.join(', ')}): none is ended, each is shown and sounds; a technical alarm is up for that device and bed; check the device and its sender (told at most once a minute; counted in alarm_device_alarms_over_threshold_total)`,
    );
    this.overUntold = [];
    this.overCount = 0;
  }

  /** Metrics gone with their limit alarm (rv77 H1) and device state forgotten (rv77 M2): counted and logged. */
  private housekeepingCounts(now: number): void {
    for (const m of this.engine.takeMissingMetrics()) {
      this.metrics.inc('alarm_metric_missing_total');
      this.log.warn(
        m,
        `no ${m.label} from ${m.deviceId} for ${m.silentS} s while it still sends for bed ${m.bed}: its limit alarm "${m.alarm}" ended unconfirmed, and "No ${m.label} from ${m.deviceId}" (low) is raised until ${m.label} comes again`,
      );
    }
    this.overThresholdCounts(now);
    // The device cap could not be met: every silent device beyond it is alarmed about, or silent under an hour (rv80 M2).
    const unmet = this.engine.takeCapUnmet();
    if (unmet) {
      this.metrics.inc('alarm_device_cap_unmet_total', undefined, unmet.sweeps);
      if (unmet.tell) {
        this.log.warn(
          { held: unmet.held, alarmed: unmet.alarmed, recent: unmet.recent },
          `alarm state held for ${unmet.held} devices, over the cap of ${MAX_DEVICES}: ${unmet.alarmed} silent devices kept for an open alarm (their "no data" stays until answered and they send, or a day), ${unmet.recent} silent under an hour (told at most every 10 min; counted per sweep in alarm_device_cap_unmet_total)`,
        );
      }
    }
    const forgotten = this.engine.takeForgotten();
    if (forgotten.length === 0) return;
    for (const reason of ['day', 'cap'] as const) {
      const n = forgotten.filter((f) => f.reason === reason).length;
      if (n > 0) this.metrics.inc('alarm_devices_forgotten_total', { reason }, n);
    }
    // One line per sweep, not per device: a misconfigured sender may churn thousands of ids.
    this.log.info(
      { count: forgotten.length, devices: forgotten.slice(0, 20).map((f) => (f.bed === undefined ? f.deviceId : `${f.deviceId}|${f.bed}`)) },
      `forgot the alarm state of ${forgotten.length} device or bed silent for a day or over the cap of ${MAX_DEVICES} devices (their "no data" alarms ended, saying so; a device that sends again starts afresh)`,
    );
  }

  /**
   * Devices a configuration change took from their driver (AlarmEngine.unwatch; review rv120 M1): their technical
   * alarms end with `why`, and one log line (info) names them, with `context` (the driver).
   */
  unwatchDevices(deviceIds: readonly string[], why: string, context: Record<string, unknown> = {}): void {
    if (deviceIds.length === 0) return;
    const changes = this.engine.unwatch(deviceIds, this.clock(), why);
    this.publish(changes);
    this.log.info(
      { ...context, devices: deviceIds.slice(0, 20), count: deviceIds.length, alarmsEnded: changes.map((c) => c.alarmId).slice(0, 20) },
      `no longer watching ${deviceIds.length} device(s) for silence or their link: ${why} (their technical alarms end; those listed in alarms.devices stay expected)`,
    );
  }

  /** `cause`: why the hub cannot be reached where waiting will not mend it (auth, tls: the alarm says so instead of "unreachable"). */
  hubReachable(reachable: boolean, cause: HubDownCause = null): void {
    this.publish(this.engine.hubReachable(reachable, this.clock(), cause));
  }

  storeUsage(fraction: number): void {
    this.publish(this.engine.storeUsage(fraction, this.clock()));
  }

  /**
   * A technical condition of the gateway itself (store evicted data, store was corrupt), raised or ended by
   * the agent. Keyed by `key`, so raising it again updates the same alarm. `latch`: it stays (latched) after the
   * condition ends until acknowledged (a loss that already happened).
   */
  gatewayCondition(gatewayId: string, key: string, present: boolean, text: string, priority: ManagedPriority = 'medium', opts: { latch?: boolean } = {}): void {
    const at = this.clock();
    const fullKey = `gateway:${key}`;
    this.publish(
      this.engine.condition(
        present
          ? {
              present: true,
              at,
              why: text,
              spec: {
                key: fullKey,
                source: 'technical',
                bed: GATEWAY_BED,
                deviceId: gatewayId,
                condition: { code: null, raw: { system: 'agent', code: key }, text },
                priority,
                category: 'technical',
                ...(opts.latch && { latch: true }),
              },
            }
          : { present: false, key: fullKey, at, why: text },
      ),
    );
  }

  /**
   * Alarms an earlier run left open (open-notes.ts formerAlarm): one closing record each (AlarmEngine.closeFormer),
   * journalled for the cloud like any change, held and retried the same way. Not given to the listeners: no display
   * knows their ids, and their notes are the agent's to clear (review rv185 M4).
   */
  closeFormer(alarms: readonly Alarm[], why: string): AlarmStateChange[] {
    const changes = this.engine.closeFormer(alarms, why, this.clock());
    if (changes.length < alarms.length) {
      // Ids of this run (an earlier run had the same id prefix): closing them would end a live alarm (review rv187 L1).
      const closed = new Set(changes.map((c) => c.alarmId));
      const skipped = alarms.filter((a) => !closed.has(a.id)).map((a) => a.id);
      this.log.error(
        { alarmIds: skipped.slice(0, 20), count: skipped.length },
        `${skipped.length} alarm(s) open before the restart not closed for the cloud: this run has given their ids to alarms of its own (an earlier run used the same id prefix); a consumer sees those ids' records of both runs`,
      );
    }
    if (changes.length === 0) return changes;
    for (const c of changes) this.closing.add(c);
    this.metrics.inc('alarm_changes_total', undefined, changes.length);
    // From a listener (the agent closes them when the restart alarm is acknowledged, review rv187 M3): the change
    // being delivered is journalled after its listeners ran, and these come after it, in seq order.
    if (this.publishing) this.closedMeanwhile.push(...changes);
    else this.write(changes);
    return changes;
  }

  /**
   * Whether a change is a closing record of closeFormer: its alarm carries its patient as its records did (a pseudonym
   * where configured, from its note), so the journal must not pseudonymise it again (review rv187 M2).
   */
  isClosingRecord(change: AlarmStateChange): boolean {
    return this.closing.has(change);
  }

  /** `seen`, `shownPresent`: the priority the person was shown, and whether its condition was (see AlarmEngine.acknowledge). */
  acknowledge(alarmId: string, actor: Actor, seen?: SignalPriority, shownPresent?: boolean): OperationResult {
    const r = this.engine.acknowledge(alarmId, actor, this.clock(), seen, shownPresent);
    this.publish(r.changes);
    return r;
  }

  /** NEWS2 observations no device sends (ACVPU, air or oxygen), recorded by a person; the score's changes are published. */
  observe(bed: string, obs: { consciousness?: Acvpu; oxygen?: OxygenSupport }, actor: Actor): AlarmStateChange[] {
    const now = this.clock();
    const changes = this.engine.observe(bed, obs, now, actor);
    this.publish(changes);
    // The score uses it now; only a restart would forget it (and score the bed as assumed again, saying so).
    this.keepNews2(now, { bed, ...obs }, 'NEWS2 observation in use but not saved in the store: a restart before the next one would forget it');
    return changes;
  }

  /**
   * A NEWS2 level raised, lowered or ended: the note is written again, as it holds the levels present, so that a
   * restart holds a level on a partial score as this run did (News2Monitor.observations).
   */
  private keepNews2Levels(changes: readonly AlarmStateChange[]): void {
    // Any change of a NEWS2 alarm (a level's raise or end among them): they are few, and the note is small.
    const beds = [...new Set(changes.filter((c) => c.alarm.source === 'news2').map((c) => c.alarm.bed))];
    if (beds.length === 0) return;
    this.keepNews2(this.clock(), { beds }, 'NEWS2 level change not saved in the store: a restart before the next save would judge those beds afresh, without the level held on a partial score');
  }

  /** Writes the NEWS2 note (observations, levels present); a store that refuses it is logged and counted. */
  private keepNews2(now: number, context: Record<string, unknown>, msg: string): void {
    if (!this.keepObservations) return;
    this.news2NoteAt = now;
    try {
      this.keepObservations(this.engine.news2Observations(now));
    } catch (err) {
      this.metrics.inc('news2_observations_unsaved_total');
      this.log.error({ err, ...context }, msg);
    }
  }

  /**
   * Where the recorded NEWS2 observations and the levels present are kept (all of them, after each new observation,
   * each change of a NEWS2 alarm, and every NEWS2_NOTE_REFRESH_MS), so that a restart keeps them.
   */
  keepObservationsIn(keep: (all: Record<string, RecordedObservations>) => void): void {
    this.keepObservations = keep;
    this.news2NoteAt = this.clock();
  }

  /** Attach facts to an alarm (the edge model's probability and verdict); published and journalled like any change. */
  annotate(alarmId: string, annotation: Omit<AlarmAnnotation, 'by' | 'at'>, actor: Actor): OperationResult {
    const r = this.engine.annotate(alarmId, annotation, actor, this.clock());
    this.publish(r.changes);
    return r;
  }

  audioPause(target: AudioPauseTarget, actor: Actor, durationS?: number, seen?: SignalPriority): OperationResult {
    const r = this.engine.audioPause(target, actor, durationS, this.clock(), seen);
    this.publish(r.changes);
    return r;
  }

  /**
   * Delivers changes to listeners (displays, the model) and journals them. A listener that causes changes of its
   * own (the model annotating at once) has them delivered after the current ones, so displays and the journal
   * see every alarm's changes in the order they happened.
   */
  private publish(changes: AlarmStateChange[]): void {
    if (this.publishing) {
      if (changes.length) this.nested.push(changes);
      return;
    }
    this.publishing = true;
    try {
      this.deliver(changes);
      for (let next = this.nested.shift(); next; next = this.nested.shift()) this.deliver(next);
    } finally {
      this.publishing = false;
    }
  }

  private deliver(changes: AlarmStateChange[]): void {
    if (changes.length === 0 && this.unjournalled.length === 0) return;
    if (changes.length) {
      this.metrics.inc('alarm_changes_total', undefined, changes.length);
      for (const c of changes) {
        if (c.change === 'raised') this.metrics.inc('alarms_raised_total', { source: c.alarm.source, priority: c.alarm.priority });
      }
      for (const l of this.listeners) {
        try {
          l(changes);
        } catch (err) {
          this.log.error({ err }, 'alarm listener failed; other listeners still ran');
        }
      }
    }
    this.write(changes);
    if (this.closedMeanwhile.length) this.write(this.closedMeanwhile.splice(0));
  }

  /** Journals changes behind those held for the store; held in memory (bounded) while it refuses them. */
  private write(changes: AlarmStateChange[]): void {
    const toWrite = this.unjournalled.concat(changes);
    try {
      this.journal(toWrite);
      if (this.unjournalled.length) this.log.warn({ changes: this.unjournalled.length }, 'journalled alarm changes held back by an earlier store failure');
      this.unjournalled = [];
      this.journalFailLoggedAt = null;
      this.journalFailuresSinceLine = 0;
    } catch (err) {
      this.unjournalled = toWrite.length > 1 ? this.journalOneByOne(toWrite) : this.refuseOrHold(toWrite, err);
      const over = this.unjournalled.length - MAX_HELD_CHANGES;
      if (over > 0) {
        const dropped = this.unjournalled.splice(0, over);
        this.droppedChanges += over;
        this.metrics.inc('alarm_journal_dropped_total', undefined, over);
        this.log.error(
          { dropped: over, droppedSinceStart: this.droppedChanges, held: this.unjournalled.length, alarmIds: [...new Set(dropped.map((c) => c.alarmId))].slice(0, 20) },
          'alarm changes held for the store passed the memory cap: the oldest dropped (shown on displays, never journalled or forwarded)',
        );
      }
    }
  }

  /** Changes waiting for the store, and those dropped over the memory cap since start (for the agent's alarm). */
  /** `refused`: changes the store refused for good (too large): shown, but not journalled or forwarded. */
  journalState(): { held: number; dropped: number; refused: number } {
    return { held: this.unjournalled.length, dropped: this.droppedChanges, refused: this.refusedChanges };
  }

  /**
   * After a failed batch: each change on its own, so that one the store can never take (too large) does not hold
   * back the ones behind it. Returns the changes still to be retried.
   */
  private journalOneByOne(changes: AlarmStateChange[]): AlarmStateChange[] {
    const held: AlarmStateChange[] = [];
    for (const c of changes) {
      if (held.length > 0) {
        held.push(c); // keep the journal in order behind a change that waits for the store
        continue;
      }
      try {
        this.journal([c]);
      } catch (err) {
        held.push(...this.refuseOrHold([c], err));
      }
    }
    return held;
  }

  /** A change the store refuses for good is logged and counted (it was shown already); anything else is held. */
  private refuseOrHold(changes: AlarmStateChange[], err: unknown): AlarmStateChange[] {
    const alarmIds = [...new Set(changes.map((c) => c.alarmId))].slice(0, 20);
    if ((err as Error).name === 'RecordTooLargeError') {
      this.metrics.inc('alarm_journal_refused_total', undefined, changes.length);
      this.refusedChanges += changes.length;
      this.log.error({ err, alarmIds, changes: changes.map((c) => c.change) }, 'alarm change too large to store: shown on displays but not journalled or forwarded');
      return [];
    }
    this.metrics.inc('alarm_journal_failures_total');
    this.journalFailuresSinceLine += 1;
    const now = this.clock();
    if (this.journalFailLoggedAt === null || now - this.journalFailLoggedAt >= 60_000 || now < this.journalFailLoggedAt) {
      this.log.error(
        { err, held: changes.length, alarmIds, failures: this.journalFailuresSinceLine, counter: 'alarm_journal_failures_total' },
        'cannot store alarm changes; holding them in memory and retrying (said once a minute while it lasts; each failure is counted)',
      );
      this.journalFailLoggedAt = now;
      this.journalFailuresSinceLine = 0;
    }
    return changes;
  }
}
