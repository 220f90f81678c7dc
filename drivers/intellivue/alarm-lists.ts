// The monitor's alarm lists as snapshots (review rv66 H1, M1). Pure, with times passed in.
// - AlarmAnswers gathers the lists of one answer from every part of a linked answer before they are compared with
//   what is held: a part holds only some objects, so taken alone it would end the alarms of the others.
// - AlarmListWatch times when each list (P, T) was last read: a list the monitor stops sending, answers with an error or
//   sends unreadable is not held as current for ever.
// The times given to both are monotonic (review rv72 M1): a step of the wall clock must not age a list or an answer.
import type { AlarmList } from './alarms.js';
import type { AlarmListName, AlarmLists } from './observations.js';
import { RORLS, type LinkedId } from './protocol/index.js';

/**
 * How long an alarm list may go unread before the alarm information from the monitor counts as not current: three poll
 * intervals (an answer or two lost is normal), at least 10 s.
 */
export function alarmListsStaleAfterMs(pollIntervalMs: number): number {
  return Math.max(3 * pollIntervalMs, 10_000);
}

/** Listen-only: the bound is this many times the longest recent gap between the other host's reads of a list, … */
const GAP_FACTOR = 3;
/** … over the last this many gaps (so one long stall raises the bound only for a few reads), … */
const GAPS_KEPT = 5;
/** … and at least this long. */
const MIN_BOUND_MS = 10_000;

const NAMES: AlarmListName[] = ['patient', 'technical'];

interface OpenAnswer {
  lists: AlarmLists;
  /** The count the next part must carry. */
  next: number;
  /** Every part so far came, in order. */
  intact: boolean;
  at: number;
}

export class AlarmAnswers {
  private readonly open = new Map<number, OpenAnswer>();

  /** @param maxOpenMs an answer whose last part has not come within this long is forgotten (it is no snapshot). */
  constructor(private readonly maxOpenMs: () => number) {}

  /**
   * One reply's alarm lists (null: it carried none), or one part of a linked answer: the lists to compare with what is
   * held once the answer is complete (a plain reply; the last part of a linked answer whose parts all came), else null.
   * A list that no part carried, or that a part could not read, stays null: no information.
   */
  add(invokeId: number, linked: LinkedId | null, lists: AlarmLists | null, now: number): AlarmLists | null {
    if (!linked) return lists;
    for (const [id, a] of this.open) if (now - a.at > this.maxOpenMs()) this.open.delete(id);
    let a = this.open.get(invokeId);
    if (linked.state === RORLS.FIRST) {
      // A first part while an answer is open: that answer's last part was lost (the session counts the gap).
      a = { lists: { patient: null, technical: null, unreadable: [] }, next: 1, intact: true, at: now };
      this.open.set(invokeId, a);
    }
    if (!a) return null; // its first part was lost
    a.intact &&= linked.count === a.next;
    a.next = linked.count + 1;
    a.at = now;
    if (lists) {
      for (const n of NAMES) {
        if (lists.unreadable.includes(n)) {
          if (!a.lists.unreadable.includes(n)) a.lists.unreadable.push(n);
        } else if (lists[n]) a.lists[n] = [...(a.lists[n] ?? []), ...(lists[n] ?? [])];
      }
    }
    if (linked.state !== RORLS.LAST) return null;
    this.open.delete(invokeId);
    if (!a.intact) return null;
    for (const n of a.lists.unreadable) a.lists[n] = null;
    return a.lists.patient || a.lists.technical ? a.lists : null;
  }

  /** The association is gone: answers still open will not be completed. */
  clear(): void {
    this.open.clear();
  }
}

export class AlarmListWatch {
  /** When each list was last read (or the watch began); null: not watched. */
  private readonly lastRead: Record<AlarmList, number | null> = { P: null, T: null };
  private readonly stale = new Set<AlarmList>();
  /** Listen-only: the last gaps between two reads of each list. */
  private readonly gaps: Record<AlarmList, number[]> = { P: [], T: [] };

  /**
   * @param fromGaps listen-only: the polls are the other host's, at its own period, so each list's bound comes from
   * the gaps seen between its reads (review rv72 M2) rather than from our poll interval.
   */
  constructor(private readonly fromGaps = false) {}

  /** Polling began at `now`: both lists are due from now on. */
  start(now: number): void {
    this.lastRead.P = now;
    this.lastRead.T = now;
    this.stale.clear();
  }

  /** Nothing to watch (the association is gone). */
  stop(): void {
    this.lastRead.P = null;
    this.lastRead.T = null;
    this.stale.clear();
    // The next association may be another host's, polling at another period.
    this.gaps.P = [];
    this.gaps.T = [];
  }

  /**
   * A list was read at `now` (an unwatched list is watched from now on: in listen-only mode, from its first answer).
   * True when this makes the lists current again after some were stale.
   */
  read(list: AlarmList, now: number): boolean {
    const last = this.lastRead[list];
    if (this.fromGaps && last !== null) this.gaps[list] = [...this.gaps[list], now - last].slice(-GAPS_KEPT);
    this.lastRead[list] = now;
    return this.stale.delete(list) && this.stale.size === 0;
  }

  /**
   * How long `list` may go unread: `baseMs` (from our poll interval) when polling, or in listen-only mode until two
   * reads of it were seen; then max(10 s, 3 × the longest of its last 5 gaps).
   */
  boundMs(list: AlarmList, baseMs: number): number {
    const gaps = this.gaps[list];
    if (!this.fromGaps || gaps.length === 0) return baseMs;
    return Math.max(MIN_BOUND_MS, GAP_FACTOR * Math.max(...gaps));
  }

  /** Lists unread for longer than their bound (`boundMs`) at `now` that were not stale yet (each returned once, until read). */
  check(now: number, baseMs: number): AlarmList[] {
    const out: AlarmList[] = [];
    for (const list of ['P', 'T'] as const) {
      const at = this.lastRead[list];
      if (at === null || this.stale.has(list) || now - at <= this.boundMs(list, baseMs)) continue;
      this.stale.add(list);
      out.push(list);
    }
    return out;
  }

  /** The lists stale now, with the oldest last read (null when none is stale). */
  get staleness(): { lists: AlarmList[]; since: number } | null {
    if (this.stale.size === 0) return null;
    const lists = [...this.stale].sort();
    return { lists, since: Math.min(...lists.map((l) => this.lastRead[l] as number)) };
  }
}
