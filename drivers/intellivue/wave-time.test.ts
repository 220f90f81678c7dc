// Waves of answers without device time (a monitor restarted, its clock not yet learned) are placed on a timeline
// anchored at the receipt of the first such answer and run by the monitor's relative time, marked
// `time-anchored-at-receipt` (reviews fx95, rv94 M3): their spacing is the monitor's own (answers lost on the link
// stay gaps, arrival jitter is no overlap), only where the timeline sits is approximate.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../serial/testing.js';
import { ANCHOR_SLACK_MS, DeviceClock } from './clock.js';
import type { IntellivueDriver } from './index.js';
import { ObservationDecoder } from './observations.js';
import { ATTR, MDS_OBJECT, MOC, MSMT, NOM_PART_OBJ, encodeAbort, encodeAssociationAccept, encodeMdsCreateEvent, encodePollResult, epochToAbsoluteTime } from './protocol/index.js';
import { ACCEPT_ALL, ecgWaveObs, memDriver, numericObs, type MemLink } from './test-support.js';

let driver: IntellivueDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

const WAVES = MOC.VMO_METRIC_SA_RT;
const NUMERICS = MOC.VMO_METRIC_NU;

/** The answer to the last poll of `code`: absolute time `absMs` (null: none, the bytes 0xFF) at relative time `rel`. */
function answer(link: MemLink, code: number, observations: ReturnType<typeof ecgWaveObs>[], absMs: number | null, rel: number): void {
  const extended = code === WAVES;
  link.rx(
    encodePollResult({
      invokeId: link.lastPoll(code),
      extended,
      linked: null,
      reply: {
        pollNumber: 1,
        sequenceNo: extended ? 1 : null,
        relTime: rel,
        absTime: absMs === null ? null : epochToAbsoluteTime(absMs, 0),
        objType: { partition: NOM_PART_OBJ, code },
        attrGroup: 0,
        contexts: [{ contextId: 0, observations }],
      },
    }),
  );
}

/** One wave answer of the decoder, ECG of 128 samples (256 ms), absolute time `absMs` (null: none) at relative time `rel`. */
function decodeWave(decoder: ObservationDecoder, rel: number, at: number, absMs: number | null = null, state = 0) {
  const obs = ecgWaveObs(128);
  const sa = Buffer.from(obs.attributes.find((a) => a.id === ATTR.SA_VAL_OBS)!.value);
  sa.writeUInt16BE(state, 2); // the SA_VAL_OBS state (offset 2)
  const attributes = obs.attributes.map((a) => ({ id: a.id, value: a.id === ATTR.SA_VAL_OBS ? sa : Buffer.from(a.value), offset: 0 }));
  const absTime = absMs === null ? null : epochToAbsoluteTime(absMs, 0);
  return decoder.decode({ pollNumber: 1, sequenceNo: 1, relTime: rel >>> 0, absTime, objType: { partition: NOM_PART_OBJ, code: WAVES }, attrGroup: 0, contexts: [{ contextId: 0, observations: [{ handle: obs.handle, attributes }] }] }, at);
}

const T = 1_750_000_000_000;
const TICKS = 8; // per ms

describe('IntelliVue waves without device time (reviews fx95, rv94 M3)', () => {
  it('a reply without device time: waves anchored at the first receipt, spaced by relative time, time-anchored-at-receipt (state valid); with device time, none', async () => {
    let now = T;
    const m = await memDriver({ waves: { enabled: true, requestPeriodMs: 1000 } }, null, () => now);
    driver = m.driver;
    const { link, ctx } = m;
    // A restarted monitor's MDS Create without absolute/relative time: the driver drops its time base.
    link.rx(encodeAssociationAccept(ACCEPT_ALL));
    link.rx(encodeMdsCreateEvent(1, 8000, MDS_OBJECT, []));
    await waitFor('wave and numeric polls', () => driver!.sessionState === 'polling' && link.polls(WAVES).length > 0 && link.polls(NUMERICS).length > 0);

    answer(link, WAVES, [ecgWaveObs(128)], null, 16_000);
    await waitFor('a wave', () => ctx.waveforms().length === 1);
    const w = ctx.waveforms()[0]!;
    expect(w.quality).toEqual({ state: 'valid', reasons: ['time-anchored-at-receipt'] });
    expect(w.sampleRateHz).toBe(500);
    // The first answer anchors the timeline: its last sample ends at the receipt time (128 samples of 2 ms).
    expect(w.receivedAt).toBe(now);
    expect(w.startTime).toBe(now - 256);
    // The next answer, 256 ms on by the monitor's relative time, arrives 150 ms late: placed by the relative time.
    now = T + 256 + 150;
    answer(link, WAVES, [ecgWaveObs(128)], null, 16_000 + 256 * TICKS);
    await waitFor('a second wave', () => ctx.waveforms().length === 2);
    expect(ctx.waveforms()[1]).toMatchObject({ startTime: T, receivedAt: now, quality: { state: 'valid', reasons: ['time-anchored-at-receipt'] } });

    // A numeric of such a reply has no device time (deviceTime null), as HL7's: nothing placed on receipt, no reason.
    answer(link, NUMERICS, [numericObs(2, 0x4182, 72)], null, 16_000);
    await waitFor('a numeric', () => ctx.readings().length === 1);
    expect(ctx.readings()[0]).toMatchObject({ deviceTime: null, receivedAt: now, quality: { state: 'valid' } });
    expect(ctx.readings()[0]!.quality.reasons).toBeUndefined();

    // The monitor gives its time again: the waves are on device time, unmarked.
    answer(link, WAVES, [ecgWaveObs(128)], T - 3000, 24_000); // (absolute time to the whole second)
    await waitFor('a third wave', () => ctx.waveforms().length === 3);
    const w3 = ctx.waveforms()[2]!;
    expect(w3.quality).toEqual({ state: 'valid' });
    expect(w3.startTime).toBe(T - 3000 - 256);
  });

  it('a new association anchors afresh at its first answer without device time', async () => {
    let now = T;
    const m = await memDriver({ waves: { enabled: true, requestPeriodMs: 1000 } }, null, () => now);
    driver = m.driver;
    const { link, ctx } = m;
    link.rx(encodeAssociationAccept(ACCEPT_ALL));
    link.rx(encodeMdsCreateEvent(1, 8000, MDS_OBJECT, []));
    await waitFor('wave polls', () => driver!.sessionState === 'polling' && link.polls(WAVES).length > 0);
    answer(link, WAVES, [ecgWaveObs(128)], null, 16_000);
    await waitFor('a wave', () => ctx.waveforms().length === 1);
    // The association is aborted and made again; the monitor's relative time ran on 10 s, the gateway's 10.3 s.
    link.rx(encodeAbort());
    await waitFor('a new association request', () => link.sent.filter((x) => x.kind === 'association' && x.spdu === 'request').length === 2);
    const polled = link.polls(WAVES).length;
    link.rx(encodeAssociationAccept(ACCEPT_ALL));
    link.rx(encodeMdsCreateEvent(1, 8000, MDS_OBJECT, []));
    await waitFor('wave polls again', () => driver!.sessionState === 'polling' && link.polls(WAVES).length > polled);
    now = T + 10_300;
    answer(link, WAVES, [ecgWaveObs(128)], null, 16_000 + 10_000 * TICKS);
    await waitFor('a second wave', () => ctx.waveforms().length === 2);
    // At its own receipt, not 300 ms early on the old association's timeline.
    expect(ctx.waveforms()[1]).toMatchObject({ startTime: now - 256, quality: { state: 'valid', reasons: ['time-anchored-at-receipt'] } });
  });

  it('the relative time going back (a restarted counter) or jumping implausibly far anchors afresh; then answers follow the new anchor', () => {
    const decoder = new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, new DeviceClock(0));
    const start = (rel: number, at: number) => decodeWave(decoder, rel, at).waves[0]!.startTime;
    expect(start(80_000, T)).toBe(T - 256);
    expect(start(80_000 + 256 * TICKS, T + 400)).toBe(T); // late by 144 ms: placed by its relative time
    // The counter restarted (relative time back to 4000): anchored at this receipt.
    expect(start(4000, T + 60_000)).toBe(T + 60_000 - 256);
    expect(start(4000 + 256 * TICKS, T + 60_300)).toBe(T + 60_000); // late by 44 ms: follows the new anchor
    // Early by 56 ms: it would end after its receipt, so it is the new anchor (review rv96 M4).
    expect(start(4000 + 512 * TICKS, T + 60_456)).toBe(T + 60_456 - 256);
    // The relative time leaps 10 min while the gateway's clock moved 256 ms: no plausible step, anchored afresh.
    expect(start(4000 + 600_000 * TICKS, T + 60_712)).toBe(T + 60_712 - 256);
    expect(start(4000 + 600_256 * TICKS, T + 61_000)).toBe(T + 60_712);
    // Across the 32-bit wrap of the relative counter, still one timeline.
    expect(start(2 ** 32 - 1024, T + 70_000)).toBe(T + 70_000 - 256);
    expect(start(2 ** 32 - 1024 + 256 * TICKS, T + 70_256)).toBe(T + 70_000);
  });

  it('a forgotten association (decoder.forget) or a clock that learned the real time anchors afresh', () => {
    const clock = new DeviceClock(0);
    const decoder = new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, clock);
    const start = (rel: number, at: number, abs: number | null = null) => decodeWave(decoder, rel, at, abs).waves[0]!.startTime;
    expect(start(80_000, T)).toBe(T - 256);
    decoder.forget();
    expect(start(80_000 + 1000 * TICKS, T + 1100)).toBe(T + 1100 - 256);
    expect(start(80_000 + 1256 * TICKS, T + 1456)).toBe(T + 1100); // follows the new anchor
    // The real time is learned (the monitor's clock 5 s ahead), then lost again (a new MDS Create without time).
    expect(start(80_000 + 2000 * TICKS, T + 2000, T + 7000)).toBe(T + 7000 - 256);
    clock.reset();
    expect(start(80_000 + 3000 * TICKS, T + 3100)).toBe(T + 3100 - 256);
    expect(start(80_000 + 3256 * TICKS, T + 3400)).toBe(T + 3100);
  });

  it('a wave the device flags keeps its reasons, and gains time-anchored-at-receipt, without losing its worse state', () => {
    const decoder = new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, new DeviceClock(0));
    const d = decodeWave(decoder, 100, 5000, null, MSMT.INVALID);
    expect(d.deviceTime).toBeNull();
    expect(d.waves[0]!.quality).toEqual({ state: 'invalid', reasons: ['device-flag:invalid', 'time-anchored-at-receipt'] });
  });
});

/**
 * The anchored timeline against the gateway's clock, one wave answer a second (review rv96 M4): the monitor's counter
 * (32-bit, 1/8 ms ticks) runs `ppm` fast, the gateway's clock steps by `stepMs` at `stepAtS`, the first answer comes
 * `firstLateMs` late, others `latencyMs` (+ up to 30 ms of jitter) after the time they describe. Each answer's wave end
 * minus its receipt, and its step against the answer before beyond the monitor's own spacing.
 */
function anchoredRun(opts: { ppm?: number; seconds: number; stepAtS?: number; stepMs?: number; firstLateMs?: number }) {
  const clock = new DeviceClock(0);
  let seed = 777;
  const jitter = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 30;
  const rel0 = 123_456_789;
  const offsets: number[] = [];
  const steps: number[] = [];
  let prev: { t: number; ticks: number } | null = null;
  for (let s = 0; s <= opts.seconds; s++) {
    const ticks = Math.round(s * 1000 * TICKS * (1 + (opts.ppm ?? 0) * 1e-6));
    const step = opts.stepAtS !== undefined && s >= opts.stepAtS ? opts.stepMs! : 0;
    const receivedAt = T + s * 1000 + 20 + jitter() + (s === 0 ? (opts.firstLateMs ?? 0) : 0) + step;
    const t = clock.anchoredTime((rel0 + ticks) >>> 0, receivedAt);
    offsets.push(t - receivedAt);
    steps.push(prev ? t - prev.t - (ticks - prev.ticks) / TICKS : 0);
    prev = { t, ticks };
  }
  const range = (from = 0, to = offsets.length) => {
    const part = offsets.slice(from, to);
    return { min: part.reduce((m, x) => Math.min(m, x), Infinity), max: part.reduce((m, x) => Math.max(m, x), -Infinity) };
  };
  return { offsets, steps, range };
}

describe('IntelliVue anchored timeline kept at the least latency (review rv96 M4)', () => {
  const H = 3600;
  // Drift over the window (100 ppm x 60 s = 6 ms) and an answer's own delay beyond the least (jitter, 30 ms here) add
  // to the slack.
  const LOW = -ANCHOR_SLACK_MS - 40;
  const least = (xs: number[]) => xs.reduce((m, x) => Math.min(m, x), Infinity);
  const most = (xs: number[]) => xs.reduce((m, x) => Math.max(m, x), -Infinity);

  it('a monitor 100 ppm fast, 48 h: never after the receipt, within the slack before it; steps back only within the jitter', () => {
    const r = anchoredRun({ ppm: 100, seconds: 48 * H });
    expect(most(r.offsets)).toBeLessThanOrEqual(0);
    expect(least(r.offsets)).toBeGreaterThanOrEqual(-ANCHOR_SLACK_MS);
    // Steps back: to the least latency (within the 30 ms jitter) as it is found and as the drift (0.1 ms a second)
    // overtakes it; under the ring's 100 ms overlap tolerance, so seen as jitter. None forward.
    expect(least(r.steps)).toBeGreaterThanOrEqual(-30);
    expect(most(r.steps)).toBeLessThanOrEqual(0);
  });

  it('a monitor 100 ppm slow, 200 h (the counter wraps twice): within the slack; steps forward of about the slack, back only by the jitter', () => {
    const r = anchoredRun({ ppm: -100, seconds: 200 * H });
    expect(most(r.offsets)).toBeLessThanOrEqual(0);
    expect(least(r.offsets)).toBeGreaterThanOrEqual(LOW);
    const pulls = r.steps.filter((x) => x > 100);
    expect(pulls.length).toBeGreaterThan(60); // about every 2.8 h
    expect(most(pulls)).toBeLessThanOrEqual(-LOW);
    expect(least(r.steps)).toBeGreaterThanOrEqual(-30); // back only by the jitter, as the least latency is found
  });

  it('the gateway clock stepped 4 min forward (NTP after boot): re-anchored once the window has passed', () => {
    const r = anchoredRun({ seconds: 2 * H, stepAtS: H, stepMs: 240_000 });
    expect(r.range(0, H).min).toBeGreaterThanOrEqual(-ANCHOR_SLACK_MS);
    // Within the window the answers are early by the step: a spell of slow answers looks alike.
    expect(r.range(H, H + 59).max).toBeLessThan(-239_000);
    const after = r.range(H + 61);
    expect(after.min).toBeGreaterThanOrEqual(-ANCHOR_SLACK_MS);
    expect(after.max).toBeLessThanOrEqual(0);
  });

  it('the gateway clock stepped 4 min back: re-anchored at the first answer after it, never after the receipt', () => {
    const r = anchoredRun({ seconds: 2 * H, stepAtS: H, stepMs: -240_000 });
    expect(r.range().max).toBeLessThanOrEqual(0);
    expect(r.range(H).min).toBeGreaterThanOrEqual(-ANCHOR_SLACK_MS);
  });

  it('a first answer 1.5 s late: corrected at the next answer, never after the receipt', () => {
    const r = anchoredRun({ seconds: 2 * H, firstLateMs: 1500 });
    expect(r.range().max).toBeLessThanOrEqual(0);
    expect(r.range().min).toBeGreaterThanOrEqual(-ANCHOR_SLACK_MS);
    expect(r.steps[1]).toBeLessThan(-1400); // the one step back: the first answer's lateness
    // Through the decoder: the second wave ends at its receipt, not 1.5 s after it.
    const decoder = new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, new DeviceClock(0));
    const start = (rel: number, at: number) => decodeWave(decoder, rel, at).waves[0]!.startTime;
    expect(start(80_000, T + 1500)).toBe(T + 1500 - 256);
    expect(start(80_000 + 1000 * TICKS, T + 1020)).toBe(T + 1020 - 256);
    expect(start(80_000 + 2000 * TICKS, T + 2050)).toBe(T + 2020 - 256); // then placed by the relative time
  });
});
