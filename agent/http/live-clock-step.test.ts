// LiveFeed across a step of the gateway's wall clock (review rv147 F2): the ward's instants move (WardState.shiftClock),
// open screens are told to reconnect (their server-time offset keeps the largest one seen, so a step back would leave
// every value an hour old on them), and the tiles they were sent are judged afresh on the new clock.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { WardState } from '../display/ward.js';
import type { BedTile } from '../display/view.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { NumericReading, WaveformSegment } from '../model/reading.js';
import { LiveFeed } from './live.js';
import type { SseHub } from './sse.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const HOUR_MS = 3_600_000;
const STALE_AFTER_S = 10;

const hr = (at: number): NumericReading => ({
  kind: 'numeric', deviceId: 'mon-A', bed: 'A', source: 'test', mdc: MDC.ECG_HEART_RATE, value: 80, unit: UNITS.BEAT_PER_MIN, deviceTime: null, receivedAt: at,
  quality: { state: 'valid' },
});
const ecg = (at: number): WaveformSegment => ({
  kind: 'waveform', deviceId: 'mon-A', bed: 'A', source: 'test', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT,
  startTime: at, sampleRateHz: 250, samples: [0, 0.1, 0.2], receivedAt: at, quality: { state: 'valid' },
});

describe('LiveFeed.clockStepped', () => {
  let feed: LiveFeed;
  let ward: WardState;
  let sent: { event: string; data: { serverTime: number; beds?: BedTile[]; deltaMs?: number } }[];

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    ward = new WardState({ staleAfterS: STALE_AFTER_S, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 360 }, waveformSeconds: 8, maxBeds: 16 });
    sent = [];
    const hub = { broadcast: (event: string, data: unknown) => sent.push({ event, data: data as never }) } as unknown as SseHub;
    feed = new LiveFeed(ward, new AlarmEngine(), hub, { gatewayId: 'gw', viewing: 'open', staleAfterS: STALE_AFTER_S }, 250, () => Date.now());
  });

  afterEach(() => {
    feed.stop();
    vi.useRealTimers();
  });

  const tilesOf = (bed: string): BedTile[] => sent.filter((e) => e.event === 'vitals').flatMap((e) => e.data.beds!.filter((b) => b.bed === bed));

  it('a step back of 1 h: screens are told to reconnect, and a bed fed by waveforms alone keeps sending its tile', () => {
    feed.committed([hr(Date.now()), ecg(Date.now())]);
    vi.advanceTimersByTime(1000);
    expect(tilesOf('A')).toHaveLength(1);
    vi.setSystemTime(Date.now() - HOUR_MS); // the gateway's clock steps back
    ward.shiftClock(-HOUR_MS, Date.now()); // as AlarmService.onClockStep calls it
    const told = sent.filter((e) => e.event === 'clock-stepped');
    expect(told).toHaveLength(1);
    expect(told[0]!.data).toMatchObject({ serverTime: Date.now(), deltaMs: -HOUR_MS });
    // A snapshot after the step shows the moved instants (not one cached from before).
    expect(JSON.parse(feed.snapshotJson()).beds[0].lastDataAt).toBe(T0 - HOUR_MS);
    // Waveforms only from now on (no numeric to carry the tile): the tick sends it before screens would say "No data".
    for (let i = 0; i < 30; i++) {
      feed.committed([ecg(Date.now())]);
      vi.advanceTimersByTime(1000);
    }
    const last = tilesOf('A').at(-1)!;
    // On the new clock, within staleAfterS of now (not the old clock's instant, an hour ahead).
    expect(Date.now() - last.lastDataAt!).toBeGreaterThanOrEqual(0);
    expect(Date.now() - last.lastDataAt!).toBeLessThan(STALE_AFTER_S * 1000);
  });
});
