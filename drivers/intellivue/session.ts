// The IntelliVue Data Export session, host side, over a byte link:
//   association request → accept (0x0E) | refuse (0x0C, retried after refusedRetryMs; ignored unless our request is out:
//   a late one answers a request already given up on; an accept or MDS Create while waiting to retry is still taken)
//   → the monitor's MDS Create event report, answered with a result (and its time base kept)
//   → cyclic polls: numerics and the alarm monitor (single polls every pollIntervalMs, which also keep
//     the association alive), waves (and numerics with `numerics: extended`) by extended poll with a poll period,
//     one per object type at a time, renewed before it runs out, sent again at once when not answered within one poll
//     interval; answers to a poll a newer one has replaced are dropped
//   → results and linked results (first / middle / last), each decoded as it arrives; a poll the monitor refuses (remote
//     operation error) is matched to its poll, said with its kind and the error's name, and not sent again at once
//     (an extended one is asked again after one interval, or at its renewal for a configuration error or a repeat).
// The association response says what the monitor grants: an extended poll it does not grant is not sent, and a minimum
// poll period longer than pollIntervalMs is used. An MDS Create while associating means the accept was lost: taken
// as an implied accept. Abort (0x19) from the monitor, a quiet line (no frame whose FCS checks for quietReassociateMs)
// or no answer to the association request mean: start again. Release on shutdown. Frames go out through a pacer (≤ N per window).
// In listen-only mode it never writes and decodes whatever monitor messages pass by; the monitor's release request,
// abort, or release response (the other host released) end the association it listens to.
import {
  ATTR, ATTR_GRP, IntellivueFramer, IntellivueParseError, MOC, NOM_PART_OBJ, POLL_EXT_PERIOD_NU_1SEC, POLL_EXT_PERIOD_RTSA, RORLS, TICKS_PER_MS,
  encodeAbort, encodeAssociationRequest, encodeMdsCreateResult, encodeMessageFrame, encodePollRequest, encodeReleaseRequest, encodeReleaseResponse,
  parseMessage, parseTransportHeader,
  type Ava, type FrameEvent, type LinkedId, type Message, type PollReply, type UserInfo,
} from './protocol/index.js';
import { RepeatLog } from '../../agent/repeat-log.js';
import { LineDamage } from '../serial/device-driver.js';
import { FramePacer } from './pacer.js';
import type { IntellivuePlan } from './options.js';

export type SessionState = 'idle' | 'associating' | 'refused' | 'awaiting-mds' | 'polling' | 'listening' | 'stopped';

export type SessionOutput =
  | { type: 'state'; state: SessionState; detail: string }
  | { type: 'associated'; userInfo: UserInfo | null }
  | { type: 'mds-create'; attributes: Ava[] }
  | { type: 'reply'; reply: PollReply; invokeId: number; extended: boolean; linked: LinkedId | null }
  /** The association ended (abort, release, silence): the caller forgets object state and alarms. */
  | { type: 'association-lost'; detail: string };

export interface SessionHooks {
  write(bytes: Buffer): Promise<void>;
  output(o: SessionOutput): void;
  count(counter: string, by?: number): void;
  log(level: 'debug' | 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  now?(): number;
}

type PollKind = 'numerics' | 'alarms' | 'waves';

const OBJ: Record<PollKind, number> = { numerics: MOC.VMO_METRIC_NU, alarms: MOC.VMO_AL_MON, waves: MOC.VMO_METRIC_SA_RT };

/** An extended numerics poll asks for this many poll intervals of numerics; it is renewed one interval before its end. */
export const EXT_NUMERICS_PERIOD_INTERVALS = 10;

/**
 * The error values of a Remote Operation Error (ROER) the programming guide names (public transcriptions: LNhealth's
 * ivueparser constants, VSCaptureMP); others are said by number.
 */
const ROER_NAMES: Record<number, string> = {
  0: 'NO_SUCH_OBJECT_CLASS',
  1: 'NO_SUCH_OBJECT_INSTANCE',
  2: 'ACCESS_DENIED',
  7: 'GET_LIST_ERROR',
  8: 'SET_LIST_ERROR',
  9: 'NO_SUCH_ACTION',
  10: 'PROCESSING_FAILURE',
  15: 'INVALID_ARGUMENT_VALUE',
  16: 'INVALID_SCOPE',
  17: 'INVALID_OBJECT_INSTANCE',
};

/**
 * Refusals of an extended poll that are the monitor's configuration (no wave export, access denied): asking again
 * before its renewal would only be refused again. Any other (PROCESSING_FAILURE may be transient) is asked again after
 * one poll interval, since waiting for the renewal leaves no poll of its kind in force for most of a period (rv116 M3).
 */
const CONFIG_REFUSALS = new Set([0 /* NO_SUCH_OBJECT_CLASS */, 2 /* ACCESS_DENIED */]);

/** The same refusal of an extended poll this many times in a row (none answered between) waits for the renewal too. */
export const REFUSALS_BEFORE_WAITING = 3;

export function remoteErrorName(errorValue: number): string {
  return ROER_NAMES[errorValue] ?? `error ${errorValue}`;
}

const LISTENING = 'listen-only: decoding monitor traffic, never transmitting';

/**
 * A trouble that repeats while it lasts (no answer to each association request from a monitor switched off, answers
 * to renewed polls dropped) is logged once, then summarised at most this often; every occurrence is counted.
 */
export const REPEAT_LOG_EVERY_MS = 10 * 60_000;

export class IntellivueSession {
  private readonly framer = new IntellivueFramer();
  private readonly pacer: FramePacer;
  private state_: SessionState = 'idle';
  /** The detail of the last state output. */
  private detail = '';
  private active = false;
  private invokeId = 0;
  /** Association refusals since the last acceptance: only the first (and every 60th) is a warning. */
  private refusedInARow = 0;
  private pollNumber = 0;
  private timers = new Set<NodeJS.Timeout>();
  private quietTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Per extended poll kind: the renewal timer and the answer check of the poll last sent (extendedPoll()). */
  private readonly extTimers = new Map<PollKind, { renew: NodeJS.Timeout; answer: NodeJS.Timeout }>();
  private stepTimer: NodeJS.Timeout | undefined;
  /** Counts the polls sent, to order them (invoke ids wrap at 16 bits). */
  private pollSeq = 0;
  /** invoke id → what it polled, whether any answer came, its order and when it was sent. */
  private readonly pending = new Map<number, { kind: PollKind; answered: boolean; seq: number; sentAt: number }>();
  /**
   * Extended polls replaced by a newer one of the same kind that has answered (invoke id → kind, and until when an
   * answer of it may still come). A monitor may keep answering the old one until its period ends: those answers repeat
   * what the newer poll delivers, so they are dropped (not "unexpected"). Until a newer one answers, the old one's
   * answers are used: nothing is lost when a monitor cancels the old poll with an answer of it still on the line, nor
   * when a renewal is answered late, after it was sent again.
   */
  private readonly superseded = new Map<number, { kind: PollKind; until: number }>();
  private readonly noAnswerLog = new RepeatLog(REPEAT_LOG_EVERY_MS);
  /** A monitor that sends what we cannot read, or answers every poll with an error, does so at every poll. */
  private readonly parseErrorLog = new RepeatLog(REPEAT_LOG_EVERY_MS);
  private readonly remoteErrorLog = new RepeatLog(REPEAT_LOG_EVERY_MS);
  /**
   * Damaged frames (bad FCS, over-long) come from the line and last as long as it does: said once, then summarised.
   * Not cleared at a new association: a bad line would be warned about at each one.
   */
  private readonly badFrameLog = { fcs: new RepeatLog(REPEAT_LOG_EVERY_MS), 'too-long': new RepeatLog(REPEAT_LOG_EVERY_MS) };
  private readonly supersededLog: Record<PollKind, RepeatLog> = {
    numerics: new RepeatLog(REPEAT_LOG_EVERY_MS),
    alarms: new RepeatLog(REPEAT_LOG_EVERY_MS),
    waves: new RepeatLog(REPEAT_LOG_EVERY_MS),
  };
  /**
   * Polls not answered: extended ones within one poll interval (sent again), single ones before the next was sent.
   * Warned about once per association, then summarised.
   */
  private readonly unansweredLog: Record<PollKind, RepeatLog> = {
    numerics: new RepeatLog(REPEAT_LOG_EVERY_MS),
    alarms: new RepeatLog(REPEAT_LOG_EVERY_MS),
    waves: new RepeatLog(REPEAT_LOG_EVERY_MS),
  };
  /**
   * Polls the monitor refused (ROER), by kind: the last error (name and value) and how many times in a row it came,
   * until a poll of that kind is answered again.
   */
  private readonly refused = new Map<PollKind, { error: string; errorValue: number; inARow: number }>();
  /** Refusals come at every poll while they last (e.g. waves on a monitor without wave export): said once per kind. */
  private readonly refusedLog: Record<PollKind, RepeatLog> = {
    numerics: new RepeatLog(REPEAT_LOG_EVERY_MS),
    alarms: new RepeatLog(REPEAT_LOG_EVERY_MS),
    waves: new RepeatLog(REPEAT_LOG_EVERY_MS),
  };
  private readonly lastPollOf = new Map<PollKind, number>();
  /** invoke id → the linked answer open for it: the count of its last part received, and when that came. */
  private readonly linked = new Map<number, { count: number; at: number }>();
  /** Linked parts lost: a bad line loses them at every answer. */
  private readonly linkedGapLog = new RepeatLog(REPEAT_LOG_EVERY_MS);
  private releaseWaiter: (() => void) | undefined;
  /** An association request is out, not yet answered: an MDS Create now means the accept was lost. */
  private requestOut = false;
  /** The poll interval of this association: pollIntervalMs, or the monitor's longer minimum poll period. */
  private interval: number;
  /** What the monitor granted at association (its poll profile extension): an extended poll not granted is not sent. */
  private granted = { waves: true, extendedNumerics: true };
  /** Options the monitor did not grant, warned about once (it says the same at every association). */
  private readonly warnedNotGranted = new Set<string>();
  userInfo: UserInfo | null = null;
  /** Damaged traffic since the last frame whose FCS checked (the driver's health names it: wrong baud rate or parity). */
  readonly lineDamage = new LineDamage();

  constructor(
    private readonly plan: IntellivuePlan,
    private readonly hooks: SessionHooks,
  ) {
    this.pacer = new FramePacer((b) => hooks.write(b), plan.pacing.maxFrames, plan.pacing.windowMs);
    this.interval = plan.pollIntervalMs;
  }

  get state(): SessionState {
    return this.state_;
  }

  /** The poll interval in use (the monitor may have asked for a longer one at association). */
  get pollIntervalMs(): number {
    return this.interval;
  }

  /**
   * Polls the monitor refuses now (a remote operation error), for the health detail, e.g. "waves polls refused by the
   * monitor: NO_SUCH_OBJECT_CLASS (asked again at each renewal)"; null when none.
   */
  get refusals(): string | null {
    if (this.refused.size === 0) return null;
    const when = (kind: PollKind) => (!this.isExtended(kind) ? '' : this.waitsForRenewal(kind) ? ' (asked again at each renewal)' : ' (asked again within one poll interval)');
    return [...this.refused].map(([kind, r]) => `${kind} polls refused by the monitor: ${r.error}${when(kind)}`).join('; ');
  }

  /** No frame for this long while associated: start again (at least two poll intervals, as the interval may grow). */
  private get quietMs(): number {
    return Math.max(this.plan.quietReassociateMs, 2 * this.interval);
  }

  linkOpened(): void {
    this.active = true;
    this.lineDamage.clear();
    if (this.plan.listenOnly) {
      this.setState('listening', LISTENING);
      return;
    }
    this.associate('link opened');
  }

  linkClosed(): void {
    this.active = false;
    this.refused.clear();
    this.requestOut = false;
    this.clearTimers();
    this.framer.reset(); // a frame cut short by the close would be counted against the next connection's first frame
    this.pacer.clear('link closed');
    this.setState('idle', 'link closed');
  }

  /** Release the association (wait briefly for the monitor's answer); never throws. */
  async shutdown(waitMs = 500): Promise<void> {
    const wasAssociated = this.active && !this.plan.listenOnly && (this.state_ === 'polling' || this.state_ === 'awaiting-mds');
    this.clearTimers();
    if (wasAssociated) {
      try {
        const answered = new Promise<void>((r) => (this.releaseWaiter = r));
        await this.send(encodeReleaseRequest(), 'release');
        await Promise.race([answered, new Promise((r) => setTimeout(r, waitMs))]);
      } catch {
        // The port may already be gone; stopping must not fail because of it.
      }
    }
    this.active = false;
    // The frames that came while we waited (the release answer) re-armed the quiet timer: it would hold the process.
    this.clearTimers();
    this.pacer.clear('stopped');
    this.setState('stopped', 'stopped');
  }

  receive(chunk: Buffer): void {
    // The quiet timer is re-armed by frames whose FCS checks (handleFrame), not by any byte: noise or damaged frames
    // from a failing line would keep a dead association "online" for ever (review rv66 M3).
    for (const ev of this.framer.push(chunk)) this.handleFrame(ev);
  }

  // ---- sending ----

  private send(userData: Buffer, what: string): Promise<void> {
    if (!this.active || this.plan.listenOnly) return Promise.resolve();
    return this.pacer.send(encodeMessageFrame(userData)).catch((err: Error) => {
      this.hooks.count('write_errors');
      this.hooks.log('warn', 'intellivue write failed', { message: what, err: err.message });
    });
  }

  private associate(why: string): void {
    this.clearTimers();
    this.pending.clear();
    this.superseded.clear();
    this.linked.clear();
    this.refused.clear();
    this.setState('associating', `association request: ${why}`);
    this.requestOut = true;
    this.hooks.count('association_requests');
    const p = this.plan;
    void this.send(
      encodeAssociationRequest({
        minPollPeriodTicks: Math.round(p.pollIntervalMs * TICKS_PER_MS),
        maxMtuRx: p.maxMtu,
        maxMtuTx: p.maxMtu,
        extOptions: POLL_EXT_PERIOD_NU_1SEC | (p.waves.enabled ? POLL_EXT_PERIOD_RTSA : 0),
        systemType: 0x80000000, // SYST_CLIENT
        startupMode: 0x20000000, // COLD_START
      }),
      'association request',
    );
    this.stepTimer = this.later(() => {
      this.hooks.count('association_timeouts');
      // A monitor switched off on a live line never answers: one warning, then a summary every 10 minutes.
      const line = this.noAnswerLog.hit(this.now());
      // On a garbled line (wrong baud rate, parity or cable) the monitor may well be answering: the warning says so
      // (review rv173 L3), not only /health.
      const damage = this.damageNote();
      const fields = { state: this.state_, ...this.damageFields() };
      if (line?.first) {
        this.hooks.log('warn', `intellivue: no answer to the association request within ${p.associationTimeoutMs} ms${damage}; asking again until the monitor answers (repeats are counted as association_timeouts and summarised)`, fields);
      } else if (line) {
        this.hooks.log('warn', `intellivue: still no answer to the association request: ${line.repeats} more time-outs, ${line.inARow} in a row since ${new Date(line.since).toISOString()}${damage}`, { ...fields, timeouts: line.repeats, inARow: line.inARow });
      }
      this.associate('no answer to the previous request');
    }, p.associationTimeoutMs);
  }

  private isExtended(kind: PollKind): boolean {
    return kind === 'waves' || (kind === 'numerics' && this.plan.numerics === 'extended' && this.granted.extendedNumerics);
  }

  /**
   * The poll period an extended poll of this kind asks for (NOM_ATTR_TIME_PD_POLL). A wave poll asks for at least two
   * poll intervals, so that it is renewed (one interval before its end) no more often than the monitor is polled.
   */
  private periodOf(kind: PollKind): number {
    return kind === 'waves' ? Math.max(this.plan.waves.requestPeriodMs, 2 * this.interval) : this.interval * EXT_NUMERICS_PERIOD_INTERVALS;
  }

  /** An extended poll of this kind is renewed this long after it was sent: one poll interval before its period ends. */
  private renewEveryOf(kind: PollKind): number {
    return Math.max(100, this.periodOf(kind) - this.interval);
  }

  /** How long answers to a poll of this kind may come: an extended poll's period; a single poll's answer is not later. */
  private lifeOf(kind: PollKind): number {
    return this.isExtended(kind) ? this.periodOf(kind) : this.interval * EXT_NUMERICS_PERIOD_INTERVALS;
  }

  /** Sends a poll; returns its invoke id (undefined when not polling). */
  private poll(kind: PollKind): number | undefined {
    if (this.state_ !== 'polling') return undefined;
    const extended = this.isExtended(kind);
    const prev = this.lastPollOf.get(kind);
    // The monitor drops polls (e.g. above its rate limit) without answering. A single poll is counted and not sent again
    // (the next comes anyway); an extended one is sent again by extendedPoll(). Either way an older poll's answer, if it
    // comes, is used until a newer poll of its type has answered (the 'poll-result' case).
    if (!extended && prev !== undefined && this.pending.get(prev)?.answered === false) {
      this.hooks.count('polls_unanswered');
      this.repeated(this.unansweredLog[kind], 'polls_unanswered', `intellivue: ${kind} poll not answered before the next was sent (${this.interval} ms later)`, { kind, invokeId: prev });
    }
    this.expire(kind);
    this.expireLinked();
    const invokeId = (this.invokeId = (this.invokeId + 1) & 0xffff);
    this.pollNumber = (this.pollNumber + 1) & 0xffff;
    this.superseded.delete(invokeId); // the 16-bit id has come round again
    this.pending.set(invokeId, { kind, answered: false, seq: ++this.pollSeq, sentAt: this.now() });
    this.lastPollOf.set(kind, invokeId);
    const extAttributes: Array<{ id: number; value: Uint8Array }> = [];
    if (extended) {
      const periodMs = this.periodOf(kind);
      const v = Buffer.alloc(4);
      v.writeUInt32BE(Math.round(periodMs * TICKS_PER_MS));
      extAttributes.push({ id: ATTR.TIME_PD_POLL, value: v });
    }
    this.hooks.count(`polls_sent_${kind}`);
    void this.send(
      encodePollRequest({ invokeId, pollNumber: this.pollNumber, objType: { partition: NOM_PART_OBJ, code: OBJ[kind] }, attrGroup: ATTR_GRP.ALL, extended, extAttributes }),
      `poll ${kind}`,
    );
    return invokeId;
  }

  /**
   * Sends an extended poll of `kind` and arms two timers: the renewal, one poll interval before its period runs out, and
   * the answer check, one poll interval on. A poll the monitor has not answered by then (it drops polls, e.g. over its
   * rate limit) is counted (`polls_unanswered`) and sent again at once: the periodic answers of the one in use run out
   * when a dropped renewal's would have started, so waiting for the next renewal would stop the data for most of a period.
   */
  private extendedPoll(kind: PollKind): void {
    const t = this.extTimers.get(kind);
    this.cancel(t?.renew);
    this.cancel(t?.answer);
    this.extTimers.delete(kind);
    const inUse = this.inUse(kind);
    const invokeId = this.poll(kind);
    if (invokeId === undefined) return;
    this.extTimers.set(kind, {
      renew: this.later(() => this.extendedPoll(kind), this.renewEveryOf(kind)),
      answer: this.later(() => this.checkAnswered(kind, invokeId, inUse), this.interval),
    });
  }

  /** The extended poll of `kind` whose answers are used: the newest that has answered (older ones are superseded). */
  private inUse(kind: PollKind): number | undefined {
    for (const [id, q] of this.pending) if (q.kind === kind && q.answered) return id;
    return undefined;
  }

  /** One poll interval after an extended poll was sent: unanswered → counted and sent again (see extendedPoll()). */
  private checkAnswered(kind: PollKind, invokeId: number, inUseWhenSent: number | undefined): void {
    const q = this.pending.get(invokeId);
    if (this.lastPollOf.get(kind) !== invokeId || !q || q.answered) return;
    // An earlier poll, newer than the one in use then, has answered since (late): its data is fresh, nothing is lost.
    if (this.inUse(kind) !== inUseWhenSent) return;
    this.hooks.count('polls_unanswered');
    this.repeated(this.unansweredLog[kind], 'polls_unanswered', `intellivue: extended ${kind} poll not answered within one poll interval (${this.interval} ms); sent again`, { kind, invokeId });
    this.extendedPoll(kind);
  }

  /**
   * Polls of `kind`: superseded ones whose answers can no longer come are forgotten; one the monitor has not answered
   * within its life (it ignored it) is given up, a late answer of it dropped like a superseded one.
   */
  private expire(kind: PollKind): void {
    const now = this.now();
    for (const [id, s] of this.superseded) if (s.kind === kind && s.until <= now) this.superseded.delete(id);
    for (const [id, q] of this.pending) if (q.kind === kind && !q.answered && now - q.sentAt >= this.lifeOf(kind)) this.retire(id, q);
  }

  /** A poll whose answers are no longer used: from now on they are dropped as superseded, until surely none can come. */
  private retire(invokeId: number, q: { kind: PollKind; sentAt: number }): void {
    this.pending.delete(invokeId);
    this.superseded.set(invokeId, { kind: q.kind, until: q.sentAt + 2 * this.lifeOf(q.kind) });
  }

  private startPolling(): void {
    const waves = this.plan.waves.enabled && this.granted.waves;
    const notes: string[] = [];
    if (this.plan.waves.enabled && !this.granted.waves) notes.push('waves not exported by the monitor (not granted at association)');
    if (this.plan.numerics === 'extended' && !this.granted.extendedNumerics) notes.push('numerics by single poll (extended polls not granted)');
    if (this.interval !== this.plan.pollIntervalMs) notes.push(`polling every ${this.interval} ms (the monitor's minimum poll period)`);
    this.setState('polling', ['associated; polling numerics, alarms' + (waves ? ' and waves' : ''), ...notes].join('; '));
    const extendedNumerics = this.isExtended('numerics');
    const cycle = () => {
      if (!extendedNumerics) this.poll('numerics');
      this.poll('alarms');
      this.pollTimer = this.later(cycle, this.interval);
    };
    cycle();
    // Extended polls: one at a time per kind, renewed one poll interval before the monitor's periodic answers run out,
    // sent again at once when not answered within one poll interval.
    if (extendedNumerics) this.extendedPoll('numerics');
    if (waves) this.extendedPoll('waves');
  }

  /**
   * What the monitor's association response grants (the programming guide: the client must check that the options it
   * asked for were accepted). An extended poll it does not grant would go unanswered, sent again every poll interval for
   * the whole association; polls faster than its minimum poll period are ignored (review rv66 M4). Without a poll
   * profile we can read (an implied accept), everything asked for is polled.
   */
  private negotiate(userInfo: UserInfo | null): void {
    this.interval = this.plan.pollIntervalMs;
    this.granted = { waves: true, extendedNumerics: true };
    const p = userInfo?.pollProfile;
    if (!p) {
      this.hooks.log('info', 'intellivue: no poll profile read from the association response; polling as asked', {});
      return;
    }
    const ext = p.extOptions ?? 0;
    if (this.plan.waves.enabled && (ext & POLL_EXT_PERIOD_RTSA) === 0) {
      this.granted.waves = false;
      this.notGranted('waves', "intellivue: the monitor does not grant wave export (no real-time wave option in its association response): waves are not polled, so the display shows no strips and the rhythm check gets no ECG; check the monitor's Data Export settings");
    }
    if (this.plan.numerics === 'extended' && (ext & POLL_EXT_PERIOD_NU_1SEC) === 0) {
      this.granted.extendedNumerics = false;
      this.notGranted('numerics', 'intellivue: the monitor does not grant extended numerics polls (no 1-s numerics option in its association response): numerics are polled by single poll');
    }
    // At most a minute (the longest pollIntervalMs): the polls keep the association alive.
    const minMs = Math.min(60_000, Math.ceil(p.minPollPeriodTicks / TICKS_PER_MS));
    if (minMs > this.interval) {
      this.interval = minMs;
      this.hooks.log('info', `intellivue: the monitor asks for a minimum poll period of ${minMs} ms, longer than pollIntervalMs (${this.plan.pollIntervalMs} ms): polling every ${minMs} ms`, { minPollPeriodMs: minMs, pollIntervalMs: this.plan.pollIntervalMs });
    }
  }

  private notGranted(what: string, msg: string): void {
    const first = !this.warnedNotGranted.has(what);
    this.warnedNotGranted.add(what);
    this.hooks.log(first ? 'warn' : 'debug', msg, { option: what });
  }

  // ---- receiving ----

  private handleFrame(ev: FrameEvent): void {
    if (ev.type === 'noise') {
      this.hooks.count('noise_bytes', ev.bytes.length);
      this.lineDamage.noiseBytes += ev.bytes.length;
      return;
    }
    if (ev.type === 'bad-frame') {
      const counter = `frames_${ev.reason === 'fcs' ? 'bad_fcs' : ev.reason.replace('-', '_')}`;
      this.hooks.count(counter);
      this.lineDamage.badFrame(ev.reason === 'fcs');
      const fields = { reason: ev.reason, bytes: ev.raw.length };
      // A line on which every frame fails shows no other trouble in listen-only mode (bytes arrive: "online").
      if (ev.reason === 'fcs' || ev.reason === 'too-long') this.repeated(this.badFrameLog[ev.reason], counter, `intellivue bad frame dropped: ${ev.detail}`, fields);
      else this.hooks.log('debug', `intellivue bad frame: ${ev.detail}`, fields);
      return;
    }
    this.lineDamage.clear();
    if (this.active && !this.plan.listenOnly) this.armQuiet();
    let msg: Message;
    try {
      msg = parseMessage(parseTransportHeader(ev.body));
    } catch (err) {
      if (!(err instanceof IntellivueParseError)) throw err;
      this.hooks.count('parse_errors');
      this.repeated(this.parseErrorLog, 'parse_errors', 'intellivue message not understood', { error: err.message, bytes: ev.body.length });
      return;
    }
    this.hooks.count('frames');
    this.handle(msg);
  }

  private handle(msg: Message): void {
    const listen = this.plan.listenOnly;
    switch (msg.kind) {
      case 'association':
        return this.association(msg.spdu, msg.userInfo);
      case 'mds-create':
        this.hooks.count('mds_create_events');
        this.hooks.output({ type: 'mds-create', attributes: msg.attributes });
        if (listen || !this.active) return;
        void this.send(encodeMdsCreateResult(msg.invokeId, msg.managedObject, msg.eventTime), 'MDS create result');
        if ((this.state_ === 'associating' && this.requestOut) || this.state_ === 'refused') {
          // The monitor sends its MDS Create only on an association it accepted: the accept was lost (a damaged frame).
          // In 'refused', the refusal answered another of our requests (see the accept in association()).
          // Our answer has confirmed the association to the monitor, so a new request would go out on a live one.
          this.hooks.log('info', 'intellivue: MDS Create received while waiting for the association answer (the accept was lost): taken as an implied accept; polling starts');
          this.association('accept', null);
        }
        if (this.state_ === 'awaiting-mds' || this.state_ === 'polling') {
          this.clearStep();
          if (this.state_ !== 'polling') this.startPolling();
        }
        return;
      case 'poll-result': {
        this.hooks.count('poll_results');
        const old = this.superseded.get(msg.invokeId);
        if (old !== undefined && !listen) return this.supersededResult(old.kind, msg.invokeId);
        if (msg.linked) this.trackLinked(msg.invokeId, msg.linked);
        const p = this.pending.get(msg.invokeId);
        // The first answer of a poll: its answers are used from now on, those of older polls of its type dropped. A newer
        // poll not yet answered stays awaited (this one may be a renewal answered after it was sent again, or a single
        // poll answered after the next was sent).
        if (p && !p.answered) this.supersede(p.kind, p.seq);
        if (p) {
          p.answered = true;
          this.refused.delete(p.kind); // answered again: no longer refused
        } else if (!listen) this.hooks.count('unexpected_results');
        this.hooks.output({ type: 'reply', reply: msg.reply, invokeId: msg.invokeId, extended: msg.extended, linked: msg.linked });
        return;
      }
      case 'error': {
        this.hooks.count('remote_errors');
        const p = this.pending.get(msg.invokeId);
        if (p) return this.pollRefused(msg.invokeId, p.kind, msg.errorValue);
        this.repeated(this.remoteErrorLog, 'remote_errors', 'intellivue remote operation error', { invokeId: msg.invokeId, errorValue: msg.errorValue, error: remoteErrorName(msg.errorValue) });
        return;
      }
      case 'event-report':
        this.hooks.count('event_reports');
        return;
      case 'poll-request':
      case 'event-result':
        // Host-side messages: seen only when a capture of both directions is decoded as one stream.
        this.hooks.count('host_messages_seen');
        return;
      case 'other':
        this.hooks.count('other_messages');
        this.hooks.log('debug', `intellivue message ignored: ${msg.detail}`);
        return;
    }
  }

  /**
   * A trouble counted by the caller at each occurrence: the first since the association is a warning as it is, then
   * one summary at most every REPEAT_LOG_EVERY_MS with the count since and the last one's details.
   */
  private repeated(log: RepeatLog, counter: string, msg: string, fields: Record<string, unknown>): void {
    const line = log.hit(this.now());
    if (line?.first) this.hooks.log('warn', `${msg} (repeats are counted as ${counter} and summarised)`, fields);
    else if (line) {
      const since = new Date(line.since).toISOString();
      this.hooks.log('warn', `${msg}: ${line.repeats} more since the last line, ${line.inARow} since ${since} (details of the last)`, { ...fields, repeats: line.repeats, total: line.inARow, since });
    }
  }

  /**
   * The monitor answered a poll with a remote operation error. That is its answer: the poll is not "unanswered", and it
   * is not sent again at once. A single poll's successor goes out at the next interval anyway. An extended one is asked
   * again after one interval, and no later than the period of the poll in use ends (its renewal went out one interval
   * before that end, so waiting for the next renewal would leave none in force for most of a period, rv116 M3); but a
   * configuration error (the monitor would refuse it again: no wave export, access denied) or the same refusal
   * REFUSALS_BEFORE_WAITING times in a row waits for its next renewal (every period less one interval), so a monitor
   * that refuses it all day is not asked every interval (rv112 M4). The health detail names the refusal (`refusals`)
   * until a poll of its kind is answered.
   */
  private pollRefused(invokeId: number, kind: PollKind, errorValue: number): void {
    this.pending.delete(invokeId);
    const error = remoteErrorName(errorValue);
    const prev = this.refused.get(kind);
    const inARow = prev?.errorValue === errorValue ? prev.inARow + 1 : 1;
    this.refused.set(kind, { error, errorValue, inARow });
    const extended = this.isExtended(kind);
    let next = `the next goes out as usual (every ${this.interval} ms)`;
    if (extended && this.waitsForRenewal(kind)) {
      const why = CONFIG_REFUSALS.has(errorValue) ? '' : `refused ${inARow} times in a row: `;
      next = `${why}asked again at its next renewal (every ${this.renewEveryOf(kind)} ms)`;
    } else if (extended) next = this.askAgain(kind, invokeId);
    this.repeated(this.refusedLog[kind], 'remote_errors', `intellivue: the monitor refused the ${kind} poll: ${error} (${errorValue}); ${next}`, { kind, invokeId, errorValue, error, extended, inARow });
  }

  /** A refused extended poll of `kind` waits for its renewal: a configuration error, or the same refusal repeated. */
  private waitsForRenewal(kind: PollKind): boolean {
    const r = this.refused.get(kind);
    return r !== undefined && (CONFIG_REFUSALS.has(r.errorValue) || r.inARow >= REFUSALS_BEFORE_WAITING);
  }

  /**
   * Sends the refused extended poll `invokeId` of `kind` again after one poll interval, or when the period of the poll
   * in use ends if that is sooner; says when, for the log line.
   */
  private askAgain(kind: PollKind, invokeId: number): string {
    const t = this.extTimers.get(kind);
    // Refused after the answer check sent it again (refusal slower than one interval): that newer poll stands.
    if (this.lastPollOf.get(kind) !== invokeId || !t) return 'a newer poll of its kind is out already';
    const used = this.inUse(kind);
    const left = used === undefined ? Infinity : this.pending.get(used)!.sentAt + this.periodOf(kind) - this.now();
    // Once the poll in use has run out, a full interval (review rv118 M1): at once, a monitor still busy refuses again,
    // and three refusals within one interval would make it wait for the renewal, the gap this retry is for.
    const ms = left > 0 ? Math.min(this.interval, left) : this.interval;
    this.cancel(t.answer); // its answer check: the refusal was the answer
    t.answer = this.later(() => this.extendedPoll(kind), ms);
    return `asked again in ${ms} ms`;
  }

  /** The monitor answered an association request: a run of time-outs, if any, is over. */
  private monitorAnswered(): void {
    const n = this.noAnswerLog.clear();
    if (n > 1) this.hooks.log('info', `intellivue: the monitor answers the association request again, after ${n} time-outs`, { timeouts: n });
  }

  /** Polls of `kind` sent before the one numbered `seq` are replaced: their answers from now on are dropped. */
  private supersede(kind: PollKind, seq: number): void {
    for (const [id, q] of this.pending) if (q.kind === kind && q.seq < seq) this.retire(id, q);
  }

  /**
   * An answer to a poll a newer one replaced: an extended poll's repeats what the newer poll delivers; a single poll's,
   * later than the newer one's, is older data. Either way it is dropped.
   */
  private supersededResult(kind: PollKind, invokeId: number): void {
    this.hooks.count('superseded_results');
    const line = this.supersededLog[kind].hit(this.now());
    if (line) {
      this.hooks.log(
        line.first ? 'info' : 'debug',
        this.isExtended(kind)
          ? `intellivue: answers to a renewed extended ${kind} poll dropped (the monitor still answers the old poll; the new one delivers the same data); counted as superseded_results`
          : `intellivue: a late answer to a ${kind} poll dropped (a newer poll has answered already); counted as superseded_results`,
        { kind, invokeId, droppedSinceLastLine: line.repeats },
      );
    }
  }

  private now(): number {
    return this.hooks.now?.() ?? Date.now();
  }

  /**
   * Parts of linked answers: a part out of sequence, a first part while an answer of the same invoke id is still open
   * (its last part was lost), or an answer left open for longer than one poll interval (expireLinked) is a gap.
   */
  private trackLinked(invokeId: number, l: LinkedId): void {
    this.hooks.count('linked_results');
    const now = this.now();
    this.expireLinked(now, invokeId);
    const prev = this.linked.get(invokeId);
    const expected = l.state === RORLS.FIRST ? 1 : (prev?.count ?? 0) + 1;
    if (l.state === RORLS.FIRST && prev !== undefined) {
      this.linkedGap('intellivue linked result out of sequence: a new answer began before the last part of the previous one came (lost); decoding the parts that arrived', { invokeId, count: l.count, expected: prev.count + 1 });
    } else if (l.count !== expected || (l.state !== RORLS.FIRST && prev === undefined)) {
      this.linkedGap('intellivue linked result out of sequence: a part was lost; decoding the parts that arrived', { invokeId, count: l.count, expected });
    }
    if (l.state === RORLS.LAST) this.linked.delete(invokeId);
    else this.linked.set(invokeId, { count: l.count, at: now });
  }

  /** Linked answers whose next part has not come within one poll interval: their last part was lost. */
  private expireLinked(now = this.now(), except?: number): void {
    for (const [id, o] of this.linked) {
      if (id === except || now - o.at <= this.interval) continue;
      this.linked.delete(id);
      this.linkedGap('intellivue linked result incomplete: no part came within one poll interval after part ' + o.count + ' (the last part was lost)', { invokeId: id, count: o.count });
    }
  }

  private linkedGap(msg: string, fields: Record<string, unknown>): void {
    this.hooks.count('linked_results_gap');
    this.repeated(this.linkedGapLog, 'linked_results_gap', msg, fields);
  }

  private association(spdu: string, userInfo: UserInfo | null): void {
    const listen = this.plan.listenOnly;
    if (spdu === 'accept' || spdu === 'refuse') this.monitorAnswered();
    switch (spdu) {
      case 'accept':
        this.hooks.count('associations_accepted');
        this.refusedInARow = 0;
        // A new association: what it brings wrong is said again at once.
        this.parseErrorLog.clear();
        this.remoteErrorLog.clear();
        this.linkedGapLog.clear();
        for (const log of Object.values(this.unansweredLog)) log.clear();
        for (const log of Object.values(this.refusedLog)) log.clear();
        this.userInfo = userInfo;
        this.hooks.output({ type: 'associated', userInfo });
        if (listen && this.state_ === 'listening') this.setState('listening', LISTENING); // after one that ended: its detail goes
        // In 'refused' too: a refusal cannot say which request it answers, and each of ours gets one answer, so an accept
        // after one answers another (request 1 refused late while request 2 was out: rv134 M1). Ignoring it left the
        // association standing on the monitor unused, and the retry went out on it.
        if (listen || (this.state_ !== 'associating' && this.state_ !== 'refused')) return;
        if (this.state_ === 'refused') {
          this.hooks.log('info', 'intellivue: the monitor accepted an association request after refusing one (the refusal answered an earlier request): the retry is cancelled and the accepted association used', {});
        }
        this.requestOut = false;
        this.clearStep();
        this.negotiate(userInfo);
        this.setState('awaiting-mds', 'association accepted; waiting for the MDS Create event');
        this.stepTimer = this.later(() => {
          this.hooks.log('warn', 'intellivue: no MDS Create event after the association was accepted');
          this.restart('no MDS Create event', true);
        }, this.plan.associationTimeoutMs);
        return;
      case 'refuse':
        this.hooks.count('associations_refused');
        if (listen) {
          // We never ask: the refusal answers the other host's request, so there is nothing of ours to retry or check.
          this.hooks.log('info', 'intellivue: the monitor refused the other host\'s association request', {});
          return;
        }
        if (!this.active || this.state_ !== 'associating' || !this.requestOut) {
          // Acted on only while our request is out (an accept only while associating). A monitor slower than
          // associationTimeoutMs gets a second request, accepts the first and refuses the second on the live association;
          // the association in use stands (a monitor that drops one aborts it, and a silent one trips the quiet bound).
          this.hooks.log('info', 'intellivue: association refusal ignored: a late answer to an association request already given up on (not answered in time and sent again)', { state: this.state_ });
          return;
        }
        // A monitor whose port is not set to Data Export refuses every 10 s all day: the first refusal in a row is a
        // warning, the rest are counted (associations_refused) and warned about again every 60th.
        this.refusedInARow += 1;
        this.hooks.log(
          this.refusedInARow === 1 || this.refusedInARow % 60 === 0 ? 'warn' : 'debug',
          `intellivue association refused; retrying in ${this.plan.refusedRetryMs} ms (check the MIB port is set to Data Export, and that no other client holds it)`,
          { refusedInARow: this.refusedInARow },
        );
        this.requestOut = false;
        this.clearTimers();
        this.setState('refused', `association refused by the monitor; retry in ${Math.round(this.plan.refusedRetryMs / 100) / 10} s`);
        this.stepTimer = this.later(() => this.associate('retry after refusal'), this.plan.refusedRetryMs);
        return;
      case 'abort':
        this.hooks.count('aborts_received');
        this.hooks.log('warn', 'intellivue association aborted by the monitor', { state: this.state_ });
        if (!listen && this.active) this.restart('monitor aborted the association', false);
        else this.hooks.output({ type: 'association-lost', detail: 'association aborted by the monitor' });
        return;
      case 'release-request':
        this.hooks.count('releases_received');
        if (listen || !this.active) {
          this.hooks.output({ type: 'association-lost', detail: 'monitor released the association' });
          return;
        }
        void this.send(encodeReleaseResponse(), 'release response');
        this.restart('monitor released the association', false);
        return;
      case 'release-response':
        if (listen) {
          // On the monitor's transmit line this is the only sign that the other host released its association (a
          // central station shut down, say): an orderly end, as the monitor's own release request. Its alarms are ended
          // at once as no longer confirmed (not left until the alarm-list bound raises "not current", which is for a
          // monitor that stops answering during an association). Nothing failed, so a log line at info; the line goes
          // quiet now, and the no-data alarm follows if no host associates within silentAfterS: from then on the
          // gateway has no feed from this monitor, however orderly the end.
          this.hooks.count('releases_seen');
          this.hooks.log('info', 'intellivue: the other host released its association with the monitor (the monitor\'s release response seen); its alarms are ended as no longer confirmed until a new association is seen', {});
          this.hooks.output({ type: 'association-lost', detail: 'the other host released its association' });
          if (this.state_ === 'listening') this.setState('listening', `${LISTENING}; the other host released its association (waiting for a new one)`);
          return;
        }
        this.releaseWaiter?.();
        this.releaseWaiter = undefined;
        return;
      case 'request':
        this.hooks.count('host_messages_seen');
        return;
    }
  }

  /** Start a new association after a pause; optionally abort the old one first. */
  private restart(why: string, sendAbort: boolean): void {
    this.requestOut = false;
    this.clearTimers();
    this.hooks.count('reassociations');
    if (this.state_ === 'polling' || this.state_ === 'awaiting-mds') this.hooks.output({ type: 'association-lost', detail: why });
    if (sendAbort) void this.send(encodeAbort(), 'abort');
    this.setState('associating', `re-associating: ${why}`);
    this.stepTimer = this.later(() => this.associate(why), this.plan.reassociateDelayMs);
  }

  // ---- timers ----

  private later(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.active) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /** Cancels a timer made by later(), and forgets it: armQuiet() runs for every chunk received. */
  private cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    this.timers.delete(t);
  }

  private armQuiet(): void {
    this.cancel(this.quietTimer);
    const ms = this.quietMs;
    this.quietTimer = this.later(() => {
      if (this.state_ === 'polling' || this.state_ === 'awaiting-mds') {
        this.hooks.log('warn', `intellivue: no frame from the monitor for ${ms} ms${this.damageNote()}; re-associating`, this.damageFields());
        this.restart(`no valid frame for ${ms} ms`, true);
      }
    }, ms);
  }

  /**
   * The line damage since the last frame that checked, as /health words it, for a warning: empty on a quiet line (a
   * monitor switched off), else the figures and what to check.
   */
  private damageNote(): string {
    return this.lineDamage.note('FCS');
  }

  private damageFields(): { badFrames: number; noiseBytes: number } {
    return { badFrames: this.lineDamage.badCheck + this.lineDamage.otherBad, noiseBytes: this.lineDamage.noiseBytes };
  }

  private clearStep(): void {
    this.cancel(this.stepTimer);
    this.stepTimer = undefined;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.stepTimer = this.pollTimer = this.quietTimer = undefined;
    this.extTimers.clear();
    this.lastPollOf.clear();
  }

  private setState(state: SessionState, detail: string): void {
    // Listening, a new detail is said (the association seen ended, or a new one began): the state alone does not change.
    if (this.state_ === state && state !== 'associating' && (state !== 'listening' || detail === this.detail)) return;
    this.state_ = state;
    this.detail = detail;
    this.hooks.output({ type: 'state', state, detail });
  }
}
