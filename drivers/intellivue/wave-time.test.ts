// Waves placed at the gateway's receipt time (no device time: a monitor restarted, its clock not yet learned) carry
// the reason `time-from-receipt`, as HL7's do (review fx95), so that the edge model's ring allows for arrival jitter.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../serial/testing.js';
import { DeviceClock } from './clock.js';
import type { IntellivueDriver } from './index.js';
import { ObservationDecoder } from './observations.js';
import { ATTR, MDS_OBJECT, MOC, MSMT, NOM_PART_OBJ, encodeAssociationAccept, encodeMdsCreateEvent, encodePollResult, epochToAbsoluteTime } from './protocol/index.js';
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

describe('IntelliVue waves without device time (review fx95)', () => {
  it('a reply without device time gives waves placed at receipt with time-from-receipt (state kept valid); with device time, none', async () => {
    const now = 1_750_000_000_000;
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
    expect(w.quality).toEqual({ state: 'valid', reasons: ['time-from-receipt'] });
    expect(w.sampleRateHz).toBe(500);
    // Its last sample ends at the receipt time (128 samples of 2 ms).
    expect(w.receivedAt).toBe(now);
    expect(w.startTime).toBe(now - 256);

    // A numeric of such a reply has no device time (deviceTime null), as HL7's: nothing placed on receipt, no reason.
    answer(link, NUMERICS, [numericObs(2, 0x4182, 72)], null, 16_000);
    await waitFor('a numeric', () => ctx.readings().length === 1);
    expect(ctx.readings()[0]).toMatchObject({ deviceTime: null, receivedAt: now, quality: { state: 'valid' } });
    expect(ctx.readings()[0]!.quality.reasons).toBeUndefined();

    // The monitor gives its time again: the waves are on device time, unmarked.
    answer(link, WAVES, [ecgWaveObs(128)], now - 3000, 24_000);
    await waitFor('a second wave', () => ctx.waveforms().length === 2);
    const w2 = ctx.waveforms()[1]!;
    expect(w2.quality).toEqual({ state: 'valid' });
    expect(w2.startTime).toBe(now - 3000 - 256);
  });

  it('a wave the device flags keeps its reasons, and gains time-from-receipt, without losing its worse state', () => {
    const decoder = new ObservationDecoder({ deviceId: 'mx', source: 'intellivue' }, new DeviceClock(0));
    const obs = ecgWaveObs(64);
    // The SA_VAL_OBS state (offset 2) flagged invalid by the device.
    const sa = Buffer.from(obs.attributes.find((a) => a.id === ATTR.SA_VAL_OBS)!.value);
    sa.writeUInt16BE(MSMT.INVALID, 2);
    const attributes = obs.attributes.map((a) => ({ id: a.id, value: a.id === ATTR.SA_VAL_OBS ? sa : Buffer.from(a.value), offset: 0 }));
    const d = decoder.decode({ pollNumber: 1, sequenceNo: 1, relTime: 100, absTime: null, objType: { partition: NOM_PART_OBJ, code: WAVES }, attrGroup: 0, contexts: [{ contextId: 0, observations: [{ handle: obs.handle, attributes }] }] }, 5000);
    expect(d.deviceTime).toBeNull();
    expect(d.waves[0]!.quality).toEqual({ state: 'invalid', reasons: ['device-flag:invalid', 'time-from-receipt'] });
  });
});
