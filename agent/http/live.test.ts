// LiveFeed on its own (fake clock, a hub that records what it broadcasts): what open screens are sent when nothing new
// arrives for a bed, so that they agree with a screen that connects later (review rv121 M3, L1).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { WardState } from '../display/ward.js';
import type { BedTile } from '../display/view.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { MdcCode, NumericReading, Unit, WaveformSegment } from '../model/reading.js';
import { LiveFeed } from './live.js';
import type { SseHub } from './sse.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const STALE_AFTER_S = 10;

function reading(mdc: MdcCode, value: number, unit: Unit, bed: string, at: number): NumericReading {
  return {
    kind: 'numeric', deviceId: `mon-${bed}`, bed, source: 'test-source', mdc, value, unit, deviceTime: null, receivedAt: at,
    quality: { state: 'valid' },
  };
}

function ecg(bed: string, at: number): WaveformSegment {
  return {
    kind: 'waveform', deviceId: `mon-${bed}`, bed, source: 'test-source', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT,
    startTime: at, sampleRateHz: 250, samples: Array.from({ length: 250 }, (_, k) => Math.sin(k / 10)), receivedAt: at,
    quality: { state: 'valid' },
  };
}

type Sent = { event: string; data: { serverTime: number; alarmSeq?: number; beds: BedTile[] } };

/** A ward, an engine and a LiveFeed whose hub records what it broadcasts to open screens, on the clock `now`. */
function rig(now: () => number): { ward: WardState; engine: AlarmEngine; sent: Sent[]; feed: LiveFeed } {
  const ward = new WardState({ staleAfterS: STALE_AFTER_S, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 360 }, waveformSeconds: 8, maxBeds: 256 });
  const engine = new AlarmEngine();
  const sent: Sent[] = [];
  const hub = { broadcast: (event: string, data: unknown) => sent.push({ event, data: data as never }) } as unknown as SseHub;
  const feed = new LiveFeed(ward, engine, hub, { gatewayId: 'gw', viewing: 'open', staleAfterS: STALE_AFTER_S }, 250, now);
  return { ward, engine, sent, feed };
}

describe('LiveFeed: open screens kept in step without new readings', () => {
  let feed: LiveFeed;
  let ward: WardState;
  let engine: AlarmEngine;
  let sent: Sent[];

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    ({ ward, engine, sent, feed } = rig(() => Date.now()));
  });

  afterEach(() => {
    feed.stop();
    vi.useRealTimers();
  });

  /** The tiles of `bed` the open screens were sent, in order. */
  const tilesOf = (bed: string): BedTile[] => sent.filter((e) => e.event === 'vitals').flatMap((e) => e.data.beds.filter((b) => b.bed === bed));
  const commit = (events: (NumericReading | WaveformSegment)[]) => {
    engine.ingestAll(events);
    feed.committed(events);
  };

  it('re-sends a tile whose NEWS2 turned partial as its inputs aged out, and scores no bed on the tick before one can (rv121 M3)', () => {
    // Back-dated 292 s: RR, SpO2 and pulse go stale (300 s) 8 s from now.
    const at = T0 - 292_000;
    commit([
      reading(MDC.RESP_RATE, 18, UNITS.RESP_PER_MIN, 'bed-7', at),
      reading(MDC.PULS_OXIM_SAT_O2, 97, UNITS.PERCENT, 'bed-7', at),
      reading(MDC.ECG_HEART_RATE, 95, UNITS.BEAT_PER_MIN, 'bed-7', at),
      reading(MDC.PRESS_BLD_NONINV_SYS, 120, UNITS.MMHG, 'bed-7', at),
      reading(MDC.TEMP_BODY, 37, UNITS.DEGC, 'bed-7', at),
    ]);
    vi.advanceTimersByTime(300);
    expect(tilesOf('bed-7').map((t) => t.news2)).toEqual([expect.objectContaining({ partial: false, stale: [] })]);

    // Nothing can have aged out yet: the tick scores nothing.
    const scored = vi.spyOn(engine, 'news2');
    vi.advanceTimersByTime(7_000);
    expect(scored).not.toHaveBeenCalled();
    expect(tilesOf('bed-7')).toHaveLength(1);

    vi.advanceTimersByTime(3_000);
    const tiles = tilesOf('bed-7');
    expect(tiles).toHaveLength(2);
    expect(tiles[1]!.news2).toMatchObject({ partial: true, stale: ['respRate', 'spo2', 'pulse'] });
    // What the open screens now have is what a screen connecting now gets.
    const snapshot = JSON.parse(feed.snapshotJson()) as { beds: BedTile[] };
    expect(snapshot.beds.find((b) => b.bed === 'bed-7')!.news2).toEqual(tiles[1]!.news2);

    // Systolic (1 h) and temperature (4 h) are the next to age: no scoring every second until then.
    scored.mockClear();
    vi.advanceTimersByTime(60_000);
    expect(scored).not.toHaveBeenCalled();
    expect(tilesOf('bed-7')).toHaveLength(2);
  });

  it('re-sends the tile of a bed shown only in a snapshot when its recorded observation ages out (rv121 M3)', () => {
    // A V recorded 12 h minus 5 s ago (a restored note, say): no reading, so no tile was ever broadcast.
    engine.observe('bed-9', { consciousness: 'V' }, T0 - 43_200_000 + 5_000);
    const first = (JSON.parse(feed.snapshotJson()) as { beds: BedTile[] }).beds.find((b) => b.bed === 'bed-9')!;
    expect(first.news2).toMatchObject({ consciousness: 'V' });
    vi.advanceTimersByTime(7_000);
    const tiles = tilesOf('bed-9');
    expect(tiles).toHaveLength(1);
    expect(tiles[0]!.news2).toMatchObject({ consciousness: null, stale: ['consciousness'] });
  });

  it('keeps lastDataAt on open screens in step while only waveforms arrive, without a tile per segment (rv121 L1)', () => {
    commit([reading(MDC.ECG_HEART_RATE, 80, UNITS.BEAT_PER_MIN, 'bed-3', T0)]);
    vi.advanceTimersByTime(300);
    expect(tilesOf('bed-3')).toHaveLength(1);
    // Numerics stop, ECG goes on for 14 s: an open screen must never say "No data for …" (older than staleAfterS).
    for (let i = 1; i <= 14; i++) {
      commit([ecg('bed-3', Date.now())]);
      vi.advanceTimersByTime(1000);
      const shown = tilesOf('bed-3').at(-1)!.lastDataAt!;
      expect(Date.now() - shown).toBeLessThanOrEqual(STALE_AFTER_S * 1000);
    }
    // Not a tile per segment: about one per staleAfterS.
    expect(tilesOf('bed-3').length).toBeLessThanOrEqual(3);
    // The ECG stops: the open screens end with the same lastDataAt a screen connecting now gets, so both say
    // "No data for …" from the same moment.
    vi.advanceTimersByTime(20_000);
    const snapshot = JSON.parse(feed.snapshotJson()) as { beds: BedTile[] };
    expect(tilesOf('bed-3').at(-1)!.lastDataAt).toBe(snapshot.beds.find((b) => b.bed === 'bed-3')!.lastDataAt);
    const count = tilesOf('bed-3').length;
    vi.advanceTimersByTime(60_000);
    expect(tilesOf('bed-3')).toHaveLength(count);
  });

  it('shares a bed\'s answer per bed for 250 ms, and drops it at once when that bed\'s alarms change or its vitals are flushed (rv132 M1)', () => {
    const hr = (bed: string, value: number, at: number) => reading(MDC.ECG_HEART_RATE, value, UNITS.BEAT_PER_MIN, bed, at);
    // A minute before the backdated tachycardia below: a limit rule takes no reading as older than the latest it has.
    commit([hr('bed-1', 80, T0 - 60_000), hr('bed-2', 80, T0 - 60_000)]);
    vi.advanceTimersByTime(300);
    const builds = vi.spyOn(ward, 'trends');
    const answer = (bed: string) => JSON.parse(feed.bedJson(bed).toString('utf8')) as BedTile & { alarmSeq: number };
    const first = feed.bedJson('bed-1');
    expect(answer('bed-1').alarms).toEqual([]);
    expect(builds).toHaveBeenCalledTimes(1);
    // Another bed's alarm: this bed's answer is still shared.
    const tachy = (bed: string) => Array.from({ length: 13 }, (_, i) => hr(bed, 150, Date.now() - (12 - i) * 1000));
    const other = engine.ingestAll(tachy('bed-2'));
    expect(other.length).toBeGreaterThan(0);
    feed.alarmChanges(other);
    expect(feed.bedJson('bed-1')).toBe(first);
    expect(builds).toHaveBeenCalledTimes(1);
    // Its own alarm: the next answer has it, at once.
    const own = engine.ingestAll(tachy('bed-1'));
    feed.alarmChanges(own);
    expect(answer('bed-1').alarms.filter((a) => a.source === 'limit')).toHaveLength(1);
    expect(answer('bed-1').alarmSeq).toBe(Math.max(...own.map((c) => c.seq)));
    expect(builds).toHaveBeenCalledTimes(2);
    // Its vitals flushed (at the same instant): rebuilt with them.
    feed.committed([hr('bed-1', 91, Date.now())]);
    feed.flush();
    expect(answer('bed-1').vitals.find((v) => v.value === 91)).toBeDefined();
    expect(builds).toHaveBeenCalledTimes(3);
    // Shared for 250 ms at most.
    vi.advanceTimersByTime(249);
    feed.bedJson('bed-1');
    expect(builds).toHaveBeenCalledTimes(3);
    vi.advanceTimersByTime(1);
    feed.bedJson('bed-1');
    expect(builds).toHaveBeenCalledTimes(4);
  });

  it('sends the tile of a bed known only from its waveform to open screens (rv121 L1)', () => {
    feed.committed([ecg('bed-4', T0)]);
    vi.advanceTimersByTime(1_300);
    expect(tilesOf('bed-4').map((t) => t.lastDataAt)).toEqual([T0]);
  });
});

// Review rv188 M2, L2: a device alarm from a source that may send only start and end is marked "not reported" after
// NOT_REPORTED_AFTER_MS; that mark comes with time alone, so open screens must be sent the bed's tile again when it
// comes (an alarm-only bed has no readings to send it), judged on the feed's own clock, not Date.now.
describe('LiveFeed: the "not reported" mark reaches open screens (review rv188 M2, L2)', () => {
  const at0 = Date.now() + 86_400_000; // a day ahead of Date.now: judged on Date.now, nothing would ever be marked
  let clock = at0;
  let feed: LiveFeed;
  let engine: AlarmEngine;
  let sent: Sent[];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    clock = at0;
    ({ engine, sent, feed } = rig(() => clock));
  });

  afterEach(() => {
    feed.stop();
    vi.useRealTimers();
  });

  const alarm = (phase: 'start' | 'end', at: number) =>
    ({ kind: 'alarm', deviceId: 'acm-9', bed: 'bed-9', source: 'hl7', alarmId: 'asy', condition: null, text: 'ASYSTOLE', priority: 'high', category: 'physiological', phase, deviceTime: null, receivedAt: at }) as const;
  const deliver = (e: ReturnType<typeof alarm>) => {
    const changes = engine.ingest(e);
    feed.committed([e]);
    if (changes.length) feed.alarmChanges(changes);
  };
  const marks = () => sent.filter((e) => e.event === 'vitals').flatMap((e) => e.data.beds.filter((b) => b.bed === 'bed-9').map((b) => b.alarms[0]?.unconfirmed?.kind ?? null));

  it('an alarm-only bed gets its tile again when the mark comes, and again when the device reports the alarm anew', () => {
    deliver(alarm('start', clock));
    const first = JSON.parse(feed.snapshotJson()) as { beds: BedTile[] };
    expect(first.beds.find((b) => b.bed === 'bed-9')!.alarms[0]!.unconfirmed).toBeNull();
    for (let sec = 1; sec <= 302; sec++) {
      clock = at0 + sec * 1000;
      feed.tick(clock);
      vi.advanceTimersByTime(250);
    }
    expect(marks().at(-1)).toBe('not-reported');
    // A new screen gets it too, judged on the feed's clock.
    const later = JSON.parse(feed.snapshotJson()) as { beds: BedTile[] };
    expect(later.beds.find((b) => b.bed === 'bed-9')!.alarms[0]!.unconfirmed?.kind).toBe('not-reported');
    // The device reports it again (no change of the alarm): the mark goes from open screens at the next tick.
    deliver({ ...alarm('start', clock), phase: 'start' });
    clock += 1000;
    feed.tick(clock);
    vi.advanceTimersByTime(250);
    expect(marks().at(-1)).toBeNull();
  });

  it('a screen opened before the alarm (a ward screen open all day) gets the mark too, once, not a tile a second (review rv190 M1)', () => {
    // The screen is open first: its snapshot has no bed-9; the alarm reaches it only as a stream change.
    expect((JSON.parse(feed.snapshotJson()) as { beds: BedTile[] }).beds.find((b) => b.bed === 'bed-9')).toBeUndefined();
    deliver(alarm('start', clock));
    for (let sec = 1; sec <= 400; sec++) {
      clock = at0 + sec * 1000;
      feed.tick(clock);
      vi.advanceTimersByTime(250);
    }
    expect(marks()).toEqual(['not-reported']);
  });
});

// Review rv190 M2: a bed's tile carries MAX_TILE_ALARMS rows and counts the rest. An alarm change of a bed with no
// readings (a central station's start/end sender) can change which alarms those rows are: open screens must be sent
// the tile again, or an unanswered alarm left out stays without a row until the page is reloaded.
describe('LiveFeed: an alarm change reaches the rows of a bounded tile (review rv190 M2)', () => {
  let feed: LiveFeed;
  let engine: AlarmEngine;
  let sent: Sent[];

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    ({ engine, sent, feed } = rig(() => Date.now()));
  });

  afterEach(() => {
    feed.stop();
    vi.useRealTimers();
  });

  const raise = (id: string) => {
    const e = { kind: 'alarm', deviceId: 'acm-9', bed: 'bed-9', source: 'hl7', alarmId: id, condition: null, text: id, priority: 'high', category: 'physiological', phase: 'start', deviceTime: null, receivedAt: Date.now() } as const;
    const changes = engine.ingest(e);
    feed.committed([e]);
    feed.alarmChanges(changes);
    vi.advanceTimersByTime(10);
  };
  const tilesOf = (bed: string): BedTile[] => sent.filter((e) => e.event === 'vitals').flatMap((e) => e.data.beds.filter((b) => b.bed === bed));

  it('acknowledging a row gives the alarm left out its row on open screens', () => {
    for (let i = 0; i < 21; i++) raise(`A${i}`);
    const first = (JSON.parse(feed.snapshotJson()) as { beds: BedTile[] }).beds.find((b) => b.bed === 'bed-9')!;
    expect(first.alarms).toHaveLength(20);
    expect(first.alarmsNotSent.unacknowledged.total).toBe(1);
    const hidden = engine.list({ bed: 'bed-9' }).find((a) => !first.alarms.some((r) => r.id === a.id))!;
    const before = tilesOf('bed-9').length;
    const r = engine.acknowledge(first.alarms[0]!.id, { user: 'n', role: 'clinician', from: 't' }, Date.now());
    expect(r.ok).toBe(true);
    feed.alarmChanges(r.changes);
    vi.advanceTimersByTime(1_300);
    const tiles = tilesOf('bed-9').slice(before);
    expect(tiles).toHaveLength(1);
    expect(tiles[0]!.alarms.map((a) => a.id)).toContain(hidden.id);
    expect(tiles[0]!.alarmsNotSent.total).toBe(1);
    // Sent with the last alarm change it includes (the page tells by it which alarms the count left out, rv190 L1).
    expect(sent.filter((e) => e.event === 'vitals').at(-1)!.data.alarmSeq).toBe(Math.max(...r.changes.map((c) => c.seq)));
    // Nothing more changes: no more tiles.
    vi.advanceTimersByTime(60_000);
    expect(tilesOf('bed-9').length).toBe(before + 1);
  });
});
