// Live updates for display clients: alarm changes go out at once (latency matters at the bedside); tiles of beds with
// new vitals are coalesced and sent every flushMs; waveform chunks go only to clients watching that bed. The ward
// snapshot (GET /api/ward, every new stream's first event) is built at most once per flushMs and shared: a 128-bed
// ward's takes ~28 ms and ~200 KB, so building it per request let a GET flood stall the alarms.
import type { AlarmEngine } from '../alarms/engine.js';
import { GATEWAY_BED, type AlarmStateChange } from '../alarms/types.js';
import type { DriverEvent } from '../model/reading.js';
import { alarmView, bedTile, changeView, presentation, wardBeds } from '../display/view.js';
import { MAX_DROPPED_BEDS_NAMED, type WardDrop, type WardState, type WaveChunk } from '../display/ward.js';
import type { SseHub } from './sse.js';

export interface WardInfo {
  gatewayId: string;
  site?: string;
  viewing: 'open' | 'authenticated';
  staleAfterS: number;
}

export class LiveFeed {
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The last snapshot, serialised, and when it was built; null once something it shows has changed. */
  private cached: { json: string; at: number } | null = null;
  /**
   * The seq of the last alarm change sent on the streams: a snapshot shows every change up to it, so the page can tell
   * whether an answer of another request (an action's) is newer than what it shows (the engine's seq is per instance).
   */
  private lastSeq = 0;
  private readonly offDrop: () => void;

  constructor(
    private readonly ward: WardState,
    private readonly engine: AlarmEngine,
    private readonly hub: SseHub,
    private readonly info: WardInfo,
    private readonly flushMs = 250,
    private readonly now: () => number = Date.now,
  ) {
    this.offDrop = ward.onDrop((d) => this.bedDropped(d));
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

  /** A bed's tile changed outside the readings (a NEWS2 observation): sent with the next flush, and in new snapshots. */
  bedChanged(bed: string): void {
    this.cached = null;
    this.dirty.add(bed);
    this.schedule();
  }

  private schedule(): void {
    if (this.dirty.size && !this.timer && !this.stopped) this.timer = setTimeout(() => this.flush(), this.flushMs);
  }

  alarmChanges(changes: readonly AlarmStateChange[]): void {
    // A stream opened after this broadcast must not get a snapshot from before it: it would miss the change.
    this.cached = null;
    for (const c of changes) {
      if (c.seq > this.lastSeq) this.lastSeq = c.seq;
      // A left-out bed's tile may be new on the page (made from this change, unmarked): the flush sends it marked.
      if (c.alarm.bed !== GATEWAY_BED && this.ward.readingsDropped(c.alarm.bed)) this.dirty.add(c.alarm.bed);
    }
    this.schedule();
    // Who acted by name to streams opened with a login or token, by role to anonymous ones (viewing: open).
    const serverTime = this.now();
    this.hub.broadcast('alarm', { serverTime, changes: changes.map((c) => changeView(c, true)) }, (c) => c.identity !== null);
    this.hub.broadcast('alarm', { serverTime, changes: changes.map((c) => changeView(c, false)) }, (c) => c.identity === null);
  }

  wave(chunk: WaveChunk): void {
    this.hub.broadcast('wave', chunk, (c) => c.bed === chunk.bed);
  }

  flush(): void {
    this.timer = null;
    if (this.dirty.size === 0) return;
    const now = this.now();
    const beds = [...this.dirty].map((b) => bedTile(this.ward, this.engine, b, now));
    this.dirty.clear();
    // As for alarms: a stream opened after this flush has no other way to get these beds' new values.
    this.cached = null;
    this.hub.broadcast('vitals', { serverTime: now, beds });
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

  /** The whole ward, built now. */
  snapshot(now = this.now()): Record<string, unknown> {
    return {
      gatewayId: this.info.gatewayId,
      site: this.info.site ?? null,
      viewing: this.info.viewing,
      serverTime: now,
      staleAfterS: this.info.staleAfterS,
      presentation: presentation(),
      beds: wardBeds(this.ward, this.engine).map((b) => bedTile(this.ward, this.engine, b, now)),
      gatewayAlarms: this.engine.list({ bed: GATEWAY_BED }).map(alarmView),
      alarmSeq: this.alarmSeq,
      // The page says so: which beds (the first names) are not shown over display.maxBeds.
      droppedBeds: this.ward.droppedBedsView(),
      droppedBedEvents: this.ward.droppedBeds,
      droppedMetricEvents: this.ward.droppedMetrics,
    };
  }

  stop(): void {
    this.stopped = true;
    this.offDrop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
