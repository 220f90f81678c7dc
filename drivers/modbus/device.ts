// One Modbus unit on a bus: when each of its reads is due, what its state is, and what a success or
// a fault changes. No I/O here; the bus poller asks it what to do and tells it what happened.
// Two clocks: `now` is monotonic (due times, backoff, filters' heartbeats: see timing.ts Clock), `at` is the wall
// clock, only for the time stamps of events and of lastDataAt. Tests that pass one clock for both may omit `at`.
import type { DeviceState, DriverEvent, DeviceStatusEvent } from '../../agent/model/reading.js';
import { ChangeFilter } from './change-filter.js';
import { isConfigException, type Fault } from './faults.js';
import { describeRead, splitRead, type DevicePlan, type PlannedPoint, type ReadGroup } from './plan.js';
import { judge, toReading } from './readings.js';
import { Backoff } from './timing.js';

interface GroupState {
  group: ReadGroup;
  dueAt: number;
  /** Set while this read fails (an exception, no answer, an answer that does not decode); cleared on success. */
  fault: Fault | undefined;
  /** Consecutive failures of this read, of one kind (see countFailure). */
  failures: number;
  /**
   * Failures of any kind since this read last delivered data. A read whose failures alternate between kinds (no
   * answer, then "busy") never has `failures` in a row, yet its values are lost all the same.
   */
  sinceData: number;
  backoff: Backoff;
  /** When this read last answered, monotonic (null: never). An offline device is probed with the read that answered last. */
  lastOkAt: number | null;
  /** Delivered data since this read was made: a split's parts all must have before the whole is tried again. */
  delivered: boolean;
  /**
   * The fault the device answered this read with (an exception, values that do not decode) and its counts, kept while
   * unanswered tries replace it (the check read on the way offline, probes in turn): an outage explains those tries,
   * not that answer, which is put back when the device is back (review rv176 M2).
   */
  answeredFault: { fault: Fault; failures: number; sinceData: number } | undefined;
}

/**
 * A read split after exception 2 or 3 (see DeviceRunner.split), kept so that it can be tried whole again: a device
 * may refuse it only for a while (booting, its map not filled yet), and split it costs a request per part per poll.
 */
interface SplitRead {
  whole: ReadGroup;
  /** The reads that stand for it now, in address order: its halves, or theirs once split further. */
  parts: GroupState[];
  /** While the whole read is tried again: its state, read instead of the parts (kept aside, put back if refused). */
  trial: GroupState | undefined;
  retry: Backoff;
  /** Monotonic: the whole read is not tried again before this. */
  retryAt: number;
}

/**
 * A split read is tried whole again after twice backoff.maxMs (a minute by default), doubling at each refusal up
 * to an hour: a map the device refuses whole for good costs one request per try, not a request storm.
 */
const MERGE_RETRY_MAX_MS = 3_600_000;

/** A read a device wants next (see DeviceRunner.next). */
export interface NextRead {
  group: ReadGroup;
  /** When it may start. */
  at: number;
  /** When it became due (`at` may be later: see `unanswered`). */
  dueAt: number;
  /** It may cost a timeout: a probe of an offline device, or a read not answered yet or twice unanswered in a row. */
  unanswered: boolean;
}

/** Which read goes first: the earliest; on a tie, one that is being answered, then the one due longest. */
export function goesBefore(a: NextRead, b: NextRead): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.unanswered !== b.unanswered) return !a.unanswered;
  return a.dueAt < b.dueAt;
}

export interface DeviceSettings {
  source: string;
  offlineAfterFailures: number;
  backoff: { initialMs: number; maxMs: number };
}

export class DeviceRunner {
  state: DeviceState = 'connecting';
  /** What the state is about. An offline device's wait for its next try is not in it: see detailAt. */
  detail = 'not polled yet';
  /** Wall-clock time of the last answer with data. */
  lastDataAt: number | null = null;
  private readonly groups: GroupState[];
  private readonly filters = new Map<PlannedPoint, ChangeFilter>();
  /** Consecutive communication failures (timeouts, CRC, bad frames) across all reads, since the device last answered. */
  private commFailures = 0;
  /** The reads those failures were on: failures of one read alone are that read's problem, not the device's. */
  private readonly failedReads = new Set<GroupState>();
  private readonly commBackoff: Backoff;
  /** While offline, nothing is read before this time (then one probe read). */
  private probeAt = 0;
  /** While offline, the read used as the probe. */
  private probe: GroupState;
  /** While offline after failures: the health detail, with the wait for the next try to go between the two. */
  private waitText: readonly [string, string] | undefined;
  /** Reads split after exception 2/3, outermost first (a part split again comes after the read it is part of). */
  private readonly splits: SplitRead[] = [];

  constructor(
    readonly plan: DevicePlan,
    private readonly settings: DeviceSettings,
    now: number,
  ) {
    this.commBackoff = new Backoff(settings.backoff.initialMs, settings.backoff.maxMs);
    this.groups = plan.groups.map((group) => this.freshGroup(group, now, null));
    this.probe = this.groups[0] as GroupState;
    for (const g of plan.groups) for (const { point } of g.points) this.filters.set(point, new ChangeFilter(point.filter));
  }

  /**
   * The health detail at `now` (monotonic): an offline device's wait for its next try is counted when it is read, not
   * when the last try failed, so it does not go stale (review rv179 L3).
   */
  detailAt(now: number): string {
    if (!this.waitText) return this.detail;
    return `${this.waitText[0]}next try in ${Math.max(0, Math.round(this.probeAt - now))} ms${this.waitText[1]}`;
  }

  /**
   * The read this device wants next and when. While offline it is one probe read at the backoff time, whatever
   * that read's own poll interval. Reads that may go unanswered start no earlier than `unansweredNotBefore`, which
   * the bus sets to keep line time for the reads that are answered.
   */
  next(unansweredNotBefore = 0): NextRead {
    if (this.state === 'offline') {
      return { group: this.probe.group, at: Math.max(this.probeAt, unansweredNotBefore), dueAt: this.probeAt, unanswered: true };
    }
    let best: NextRead | undefined;
    for (const g of this.groups) {
      const unanswered = mayGoUnanswered(g);
      const read = { group: g.group, at: unanswered ? Math.max(g.dueAt, unansweredNotBefore) : g.dueAt, dueAt: g.dueAt, unanswered };
      if (!best || goesBefore(read, best)) best = read;
    }
    // A plan's device always has at least one read (buildPlan enforces it).
    return best as NextRead;
  }

  /** The read that answered most recently, other than `not`; if none has answered, the first one. */
  private lastAnswered(not?: GroupState): GroupState {
    let best: GroupState | undefined;
    for (const g of this.groups) {
      if (g !== not && (!best || (g.lastOkAt ?? -Infinity) > (best.lastOkAt ?? -Infinity))) best = g;
    }
    return best ?? (this.groups[0] as GroupState);
  }

  /** The device answered this read (with data or an exception). */
  private answered(g: GroupState, now: number): void {
    this.commFailures = 0;
    this.failedReads.clear();
    this.commBackoff.reset();
    if (this.state !== 'offline') return;
    for (const x of this.groups) restoreAnsweredFault(x);
    // The outage explains this read's own unanswered tries too: they do not count as data lost by the read.
    if (g.fault?.communication !== false) g.sinceData = 0;
    // Back from offline: every other read is due now, on a fresh grid (its ticks missed in the outage are no ticks the
    // bus skipped: review rv176 M1), and its communication faults (timeouts, bad frames) are forgiven, as the outage
    // explains them; a read that still fails counts afresh. An answer the device gave (an exception, values that do
    // not decode) is not explained by an outage: that read stays failing, so a device in error goes straight back to
    // error, with no 'online' that would end its technical alarm.
    for (const other of this.groups) {
      if (other === g) continue;
      other.dueAt = now;
      if (other.fault && !other.fault.communication) continue;
      other.failures = 0;
      other.sinceData = 0;
      other.fault = undefined;
      other.backoff.reset();
    }
  }

  /** Reads this device makes now: more than its plan's once a refused read was split (see split). */
  get readCount(): number {
    return this.groups.length;
  }

  /** A read's state before its first answer: due at `now`, no fault, its own backoff. */
  private freshGroup(group: ReadGroup, now: number, lastOkAt: number | null): GroupState {
    return { group, dueAt: now, fault: undefined, failures: 0, sinceData: 0, backoff: new Backoff(this.settings.backoff.initialMs, this.settings.backoff.maxMs), lastOkAt, delivered: false, answeredFault: undefined };
  }

  /**
   * A read of several values that the device refused as a whole with exception 2 (a register it lacks) or 3 (e.g. a
   * read longer than it allows): an exception applies to the whole request, so the values it does serve are lost with
   * the one at fault. The read is split in two, and both halves are due now; a half refused again is split again,
   * until the value at fault is read alone and fails alone (see failed). Once every part has delivered data, the whole
   * read is tried again after a growing delay (see tryMerge); refused again (`again`), its parts are put back as they
   * were. Returns the halves and a status change, or undefined if this is not such a read (then call failed).
   */
  split(
    group: ReadGroup,
    fault: Fault,
    now: number,
    at = now,
  ): { into: [ReadGroup, ReadGroup]; status: DeviceStatusEvent | undefined; again?: { reads: number; retryInMs: number } } | undefined {
    if (fault.kind !== 'exception' || (fault.code !== 2 && fault.code !== 3)) return undefined;
    const halves = splitRead(group);
    if (!halves) return undefined;
    const g = this.stateOf(group);
    const wasOffline = this.state === 'offline';
    this.answered(g, now);
    const tried = this.splits.find((s) => s.trial === g);
    if (tried) {
      // The whole read tried again is still refused: its parts go back as they were (no new cascade of halves), due now.
      this.groups.splice(this.groups.indexOf(g), 1, ...tried.parts);
      if (this.probe === g) this.probe = tried.parts[0] as GroupState;
      for (const part of tried.parts) part.dueAt = Math.min(part.dueAt, now);
      tried.trial = undefined;
      const retryInMs = tried.retry.next();
      tried.retryAt = now + retryInMs;
      return { into: halves, status: wasOffline ? this.updateState(at) : undefined, again: { reads: tried.parts.length, retryInMs } };
    }
    const parts = halves.map((half) => this.freshGroup(half, now, g.lastOkAt));
    this.groups.splice(this.groups.indexOf(g), 1, ...parts);
    if (this.probe === g) this.probe = parts[0] as GroupState;
    for (const s of this.splits) {
      const i = s.parts.indexOf(g);
      if (i >= 0) s.parts.splice(i, 1, ...parts);
    }
    const first = 2 * this.settings.backoff.maxMs;
    const retry = new Backoff(first, Math.max(first, MERGE_RETRY_MAX_MS));
    this.splits.push({ whole: group, parts: [...parts], trial: undefined, retry, retryAt: now + retry.next() });
    // An offline device that answers is back, as in failed.
    return { into: halves, status: wasOffline ? this.updateState(at) : undefined };
  }

  /**
   * After a part of a split read answered: if every part of a split it belongs to has delivered data and the split's
   * retry time has come, the whole read replaces its parts (kept aside) from their next tick on. The outermost such
   * split goes first. Answered, it stays (see succeeded); refused again, the parts come back (see split).
   */
  private tryMerge(g: GroupState, now: number): void {
    if (this.state === 'offline') return;
    const s = this.splits.find(
      (x) => x.trial === undefined && now >= x.retryAt && x.parts.includes(g) && x.parts.every((p) => p.delivered && p.fault === undefined && this.groups.includes(p)),
    );
    if (!s) return;
    const whole = this.freshGroup(s.whole, now, Math.max(...s.parts.map((p) => p.lastOkAt ?? -Infinity)));
    whole.dueAt = Math.min(...s.parts.map((p) => p.dueAt));
    const index = Math.min(...s.parts.map((p) => this.groups.indexOf(p)));
    for (const p of s.parts) {
      this.groups.splice(this.groups.indexOf(p), 1);
      this.failedReads.delete(p);
    }
    this.groups.splice(index, 0, whole);
    if (s.parts.includes(this.probe)) this.probe = whole;
    s.trial = whole;
  }

  /** The whole read tried again (see tryMerge) answered: its split is over, and so are splits of its parts. */
  private merged(g: GroupState): { group: ReadGroup; reads: number } | undefined {
    const s = this.splits.find((x) => x.trial === g);
    if (!s) return undefined;
    const inside = (x: SplitRead) => x.parts.every((p) => s.parts.includes(p));
    for (let i = this.splits.length - 1; i >= 0; i--) {
      const x = this.splits[i] as SplitRead;
      if (x === s || inside(x)) this.splits.splice(i, 1);
    }
    // A split this one was part of now counts the whole read as one of its parts.
    for (const x of this.splits) {
      const i = x.parts.indexOf(s.parts[0] as GroupState);
      if (i >= 0) x.parts.splice(i, s.parts.length, g);
    }
    return { group: s.whole, reads: s.parts.length };
  }

  private stateOf(group: ReadGroup): GroupState {
    const g = this.groups.find((x) => x.group === group);
    if (!g) throw new Error(`read ${group.label} is not part of device ${this.plan.id}`);
    return g;
  }

  /**
   * A read answered. Returns the events to emit (readings that pass their filters, status change), and `skipped`: the
   * poll ticks of this read missed because it came late, when the bus is the reason (see below).
   */
  succeeded(
    group: ReadGroup,
    data: number[] | boolean[],
    now: number,
    at = now,
  ): { events: DriverEvent[]; decodeFaults: Array<{ point: string; message: string }>; skipped: number; merged?: { group: ReadGroup; reads: number } } {
    const g = this.stateOf(group);
    // Late because the bus is busy (other reads, silent units' timeouts) only if this read was being answered on
    // time before: not at the first answer (connecting), after its own failures (backoff) or an outage.
    const steady = g.lastOkAt !== null && g.fault === undefined && this.state !== 'offline';
    g.backoff.reset();
    g.lastOkAt = now;
    // Next tick on this read's own grid, so lateness does not accumulate into drift; ticks already
    // missed are skipped rather than read back to back.
    g.dueAt += group.intervalMs;
    let skipped = 0;
    if (g.dueAt <= now) {
      skipped = Math.floor((now - g.dueAt) / group.intervalMs) + 1;
      g.dueAt += skipped * group.intervalMs;
    }
    if (!steady) skipped = 0;
    this.answered(g, now);
    this.lastDataAt = at;
    const events: DriverEvent[] = [];
    const decodeFaults: Array<{ point: string; message: string }> = [];
    for (const { point, at: offset } of group.points) {
      let raw: number | string;
      try {
        raw = point.decode(data.slice(offset, offset + point.width) as number[] | boolean[]);
      } catch (err) {
        decodeFaults.push({ point: point.name, message: err instanceof Error ? err.message : String(err) });
        continue;
      }
      const judged = judge(point, raw);
      if (!this.filters.get(point)?.accept(judged.value, judged.quality, now)) continue;
      events.push(toReading(point, judged, { deviceId: this.plan.id, ...(this.plan.bed ? { bed: this.plan.bed } : {}), source: this.settings.source }, at));
    }
    // Values that do not decode are lost as surely as an unanswered read's: the read counts as failing, and is
    // reported as an error when it keeps failing, though the device's other values still arrive.
    const first = decodeFaults[0];
    if (first) {
      countFailure(g, { kind: 'decode', message: `cannot decode ${first.point}: ${first.message}`, counter: 'decode_errors', communication: false });
    } else {
      g.fault = undefined;
      g.answeredFault = undefined;
      g.failures = 0;
      g.sinceData = 0;
      g.delivered = true;
    }
    // The status first: back from offline in error, the alarm monitor must see 'error' before this data, which would
    // otherwise end the device's technical alarm as an 'offline' one, to raise it again as new (review rv176 M2).
    const status = this.updateState(at);
    if (status) events.unshift(status);
    // Answered at all, the whole read is not refused: it stays merged (values that do not decode fail as any read's).
    const merged = this.merged(g);
    if (merged) return { events, decodeFaults, skipped, merged };
    this.tryMerge(g, now);
    return { events, decodeFaults, skipped };
  }

  /** A read failed. Returns a status event if the device's state changed. */
  failed(group: ReadGroup, fault: Fault, now: number, at = now): DeviceStatusEvent | undefined {
    const g = this.stateOf(group);
    const limit = this.settings.offlineAfterFailures;
    if (fault.communication) {
      countFailure(g, fault);
      if (this.state === 'offline') {
        // A failed probe. The next one after the device's backoff, with the next read in turn: the one tried may be a
        // register this device never answers.
        this.probeAt = now + this.commBackoff.next();
        this.probe = this.groups[(this.groups.indexOf(g) + 1) % this.groups.length] as GroupState;
        this.detail = `${fault.message} on ${group.label}${hintOf(fault)}`;
        this.waitText = [`${fault.message} on ${group.label} (`, `)${hintOf(fault)}`];
        return undefined;
      }
      // Retried at its next poll (or after backoff.initialMs if sooner); a read that keeps failing backs off.
      g.dueAt = now + (g.failures <= 1 ? Math.min(group.intervalMs, this.settings.backoff.initialMs) : g.backoff.next());
      this.commFailures++;
      this.failedReads.add(g);
      if (this.commFailures >= limit) {
        if (this.failedReads.size >= Math.min(2, this.groups.length)) {
          this.probeAt = now + this.commBackoff.next();
          this.probe = this.lastAnswered();
          // The event's detail becomes the technical alarm's text, kept as raised: a retry time there would go stale
          // (review rv176 L1). The health detail (detailAt) has it.
          const status = this.setState('offline', `${fault.message} on ${group.label} (${this.commFailures} failures in a row)${hintOf(fault)}`, at);
          this.waitText = [`${fault.message} on ${group.label} (${this.commFailures} failures in a row; `, `)${hintOf(fault)}`];
          return status;
        }
        // Only this read failed since the device last answered: a register the device never answers (error) or a
        // device that stopped answering (offline)? Read another register now to tell; its outcome decides the state.
        const check = this.lastAnswered(g);
        check.dueAt = Math.min(check.dueAt, now);
        return undefined;
      }
      // The device answers its other reads (they reset commFailures) but never this one: its values are gone all
      // the same, so the device is in error rather than online.
      if (g.failures >= limit) return this.setState('error', `${fault.message} on ${group.label} (${g.failures} in a row)${hintOf(fault)}`, at);
      if (dataLost(g, limit)) return this.setState('error', lostDetail(g, fault), at);
      return undefined;
    }
    // The device answered, with an exception: it is there, this read is the problem.
    const wasOffline = this.state === 'offline';
    this.answered(g, now);
    countFailure(g, fault);
    g.dueAt = now + g.backoff.next();
    if (isConfigException(fault.code) || g.failures >= limit) return this.setState('error', `${fault.message} on ${describeRead(group)}`, at);
    if (dataLost(g, limit)) return this.setState('error', lostDetail(g, fault), at);
    // An offline device that answers, even "busy", is back.
    return wasOffline ? this.updateState(at) : undefined;
  }

  /** The bus connection is down or could not be opened: every device on it is offline. */
  busDown(reason: string, now: number, at = now): DeviceStatusEvent | undefined {
    this.commFailures = Math.max(this.commFailures, this.settings.offlineAfterFailures);
    this.probeAt = now;
    if (this.state !== 'offline') this.probe = this.lastAnswered();
    return this.setState('offline', reason, at);
  }

  /** A fresh connection: an offline device gets its probe read right away. */
  probeNow(now: number): void {
    this.probeAt = now;
  }

  /** `at`: wall clock, the status event's stamp. */
  private updateState(at: number): DeviceStatusEvent | undefined {
    const limit = this.settings.offlineAfterFailures;
    const failing = this.groups.find((g) => g.fault && (isConfigException(g.fault.code) || g.failures >= limit || dataLost(g, limit)));
    if (failing?.fault) return this.setState('error', dataLost(failing, limit) ? lostDetail(failing, failing.fault) : `${failing.fault.message} on ${describeRead(failing.group)}`, at);
    return this.setState('online', 'answering', at);
  }

  /** `at`: wall clock, the status event's stamp. */
  private setState(state: DeviceState, detail: string, at: number): DeviceStatusEvent | undefined {
    this.detail = detail;
    this.waitText = undefined;
    if (state === this.state) return undefined;
    this.state = state;
    return {
      kind: 'device-status',
      deviceId: this.plan.id,
      ...(this.plan.bed ? { bed: this.plan.bed } : {}),
      source: this.settings.source,
      state,
      detail,
      at,
    };
  }

  /** Status event for the current state, e.g. at start (`at`: wall clock). */
  announce(at: number): DeviceStatusEvent {
    return {
      kind: 'device-status',
      deviceId: this.plan.id,
      ...(this.plan.bed ? { bed: this.plan.bed } : {}),
      source: this.settings.source,
      state: this.state,
      detail: this.detail,
      at,
    };
  }
}

/** A fault's advice, for a detail that reports it repeating. */
function hintOf(fault: Fault): string {
  return fault.hint ? `: ${fault.hint}` : '';
}

/**
 * The read has failed more than `limit` times, in whatever kinds, since it last delivered data: its values are lost
 * though no one kind of failure comes `limit` times in a row (no answer and "busy" taking turns). One more than the
 * limit, so that one change of kind (two timeouts, then one "busy") is still let through as before.
 */
function dataLost(g: GroupState, limit: number): boolean {
  return g.sinceData > limit;
}

function lostDetail(g: GroupState, fault: Fault): string {
  return `${fault.message} on ${g.group.label} (${g.sinceData} failures since it last delivered data)${hintOf(fault)}`;
}

/** Not answered yet, or unanswered twice in a row: one miss of a read that answers (noise, a busy moment) is let through. */
function mayGoUnanswered(g: GroupState): boolean {
  if (g.fault && !g.fault.communication) return false; // answered, with an exception or values that do not decode
  if (g.lastOkAt === null) return true;
  return g.fault !== undefined && g.failures >= 2;
}

/**
 * One more failure of a read, in a row only with failures of the same kind: unanswered (timeouts, bad frames),
 * exceptions, or answers that do not decode. Two timeouts and then one transient "busy" exception are not three
 * failures of anything.
 */
function countFailure(g: GroupState, fault: Fault): void {
  if (fault.communication && g.fault && !g.fault.communication) g.answeredFault = { fault: g.fault, failures: g.failures, sinceData: g.sinceData };
  else if (!fault.communication) g.answeredFault = undefined;
  g.sinceData++;
  const same = g.fault !== undefined && g.fault.communication === fault.communication && (fault.communication || g.fault.kind === fault.kind);
  g.failures = same ? g.failures + 1 : 1;
  if (!same) g.backoff.reset(); // a new kind of failure backs off afresh
  g.fault = fault;
}

/** Back from an outage: a read whose answered fault unanswered tries replaced has that fault again (see answeredFault). */
function restoreAnsweredFault(g: GroupState): void {
  const kept = g.answeredFault;
  g.answeredFault = undefined;
  if (!kept || !g.fault?.communication) return;
  g.fault = kept.fault;
  g.failures = kept.failures;
  g.sinceData = kept.sinceData;
}
