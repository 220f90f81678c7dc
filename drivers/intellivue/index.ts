// The `intellivue` driver: Philips IntelliVue MP/MX patient monitors, Data Export protocol over the
// MIB/RS-232 port. Talks the host side (or only listens) and emits numerics, waves, patient and
// technical alarms, and device status. See README.md.
import type { DriverEvent } from '../../agent/model/reading.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import type { Driver, DriverClaims, DriverContext, DriverFactory } from '../types.js';
import { patientMonitorClaims } from '../serial/claims.js';
import { captureWarnings } from '../serial/warnings.js';
import { defaultLink, SerialDeviceDriver, type LinkFactory as SerialLinkFactory } from '../serial/device-driver.js';
import { AlarmAnswers, AlarmListWatch, alarmListsStaleAfterMs } from './alarm-lists.js';
import { AlarmTracker, type AlarmList } from './alarms.js';
import { DeviceClock } from './clock.js';
import { ObservationDecoder, type DecodedReply } from './observations.js';
import { buildPlan, type IntellivueOptions, type IntellivuePlan } from './options.js';
import { ATTR, IntellivueParseError, decodeAbsTimeAttr, decodeU32 } from './protocol/index.js';
import { configSchema } from './schema.js';
import { IntellivueSession, REPEAT_LOG_EVERY_MS, type SessionOutput } from './session.js';

/** Distinct troubles in replies (counter and the start of their detail) logged apart; more are only counted. */
const MAX_PROBLEM_KINDS = 64;
const LIST_NAMES: Record<AlarmList, string> = { P: 'patient', T: 'technical' };

export type LinkFactory = SerialLinkFactory<IntellivuePlan>;
export { defaultLink };

export class IntellivueDriver extends SerialDeviceDriver<IntellivuePlan> {
  readonly clock: DeviceClock;
  private readonly intellivue: IntellivueSession;
  private readonly alarms: AlarmTracker;
  private readonly decoder: ObservationDecoder;
  /**
   * Troubles in replies (an unreadable alarm list, a bad time stamp, a wave before its spec) come at every poll while
   * they last: each kind is warned about at its first since the association, then summarised.
   */
  private readonly problemLogs = new Map<string, RepeatLog>();
  /** The alarm lists of linked answers, gathered part by part. */
  private readonly alarmAnswers: AlarmAnswers;
  /** When each alarm list was last read: one not read for too long is not held as current (review rv66 H1). */
  private readonly alarmLists: AlarmListWatch;
  private readonly staleLog = new RepeatLog(REPEAT_LOG_EVERY_MS);
  private staleTimer: NodeJS.Timeout | undefined;

  /**
   * @param now the wall clock: event time stamps only.
   * @param mono a monotonic clock (ms) for the alarm-list timing, which a step of the wall clock (NTP at boot, an admin
   * setting the time) must not end or delay (review rv72 M1).
   */
  constructor(
    plan: IntellivuePlan,
    ctx: DriverContext,
    linkFactory: LinkFactory = defaultLink,
    now: () => number = Date.now,
    private readonly mono: () => number = () => performance.now(),
  ) {
    super(plan, ctx, 'intellivue', linkFactory, now);
    this.alarmLists = new AlarmListWatch(plan.listenOnly);
    this.clock = new DeviceClock(plan.utcOffsetMinutes);
    this.alarms = new AlarmTracker(this.origin, plan.alarmRepeatMs, (list) => this.alarmLists.boundMs(list, alarmListsStaleAfterMs(this.intellivue.pollIntervalMs)));
    this.decoder = new ObservationDecoder(this.origin, this.clock);
    this.intellivue = new IntellivueSession(plan, {
      write: (b) => this.link.write(b),
      output: (o) => this.onOutput(o),
      count: (c, by) => ctx.count(c, by),
      log: (level, msg, fields) => ctx.log[level]({ device: plan.id, ...fields }, msg),
    });
    this.alarmAnswers = new AlarmAnswers(() => 10 * this.intellivue.pollIntervalMs);
  }

  /** Alarm lists unread for too long are looked for a few times per bound (at most every second). */
  protected override afterStart(): void {
    this.staleTimer = setInterval(() => this.checkAlarmLists(), Math.min(1000, this.plan.pollIntervalMs));
    this.staleTimer.unref();
  }

  protected override beforeStop(): void {
    clearInterval(this.staleTimer);
    this.staleTimer = undefined;
  }

  protected get session(): IntellivueSession {
    return this.intellivue;
  }

  protected sessionOnline(state: string): boolean {
    return state === 'polling' || state === 'listening';
  }

  /** The link is gone: alarms we hold are ended, object state forgotten. */
  protected linkLost(stopping: boolean): void {
    this.lost(stopping);
  }

  protected override readonly frameCheck = 'FCS';

  protected override healthDetail(): string {
    const offset = this.clock.offsetMs === null ? '' : `; monitor clock ${this.clock.offsetMs >= 0 ? '+' : ''}${Math.round(this.clock.offsetMs / 100) / 10} s vs gateway`;
    const s = this.alarmLists.staleness;
    const stale = s ? `; alarm lists from the monitor not current (${s.lists.map((l) => LIST_NAMES[l]).join(', ')}: none read for ${Math.round((this.mono() - s.since) / 1000)} s)` : '';
    // Polls the monitor refuses (rv112 M4), e.g. "waves polls refused by the monitor: NO_SUCH_OBJECT_CLASS (asked again at each renewal)".
    const refused = this.intellivue.refusals ? `; ${this.intellivue.refusals}` : '';
    return `${super.healthDetail()}${refused}${stale}${offset}`;
  }

  get sessionState(): string {
    return this.intellivue.state;
  }

  private onOutput(o: SessionOutput): void {
    const now = this.now();
    const mono = this.mono();
    switch (o.type) {
      case 'state':
        // Debug: the device's status changes this makes are logged (once per trouble) by setStatus.
        this.ctx.log.debug({ device: this.plan.id, state: o.state }, o.detail);
        // Polling: both alarm lists are due from now on. Listening: each is watched from its first answer (the other
        // host may not poll alarms at all).
        if (o.state === 'polling') this.alarmLists.start(mono);
        if (o.state === 'polling' || o.state === 'listening') this.setStatus('online', o.detail);
        else if (o.state === 'refused') this.setStatus('error', o.detail);
        // Offline or silent stays so through the association retries on a dead line, as Medibus keeps it: 'connecting'
        // every few seconds would read as "coming back" (review rv173 L1). Bytes or an answer change it: the link
        // (offline to connecting when the port opens) and polling (online).
        else if ((o.state === 'associating' || o.state === 'awaiting-mds') && this.status !== 'offline' && this.status !== 'silent') this.setStatus('connecting', o.detail);
        return;
      case 'associated': {
        // A new association: what its replies bring wrong is said again at once; its replies without device time
        // start a timeline of their own.
        this.clock.dropAnchor();
        this.problemLogs.clear();
        this.staleLog.clear();
        const p = o.userInfo?.pollProfile;
        this.ctx.log.info({ device: this.plan.id, minPollPeriodMs: p ? p.minPollPeriodTicks / 8 : null, mtuRx: p?.maxMtuRx, mtuTx: p?.maxMtuTx, extOptions: p?.extOptions }, 'intellivue association accepted');
        return;
      }
      case 'mds-create':
        this.mdsCreate(o.attributes);
        return;
      case 'association-lost':
        this.lost();
        return;
      case 'reply': {
        const d = this.decoder.decode(o.reply, now);
        for (const p of d.problems) this.problem(p, o.invokeId);
        const events: DriverEvent[] = [...d.numerics, ...d.waves];
        // Compared with what is held only as a whole answer: every part of a linked one, no part lost.
        const lists = this.alarmAnswers.add(o.invokeId, o.linked, d.alarms, mono);
        if (lists) {
          // Repeats are timed on the monotonic clock, as the engine waits for them in gateway time: a monitor clock set
          // back must not hold them off (review rv188 H1).
          if (lists.patient) events.push(...this.alarms.update('P', lists.patient, mono, now, d.deviceTime), ...this.listRead('P', mono));
          if (lists.technical) events.push(...this.alarms.update('T', lists.technical, mono, now, d.deviceTime), ...this.listRead('T', mono));
          // Demo or test alarms are withheld (one technical alarm says so): counted, so that it shows in the metrics.
          const withheld = this.alarms.takeWithheld();
          if (withheld > 0) this.ctx.count('alarms_demo_withheld', withheld);
        }
        this.emit(events);
        return;
      }
    }
  }

  private problem(p: DecodedReply['problems'][number], invokeId: number): void {
    this.ctx.count(p.counter);
    const key = `${p.counter}:${p.detail.slice(0, 40)}`;
    let log = this.problemLogs.get(key);
    if (!log) {
      if (this.problemLogs.size >= MAX_PROBLEM_KINDS) return;
      log = new RepeatLog(REPEAT_LOG_EVERY_MS);
      this.problemLogs.set(key, log);
    }
    const line = log.hit(this.now());
    const fields = { device: this.plan.id, invokeId };
    if (line?.first) this.ctx.log.warn(fields, `${p.detail} (repeats are counted as ${p.counter} and summarised)`);
    else if (line) {
      const since = new Date(line.since).toISOString();
      this.ctx.log.warn({ ...fields, repeats: line.repeats, total: line.inARow, since }, `${p.detail}: ${line.repeats} more since the last line, ${line.inARow} since ${since} (details of the last)`);
    }
  }

  /** A list was read (at `mono`): when that makes the alarm information current again, the technical alarm ends. */
  private listRead(list: AlarmList, mono: number): DriverEvent[] {
    const stale = this.alarmLists.staleness;
    if (!this.alarmLists.read(list, mono)) return [];
    const after = stale ? Math.round((mono - stale.since) / 1000) : 0;
    this.ctx.log.info({ device: this.plan.id, list: LIST_NAMES[list], afterS: after }, `intellivue: alarm lists from the monitor current again after ${after} s`);
    return this.alarms.notCurrent(false, '', this.now());
  }

  /**
   * An alarm list not read for longer than the bound (the monitor drops or refuses alarm polls, or sends a list we
   * cannot read, while numerics keep coming): its alarms are ended as on a lost link, so that none stays shown as
   * current, and one technical alarm says the monitor's alarm information is not current until every list is read again.
   */
  private checkAlarmLists(): void {
    const now = this.now();
    const baseMs = alarmListsStaleAfterMs(this.intellivue.pollIntervalMs);
    const newly = this.alarmLists.check(this.mono(), baseMs);
    if (newly.length === 0) return;
    const boundMs = Math.max(...newly.map((l) => this.alarmLists.boundMs(l, baseMs)));
    const events: DriverEvent[] = [];
    for (const list of newly) events.push(...this.alarms.endList(list, now));
    const text = `Alarm information from the monitor not current: its alarm lists have not been read for over ${Math.round(boundMs / 1000)} s; watch the monitor itself`;
    const started = this.alarms.notCurrent(true, text, now);
    events.push(...started);
    const names = newly.map((l) => LIST_NAMES[l]).join(' and ');
    // Listen-only, the bound comes from the other host's read gaps once two reads of a list were seen.
    const fields = { device: this.plan.id, lists: newly.map((l) => LIST_NAMES[l]), boundMs, pollIntervalMs: this.intellivue.pollIntervalMs, listenOnly: this.plan.listenOnly };
    if (started.length > 0) {
      const line = this.staleLog.hit(now);
      const msg = `intellivue: alarm information from the monitor not current: no ${names} alarm list read for over ${boundMs} ms (alarm polls dropped or refused, or lists unreadable: see polls_unanswered, remote_errors, attribute_parse_errors); its alarms are ended and a technical alarm raised`;
      if (line?.first) this.ctx.log.warn(fields, `${msg} (repeats are summarised)`);
      else if (line) this.ctx.log.warn({ ...fields, repeats: line.repeats, total: line.inARow }, `${msg}: ${line.repeats} more times since the last line`);
    } else this.ctx.log.info(fields, `intellivue: no ${names} alarm list read for over ${boundMs} ms either; its alarms are ended`);
    this.emit(events);
  }

  private mdsCreate(attributes: Array<{ id: number; value: Buffer; offset: number }>): void {
    const abs = attributes.find((a) => a.id === ATTR.TIME_ABS);
    const rel = attributes.find((a) => a.id === ATTR.TIME_REL);
    try {
      const t = abs ? decodeAbsTimeAttr(abs) : null;
      if (t && rel) {
        this.clock.setBase(t, decodeU32(rel, 'RelativeTime'), this.now());
        const offset = this.clock.fromRelative(decodeU32(rel, 'RelativeTime'));
        this.ctx.log.info({ device: this.plan.id, monitorTime: offset === null ? null : new Date(offset).toISOString() }, 'intellivue MDS created; device time base set');
      } else {
        // A new MDS may be a restarted monitor whose relative counter started again: the old mapping would be wrong.
        this.clock.reset();
        this.ctx.log.warn({ device: this.plan.id }, 'intellivue MDS Create without absolute/relative time; device time comes from poll replies');
      }
    } catch (err) {
      if (!(err instanceof IntellivueParseError)) throw err;
      this.ctx.count('attribute_parse_errors');
      this.ctx.log.warn({ device: this.plan.id, error: err.message }, 'intellivue MDS Create time not understood');
    }
    // A new MDS means the monitor (re)started its export: object handles may mean other objects now.
    this.decoder.forget();
  }

  /** The association or the link is gone, or the driver stops: alarms we hold are ended, object state forgotten. */
  private lost(stopping = false): void {
    this.decoder.forget();
    this.alarmAnswers.clear();
    this.alarmLists.stop();
    this.emit(this.alarms.endAll(this.now(), stopping));
  }
}

export const intellivueDriver: DriverFactory<IntellivueOptions> = {
  type: 'intellivue',
  description: 'Philips IntelliVue MP/MX monitors, Data Export over MIB/RS-232: numerics, waves, patient and technical alarms; listen-only and capture/replay',
  configSchema,
  create(options: IntellivueOptions, ctx: DriverContext): Driver {
    return new IntellivueDriver(buildPlan(options), ctx);
  },
  // A capture left on (review rv131 M3).
  warnings: (o) => captureWarnings(o),
  claims(o: IntellivueOptions): DriverClaims {
    // Also its device's bed and, when it polls numerics itself (single polls; extended ones send them about every
    // second), its poll period, for the checks against alarms.devices (review rv120 M2, M6). The default period
    // (1 s) is far below any "no data" time.
    const polls = o.numerics !== 'extended' && o.listenOnly !== true && o.replay === undefined;
    return {
      ...patientMonitorClaims(o),
      deviceBeds: o.id && o.bed ? [{ id: o.id, bed: o.bed, field: 'options.bed' }] : [],
      pollPeriods: o.id && polls && o.pollIntervalMs !== undefined ? [{ id: o.id, ms: o.pollIntervalMs, field: 'options.pollIntervalMs' }] : [],
    };
  },
};

export default intellivueDriver;
