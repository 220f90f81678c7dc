// Waves of answers without device time (a monitor restarted, its clock not yet learned) are placed on a timeline
// anchored at the receipt of the first such answer and run by the monitor's relative time, marked
// `time-anchored-at-receipt` (reviews fx95, rv94 M3): their spacing is the monitor's own (answers lost on the link
// stay gaps, arrival jitter is no overlap), only where the timeline sits is approximate.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../serial/testing.js';
import { DeviceClock } from './clock.js';
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
    expect(start(4000 + 256 * TICKS, T + 60_200)).toBe(T + 60_000); // early by 56 ms: follows the new anchor
    // The relative time leaps 10 min while the gateway's clock moved 256 ms: no plausible step, anchored afresh.
    expect(start(4000 + 600_000 * TICKS, T + 60_456)).toBe(T + 60_456 - 256);
    expect(start(4000 + 600_256 * TICKS, T + 60_800)).toBe(T + 60_456);
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
    expect(start(80_000 + 3256 * TICKS, T + 3300)).toBe(T + 3100);
  });

  it('a wave the device flags keeps its reasons, and gains time-anchored-at-receipt, without losing its worse state', () => {
    const decoder = new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, new DeviceClock(0));
    const d = decodeWave(decoder, 100, 5000, null, MSMT.INVALID);
    expect(d.deviceTime).toBeNull();
    expect(d.waves[0]!.quality).toEqual({ state: 'invalid', reasons: ['device-flag:invalid', 'time-anchored-at-receipt'] });
  });
});
