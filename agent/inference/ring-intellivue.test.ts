// IntelliVue waves timed on receipt (no device time, e.g. after a monitor restart) in the edge model's ring (review
// fx95): the real decoder marks them `time-from-receipt`, so their arrival jitter is not taken for overlaps and the
// model window has no holes.
import { describe, expect, it } from 'vitest';
import { DeviceClock } from '../../drivers/intellivue/clock.js';
import { ObservationDecoder } from '../../drivers/intellivue/observations.js';
import { MOC, NOM_PART_OBJ } from '../../drivers/intellivue/protocol/index.js';
import { ecgWaveObs } from '../../drivers/intellivue/test-support.js';
import { normalise, type NormalisedWaveform } from '../ingest.js';
import { bedKey, WaveformRing, type ChannelRefusal } from './ring.js';

const SEG_MS = 256; // 128 samples of ECG II at 500 Hz per answer, as a real monitor sends them

/** The decoder's waves for one answer without device time (absolute time unset, no time base), received at `at`. */
function receiptTimed(decoder: ObservationDecoder, at: number, k: number): NormalisedWaveform {
  const obs = ecgWaveObs(SEG_MS / 2, 2048 + k);
  const d = decoder.decode(
    {
      pollNumber: k,
      sequenceNo: k,
      relTime: 8000 + k * SEG_MS * 8,
      absTime: null,
      objType: { partition: NOM_PART_OBJ, code: MOC.VMO_METRIC_SA_RT },
      attrGroup: 0,
      contexts: [{ contextId: 0, observations: [{ handle: obs.handle, attributes: obs.attributes.map((a) => ({ id: a.id, value: Buffer.from(a.value), offset: 0 })) }] }],
    },
    at,
  );
  expect(d.deviceTime).toBeNull();
  expect(d.waves).toHaveLength(1);
  return normalise(d.waves[0]!) as NormalisedWaveform;
}

describe('IntelliVue waves timed on receipt in the ring (review fx95)', () => {
  it('60 answers with ±150 ms arrival jitter: none refused as overlap, the window has no holes', () => {
    const refused: { channel: string; reason: ChannelRefusal; backMs: number | undefined }[] = [];
    const ring = new WaveformRing(undefined, undefined, (_k, channel, reason, _seg, backMs) => refused.push({ channel, reason, backMs }));
    const decoder = new ObservationDecoder({ deviceId: 'mx800-1', bed: 'ICU-7', source: 'intellivue' }, new DeviceClock(0));
    const t0 = 1_750_000_000_000;
    // A fixed pseudo-random jitter in [-150, 150] ms (deterministic: the same run every time).
    let seed = 12345;
    const jitter = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 300 - 150;
    let kept = 0;
    let last = 0;
    let maxBack = 0;
    let prevAt: number | null = null;
    for (let k = 0; k < 60; k++) {
      const at = Math.round(t0 + (k + 1) * SEG_MS + jitter());
      const w = receiptTimed(decoder, at, k);
      expect(w.quality).toEqual({ state: 'valid', reasons: ['time-from-receipt'] });
      expect(w.startTime).toBe(at - SEG_MS); // its last sample ends at receipt
      if (prevAt !== null) maxBack = Math.max(maxBack, prevAt - w.startTime);
      prevAt = at;
      if (ring.add(w)) kept++;
      last = at;
    }
    // The jitter does step back well past the 100 ms device-time tolerance: without the mark, these were refused.
    expect(maxBack).toBeGreaterThan(150);
    expect(refused).toEqual([]);
    expect(kept).toBe(60);
    const win = ring.window(bedKey('ICU-7', 'mx800-1'), last, 15);
    expect(win.map((c) => c.name)).toEqual(['II']);
    const samples = Array.from(win[0]!.samples);
    expect(samples).toHaveLength(15 * 500);
    expect(samples.filter((x) => Number.isNaN(x))).toHaveLength(0);
  });
});
