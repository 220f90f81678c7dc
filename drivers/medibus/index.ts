// The `medibus` driver: Dräger Medibus / Medibus.X over RS-232 (Evita, V500, Apollo, Primus, Zeus,
// Fabius). Talks the host side of the protocol (or only listens), and emits readings, alarms,
// realtime curves and device status. See README.md.
import { performance } from 'node:perf_hooks';
import type { DriverClaims, DriverContext, DriverFactory, Driver } from '../types.js';
import type { AlarmEvent, DeviceState, NumericReading } from '../../agent/model/reading.js';
import type { DeviceIdentification, ValueRecord } from './protocol/data.js';
import { serialDeviceClaims } from '../serial/claims.js';
import { captureWarnings } from '../serial/warnings.js';
import { defaultLink, SerialDeviceDriver, type LinkFactory as SerialLinkFactory } from '../serial/device-driver.js';
import { AlarmPageWatch, AlarmTracker, alarmPagesStaleAfterMs, type Page } from './alarms.js';
import { ALARM_REQUESTS, buildPlan, MedibusConfigError, planWarnings, requestNames, type MedibusOptions, type MedibusPlan } from './options.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import { ALARM_PAGES } from './protocol/constants.js';
import { limitReadings, textReadings, valueReadings } from './readings.js';
import { configSchema } from './schema.js';
import { MedibusSession, type SessionOutput } from './session.js';
import { WaveformBuffer } from './waveforms.js';

export type LinkFactory = SerialLinkFactory<MedibusPlan>;
export { defaultLink };

/** Segment lengths without a sample of curves set up before they count as stopped (review rv115 M5). */
const REALTIME_STALL_SEGMENTS = 5;

export class MedibusDriver extends SerialDeviceDriver<MedibusPlan> {
  private readonly medibus: MedibusSession;
  private readonly alarms: AlarmTracker;
  private readonly waves: WaveformBuffer;
  private waveTimer: NodeJS.Timeout | undefined;
  /** Dropped realtime samples are logged once per connection and per change of the realtime configuration. */
  private rtDropLogged = false;
  /**
   * When each alarm page the cycle asks for was last read; in listen-only mode each page seen, its bound learned from
   * the gaps between the other host's reads (review rv131 M1).
   */
  private readonly alarmPages = new AlarmPageWatch(this.plan.listenOnly, this.plan.silenceMs);
  private staleTimer: NodeJS.Timeout | undefined;
  /** Alarm pages going stale again and again (a page the device keeps refusing): said once, then summarised. */
  private readonly staleLog = new RepeatLog(10 * 60_000);
  /** The alarm pages the cycle reads. */
  private readonly pages: Page[];
  /** When (monotonic ms) samples of a configured curve last came, or realtime was last set up. */
  private rtSamplesAt = 0;
  /** Curves set up that stopped coming while the device answers requests: since when, and set-ups tried since. */
  private rtStall: { since: number; setups: number } | undefined;
  private readonly rtStallLog = new RepeatLog(10 * 60_000);
  /** The device's 52H identity at the last (re)connect ("Evita 0161 04.10"), to notice another device on the port. */
  private identity: string | undefined;
  private identityChanges = 0;
  /** Codes whose unreadable value was warned about (a bounded set: two hex digits per code page). */
  private readonly unreadableWarned = new Set<string>();

  /** `mono`: the monotonic clock of elapsed times (tests). */
  constructor(plan: MedibusPlan, ctx: DriverContext, linkFactory: LinkFactory = defaultLink, clock: () => number = Date.now, mono: () => number = () => performance.now()) {
    super(plan, ctx, 'medibus', linkFactory, clock);
    this.mono = mono;
    this.alarms = new AlarmTracker(this.origin, plan.alarmPriority, plan.alarmRepeatMs, (page, r) =>
      ctx.log.warn(
        { device: plan.id, page, code: r.codeChars, record: r.record },
        `medibus alarm ${r.codeChars} on page ${page} raised at medium priority: its priority byte could not be read (${r.reason})`,
      ),
    );
    this.waves = new WaveformBuffer(this.origin);
    this.pages = plan.requests.map((c) => ALARM_PAGES[c]).filter((p): p is Page => p !== undefined);
    this.medibus = new MedibusSession(plan, {
      write: (b) => this.link.write(b),
      output: (o) => this.onOutput(o),
      count: (c, by) => ctx.count(c, by),
      log: (level, msg, fields) => ctx.log[level]({ device: plan.id, ...fields }, msg),
    });
  }

  protected get session(): MedibusSession {
    return this.medibus;
  }

  /** Elapsed time only (how long a page has been unreadable): monotonic, so a wall-clock step does not skew it. */
  private readonly mono: () => number;

  protected override healthDetail(): string {
    const pages = this.alarms.unreadablePages.map(([p, since, why]) => `alarm page ${p} ${why === 'unreadable' ? 'unreadable' : 'not read'} for ${Math.round((this.mono() - since) / 1000)} s`);
    const detail = pages.length ? `${super.healthDetail()}; alarm information from the ventilator not current (${pages.join(', ')})` : super.healthDetail();
    const st = this.rtStall;
    if (st) return `${detail}; realtime curves not received for ${Math.round((this.mono() - st.since) / 1000)} s (set up again ${st.setups} time(s))`;
    const off = this.medibus.realtimeTrouble;
    return off ? `${detail}; realtime curves off: ${off}` : detail;
  }

  protected sessionOnline(state: string): boolean {
    // Cycling after a re-initialisation is not online until a whole cycle is answered: a device answering ICC and 52H
    // but no request flipped connecting/online at every re-initialisation (review rv175 L4).
    return (state === 'cycling' && !this.alarms.notAnsweringUp) || state === 'listening';
  }

  /**
   * A line gone silent: the device no longer confirms its alarms, which end (link-lost); the agent's "no data" alarm
   * takes over at once. Listen-only never re-initialises (the end the active session gives them), so silence is its
   * only sign (review rv36 §5). A "not answering" alarm stays until a whole cycle is answered.
   */
  protected override setStatus(state: DeviceState, detail: string): void {
    super.setStatus(state, detail);
    if (state === 'silent') {
      this.alarmPages.stop();
      this.emit(this.alarms.endAll(this.now()));
    }
    // Online while cycling: the alarm pages are due from now on (watched until the device is lost). Here rather than
    // on the session's 'cycling' alone: a silence shorter than quietReinitMs stops the watch without the session
    // leaving 'cycling', and the watch must start again when the bytes return (review rv93 H1). A running watch is
    // left as it is.
    if (state === 'online' && this.medibus.state === 'cycling' && !this.plan.listenOnly) this.alarmPages.start(this.pages, this.mono());
  }

  protected linkLost(stopping: boolean): void {
    // The session flushed the curves as the link closed (realtime-streams-ending); anything left is counted.
    this.flushWaves();
    this.waves.clear();
    this.rtDropLogged = false;
    this.rtStall = undefined;
    this.alarmPages.stop();
    const now = this.now();
    // "Not answering" and the pages' "not current" are our own findings. A lost link ends them as link-lost, latched
    // until "device disconnected" takes over. A driver stopped on purpose (device removed by a config change, agent
    // shutdown) leaves nothing to take over: they end plainly instead of latching at the bedside until someone
    // acknowledges them (review rv175 L3).
    this.emit([...this.alarms.endAll(now, stopping), ...this.alarms.answering(now, !stopping)]);
  }

  protected override startFields(): Record<string, unknown> {
    return { model: this.plan.model, codeProfile: this.plan.codeProfile, requests: requestNames(this.plan.requests) };
  }

  protected override afterStart(): void {
    // A ventilator whose alarms are never asked for forwards none, and nothing else would say so (review rv67 L5).
    if (!this.plan.requests.some((c) => ALARM_REQUESTS.includes(c))) {
      this.ctx.log.warn(
        { device: this.plan.id, requests: requestNames(this.plan.requests) },
        'medibus requests read no alarm page (none of alarms1, alarms2, alarms3): no device alarm will be forwarded from this device; add alarms1 (and alarms2) to requests',
      );
    }
    if (this.plan.realtime.enabled) {
      this.waveTimer = setInterval(() => {
        this.flushWaves();
        this.checkRealtime();
      }, this.plan.realtime.segmentMs);
    }
    // Alarm pages unread for too long are looked for a few times per bound (at most every second). Listen-only: the
    // pages seen on the tap, whichever the other host reads.
    if (this.plan.listenOnly || this.pages.length > 0) {
      this.staleTimer = setInterval(() => this.checkAlarmPages(), Math.min(1000, this.plan.pollIntervalMs));
      this.staleTimer.unref();
    }
  }

  protected override beforeStop(): void {
    if (this.waveTimer) clearInterval(this.waveTimer);
    if (this.staleTimer) clearInterval(this.staleTimer);
    this.staleTimer = undefined;
    this.flushWaves();
  }

  private onOutput(o: SessionOutput): void {
    const now = this.now();
    const o_ = this.origin;
    switch (o.type) {
      case 'state':
        // Cycling: setStatus('online') starts the alarm-page watch. Realtime was set up just before, if it was: its
        // samples are due from now on.
        if (o.state === 'cycling') {
          this.rtSamplesAt = this.mono();
          if (this.medibus.realtimeStreams.length === 0) this.realtimeStallEnded();
          if (this.sessionOnline(o.state)) this.setStatus('online', o.detail);
          else this.setStatus('connecting', `${o.detail}; no whole cycle answered since it stopped answering`);
        } else if (o.state === 'listening') this.setStatus('online', o.detail);
        else if (o.state === 'initialising' && this.status === 'online') this.setStatus('connecting', o.detail);
        // The steps of each (re-)initialisation are debug: the session logs re-initialisations (gated), setStatus the
        // status changes; a device switched off would otherwise log every few seconds all day.
        this.ctx.log[o.state === 'cycling' || o.state === 'listening' || o.state === 'stopped' ? 'info' : 'debug']({ device: this.plan.id, state: o.state }, o.detail);
        return;
      case 'measured':
        this.emitValues(o.records, valueReadings(o_, o.page === 1 ? 'cp1' : 'cp2', o.records, now, null, this.plan.codeProfile));
        return;
      case 'settings':
        this.emitValues(o.records, valueReadings(o_, 'set', o.records, now, null, this.plan.codeProfile));
        return;
      case 'limits':
        this.emitValues(o.records, limitReadings(o_, o.page, o.bound, o.records, now, this.plan.codeProfile));
        return;
      case 'alarms': {
        this.alarmPages.read(o.page, this.mono());
        const since = this.alarms.unreadableSince(o.page);
        this.emit(this.alarms.update(o.page, o.records, now, o.rejected));
        if (since !== undefined) {
          const afterS = Math.round((this.mono() - since) / 1000);
          this.ctx.log.info({ device: this.plan.id, page: o.page, afterS }, `medibus alarm page ${o.page} readable again after ${afterS} s: its technical alarm "not current" ends`);
        }
        return;
      }
      case 'alarm-page-unreadable':
        // Not known to have ended, nor to go on: ended as link-lost, and a technical alarm stands until a page reads.
        // Answered all the same: that alarm, not the watch, says what is wrong.
        this.alarmPages.read(o.page, this.mono());
        this.emit(this.alarms.pageUnreadable(o.page, now, this.mono()));
        return;
      case 'text':
        // Every time it is read, like any value: the display marks a value stale by its last reading (review rv67 M3).
        this.emit(textReadings(o_, o.records, now));
        return;
      case 'connection-lost':
        // As when the port closes: alarms the device no longer confirms are ended (link-lost), not left active, and a
        // technical alarm says the ventilator is not answering until a whole cycle is (review rv173 M2); already
        // `silent`, the "no data" alarm says it. The pages are due again once it cycles.
        this.alarmPages.stop();
        this.emit(this.alarms.notAnswering(o.detail, now, this.status !== 'silent'));
        return;
      case 'cycle-answered': {
        const ended = this.alarms.answering(now);
        if (ended.length === 0) return;
        // An alarm page still given up on (answered in no cycle since) is not current: its technical alarm is raised
        // first, in the same batch, so that the bedside is never without one (review rv175 M2).
        const pages = o.unanswered.map((c) => ALARM_PAGES[c]).filter((p): p is Page => p !== undefined && this.pages.includes(p));
        const notCurrent = pages.flatMap((page) => this.alarms.pageNotCurrent(page, 'not answered since the ventilator answers again', now, this.mono()));
        this.ctx.log.info({ device: this.plan.id, pagesNotCurrent: pages }, 'medibus ventilator answers a whole cycle again: its technical alarm "not answering" ends');
        this.emit([...notCurrent, ...ended]);
        // Held `connecting` since the re-initialisation (sessionOnline): online now, which starts the alarm-page watch.
        if (this.status !== 'online' && this.medibus.state === 'cycling') this.setStatus('online', 'the device answers a whole cycle again');
        return;
      }
      case 'slow-channel-silent': {
        // The link's silence watch counts every byte, so curves from a device that answers nothing keep it quiet: said
        // here instead, as the link says a quiet line (review rv173 M2). `online` again once the session cycles.
        if (this.status === 'silent') return;
        this.ctx.count('silences');
        const secs = Math.round(o.ms / 100) / 10;
        this.setStatus('silent', `no answer for ${secs} s on ${this.link.describe}: only realtime curve bytes (or noise with the top bit set) arrive, the device answers no command`);
        return;
      }
      case 'slow-channel-back':
        // A silence shorter than quietReinitMs leaves the session cycling, with no state event to bring the status
        // back: online (which starts the alarm-page watch) as the link's "data again" would (review rv175 H1).
        // Initialising: its 'cycling' does it.
        if (this.status !== 'silent' || this.medibus.state !== 'cycling') return;
        if (this.sessionOnline(this.medibus.state)) this.setStatus('online', `the device answers again on ${this.link.describe}`);
        else this.setStatus('connecting', `bytes again on ${this.link.describe}; no whole cycle answered since it stopped answering`);
        return;
      case 'device-id':
        this.ctx.log.info({ device: this.plan.id, medibusId: o.id.id, name: o.id.name, revision: o.id.revision }, 'medibus device identified');
        this.checkIdentity(o.id, now);
        return;
      case 'date-time':
        this.ctx.log.debug({ device: this.plan.id, deviceTime: o.dateTime.raw }, 'medibus device time');
        return;
      case 'realtime-config':
        this.ctx.log.info({ device: this.plan.id, curves: o.streams.map((s) => s.code) }, 'medibus realtime curves offered');
        return;
      case 'realtime-streams-ending':
        // Scaled with the configuration they arrived under, before it changes (review rv67 M2, L2).
        this.flushWaves();
        this.waves.clear(); // the next set-up's curves start a time axis of their own
        this.rtDropLogged = false;
        return;
      case 'realtime':
        for (const ev of o.events) {
          if (ev.type === 'samples') this.addSamples(ev.values, now);
          else if (ev.type === 'corrupt') this.realtimeCorrupt(ev.setLost, now);
          else this.ctx.count(`breath_${ev.phase}`);
        }
        return;
    }
  }

  /**
   * Readings of `records` (one each, in order). A value that could not be read (quality invalid: neither a number nor
   * blank or dashes, though the message's checksum passed) is counted each time and warned about once per code: a
   * field the device sends in a form we do not know, or a misread (review rv173 L4).
   */
  private emitValues(records: ValueRecord[], readings: NumericReading[]): void {
    readings.forEach((r, i) => {
      if (r.quality.state !== 'invalid') return;
      this.ctx.count('values_unreadable');
      const code = r.raw?.code ?? '';
      if (this.unreadableWarned.has(code)) return;
      this.unreadableWarned.add(code);
      const value = records[i]?.raw ?? '';
      this.ctx.log.warn(
        { device: this.plan.id, code, value },
        `medibus value not readable: ${code} ${JSON.stringify(value)} is neither a number nor blank or dashes; sent as invalid with no value (counted as values_unreadable; said once per code)`,
      );
    });
    this.emit(readings);
  }

  /**
   * Keeps only samples of streams we configured with the device (53H/54H): only those can be scaled, and only then
   * does the flush timer run. Curves another host enabled (listen-only, replay, realtime off) would otherwise pile
   * up in memory for as long as the port is open.
   */
  private addSamples(values: Map<number, number>, now: number): void {
    const streams = this.medibus.realtimeStreams;
    let dropped = 0;
    for (const [stream, bin] of values) {
      if (streams[stream]) this.waves.add(stream, bin, now);
      else dropped++;
    }
    if (dropped < values.size) this.realtimeCame();
    if (dropped === 0) return;
    const why = this.plan.listenOnly ? 'listen-only: the curves were set up by another host, their scaling is unknown here' : this.plan.realtime.enabled ? 'curve not configured with the device (yet)' : 'realtime.enabled is off';
    this.samplesDropped(dropped, why, [...values.keys()]);
  }

  /**
   * Curves set up that stop coming while the device answers requests (a quick restart forgets the set-up, and the
   * line never goes quiet): nothing else would notice (review rv115 M5). After REALTIME_STALL_SEGMENTS segment lengths
   * without a sample (doubling while it lasts, at most a minute) it is warned of once, counted (realtime_stalls), shown
   * in health, and realtime is set up again.
   */
  private checkRealtime(): void {
    if (this.plan.listenOnly || this.medibus.state !== 'cycling' || this.medibus.realtimeStreams.length === 0) return;
    const mono = this.mono();
    const setups = this.rtStall?.setups ?? 0;
    const boundMs = Math.min(60_000, REALTIME_STALL_SEGMENTS * this.plan.realtime.segmentMs * 2 ** Math.min(setups, 10));
    if (mono - this.rtSamplesAt < boundMs) return;
    const since = this.rtStall?.since ?? this.rtSamplesAt;
    this.rtStall = { since, setups: setups + 1 };
    this.rtSamplesAt = mono; // the next bound counts from this set-up
    this.ctx.count('realtime_stalls');
    const quietS = Math.round((mono - since) / 100) / 10;
    const line = this.rtStallLog.hit(this.now());
    const fields = { device: this.plan.id, quietS, setups: setups + 1 };
    const msg = `medibus realtime curves stopped: no samples for ${quietS} s while the device answers requests; setting realtime up again (53H/54H)`;
    if (line?.first) this.ctx.log.warn(fields, `${msg} (repeats are counted as realtime_stalls and summarised)`);
    else if (line) this.ctx.log.warn({ ...fields, repeats: line.repeats }, `${msg}: ${line.repeats} more times since the last line`);
    this.medibus.setUpRealtimeAgain(`no realtime samples for ${quietS} s`);
  }

  /** Samples of a configured curve came: a stall, if there was one, is over. */
  private realtimeCame(): void {
    this.rtSamplesAt = this.mono();
    const st = this.rtStall;
    if (!st) return;
    this.rtStall = undefined;
    this.rtStallLog.clear();
    const afterS = Math.round((this.rtSamplesAt - st.since) / 1000);
    this.ctx.log.info({ device: this.plan.id, afterS, setups: st.setups }, `medibus realtime curves again after ${afterS} s`);
  }

  /**
   * Cycling with no curve set up (the new 53H offers none of the configured curves, or did not read): a stall is over,
   * as the watch is off with no curves; health gives the session's reason instead (review rv116 L2).
   */
  private realtimeStallEnded(): void {
    const st = this.rtStall;
    if (!st) return;
    this.rtStall = undefined;
    this.rtStallLog.clear();
    const why = this.medibus.realtimeTrouble ?? 'no curve set up';
    this.ctx.log.info({ device: this.plan.id, setups: st.setups, why }, `medibus realtime curves no longer watched for a stall: ${why}`);
  }

  /** A set dropped (or a sync byte lost) is a missing sample time: the curves get a gap there (review rv115 M4). */
  private realtimeCorrupt(setLost: boolean, now: number): void {
    this.ctx.count('realtime_corrupt');
    if (!setLost) return;
    this.ctx.count('realtime_sets_dropped');
    const dropped = this.waves.gap(now);
    if (dropped > 0) this.samplesDropped(dropped, 'too many sample sets lost on the line since the last segment', []);
  }

  /** Counted each time; logged once per connection and per configuration change (the same curves keep coming). */
  private samplesDropped(n: number, why: string, streams: number[]): void {
    this.ctx.count('realtime_samples_dropped', n);
    if (this.rtDropLogged) return;
    this.rtDropLogged = true;
    this.ctx.log.info({ device: this.plan.id, streams, samples: n }, `medibus realtime samples dropped (${why}); counted as realtime_samples_dropped`);
  }

  /**
   * An alarm page not read for longer than the bound (the device refuses it, answers it late or damaged, while the
   * other requests are answered and numerics keep coming): its alarms are ended as on a lost link, so that none stays
   * shown as current, and a technical alarm says the ventilator's alarm information is not current until it is read
   * again (review rv90 H1, as IntelliVue does for its alarm lists). Listen-only: a page no longer seen on the tap, past
   * a bound learned from the gaps between the other host's reads (review rv131 M1).
   */
  private checkAlarmPages(): void {
    const baseMs = alarmPagesStaleAfterMs(this.plan);
    const newly = this.alarmPages.check(this.mono(), baseMs);
    if (newly.length === 0) return;
    const now = this.now();
    const boundMs = Math.max(...newly.map((page) => this.alarmPages.boundMs(page, baseMs)));
    const events = newly.flatMap((page) => this.alarms.pageNotCurrent(page, `not read for over ${Math.round(this.alarmPages.boundMs(page, baseMs) / 100) / 10} s`, now, this.mono()));
    const fields = { device: this.plan.id, pages: newly, boundMs };
    const line = this.staleLog.hit(now);
    const why = this.plan.listenOnly
      ? 'listen-only: the other host stopped reading it, or its answers fail on the tap: see frames_bad_checksum; the bound is learned from the gaps between its reads'
      : 'refused, late or damaged: see requests_unanswered, nak_received, response_timeouts';
    const msg = `medibus alarm information from the ventilator not current: alarm page ${newly.join(', ')} not read for over ${boundMs} ms (${why}); its alarms are ended and a technical alarm raised until it is read`;
    if (line?.first) this.ctx.log.warn(fields, `${msg} (repeats are summarised)`);
    else if (line) this.ctx.log.warn({ ...fields, repeats: line.repeats, total: line.inARow }, `${msg}: ${line.repeats} more times since the last line`);
    this.emit(events);
  }

  /**
   * Another ventilator answering on the port than at the previous (re)connect (review rv149 H1): a replaced ventilator
   * at the bed (routine), or plug-order names swapped and another bed's ventilator now read as this one. Its readings
   * keep flowing; a warning and a medium technical alarm say it, momentary (it latches until someone acknowledges it).
   * Compared with the previous identity, not the first: a replacement is said once, not at every reconnect after it.
   * The 52H identity is the device type and software, no serial number: a swap of two alike ventilators is not seen.
   */
  private checkIdentity(id: DeviceIdentification, now: number): void {
    const text = `${id.name || 'device'} ${id.id} ${id.revision}`.trim();
    const was = this.identity;
    this.identity = text;
    if (was === undefined || was === text || this.plan.replay) return;
    this.identityChanges++;
    const bed = this.plan.bed ? ` (bed ${this.plan.bed})` : '';
    const alarmText =
      `A different ventilator answers on ${this.plan.path} for ${this.plan.id}${bed}: was ${was}, now ${text}. ` +
      "If this is not the bed's replacement ventilator, check the cabling and which port it is on: its readings are shown for this bed";
    this.ctx.log.warn({ device: this.plan.id, path: this.plan.path, was, now: text }, `medibus: a different ventilator answers on ${this.plan.path}: was ${was}, now ${text}; a technical alarm is raised, its readings go on as ${this.plan.id}`);
    this.ctx.count('device_identity_changes');
    const code = 'device-identity-changed';
    const alarm: AlarmEvent = {
      ...this.origin,
      kind: 'alarm',
      // One alarm per change: each is answered on its own.
      alarmId: `${this.plan.id}:${code}:${this.identityChanges}:${now}`,
      condition: null,
      raw: { system: 'medibus', code, text: alarmText },
      text: alarmText,
      priority: 'medium',
      category: 'technical',
      phase: 'start',
      momentary: true,
      deviceTime: null,
      receivedAt: now,
    };
    // No end will come for a change at a point in time: sent with its start, as HL7's momentary events are.
    this.emit([alarm, { ...alarm, phase: 'end' }]);
  }

  private flushWaves(): void {
    const { segments, dropped } = this.waves.flush(this.medibus.realtimeStreams, this.now());
    if (segments.length) this.emit(segments);
    if (dropped > 0) this.samplesDropped(dropped, 'buffered for a curve no longer configured', []);
  }
}

export const medibusDriver: DriverFactory<MedibusOptions> = {
  type: 'medibus',
  description: 'Dräger Medibus / Medibus.X over RS-232 (Evita, V500, Apollo, Primus, Zeus, Fabius): readings, alarms, curves; listen-only and capture/replay',
  configSchema,
  create(options: MedibusOptions, ctx: DriverContext): Driver {
    return new MedibusDriver(buildPlan(options), ctx);
  },
  /** Options that build but work other than meant (planWarnings); options refused give none: create() refuses them. */
  warnings(options: MedibusOptions): Array<{ field: string; message: string }> {
    try {
      return [...captureWarnings(options), ...planWarnings(options)];
    } catch (err) {
      if (err instanceof MedibusConfigError) return [];
      throw err;
    }
  },
  claims(o: MedibusOptions): DriverClaims {
    // Also its device's bed and, when it polls itself (not listen-only), its cycle's pause, for the checks against
    // alarms.devices (review rv120 M2, M6). The default (1 s) is far below any "no data" time.
    const polls = o.listenOnly !== true && o.replay === undefined;
    return {
      ...serialDeviceClaims(o),
      deviceBeds: o.id && o.bed ? [{ id: o.id, bed: o.bed, field: 'options.bed' }] : [],
      pollPeriods: o.id && polls && o.pollIntervalMs !== undefined ? [{ id: o.id, ms: o.pollIntervalMs, field: 'options.pollIntervalMs' }] : [],
    };
  },
};

export default medibusDriver;
