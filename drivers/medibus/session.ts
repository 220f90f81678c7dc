// The Medibus session state machine, host side:
//   initialise (51H) → device id (52H) → [Medibus.X: realtime config 53H → configure 54H → enable]
//   → cyclic data requests, one command outstanding at a time; no-op (30H) keeps a quiet link alive;
//   device-initiated commands are answered; NAK, bad checksums and time-outs are counted and retried;
//   no checked message for quietReinitMs means re-initialise; stop (55H) on shutdown.
// In listen-only mode it never writes and decodes whatever responses pass by (they echo their
// command code, so they are self-describing).
import { CMD, ALARM_PAGES, LIMIT_PAGES, MEASURED_PAGES, NAK, XOFF, commandName } from './protocol/constants.js';
import { encodeCommand, encodeNak, encodeResponse, hex2 } from './protocol/encode.js';
import { MedibusParseError } from './protocol/errors.js';
import { MedibusFramer, type FrameEvent } from './protocol/framer.js';
import {
  parseAlarmPage, parseDateTime, parseDeviceId, parseMeasured, parseRealtimeConfig, parseSettings, parseTextMessages,
  type AlarmPage, type AlarmRecord, type DeviceDateTime, type DeviceIdentification, type RealtimeConfigRecord, type RejectedAlarmRecord, type TextRecord,
  type ValueRecord,
} from './protocol/data.js';
import { RealtimeDecoder, type RealtimeEvent } from './protocol/realtime.js';
import { LogGate } from '../../agent/log-gate.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import { LineDamage } from '../serial/device-driver.js';

/** Re-initialisations of a device that does not answer (and data not understood) are logged once, then summarised at most this often. */
const REINIT_LOG_EVERY_MS = 10 * 60_000;
import type { MedibusPlan } from './options.js';

export type SessionOutput =
  | { type: 'measured'; page: 1 | 2; records: ValueRecord[] }
  | { type: 'limits'; page: 1 | 2; bound: 'low' | 'high'; records: ValueRecord[] }
  | { type: 'settings'; records: ValueRecord[] }
  /** `rejected`: records of the page that did not read (counted and logged here); the others are in `records`. */
  | { type: 'alarms'; page: 1 | 2 | 3; records: AlarmRecord[]; rejected: RejectedAlarmRecord[] }
  /** An alarm page that could not be cut into records: what it held can no longer be vouched for. */
  | { type: 'alarm-page-unreadable'; page: 1 | 2 | 3; detail: string }
  | { type: 'text'; records: TextRecord[] }
  | { type: 'device-id'; id: DeviceIdentification }
  | { type: 'date-time'; dateTime: DeviceDateTime }
  | { type: 'realtime-config'; streams: RealtimeConfigRecord[] }
  | { type: 'realtime'; events: RealtimeEvent[] }
  /**
   * The realtime configuration in force is about to change (56H, re-initialisation, a new set-up, the link closed):
   * samples buffered under it are to be scaled with it now, while `realtimeStreams` still holds it.
   */
  | { type: 'realtime-streams-ending'; why: string }
  | { type: 'state'; state: SessionState; detail: string }
  /** The device stopped answering (or stopped the conversation): what it reported can no longer be vouched for. */
  | { type: 'connection-lost'; detail: string }
  /** A whole cycle was answered: the device answers (again). */
  | { type: 'cycle-answered'; unanswered: number[] }
  /**
   * No slow-channel byte for silenceMs while realtime curve bytes keep arriving: the device answers no command, though
   * the line is not quiet (the link's silence watch counts every byte).
   */
  | { type: 'slow-channel-silent'; ms: number }
  | { type: 'slow-channel-back' };

export type SessionState = 'idle' | 'initialising' | 'identifying' | 'realtime-setup' | 'cycling' | 'listening' | 'stopped';

export interface SessionHooks {
  write(bytes: Buffer): Promise<void>;
  output(o: SessionOutput): void;
  count(counter: string, by?: number): void;
  log(level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  /** The clock of the repeat logs (tests); Date.now() by default. */
  now?(): number;
}

interface Pending {
  code: number;
  args: string;
  attempts: number;
  timer: NodeJS.Timeout;
  /** A data request of the cycle: given up on, it is skipped rather than re-initialising (review rv90 H1). */
  inCycle: boolean;
  /** The code of a response that came while this was pending instead of its own (review rv90 M2). */
  otherCode?: number;
}

export class MedibusSession {
  private readonly framer = new MedibusFramer();
  private readonly rt: RealtimeDecoder;
  private state_: SessionState = 'idle';
  private pending: Pending | undefined;
  private cycleIndex = 0;
  private cycleTimer: NodeJS.Timeout | undefined;
  /** The next cycle fell due while a command (a keep-alive) was awaiting its answer: it goes on from that answer. */
  private cycleDue = false;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  /** Armed at each slow-channel byte (anything but realtime curve bytes), for silenceMs. */
  private slowTimer: NodeJS.Timeout | undefined;
  /** The slow channel said nothing for silenceMs: the next realtime bytes show the curves outlived it (said once). */
  private slowSilence: 'no' | 'due' | 'said' = 'no';
  /** `slow-channel-silent` was said: the next message that checks says `slow-channel-back` (review rv175 H1). */
  private slowSilentSaid = false;
  /** Curves were set up on this connection: later realtime bytes are curves (counted as dropped), not line noise. */
  private rtSetUp = false;
  private rtStreams: RealtimeConfigRecord[] = [];
  /** Curves asked for in 54H, in force once the device confirmed them and we enabled them. */
  private rtRequested: RealtimeConfigRecord[] = [];
  /** The device changed its realtime configuration (56H) while a command was outstanding: set up again from its answer. */
  private rtSetupDue = false;
  private active = false;
  /** An XOFF from the device was said on this connection. */
  private xoffLogged = false;
  /** Line noise is counted each time and logged at most once a minute. */
  private readonly noiseLog = new LogGate(60_000, 1);
  private readonly reinitLog = new RepeatLog(REINIT_LOG_EVERY_MS);
  /** A device whose data we cannot read sends it at every cycle: said once, then summarised. */
  private readonly parseErrorLog = new RepeatLog(REINIT_LOG_EVERY_MS);
  /** An alarm page that cannot be cut into records, at every cycle: said once, then summarised. */
  private readonly alarmPageLog = new RepeatLog(REINIT_LOG_EVERY_MS);
  /** Each distinct alarm record that does not read is said at once (it may hide an alarm), the same again at most every 10 min. */
  private readonly rejectedAlarmLog = new LogGate(REINIT_LOG_EVERY_MS, 64);
  /** A port that opens but refuses writes fails at every command: said once, then summarised. */
  private readonly writeErrorLog = new RepeatLog(REINIT_LOG_EVERY_MS);
  /**
   * Damaged frames (bad checksum, over-long) come from the line (noise, wrong parity on a tap) and last as long as it
   * does: said once, then summarised. Not cleared at re-initialisation: a bad line would be warned about at each one.
   */
  private readonly badFrameLog = { checksum: new RepeatLog(REINIT_LOG_EVERY_MS), 'too-long': new RepeatLog(REINIT_LOG_EVERY_MS) };
  deviceIdentification: DeviceIdentification | undefined;
  /** Damaged traffic since the last frame that checked (the driver's health names it: wrong baud rate or parity). */
  readonly lineDamage = new LineDamage();
  /** Re-initialisations in a row caused by damaged answers: each waits longer before the next ICC. */
  private damagedReinits = 0;
  /**
   * The cycle under way, from its first request: the requests due an answer (those not given up on at its start),
   * struck off as answered, and whether any request was answered. A whole cycle that ends with none left due and one
   * answered means the device answers again (review rv90 M1). Not "every request": one the device never answers
   * (text NAKed by a model) would keep that from ever happening, and later outages out of the log (review rv93 M1).
   * Undefined when no whole cycle is under way (re-initialised mid-cycle: the cycle resumes where it was).
   */
  private cycleCheck: { due: Set<number>; answered: boolean } | undefined;
  /** Cycle requests given up in a row: a whole cycle's worth means the device answers nothing, so re-initialise. */
  private unansweredInARow = 0;
  /** Requests given up on in their last cycle: asked once, without retries, until answered (a short cycle for the others). */
  private readonly unanswered = new Set<number>();
  /** A request the device does not answer, at every cycle: said once per command, then summarised. */
  private readonly unansweredLog = new Map<number, RepeatLog>();
  /** Responses with a code not asked for (a late answer, a device that answers another page): said once, then summarised. */
  private readonly unexpectedLog = new RepeatLog(REINIT_LOG_EVERY_MS);

  constructor(
    private readonly plan: MedibusPlan,
    private readonly hooks: SessionHooks,
  ) {
    this.rt = new RealtimeDecoder(plan.realtime.halfOrder);
  }

  get state(): SessionState {
    return this.state_;
  }

  /** Why the curves are off although realtime is enabled (a 53H answer that did not read, none of the configured curves offered, a set-up refused or not answered), for health. */
  get realtimeTrouble(): string | undefined {
    return this.rtTrouble;
  }

  /** Streams as configured with the device, in stream order (for scaling realtime samples). */
  get realtimeStreams(): RealtimeConfigRecord[] {
    return this.rtStreams;
  }

  /** The link is open: start talking (or listening). */
  linkOpened(): void {
    this.active = true;
    this.xoffLogged = false;
    this.lineDamage.clear();
    this.damagedReinits = 0;
    this.cycleIndex = 0;
    this.cycleCheck = undefined;
    this.unanswered.clear();
    this.slowSilentSaid = false;
    this.rtSetUp = false;
    this.slowHeard();
    if (this.plan.listenOnly) {
      this.setState('listening', 'listen-only: decoding traffic, never transmitting');
      return;
    }
    this.initialise('link opened');
  }

  /** The link is gone: forget everything in flight. */
  linkClosed(): void {
    this.active = false;
    this.clearTimers();
    this.clearSlowTimer();
    this.slowSilentSaid = false;
    // A message cut short by the close would join the next connection's first bytes (a NAK for nothing).
    this.framer.reset();
    this.rt.reset();
    this.setRealtimeStreams([], 'link closed');
    this.rtTrouble = undefined;
    this.setState('idle', 'link closed');
  }

  /** Send stop (55H) and wait briefly for its echo; never throws. */
  async shutdown(waitMs = 500): Promise<void> {
    const wasActive = this.active && !this.plan.listenOnly;
    this.clearTimers();
    this.clearSlowTimer();
    this.active = false;
    if (wasActive) {
      try {
        await this.hooks.write(encodeCommand(CMD.STOP));
        await new Promise((r) => setTimeout(r, Math.min(waitMs, this.plan.responseTimeoutMs)));
      } catch {
        // The port may already be gone; stopping must not fail because of it.
      }
    }
    this.setState('stopped', 'stopped');
  }

  receive(chunk: Buffer): void {
    for (const ev of this.framer.push(chunk)) {
      if (ev.type !== 'realtime') this.slowHeard();
      this.handle(ev);
    }
  }

  // ---- sending ----

  private initialise(why: string): void {
    this.clearTimers();
    this.rtSetupDue = false;
    this.rtTrouble = undefined; // the set-up runs again
    this.setRealtimeStreams([], `re-initialising: ${why}`);
    this.setState('initialising', `initialise: ${why}`);
    this.armQuiet();
    this.send(CMD.ICC);
  }

  private send(code: number, args = '', attempts = 0, inCycle = false): void {
    if (!this.active || this.plan.listenOnly) return;
    if (this.pending) clearTimeout(this.pending.timer);
    const timer = setTimeout(() => this.timedOut(), this.plan.responseTimeoutMs);
    this.pending = { code, args, attempts, timer, inCycle };
    this.armKeepAlive();
    this.hooks.write(encodeCommand(code, args)).catch((err: Error) => this.writeFailed({ command: commandName(code) }, err));
  }

  /** Counted each time; a wedged adapter (EIO) fails at every command, so the log says it once, then sums up. */
  private writeFailed(what: Record<string, unknown>, err: Error): void {
    this.hooks.count('write_errors');
    this.repeated(this.writeErrorLog, 'write_errors', 'medibus write failed', { ...what, err: err.message });
  }

  private timedOut(): void {
    const p = this.pending;
    if (!p || !this.active) return;
    this.pending = undefined;
    this.hooks.count('response_timeouts');
    if (this.rtSetupDue && this.state_ === 'cycling') {
      // The set-up the device asked for (56H) waited for this command: it goes first; the cycle starts over after it.
      this.hooks.log('debug', `medibus no response to ${commandName(p.code)}; setting realtime up again first, as the device asked`, { command: commandName(p.code) });
      this.startRealtimeSetup();
      return;
    }
    // The device did answer, with another code: said so, or the log would send someone looking for a dead cable.
    const why =
      p.otherCode === undefined
        ? `no response to ${commandName(p.code)} within ${this.plan.responseTimeoutMs} ms`
        : `${commandName(p.code)} answered with ${hex2(p.otherCode)}H instead of ${hex2(p.code)}H (no answer with its code within ${this.plan.responseTimeoutMs} ms)`;
    this.retryOrReinit(p, why);
  }

  /**
   * `atOnce`: the answer came back at once (damaged, NAK), so nothing paced the exchange. The retry is still immediate;
   * the re-initialisation after it waits (see `reinitialise`). `cause`: what became of the command (for the realtime
   * set-up's health text).
   */
  private retryOrReinit(p: Pending, why: string, atOnce = false, cause: 'timeout' | 'nak' | 'damaged' = 'timeout'): void {
    if (p.attempts < this.plan.retries) {
      this.hooks.count('retries');
      this.hooks.log('debug', `medibus retry: ${why}`, { command: commandName(p.code), attempt: p.attempts + 1 });
      this.send(p.code, p.args, p.attempts + 1, p.inCycle);
    } else if (p.inCycle && this.state_ === 'cycling') {
      this.requestUnanswered(p, why, atOnce);
    } else if (this.state_ === 'realtime-setup' && (p.code === CMD.RT_CONFIG || p.code === CMD.RT_CONFIGURE)) {
      this.realtimeSetupGivenUp(p, why, cause);
    } else {
      this.reinitialise(why, { command: commandName(p.code) }, atOnce);
    }
  }

  /**
   * A data request given up on. While the device answers other requests, re-initialising would restart the cycle and
   * starve the requests after this one (the alarm pages), and end every alarm each time (review rv90 H1): it is
   * skipped for this cycle and asked again at the next (once, without retries, until answered). Only a whole cycle's
   * worth of requests given up in a row means the device answers nothing: then re-initialise.
   */
  private requestUnanswered(p: Pending, why: string, atOnce: boolean): void {
    const command = commandName(p.code);
    this.hooks.count('requests_unanswered');
    this.unansweredInARow++;
    this.unanswered.add(p.code);
    if (this.unansweredInARow >= this.plan.requests.length) {
      this.reinitialise(`no request answered in a whole cycle; last: ${why}`, { command }, atOnce);
      return;
    }
    let log = this.unansweredLog.get(p.code);
    if (!log) this.unansweredLog.set(p.code, (log = new RepeatLog(REINIT_LOG_EVERY_MS)));
    this.repeated(log, 'requests_unanswered', `medibus request ${command} (${hex2(p.code)}H) unanswered: ${why}; skipped for this cycle and asked again at the next, the other requests go on`, { command });
    this.continueCycle();
  }

  /** A data request of the cycle was answered. */
  private requestAnswered(code: number): void {
    this.unanswered.delete(code);
    this.unansweredInARow = 0;
    if (this.cycleCheck) {
      this.cycleCheck.due.delete(code);
      this.cycleCheck.answered = true;
    }
  }

  /** A whole cycle ended: if every request due an answer was answered, the device answers again. */
  private cycleEnded(): void {
    const c = this.cycleCheck;
    this.cycleCheck = undefined;
    if (!c || c.due.size > 0 || !c.answered) return;
    // With the requests still given up on: an alarm page among them is not current, which the driver says before it
    // ends "not answering" (review rv175 M2).
    this.hooks.output({ type: 'cycle-answered', unanswered: [...this.unanswered] });
    // Cleared only now, not when the handshake succeeds: a device that answers ICC and 52H but not the cycle would
    // otherwise be warned about afresh, and paced at the shortest pause, at every re-initialisation (review rv90 M1).
    this.damagedReinits = 0;
    const n = this.reinitLog.clear();
    if (n > 1) this.hooks.log('info', `medibus device answers again, after ${n} re-initialisations`, { reinitialisations: n });
  }

  /**
   * Counted each time; a device switched off re-initialises every few seconds, so the log says it once, then sums up.
   * `pause`: the cause answered at once (every answer damaged: wrong parity, a bad cable), so the next ICC waits,
   * responseTimeoutMs and doubling while it repeats, as a time-out would have paced it; without the wait host and
   * device exchange ICC and damaged answer as fast as the line carries them (review rv49 M2).
   */
  private reinitialise(why: string, fields: Record<string, unknown> = {}, pause = false): void {
    this.hooks.count('reinitialisations');
    this.cycleCheck = undefined;
    this.unansweredInARow = 0;
    const line = this.reinitLog.hit(Date.now());
    // On a garbled line (wrong baud rate or parity) the log names the line, as /health does, not only the device.
    const damage = this.lineDamageNote();
    if (line?.first) {
      this.hooks.log('warn', `medibus re-initialising: ${why}${damage.text} (repeats are counted as reinitialisations and summarised)`, { ...fields, ...damage.fields });
    } else if (line) {
      this.hooks.log('warn', `medibus still re-initialising: ${line.repeats} more times, ${line.inARow} in a row since ${new Date(line.since).toISOString()}; last: ${why}${damage.text}`, { ...fields, ...damage.fields, reinitialisations: line.repeats, inARow: line.inARow });
    }
    this.hooks.output({ type: 'connection-lost', detail: why });
    if (!pause) {
      this.initialise(why);
      return;
    }
    const waitMs = this.reinitPauseMs();
    this.damagedReinits++;
    this.clearTimers();
    this.setState('initialising', `${why}; initialising again in ${Math.round(waitMs / 100) / 10} s`);
    this.cycleTimer = setTimeout(() => this.initialise(why), waitMs);
  }

  /** The damaged traffic since the last message that checked, worded as the driver's health words it; empty if none. */
  private lineDamageNote(): { text: string; fields: Record<string, number> } {
    const d = this.lineDamage;
    const text = d.note('checksum');
    return { text, fields: text === '' ? {} : { badChecksumFrames: d.badCheck, otherDamagedFrames: d.otherBad, noiseBytes: d.noiseBytes } };
  }


  /**
   * The wait before the next ICC after damaged answers: responseTimeoutMs, doubling with each re-initialisation in a
   * row, up to quietReinitMs (the pace of a device that says nothing) and below half of silenceMs (a longer pause
   * would make a busy line look silent).
   */
  private reinitPauseMs(): number {
    const cap = Math.max(this.plan.responseTimeoutMs, Math.min(this.plan.quietReinitMs, this.plan.silenceMs > 0 ? this.plan.silenceMs / 2 : Infinity));
    return Math.min(cap, this.plan.responseTimeoutMs * 2 ** Math.min(this.damagedReinits, 20));
  }

  private nextInCycle(): void {
    if (!this.active) return;
    if (this.pending) {
      // One command outstanding at a time: a keep-alive NOP sent just before is still unanswered.
      this.cycleDue = true;
      return;
    }
    const requests = this.plan.requests;
    if (this.cycleIndex >= requests.length || requests.length === 0) {
      this.cycleIndex = 0;
      this.cycleEnded();
      this.cycleTimer = setTimeout(() => this.nextInCycle(), this.plan.pollIntervalMs);
      return;
    }
    if (this.cycleIndex === 0) this.cycleCheck = { due: new Set(requests.filter((c) => !this.unanswered.has(c))), answered: false };
    const code = requests[this.cycleIndex++] as number;
    this.send(code, '', this.unanswered.has(code) ? this.plan.retries : 0, true);
  }

  // ---- receiving ----

  private handle(ev: FrameEvent): void {
    switch (ev.type) {
      case 'realtime': {
        // Before realtime is set up, bytes with the top bit set are more likely garbage (a wrong baud rate) than
        // curves: the health hint counts them with the noise (review rv90 L3). Once curves were set up on this
        // connection they are curves, which a re-initialisation leaves flowing from a hung slow channel: not line
        // damage (review rv175 L1). They are still decoded: after 56H, or on a tap, curves set up by the device or
        // another host do arrive and are counted as dropped.
        if (this.rtStreams.length === 0 && !this.rtSetUp) this.lineDamage.noiseBytes += ev.bytes.length;
        if (this.slowSilence === 'due') {
          this.slowSilence = 'said';
          this.slowSilentSaid = true;
          this.hooks.output({ type: 'slow-channel-silent', ms: this.plan.silenceMs });
        }
        const events = this.rt.push(ev.bytes);
        if (events.length) this.hooks.output({ type: 'realtime', events });
        return;
      }
      case 'handshake':
        this.hooks.count('handshake_bytes_dropped');
        // The session does not suspend on XOFF (review rv115 L4: the rule is in no text we could read); the kernel does
        // with flowControl xonxoff, and then consumes the byte. Said once per connection, so that the setting is found.
        if (ev.byte === XOFF && this.active && !this.plan.listenOnly && !this.xoffLogged) {
          this.xoffLogged = true;
          this.hooks.log('warn', 'medibus device sent XOFF (suspend transmission): not honoured, the host keeps sending; if the device keeps answering late or not at all, set flowControl: xonxoff (counted as handshake_bytes_dropped; said once per connection)', { flowControl: this.plan.line.flowControl });
        }
        return;
      case 'noise':
        this.hooks.count('noise_bytes', ev.bytes.length);
        this.lineDamage.noiseBytes += ev.bytes.length;
        if (this.noiseLog.open('noise', Date.now())) this.hooks.log('debug', 'medibus noise bytes outside a message dropped (counted as noise_bytes)', { bytes: ev.bytes.length });
        return;
      case 'bad-frame':
        this.badFrame(ev);
        return;
      case 'frame':
        this.lineDamage.clear();
        // The slow channel answers again after its silence was said: with no re-initialisation (silenceMs below
        // quietReinitMs) nothing else would bring the status back (review rv175 H1). Before the message's own outputs.
        if (this.slowSilentSaid) {
          this.slowSilentSaid = false;
          this.hooks.output({ type: 'slow-channel-back' });
        }
        // Only a message that checked shows the device answers: realtime curves or noise keep a line busy whose
        // device answers nothing (review rv173 M2, as IntelliVue since rv66 M3).
        if (this.active && !this.plan.listenOnly) this.armQuiet();
        if (ev.kind === 'command') this.deviceCommand(ev.code, ev.data);
        else this.response(ev.code, ev.data);
        return;
    }
  }

  private badFrame(ev: Extract<FrameEvent, { type: 'bad-frame' }>): void {
    const counter = ev.reason === 'checksum' ? 'frames_bad_checksum' : `frames_${ev.reason.replace('-', '_')}`;
    this.hooks.count(counter);
    this.lineDamage.badFrame(ev.reason === 'checksum');
    const fields = { reason: ev.reason, bytes: ev.raw.length };
    // A listen-only tap on which every frame fails shows no other trouble (the line is busy, the device "online").
    if (ev.reason === 'checksum' || ev.reason === 'too-long') this.repeated(this.badFrameLog[ev.reason], counter, `medibus bad ${ev.kind} dropped: ${ev.detail}`, fields);
    else this.hooks.log('debug', `medibus bad ${ev.kind}: ${ev.detail}`, fields);
    if (!this.active || this.plan.listenOnly) return;
    if (ev.kind === 'command') {
      // The device's command was corrupt: tell it so it repeats.
      this.write(encodeNak(), 'nak_sent');
    } else if (this.pending && ev.reason === 'interrupted') {
      // Cut short by the next message: a fragment of an earlier attempt's answer (its CR lost), or noise that began
      // with SOH. The answer may be the message now arriving, so asking again would put two commands outstanding: that
      // message, or the time-out, decides (review rv115 M1). Counted as frames_interrupted.
      this.hooks.log('debug', 'medibus interrupted fragment ignored: the message arriving or the time-out decides', { command: commandName(this.pending.code), fragmentCode: ev.raw.length > 1 ? hex2(ev.raw[1] as number) : null, bytes: ev.raw.length });
    } else if (this.pending) {
      // Our answer arrived damaged: ask again now rather than wait for the time-out.
      const p = this.pending;
      clearTimeout(p.timer);
      this.pending = undefined;
      this.retryOrReinit(p, `corrupt response to ${commandName(p.code)} (${ev.reason})`, true, 'damaged');
    }
  }

  private write(bytes: Buffer, counter: string): void {
    this.hooks.count(counter);
    this.hooks.write(bytes).catch((err: Error) => this.writeFailed({ sending: counter }, err));
  }

  /** The device sent us a command: answer it (never in listen-only mode). */
  private deviceCommand(code: number, args: Buffer): void {
    this.hooks.count('device_commands');
    if (!this.active || this.plan.listenOnly) return;
    this.hooks.log('debug', 'medibus device command', { command: commandName(code), args: args.length });
    switch (code) {
      case CMD.ICC:
        this.write(encodeResponse(CMD.ICC), 'responses_sent');
        // The device restarted the conversation: identify it again, then carry on.
        if (this.pending) clearTimeout(this.pending.timer);
        this.pending = undefined;
        this.clearCycle();
        this.setState('identifying', 'device initialised communication');
        this.send(CMD.DEVICE_ID);
        return;
      case CMD.DEVICE_ID: {
        const h = this.plan.hostIdentity;
        this.write(encodeResponse(CMD.DEVICE_ID, `${h.id.padEnd(4).slice(0, 4)}'${h.name}'${h.revision}`), 'responses_sent');
        return;
      }
      case CMD.STOP:
        this.write(encodeResponse(CMD.STOP), 'responses_sent');
        this.clearTimers();
        this.hooks.output({ type: 'connection-lost', detail: 'device stopped communication' });
        this.setState('initialising', 'device sent stop; re-initialising after a pause');
        this.cycleTimer = setTimeout(() => this.initialise('device had stopped communication'), this.plan.responseTimeoutMs);
        return;
      case CMD.RT_CONFIG_CHANGED:
        this.write(encodeResponse(code), 'responses_sent');
        // What arrived under the old configuration is scaled with it now; what comes until the new set-up cannot be.
        this.setRealtimeStreams([], 'the device changed its realtime configuration (56H)');
        if (!this.plan.realtime.enabled) return;
        if (this.state_ === 'cycling' && !this.pending) this.startRealtimeSetup();
        // One command outstanding at a time: set up from the pending command's answer (or its time-out).
        else if (this.state_ === 'cycling' || this.state_ === 'realtime-setup') this.rtSetupDue = true;
        return;
      default:
        // NOP, time changed, data requests and anything unknown: echo without data (we hold none).
        this.write(encodeResponse(code), 'responses_sent');
    }
  }

  private response(code: number, data: Buffer): void {
    const p = this.pending;
    if (code === NAK) {
      this.hooks.count('nak_received');
      if (p && this.active && !this.plan.listenOnly) {
        clearTimeout(p.timer);
        this.pending = undefined;
        this.retryOrReinit(p, `device answered ${commandName(p.code)} with NAK`, true, 'nak');
      }
      return;
    }
    this.hooks.count('responses');
    this.decode(code, data);
    if (!p || p.code !== code) {
      if (this.plan.listenOnly) return;
      // Stopped (the echo of the stop's 55H, an answer arriving as we stopped): no command is pending by design (rv115 L2).
      if (!this.active) return;
      // Both sides sent ICC at once: the device's was answered and identifying began; this is its answer to ours (rv115 L3).
      if (code === CMD.ICC && this.state_ === 'identifying') {
        this.hooks.log('debug', 'medibus answer to our ICC after the device initialised too: taken, identifying goes on');
        return;
      }
      this.hooks.count('unexpected_responses');
      if (p) p.otherCode = code;
      const pending = p ? commandName(p.code) : null;
      const msg = p
        ? `medibus unexpected response ${hex2(code)}H while ${pending} (${hex2(p.code)}H) was pending: a late answer, or the device answers another code`
        : `medibus unexpected response ${hex2(code)}H with no command pending: a late answer`;
      this.repeated(this.unexpectedLog, 'unexpected_responses', msg, { code: `${hex2(code)}H`, pending });
      return;
    }
    clearTimeout(p.timer);
    this.pending = undefined;
    if (p.inCycle) this.requestAnswered(code);
    this.advance(code);
  }

  /**
   * The curves stopped while the cycle goes on (the driver watches them; review rv115 M5): realtime is set up again,
   * after the answer (or time-out) of the command outstanding, if one is.
   */
  setUpRealtimeAgain(why: string): void {
    if (!this.active || this.plan.listenOnly || !this.plan.realtime.enabled || this.state_ !== 'cycling') return;
    this.hooks.log('debug', `medibus setting realtime up again: ${why}`);
    if (this.pending) this.rtSetupDue = true;
    else this.startRealtimeSetup();
  }

  /** Decode any self-describing data response and hand it on. */
  private decode(code: number, data: Buffer): void {
    try {
      const measured = MEASURED_PAGES[code];
      const alarms = ALARM_PAGES[code];
      const limits = LIMIT_PAGES[code];
      if (measured) this.hooks.output({ type: 'measured', page: measured, records: parseMeasured(data) });
      else if (alarms) this.alarmPage(code, alarms, data);
      else if (limits) this.hooks.output({ type: 'limits', page: limits.page, bound: limits.bound, records: parseMeasured(data) });
      else if (code === CMD.SETTINGS) this.hooks.output({ type: 'settings', records: parseSettings(data) });
      else if (code === CMD.TEXT_MESSAGES) this.hooks.output({ type: 'text', records: parseTextMessages(data) });
      else if (code === CMD.DATE_TIME) this.hooks.output({ type: 'date-time', dateTime: parseDateTime(data) });
      else if (code === CMD.DEVICE_ID) {
        this.deviceIdentification = parseDeviceId(data);
        this.hooks.output({ type: 'device-id', id: this.deviceIdentification });
      } else if (code === CMD.RT_CONFIG) {
        const all = parseRealtimeConfig(data);
        this.hooks.output({ type: 'realtime-config', streams: all });
        this.rtConfigAvailable = all;
      }
    } catch (err) {
      if (!(err instanceof MedibusParseError)) throw err;
      this.hooks.count('parse_errors');
      this.repeated(this.parseErrorLog, 'parse_errors', 'medibus data not understood', { command: commandName(code), error: err.message });
    }
  }

  /**
   * A trouble counted by the caller at each occurrence: the first is a warning as it is, then one summary at most every
   * REINIT_LOG_EVERY_MS with the count since and the last one's details.
   */
  private repeated(log: RepeatLog, counter: string, msg: string, fields: Record<string, unknown>): void {
    const line = log.hit(this.hooks.now?.() ?? Date.now());
    if (line?.first) this.hooks.log('warn', `${msg} (repeats are counted as ${counter} and summarised)`, fields);
    else if (line) {
      const since = new Date(line.since).toISOString();
      this.hooks.log('warn', `${msg}: ${line.repeats} more since the last line, ${line.inARow} since ${since} (details of the last)`, { ...fields, repeats: line.repeats, total: line.inARow, since });
    }
  }

  /**
   * An alarm page, record by record: the records that read are handed on, each one that does not is counted and logged
   * with where and what (it may hide an alarm). A page that cannot be cut into records is handed on as unreadable, so
   * that the alarms it held end as link-lost rather than stay as they were (review rv67 H1) and a technical alarm
   * says the page is not current until one reads (review rv72 H1).
   */
  private alarmPage(code: number, page: 1 | 2 | 3, data: Buffer): void {
    let parsed: AlarmPage;
    try {
      parsed = parseAlarmPage(data);
    } catch (err) {
      if (!(err instanceof MedibusParseError)) throw err;
      this.hooks.count('parse_errors');
      const fields = { command: commandName(code), page, bytes: data.length, error: err.message };
      this.repeated(this.alarmPageLog, 'parse_errors', `medibus alarm page ${page} cannot be read: its alarms are ended as link-lost and a technical alarm "not current" stands until a page reads`, fields);
      this.hooks.output({ type: 'alarm-page-unreadable', page, detail: err.message });
      return;
    }
    for (const r of parsed.rejected) {
      this.hooks.count('alarm_records_rejected');
      if (!this.rejectedAlarmLog.open(`${page}|${r.record}`, this.hooks.now?.() ?? Date.now())) continue;
      this.hooks.log('warn', `medibus alarm record rejected: ${r.reason}; the other records of the page are used; if its code reads, its alarm is kept, or raised at medium priority when new (counted as alarm_records_rejected; the same record is logged again at most every 10 min)`, {
        command: commandName(code),
        page,
        offset: r.offset,
        code: r.codeChars,
        record: r.record,
      });
    }
    this.hooks.output({ type: 'alarms', page, records: parsed.records, rejected: parsed.rejected });
  }

  /** The curves the device offers, from the answer to the 53H of this set-up; undefined until one reads. */
  private rtConfigAvailable: RealtimeConfigRecord[] | undefined;
  /** Set-ups in a row whose 53H answer did not read: each waits longer before the next (review rv115 L1). */
  private rtSetupFailures = 0;
  private rtRetryTimer: NodeJS.Timeout | undefined;
  private readonly rtConfigLog = new RepeatLog(REINIT_LOG_EVERY_MS);
  /** Set-ups refused or not answered (a device without realtime, at every try): said once, then summarised. */
  private readonly rtRefusedLog = new RepeatLog(REINIT_LOG_EVERY_MS);
  /** Why the curves are off although realtime is enabled (health), until a set-up succeeds. */
  private rtTrouble: string | undefined;

  /** Every change of the realtime configuration in force goes through here: what was buffered under it is flushed first. */
  private setRealtimeStreams(next: RealtimeConfigRecord[], why: string): void {
    if (this.rtStreams.length > 0) this.hooks.output({ type: 'realtime-streams-ending', why });
    this.rtStreams = next;
    if (next.length > 0) this.rtSetUp = true;
  }

  /** A response to our pending command arrived: take the next step. */
  private advance(code: number): void {
    switch (code) {
      case CMD.ICC:
        this.setState('identifying', 'communication initialised');
        this.send(CMD.DEVICE_ID);
        return;
      case CMD.DEVICE_ID:
        if (this.plan.realtime.enabled) this.startRealtimeSetup();
        else this.startCycling();
        return;
      case CMD.RT_CONFIG: {
        if (this.rtSetupDue) {
          this.startRealtimeSetup(); // changed again (56H) since we asked: ask again
          return;
        }
        const available = this.rtConfigAvailable;
        if (available === undefined) {
          this.realtimeSetupFailed();
          return;
        }
        this.rtConfigLog.clear();
        const wanted = this.plan.realtime.codes.slice(0, 4); // sync byte carries streams 1..4
        this.rtRequested = wanted.map((c) => available.find((r) => r.code === c)).filter((r): r is RealtimeConfigRecord => r !== undefined);
        if (this.rtRequested.length === 0) {
          this.realtimeSetupDone();
          this.setRealtimeStreams([], 'none of the configured curves is offered');
          this.rtTrouble = 'none of the configured curves is offered'; // health says why the curves are off (review rv116 L2)
          this.hooks.log('warn', 'medibus realtime: none of the configured curves is offered by the device', { wanted });
          this.startCycling();
          return;
        }
        // After a failed set-up without retries, as 53H: a 54H never answered would hold the cycle for
        // (retries + 1) × responseTimeoutMs at every try (rv134 M6).
        this.send(CMD.RT_CONFIGURE, this.rtRequested.map((s) => `${hex2(s.code)}01`).join(''), this.rtSetupFailures > 0 ? this.plan.retries : 0);
        return;
      }
      case CMD.RT_CONFIGURE: {
        if (this.rtSetupDue) {
          this.startRealtimeSetup();
          return;
        }
        // In force from the enable on: samples before it cannot be told to belong to this configuration.
        this.setRealtimeStreams(this.rtRequested, 'realtime set up');
        this.rtTrouble = undefined;
        this.realtimeSetupDone();
        // Enable streams 1..n: sync byte, "streams 1-4" command, bit mask, end of sequence.
        const mask = 0xc0 | ((1 << this.rtStreams.length) - 1);
        this.write(Buffer.from([0xd0, 0xc1, mask, 0xc0, 0xc0]), 'realtime_enables_sent');
        this.startCycling();
        return;
      }
      case CMD.NOP:
        if ((this.cycleDue || this.rtSetupDue) && this.state_ === 'cycling') {
          this.cycleDue = false;
          this.continueCycle();
        }
        return;
      default:
        if (this.state_ === 'cycling') this.continueCycle();
    }
  }

  /** The answer to a cycle's command came: a realtime set-up the device asked for meanwhile goes first. */
  private continueCycle(): void {
    if (this.rtSetupDue) this.startRealtimeSetup();
    else this.nextInCycle();
  }

  private startRealtimeSetup(): void {
    this.rtSetupDue = false;
    // Only this set-up's answer counts: a configuration read before it may no longer hold (review rv115 L1).
    this.rtConfigAvailable = undefined;
    this.clearCycle();
    this.setState('realtime-setup', 'requesting realtime configuration');
    // After a failed set-up, asked once without retries: a device without realtime that ignores 53H would otherwise
    // hold the cycle (numerics, alarm pages) for (retries + 1) × responseTimeoutMs at every try (review rv131 H1).
    this.send(CMD.RT_CONFIG, '', this.rtSetupFailures > 0 ? this.plan.retries : 0);
  }

  /** A set-up went through (curves set up, or none of the configured offered): a later failure starts the back-off afresh. */
  private realtimeSetupDone(): void {
    this.rtSetupFailures = 0;
    this.rtRefusedLog.clear();
  }

  /**
   * The device's 53H answer did not read (counted as parse_errors): no 54H or enable is built from an older
   * configuration, whose scaling may no longer hold; the curves stay off, said once (then summarised), and realtime is
   * set up again later, waiting longer while it repeats (review rv115 L1). Also a set-up given up on (`trouble`, `log`:
   * see realtimeSetupGivenUp).
   */
  private realtimeSetupFailed(
    trouble = 'realtime configuration (53H) not understood',
    log = { gate: this.rtConfigLog, counter: 'parse_errors', msg: 'medibus realtime configuration (53H) not understood: no curves until a readable one comes' },
  ): void {
    this.setRealtimeStreams([], trouble);
    const waitMs = Math.min(60_000, 5 * this.plan.realtime.segmentMs * 2 ** Math.min(this.rtSetupFailures, 10));
    this.rtSetupFailures++;
    this.rtTrouble = trouble;
    const secs = Math.round(waitMs / 100) / 10;
    this.repeated(log.gate, log.counter, `${log.msg}; asked again in ${secs} s`, { waitMs });
    if (this.rtRetryTimer) clearTimeout(this.rtRetryTimer);
    this.rtRetryTimer = setTimeout(() => {
      this.rtRetryTimer = undefined;
      this.setUpRealtimeAgain('asking for a readable realtime configuration again');
    }, waitMs);
    this.startCycling(false);
  }

  /**
   * A 53H or 54H given up on after its retries (NAK, no answer, damaged): curves are optional, so a device without
   * realtime (a classic Medibus device, a V500 whose realtime is unavailable) keeps its numerics and alarm pages. Taken
   * like a 53H that does not read, not as a lost device: no re-initialisation, no alarm ended (review rv131 H1).
   */
  private realtimeSetupGivenUp(p: Pending, why: string, cause: 'timeout' | 'nak' | 'damaged'): void {
    this.hooks.count('realtime_setups_failed');
    const code = `${hex2(p.code)}H`;
    const trouble =
      cause === 'nak'
        ? `the device refused the realtime set-up (NAK to ${code})`
        : cause === 'timeout' && p.otherCode === undefined
          ? `the device did not answer the realtime set-up (no response to ${code} within ${this.plan.responseTimeoutMs} ms)`
          : `no usable answer to the realtime set-up (${why})`;
    this.realtimeSetupFailed(trouble, {
      gate: this.rtRefusedLog,
      counter: 'realtime_setups_failed',
      msg: `medibus realtime curves off: ${trouble}; the data cycle goes on without curves (if this device has no realtime curves, set realtime.enabled false)`,
    });
  }

  /** `sayAgain` false: the cycle resumes after a realtime set-up that failed, whose parse error must not be re-warned at each retry. */
  private startCycling(sayAgain = true): void {
    // Communication (re)initialised: data it cannot read, and failed writes, are said again at once. The
    // re-initialisation log and the pause are cleared once a whole cycle is answered (cycleEnded). The cycle
    // goes on where it was: restarting at the first request would starve the last ones (review rv90 H1).
    if (sayAgain) {
      this.parseErrorLog.clear();
      this.alarmPageLog.clear();
      this.rejectedAlarmLog.reset();
      this.writeErrorLog.clear();
    }
    const dev = this.deviceIdentification;
    this.setState('cycling', dev ? `online: ${dev.name || 'device'} ${dev.id} ${dev.revision}`.trim() : 'online');
    this.nextInCycle();
  }

  // ---- timers ----

  private armKeepAlive(): void {
    if (this.keepAliveTimer) clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = setTimeout(() => {
      if (this.active && !this.pending && this.state_ === 'cycling') {
        this.hooks.count('keepalives_sent');
        this.send(CMD.NOP);
      } else this.armKeepAlive();
    }, this.plan.keepAliveMs);
  }

  private armQuiet(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => {
      if (!this.active || this.plan.listenOnly) return;
      const p = this.pending;
      if (this.state_ === 'realtime-setup' && p && (p.code === CMD.RT_CONFIG || p.code === CMD.RT_CONFIGURE)) {
        // The device answered the handshake (or the cycle) just before; only the set-up is unanswered, its retries
        // outlasting quietReinitMs: given up on as after its last retry, or it would re-initialise for ever (rv134 H1).
        // Armed again: a device that is really gone is re-initialised by the cycle's quiet line.
        clearTimeout(p.timer);
        this.pending = undefined;
        this.armQuiet();
        const why = p.otherCode === undefined ? `no response to ${commandName(p.code)} within ${this.plan.responseTimeoutMs} ms` : `${commandName(p.code)} answered with ${hex2(p.otherCode)}H instead of ${hex2(p.code)}H`;
        this.realtimeSetupGivenUp(p, why, 'timeout');
        return;
      }
      this.reinitialise(`line quiet for ${this.plan.quietReinitMs} ms`);
    }, this.plan.quietReinitMs);
  }

  /**
   * A slow-channel byte came (or the link opened): the slow channel's silence counts from here. When the session drives
   * the line, silenceMs without one makes the next realtime bytes report it: a device whose slow channel hung while its
   * curves flow is then `silent`, as on a quiet line, whose silence the link reports itself (review rv173 M2).
   */
  private slowHeard(): void {
    this.slowSilence = 'no';
    if (!this.active || this.plan.listenOnly || this.plan.silenceMs <= 0) return;
    if (this.slowTimer) clearTimeout(this.slowTimer);
    this.slowTimer = setTimeout(() => {
      this.slowTimer = undefined;
      this.slowSilence = 'due';
    }, this.plan.silenceMs);
  }

  private clearSlowTimer(): void {
    if (this.slowTimer) clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
    this.slowSilence = 'no';
  }

  private clearCycle(): void {
    if (this.cycleTimer) clearTimeout(this.cycleTimer);
    this.cycleTimer = undefined;
    this.cycleDue = false;
  }

  private clearTimers(): void {
    this.clearCycle();
    if (this.rtRetryTimer) clearTimeout(this.rtRetryTimer);
    this.rtRetryTimer = undefined;
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
    if (this.keepAliveTimer) clearTimeout(this.keepAliveTimer);
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.keepAliveTimer = undefined;
    this.quietTimer = undefined;
  }

  private setState(state: SessionState, detail: string): void {
    if (this.state_ === state && state !== 'initialising') return;
    this.state_ = state;
    this.hooks.output({ type: 'state', state, detail });
  }
}
