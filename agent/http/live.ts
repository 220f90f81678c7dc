// Live updates for display clients: alarm changes go out at once (latency matters at the bedside); tiles of beds with
// new vitals are coalesced and sent every flushMs; waveform chunks go only to clients watching that bed. The ward
// snapshot (GET /api/ward, every new stream's first event) is built at most once per flushMs and shared: a 128-bed
// ward's takes ~28 ms and ~200 KB, so building it per request let a GET flood stall the alarms. A bed's answer (GET
// /api/beds/:bed, with its trends and waveforms: 0.5 MB for a busy bed) is shared the same way, per bed (review rv132
// M1: a flood of it stalled alarms by a second). Once a second, tiles that time alone changed (NEWS2 inputs aging
// out, lastDataAt moved by waveforms, a device alarm's "not reported" mark) are sent again (tick).
import type { AlarmEngine } from '../alarms/engine.js';
import { DEFAULT_NEWS2_CONFIG, type News2Score } from '../alarms/news2.js';
import { GATEWAY_BED, type AlarmStateChange } from '../alarms/types.js';
import type { DriverEvent } from '../model/reading.js';
import { alarmView, bedTile, changeView, news2View, NOT_REPORTED_AFTER_MS, presentation, tellsSilence, unconfirmedOf, wardBeds, type BedTile, type UnconfirmedOf } from '../display/view.js';
import { MAX_DROPPED_BEDS_NAMED, type WardDrop, type WardState, type WaveChunk } from '../display/ward.js';
import type { SseHub } from './sse.js';

export interface WardInfo {
  gatewayId: string;
  site?: string;
  viewing: 'open' | 'authenticated';
  staleAfterS: number;
}

/** How often open screens' tiles are checked against what time alone changed (tick). */
const TICK_MS = 1000;
/**
 * NEWS2 input ages, to know when a score can next change with no new input: the engine's (alarm-policy.ts takes
 * DEFAULT_NEWS2_CONFIG's; maxAgeS is not configurable).
 */
const NEWS2_MAX_AGE_S = DEFAULT_NEWS2_CONFIG.maxAgeS;

/** What open screens have of a bed that can change with no new event: its lastDataAt, NEWS2 view and "not reported" marks. */
interface Shown {
  lastDataAt: number | null;
  /** The NEWS2 view as JSON, and when one of its measured inputs next ages out (Infinity: none can). */
  news2: string;
  news2ChangesAt: number;
  /** When a device alarm row sent unmarked gets its "not reported" mark (unconfirmedOf; Infinity: none will). */
  markAt: number;
  /** Rows sent marked "not reported", by alarm id, with the report they were marked for: a new report takes it off. */
  marked: Map<string, number>;
}

/** A tile's rows that time alone marks "not reported" (review rv188 M2): when the next mark comes, and the marked ones. */
function marksOf(tile: BedTile, engine: AlarmEngine): Pick<Shown, 'markAt' | 'marked'> {
  let markAt = Infinity;
  const marked = new Map<string, number>();
  for (const a of tile.alarms) {
    const report = reportOf(a, engine);
    if (!report) continue;
    if (a.unconfirmed?.kind === 'not-reported') marked.set(a.id, report.at);
    else if (a.unconfirmed === null) markAt = Math.min(markAt, report.at + NOT_REPORTED_AFTER_MS + 1);
  }
  return { markAt, marked };
}

/** The last report of an open device alarm from a source that declares no repeat: the alarms time alone marks. */
function reportOf(a: { id: string; source: string; conditionPresent: boolean }, engine: AlarmEngine): { at: number } | null {
  if (a.source !== 'device' || !a.conditionPresent) return null;
  const report = engine.deviceReport(a.id);
  return report && report.repeatMs === null ? report : null;
}

/** When a score can next change with time alone: the first of its measured inputs to age out (computeNews2's test). */
function news2ChangesAt(score: News2Score | undefined): number {
  let at = Infinity;
  for (const p of score?.params ?? []) {
    if (p.status === 'measured' && p.at !== undefined) at = Math.min(at, p.at + NEWS2_MAX_AGE_S[p.param] * 1000 + 1);
  }
  return at;
}

export class LiveFeed {
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly ticker: NodeJS.Timeout;
  /** Per bed, what the open screens were last sent of it (flush), or what the first snapshot showing it had. */
  private readonly shown = new Map<string, Shown>();
  /**
   * Beds whose last tile built left alarms out (alarmsNotSent): an alarm change of one can change which alarms its
   * rows are, so it is sent again (review rv190 M2). Other beds' rows the page keeps from the changes themselves.
   */
  private readonly bounded = new Set<string>();
  private stopped = false;
  /** The last snapshot, serialised, and when it was built; null once something it shows has changed. */
  private cached: { json: string; at: number } | null = null;
  /**
   * Per bed, its last detail answer as UTF-8 JSON and when it was built; dropped once something it shows has changed.
   * Bytes, not a string: a busy bed's is 0.5 MB, and encoding it for each request was most of what a flood still cost.
   */
  private readonly bedCached = new Map<string, { body: Buffer; at: number }>();
  /**
   * The seq of the last alarm change sent on the streams: a snapshot shows every change up to it, so the page can tell
   * whether an answer of another request (an action's) is newer than what it shows (the engine's seq is per instance).
   */
  private lastSeq = 0;
  private readonly offDrop: () => void;
  private readonly offShift: () => void;

  constructor(
    private readonly ward: WardState,
    private readonly engine: AlarmEngine,
    private readonly hub: SseHub,
    private readonly info: WardInfo,
    private readonly flushMs = 250,
    private readonly now: () => number = Date.now,
  ) {
    this.offDrop = ward.onDrop((d) => this.bedDropped(d));
    this.offShift = ward.onClockShift((deltaMs) => this.clockStepped(deltaMs));
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  get alarmSeq(): number {
    return this.lastSeq;
  }

  committed(events: readonly DriverEvent[]): void {
    const dropped = this.ward.droppedBedCount;
    for (const bed of this.ward.handle(events)) this.dirty.add(bed);
    this.schedule();
    // A bed newly left out (display.maxBeds): every screen says it does not show every bed.
    if (this.ward.droppedBedCount !== dropped) {
      this.cached = null;
      this.bedCached.clear();
      this.hub.broadcast('dropped', { serverTime: this.now(), droppedBeds: this.ward.droppedBedsView() });
    }
  }

  /**
   * A bed newly left out over maxBeds that is shown already (for its alarms or NEWS2): its tile is sent again, marked
   * readingsDropped. When the ward stops naming beds, every shown bed it does not keep is taken as left out from then.
   */
  private bedDropped(d: WardDrop): void {
    if (d.what !== 'bed' || !d.first) return;
    const beds = this.ward.droppedBedCount >= MAX_DROPPED_BEDS_NAMED ? wardBeds(this.ward, this.engine) : [d.bed];
    for (const bed of beds) if (this.ward.readingsDropped(bed) && this.hasTile(bed)) this.dirty.add(bed);
    this.schedule();
  }

  /** A bed the page has a tile for though the ward does not keep it (wardBeds). */
  private hasTile(bed: string): boolean {
    return this.engine.list({ bed }).length > 0 || this.engine.news2Beds().includes(bed);
  }

  /**
   * The gateway's clock stepped and the ward's instants moved with it (WardState.shiftClock; review rv147 F2). What
   * screens were sent, and the shared answers, are on the old clock: dropped, and every tile sent again. Screens are
   * told (`clock-stepped`) to open a new stream: the page keeps the largest server-time offset a stream has shown it,
   * so after a step back it would age every value by the step until it reconnected (a page that does not know the
   * event reconnects anyway once its stream ends, as any).
   */
  clockStepped(deltaMs: number): void {
    for (const bed of this.shown.keys()) this.dirty.add(bed);
    this.shown.clear();
    this.cached = null;
    this.bedCached.clear();
    this.schedule();
    this.hub.broadcast('clock-stepped', { serverTime: this.now(), deltaMs });
  }

  /** A bed's tile changed outside the readings (a NEWS2 observation): sent with the next flush, and in new snapshots. */
  bedChanged(bed: string): void {
    this.cached = null;
    this.bedCached.delete(bed);
    this.dirty.add(bed);
    this.schedule();
  }

  private schedule(): void {
    if (this.dirty.size && !this.timer && !this.stopped) this.timer = setTimeout(() => this.flush(), this.flushMs);
  }

  alarmChanges(changes: readonly AlarmStateChange[]): void {
    // A stream opened after this broadcast must not get a snapshot from before it: it would miss the change.
    this.cached = null;
    const silences = new Set<string>();
    for (const c of changes) {
      if (c.seq > this.lastSeq) this.lastSeq = c.seq;
      this.bedCached.delete(c.alarm.bed);
      // A left-out bed's tile may be new on the page (made from this change, unmarked): the flush sends it marked.
      if (c.alarm.bed !== GATEWAY_BED && this.ward.readingsDropped(c.alarm.bed)) this.dirty.add(c.alarm.bed);
      // A bounded tile's rows may now be other alarms (an acknowledgement puts an unanswered one left out on it).
      if (this.bounded.has(c.alarm.bed)) this.dirty.add(c.alarm.bed);
      // A screen that got this alarm as a change, not in a tile (a bed with no readings), gets its "not reported" mark
      // by the tick, when it comes (review rv190 M1): once, as for a tile's rows.
      const report = reportOf(c.alarm, this.engine);
      if (report && c.alarm.bed !== GATEWAY_BED) this.markDue(c.alarm.bed, report.at + NOT_REPORTED_AFTER_MS + 1);
      if (tellsSilence(c.alarm)) silences.add(c.alarm.deviceId);
    }
    // A device found silent or disconnected, or heard again: its other alarms' `unconfirmed` changed with no change of
    // their own, so the tiles that show them go out again with the next flush.
    if (silences.size > 0) {
      for (const a of this.engine.list()) if (silences.has(a.deviceId) && a.bed !== GATEWAY_BED) this.dirty.add(a.bed);
    }
    this.schedule();
    // Who acted by name to streams opened with a login or token, by role to anonymous ones (viewing: open).
    const serverTime = this.now();
    const unconfirmed = unconfirmedOf(this.engine, serverTime);
    this.hub.broadcast('alarm', { serverTime, changes: changes.map((c) => changeView(c, true, unconfirmed)) }, (c) => c.identity !== null);
    this.hub.broadcast('alarm', { serverTime, changes: changes.map((c) => changeView(c, false, unconfirmed)) }, (c) => c.identity === null);
  }

  /** Notes that a row open screens have of `bed` gets its "not reported" mark at `at` (tick). */
  private markDue(bed: string, at: number): void {
    const s = this.shown.get(bed);
    if (s) s.markAt = Math.min(s.markAt, at);
    // None noted: a tile with nothing else time alone changes (tick compares lastDataAt and NEWS2 with these).
    else this.shown.set(bed, { lastDataAt: null, news2: 'null', news2ChangesAt: Infinity, markAt: at, marked: new Map() });
  }

  wave(chunk: WaveChunk): void {
    this.hub.broadcast('wave', chunk, (c) => c.bed === chunk.bed);
  }

  flush(): void {
    this.timer = null;
    if (this.dirty.size === 0) return;
    const now = this.now();
    const unconfirmed = unconfirmedOf(this.engine, now);
    const beds = [...this.dirty].map((b) => this.tile(b, now, true, unconfirmed));
    for (const b of this.dirty) this.bedCached.delete(b);
    this.dirty.clear();
    // As for alarms: a stream opened after this flush has no other way to get these beds' new values.
    this.cached = null;
    // alarmSeq: the last alarm change these tiles include (the page tells by it which alarms their counts left out).
    this.hub.broadcast('vitals', { serverTime: now, alarmSeq: this.lastSeq, beds });
  }

  /**
   * The whole ward as JSON, for GET /api/ward and as the first event of every stream: the same text for every request
   * within flushMs (its values are then as old as the streams' are at most), unless an alarm changed or vitals were
   * flushed since. Shared, so replies waiting in many sockets hold one copy.
   */
  snapshotJson(): string {
    const now = this.now();
    if (this.cached && now - this.cached.at < this.flushMs) return this.cached.json;
    const json = JSON.stringify(this.snapshot(now));
    this.cached = { json, at: now };
    return json;
  }

  /**
   * One bed's detail (GET /api/beds/:bed) as UTF-8 JSON: shared like the snapshot, per bed, for flushMs, unless that
   * bed's alarms changed or its vitals were flushed since. Answers older than flushMs are let go as others are built.
   */
  bedJson(bed: string): Buffer {
    const now = this.now();
    const hit = this.bedCached.get(bed);
    if (hit && now - hit.at < this.flushMs) return hit.body;
    for (const [b, e] of this.bedCached) if (now - e.at >= this.flushMs) this.bedCached.delete(b);
    // alarmSeq: the last alarm change this answer's alarms include (the page keeps the stream's alarms; see app.js).
    const json = JSON.stringify({ serverTime: now, alarmSeq: this.lastSeq, ...bedTile(this.ward, this.engine, bed, now), trends: this.ward.trends(bed), waves: this.ward.waves(bed) });
    const body = Buffer.from(json, 'utf8');
    this.bedCached.set(bed, { body, at: now });
    return body;
  }

  /** The whole ward, built now. */
  snapshot(now = this.now()): Record<string, unknown> {
    // On the feed's clock, as every instant it sends (review rv188 L2).
    const unconfirmed = unconfirmedOf(this.engine, now);
    return {
      gatewayId: this.info.gatewayId,
      site: this.info.site ?? null,
      viewing: this.info.viewing,
      serverTime: now,
      staleAfterS: this.info.staleAfterS,
      presentation: presentation(),
      beds: wardBeds(this.ward, this.engine).map((b) => this.tile(b, now, false, unconfirmed)),
      gatewayAlarms: this.engine.list({ bed: GATEWAY_BED }).map((a) => alarmView(a, unconfirmed)),
      alarmSeq: this.alarmSeq,
      // The page says so: which beds (the first names) are not shown over display.maxBeds.
      droppedBeds: this.ward.droppedBedsView(),
      droppedBedEvents: this.ward.droppedBeds,
      droppedMetricEvents: this.ward.droppedMetrics,
    };
  }

  /**
   * A bed's tile. `broadcast`: every open screen gets it, so it is what they have; a snapshot's is noted only for a bed
   * none was sent yet (screens opened earlier may hold an older one: the tick compares with that).
   */
  private tile(bed: string, now: number, broadcast: boolean, unconfirmed: UnconfirmedOf): BedTile {
    const score = this.engine.news2(bed, now);
    const tile = bedTile(this.ward, this.engine, bed, now, score, unconfirmed);
    // The engine's alarms as they are now, whichever screens get this tile.
    if (tile.alarmsNotSent.total > 0) this.bounded.add(bed);
    else this.bounded.delete(bed);
    if (!broadcast && this.shown.has(bed)) return tile;
    // A tile with none of these has nothing time alone can change.
    const marks = marksOf(tile, this.engine);
    if (tile.lastDataAt === null && tile.news2 === null && marks.markAt === Infinity && marks.marked.size === 0) this.shown.delete(bed);
    else this.shown.set(bed, { lastDataAt: tile.lastDataAt, news2: JSON.stringify(tile.news2), news2ChangesAt: news2ChangesAt(score), ...marks });
    return tile;
  }

  /**
   * Once a second: the beds whose tiles on open screens time alone made differ from what a screen opening now gets are
   * sent again with the next flush. Cheap at 128 beds: two numbers compared per bed, a score only when due.
   */
  tick(now = this.now()): void {
    // A waveform moves lastDataAt without a tile (one per segment would be many). Open screens say "No data for …" past
    // staleAfterS from the lastDataAt they have: the tile is sent again a little before that when data came since, so
    // they never say it while a new screen would not, and end on the same lastDataAt when the data stops. So at most
    // one tile per bed every staleAfterS - 2 s, and only while numerics are stopped (a numeric sends the tile anyway).
    const quietMs = Math.max(TICK_MS, this.info.staleAfterS * 1000 - 2 * TICK_MS);
    for (const bed of this.ward.bedIds()) {
      const at = this.ward.lastDataAt(bed);
      if (at === null || this.dirty.has(bed)) continue;
      // None sent: a bed known from waveforms alone, whose tile open screens do not have at all.
      const sent = this.shown.get(bed)?.lastDataAt ?? null;
      if (sent === null || (at > sent && now - sent >= quietMs)) this.dirty.add(bed);
    }
    // NEWS2 is scored when a tile is built, and its inputs age out with no event to send it again (RR, SpO2 and pulse
    // after 5 min): the badge on open screens stayed "all measured" (review rv121 M3). A bed is scored again only once
    // one of its inputs can have aged out.
    for (const [bed, s] of this.shown) {
      if (this.dirty.has(bed)) continue;
      // A device alarm's "not reported" mark comes with time alone, and goes with a new report of the alarm, which
      // changes nothing of it (no alarm change): its bed may get no readings at all (a sender of alarms only; review
      // rv188 M2).
      if (s.markAt <= now || [...s.marked].some(([id, at]) => this.engine.deviceReport(id)?.at !== at)) {
        this.dirty.add(bed);
        continue;
      }
      if (s.news2ChangesAt > now) continue;
      const score = this.engine.news2(bed, now);
      if (JSON.stringify(news2View(score)) !== s.news2) this.dirty.add(bed);
      else s.news2ChangesAt = news2ChangesAt(score);
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
    this.offDrop();
    this.offShift();
    this.bedCached.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
