// Medibus alarm lists → AlarmEvents with a lifecycle. Medibus reports the alarms active now (per code
// page), each with a priority 1..31 and a 12-character phrase; it has no start/end messages, so the
// phases come from comparing successive lists: new → start, still there → continue (re-emitted at
// most every repeatMs, or at once if the priority changed), gone → end.
import type { AlarmEvent, AlarmPriority, Origin } from '../../agent/model/reading.js';
import type { AlarmRecord, RejectedAlarmRecord } from './protocol/data.js';
import { hexCode } from './codes.js';

export interface PriorityBands {
  high: number;
  medium: number;
}

/**
 * Medibus priority → IEC 60601-1-8 priority. The devices rank 1..31 (31 most urgent) and show
 * three classes (warning !!!, caution !!, advisory !); where the class boundaries lie is NOT in the
 * public sources we found, so the bands are configuration (default: ≥21 high, ≥11 medium).
 */
export function mapPriority(p: number, bands: PriorityBands): AlarmPriority {
  if (p >= bands.high) return 'high';
  if (p >= bands.medium) return 'medium';
  if (p >= 1) return 'low';
  return 'none';
}

// Heuristic (phrases are device text, not a category field): equipment problems rather than the patient.
const TECHNICAL = /(ERR|INOP|FAIL|SENS|SUPPLY|BATT|CAL\b|FAN|SPEAKER|COMM|\?)/i;

interface Active {
  record: AlarmRecord;
  lastEmitted: number;
  /** Raised from a rejected record whose priority byte did not read: shown as medium (review rv72 L1). */
  unranked: boolean;
}

export type Page = 1 | 2 | 3;

export class AlarmTracker {
  private readonly active = new Map<string, Active>();
  /**
   * Pages whose alarm information is not current, each with when (monotonic ms) that began and why: the page could not
   * be read (review rv72 H1), or was not read for too long (review rv90 H1). One technical alarm each.
   */
  private readonly unreadable = new Map<Page, { since: number; why: string }>();
  /** Why the ventilator was given up on (a re-initialisation), while its "not answering" technical alarm is up. */
  private notAnsweringWhy: string | undefined;

  /** @param unrankedRaised told of each alarm raised from a record whose priority did not read (for the log). */
  constructor(
    private readonly origin: Origin,
    private readonly bands: PriorityBands,
    private readonly repeatMs: number,
    private readonly unrankedRaised: (page: Page, r: RejectedAlarmRecord) => void = () => {},
  ) {}

  /**
   * One alarm response for `page` at time `now` → the events to emit. `rejected`: records of the page that did not
   * read. One whose code reads is still listed by the device, so its alarm stays as it was; one whose code does not
   * read may be any alarm, so an alarm no longer confirmed is ended as `link-lost` (not known to have ended: the alarm
   * engine keeps it in view until someone answers it) rather than as ended by the device. A readable page ends the
   * page's "not current" technical alarm.
   */
  update(page: Page, records: AlarmRecord[], now: number, rejected: RejectedAlarmRecord[] = []): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    const seen = new Set<string>();
    for (const r of records) {
      const key = `cp${page}:${hexCode(r.code)}`;
      seen.add(key);
      const prev = this.active.get(key);
      if (!prev) {
        out.push(this.event(key, r, 'start', now));
        this.active.set(key, { record: r, lastEmitted: now, unranked: false });
      } else if (prev.unranked || prev.record.priority !== r.priority || now - prev.lastEmitted >= this.repeatMs) {
        out.push(this.event(key, r, 'continue', now));
        this.active.set(key, { record: r, lastEmitted: now, unranked: false });
      }
    }
    // A rejected record whose code reads is an alarm the device lists: kept as it was, or, when new, raised at medium
    // (its rank is unknown; as HL7 does for an alarm without priority) rather than left out.
    for (const r of rejected) {
      if (r.code === null) continue;
      const key = `cp${page}:${hexCode(r.code)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const prev = this.active.get(key);
      if (!prev) {
        const record: AlarmRecord = { code: r.code, priority: 0, priorityChar: r.record.charAt(0), text: r.record.slice(3).trim() };
        this.active.set(key, { record, lastEmitted: now, unranked: true });
        out.push(this.event(key, record, 'start', now, true));
        this.unrankedRaised(page, r);
      } else if (now - prev.lastEmitted >= this.repeatMs) {
        out.push(this.event(key, prev.record, 'continue', now, prev.unranked));
        prev.lastEmitted = now;
      }
    }
    const unknownRejected = rejected.some((r) => r.code === null);
    for (const [key, a] of this.active) {
      if (!key.startsWith(`cp${page}:`) || seen.has(key)) continue;
      const end = this.event(key, a.record, 'end', now, a.unranked);
      out.push(unknownRejected ? { ...end, endedBy: 'link-lost' } : end);
      this.active.delete(key);
    }
    // After the page's own alarms, so that nothing is left unshown in between.
    if (this.unreadable.has(page)) {
      out.push(this.notCurrentEvent(page, 'end', now)); // with the text it started with
      this.unreadable.delete(page);
    }
    return out;
  }

  /**
   * One page could not be read (at `now`; `mono`: a monotonic time, for how long): its alarms are ended as link-lost
   * (we can no longer vouch for them), and one technical alarm says the page's alarm information is not current until
   * a page reads. Alarms new on the page meanwhile cannot be seen: that alarm is what says so (review rv72 H1).
   */
  pageUnreadable(page: Page, now: number, mono: number): AlarmEvent[] {
    return this.pageNotCurrent(page, 'unreadable', now, mono);
  }

  /**
   * One page not current (`why`: "unreadable", or "not read for over N s"): its alarms are ended as link-lost, and the
   * page's technical alarm raised if it is not already (the first reason stays its text).
   */
  pageNotCurrent(page: Page, why: string, now: number, mono: number): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    for (const [key, a] of this.active) {
      if (!key.startsWith(`cp${page}:`)) continue;
      out.push({ ...this.event(key, a.record, 'end', now, a.unranked), endedBy: 'link-lost' });
      this.active.delete(key);
    }
    if (!this.unreadable.has(page)) {
      this.unreadable.set(page, { since: mono, why });
      out.push(this.notCurrentEvent(page, 'start', now));
    }
    return out;
  }

  /** When (monotonic ms) `page` became not current, if it is now. */
  unreadableSince(page: Page): number | undefined {
    return this.unreadable.get(page)?.since;
  }

  /** The pages not current now, each with when it became so (monotonic ms) and why ("unreadable", "not read"). */
  get unreadablePages(): Array<[Page, number, string]> {
    return [...this.unreadable].map(([p, u]): [Page, number, string] => [p, u.since, u.why]).sort((a, b) => a[0] - b[0]);
  }

  /**
   * The session gave the device up (it re-initialises: no answer, a line quiet for quietReinitMs, the device sent
   * stop): every alarm held ends as link-lost, the pages' "not current" ones too, and one technical alarm says the
   * ventilator's data and alarms are not current until a whole cycle is answered again: bytes may keep coming (curves,
   * noise), so nothing else would say it at once (review rv173 M2). Raised before the others end, so that nothing is
   * left unshown in between; not raised again while up. `raise` false: the device is `silent`, whose "no data" alarm
   * says it (an alarm event counts as data from the device to the agent, so a start now would end that alarm).
   */
  notAnswering(why: string, now: number, raise: boolean): AlarmEvent[] {
    const out: AlarmEvent[] = [];
    if (raise && this.notAnsweringWhy === undefined) {
      this.notAnsweringWhy = why;
      out.push(this.notAnsweringEvent('start', now));
    }
    out.push(...this.endAll(now));
    return out;
  }

  /** The "not answering" alarm is up: the device has answered no whole cycle since it was raised. */
  get notAnsweringUp(): boolean {
    return this.notAnsweringWhy !== undefined;
  }

  /** A whole cycle was answered (or the link is gone: `linkLost`): the "not answering" alarm ends, if up. */
  answering(now: number, linkLost = false): AlarmEvent[] {
    if (this.notAnsweringWhy === undefined) return [];
    const end = this.notAnsweringEvent('end', now);
    this.notAnsweringWhy = undefined;
    return [linkLost ? { ...end, endedBy: 'link-lost' } : end];
  }

  /**
   * When the device is lost, every alarm we hold is ended (we can no longer vouch for it). The "not answering" alarm
   * stays: it ends when a whole cycle is answered, or with the link (`answering`). `stopping`: the driver stops on
   * purpose, nothing takes over from the pages' "not current" findings, which end plainly (review rv175 L3).
   */
  endAll(now: number, stopping = false): AlarmEvent[] {
    const out: AlarmEvent[] = [...this.active].map(([key, a]) => ({ ...this.event(key, a.record, 'end', now, a.unranked), endedBy: 'link-lost' as const }));
    this.active.clear();
    // What takes over from the pages' "not current" alarms: the "not answering" alarm (a re-initialisation), or the
    // device's own state ("no data" when silent, "disconnected" when its link is gone).
    for (const page of this.unreadable.keys()) {
      const end = this.notCurrentEvent(page, 'end', now);
      out.push(stopping ? end : { ...end, endedBy: 'link-lost' as const });
    }
    this.unreadable.clear();
    return out;
  }

  private event(key: string, r: AlarmRecord, phase: AlarmEvent['phase'], now: number, unranked = false): AlarmEvent {
    return {
      ...this.origin,
      kind: 'alarm',
      alarmId: `${this.origin.deviceId}:${key}`,
      condition: null,
      raw: { system: 'medibus', code: `alarm:${key}`, text: unranked ? `${r.text} (priority byte ${JSON.stringify(r.priorityChar)} unreadable)` : `${r.text} (priority ${r.priority})` },
      text: unranked ? `${r.text} (priority could not be read: shown as medium)` : r.text,
      priority: unranked ? 'medium' : mapPriority(r.priority, this.bands),
      category: TECHNICAL.test(r.text) ? 'technical' : 'physiological',
      phase,
      deviceTime: null,
      receivedAt: now,
    };
  }

  private notAnsweringEvent(phase: AlarmEvent['phase'], now: number): AlarmEvent {
    const text = `Ventilator ${this.origin.deviceId} not answering: its data and alarms are not current (${this.notAnsweringWhy ?? 'no answer'}); watch the ventilator itself`;
    return this.findingEvent('not-answering', text, phase, now);
  }

  private notCurrentEvent(page: Page, phase: AlarmEvent['phase'], now: number): AlarmEvent {
    const text = `Alarm information from the ventilator not current: alarm page ${page} ${this.unreadable.get(page)?.why ?? 'unreadable'}; watch the ventilator itself`;
    return this.findingEvent(`alarm-page-${page}-not-current`, text, phase, now);
  }

  /** A medium technical alarm of the driver's own about the ventilator. */
  private findingEvent(code: string, text: string, phase: AlarmEvent['phase'], now: number): AlarmEvent {
    return {
      ...this.origin,
      kind: 'alarm',
      alarmId: `${this.origin.deviceId}:${code}`,
      condition: null,
      // The driver's own finding, not a report from the ventilator: no sign of a live feed (review rv175 M1).
      driverFinding: true,
      raw: { system: 'medibus', code, text },
      text,
      priority: 'medium',
      category: 'technical',
      phase,
      deviceTime: null,
      receivedAt: now,
    };
  }
}

/**
 * How long an alarm page may go unread while the session drives the line: two cycles at their longest (every request
 * answered just within responseTimeoutMs, then the poll interval), so that one cycle in which the page went unanswered
 * is borne; a page the device keeps refusing or answering late shows within a few cycles (review rv90 H1).
 */
export function alarmPagesStaleAfterMs(plan: { pollIntervalMs: number; responseTimeoutMs: number; requests: readonly number[] }): number {
  return 2 * (plan.pollIntervalMs + plan.requests.length * plan.responseTimeoutMs);
}

/** Listen-only: a page's bound is this many times the longest recent gap between the other host's reads of it, … */
const GAP_FACTOR = 3;
/** … over the last this many gaps (one long stall raises the bound only for a few reads), … */
const GAPS_KEPT = 5;
/** … and at least this long (as IntelliVue's alarm lists), and at least silenceMs (see AlarmPageWatch). */
const MIN_LISTEN_BOUND_MS = 10_000;
/**
 * Until a second read shows the other host's pace, this many times the driving bound: a wider first bound rather than
 * none, so that a page read once and never again is still noticed. The other host's plan is not ours; one slower than
 * ours (a longer poll interval, a longer time-out) is usual, and ending its alarms on our pace restarts them as new at
 * its next read (review rv134 M5).
 */
const FIRST_BOUND_FACTOR = 2;

/**
 * When each alarm page the cycle asks for was last read (monotonic ms), as IntelliVue's AlarmListWatch does for its
 * alarm lists: numerics keep coming while the alarm pages are refused, late or starved, and nothing else would say so.
 */
export class AlarmPageWatch {
  private readonly lastRead = new Map<Page, number>();
  private readonly stale = new Set<Page>();
  /** Listen-only: the last gaps between two reads of each page. */
  private readonly gaps = new Map<Page, number[]>();
  /** Listen-only: no bound below max(10 s, silenceMs), a pause the status rides out as `online` (review rv134 M5). */
  private readonly floorMs: number;

  /**
   * @param fromGaps listen-only: the reads are another host's, at its own pace, so each page is watched from its first
   * read seen and its bound comes from the gaps between its reads (review rv131 M1, as IntelliVue's rv72 M2).
   * @param silenceMs the driver's silence setting (0: off): a pause of the whole line shorter than it keeps the device
   * online, so it must not end the page's alarms either.
   */
  constructor(
    private readonly fromGaps = false,
    silenceMs = 0,
  ) {
    this.floorMs = Math.max(MIN_LISTEN_BOUND_MS, silenceMs);
  }

  get running(): boolean {
    return this.lastRead.size > 0;
  }

  /** The session cycles from `now`: each of `pages` is due from now on (unless already watched). */
  start(pages: readonly Page[], now: number): void {
    if (this.running) return;
    for (const p of pages) this.lastRead.set(p, now);
  }

  /** Nothing to watch: the device is lost, and its alarms ended with it. */
  stop(): void {
    this.lastRead.clear();
    this.stale.clear();
    this.gaps.clear(); // the traffic that returns may be another host's, at another pace
  }

  /** A page was answered at `now` (read, or unreadable: that has its own alarm). Listen-only: watched from its first read. */
  read(page: Page, now: number): void {
    const last = this.lastRead.get(page);
    if (this.fromGaps) {
      if (last !== undefined) this.gaps.set(page, [...(this.gaps.get(page) ?? []), now - last].slice(-GAPS_KEPT));
      this.lastRead.set(page, now);
    } else if (last !== undefined) this.lastRead.set(page, now);
    this.stale.delete(page);
  }

  /**
   * How long `page` may go unread: `baseMs` when the session drives the line; in listen-only mode, with floor =
   * max(10 s, silenceMs), max(floor, 2 × `baseMs`) until two reads of it were seen, then max(floor, 3 × the longest of
   * its last 5 gaps).
   */
  boundMs(page: Page, baseMs: number): number {
    if (!this.fromGaps) return baseMs;
    const gaps = this.gaps.get(page) ?? [];
    return Math.max(this.floorMs, gaps.length ? GAP_FACTOR * Math.max(...gaps) : FIRST_BOUND_FACTOR * baseMs);
  }

  /** Pages unread for longer than their bound (`boundMs`) at `now` that were not stale yet (each returned once, until read). */
  check(now: number, baseMs: number): Page[] {
    const out: Page[] = [];
    for (const [page, at] of this.lastRead) {
      if (this.stale.has(page) || now - at <= this.boundMs(page, baseMs)) continue;
      this.stale.add(page);
      out.push(page);
    }
    return out;
  }
}
