// IntelliVue waves without device time (absolute time unset, e.g. after a monitor restart) in the edge model's ring
// (reviews fx95, rv94 M3): the real decoder places them on a timeline anchored at a receipt and run by the monitor's
// relative time, marked `time-anchored-at-receipt`. Their spacing is the monitor's own, so arrival jitter is neither
// an overlap nor a gap, and answers lost on the link leave exactly their samples as NaN in the model window. The
// timeline is kept at the least latency seen (review rv96 M4): an answer that would end after its receipt is the new
// anchor, a step back by its lower latency; under the ring's 100 ms overlap tolerance that is jitter, above it the
// segment is refused (`overlap`, counted), here once, at the second answer.
import { describe, expect, it } from 'vitest';
import { DeviceClock } from '../../drivers/intellivue/clock.js';
import { ObservationDecoder } from '../../drivers/intellivue/observations.js';
import { MOC, NOM_PART_OBJ } from '../../drivers/intellivue/protocol/index.js';
import { ecgWaveObs } from '../../drivers/intellivue/test-support.js';
import { normalise, type NormalisedWaveform } from '../ingest.js';
import { bedKey, WaveformRing, type ChannelRefusal } from './ring.js';

const SEG_MS = 256; // 128 samples of ECG II at 500 Hz per answer, as a real monitor sends them
const SAMPLES = SEG_MS / 2;
const T0 = 1_750_000_000_000;
const KEY = bedKey('ICU-7', 'mx800-1');

/** The decoder's waves for answer `k` (relative time k x 256 ms on) without device time, received at `at`. */
function noDeviceTime(decoder: ObservationDecoder, at: number, k: number): NormalisedWaveform {
  const obs = ecgWaveObs(SAMPLES, 2048 + k);
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

/** A fixed pseudo-random jitter in [-150, 150] ms (deterministic: the same run every time). */
function jitterer(): () => number {
  let seed = 12345;
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 300 - 150;
}

function refusing(): { ring: WaveformRing; refused: { channel: string; reason: ChannelRefusal; backMs: number | undefined }[] } {
  const refused: { channel: string; reason: ChannelRefusal; backMs: number | undefined }[] = [];
  const ring = new WaveformRing(undefined, undefined, (_k, channel, reason, _seg, backMs) => refused.push({ channel, reason, backMs }));
  return { ring, refused };
}

const nanCount = (samples: Float32Array) => Array.from(samples).filter((x) => Number.isNaN(x)).length;

describe('IntelliVue waves without device time in the ring (reviews fx95, rv94 M3)', () => {
  it('60 answers with ±150 ms arrival jitter: placed by relative time at the least latency seen, refused only where that steps back over 100 ms (once, at the start), the window has no holes', () => {
    const { ring, refused } = refusing();
    const decoder = new ObservationDecoder({ deviceId: 'mx800-1', bed: 'ICU-7', source: 'intellivue' }, new DeviceClock(0));
    const jitter = jitterer();
    let kept = 0;
    let last = 0;
    let maxBack = 0;
    let prevAt: number | null = null;
    let end: number | null = null;
    const refusedAt: number[] = [];
    for (let k = 0; k < 60; k++) {
      const at = Math.round(T0 + (k + 1) * SEG_MS + jitter());
      const w = noDeviceTime(decoder, at, k);
      expect(w.quality).toEqual({ state: 'valid', reasons: ['time-anchored-at-receipt'] });
      // Its last sample ends where the answer of least latency so far and the relative time since put it.
      end = end === null ? at : Math.min(end + SEG_MS, at);
      expect(w.startTime).toBe(end - SEG_MS);
      if (prevAt !== null) maxBack = Math.max(maxBack, prevAt - (at - SEG_MS)); // placed at receipt: how far back it would start
      prevAt = at;
      if (ring.add(w)) kept++;
      else refusedAt.push(k);
      last = at;
    }
    // The receipts do step back well past the 100 ms device-time tolerance: placed at receipt, these were refused.
    expect(maxBack).toBeGreaterThan(150);
    // The second answer came 165 ms less late than the first: the timeline steps back 106 ms there, its segment is
    // refused (said, counted); lower latencies found later step back by less, taken as jitter.
    expect(refusedAt).toEqual([1]);
    expect(refused).toEqual([{ channel: 'II', reason: 'overlap', backMs: 106 }]);
    expect(kept).toBe(59);
    const win = ring.window(KEY, last, 15);
    expect(win.map((c) => c.name)).toEqual(['II']);
    expect(win[0]!.samples).toHaveLength(15 * 500);
    expect(nanCount(win[0]!.samples)).toBe(0);
  });

  for (const lost of [1, 3, 7]) {
    it(`${lost} answer(s) lost on the link (±150 ms jitter): exactly ${lost} x 128 samples NaN in the window, none refused after the start`, () => {
      const { ring, refused } = refusing();
      const decoder = new ObservationDecoder({ deviceId: 'mx800-1', bed: 'ICU-7', source: 'intellivue' }, new DeviceClock(0));
      const jitter = jitterer();
      let last = 0;
      for (let k = 0; k < 80; k++) {
        const at = Math.round(T0 + (k + 1) * SEG_MS + jitter());
        if (k >= 40 && k < 40 + lost) continue;
        // The second answer steps the timeline back 106 ms (above): refused; the window below starts later.
        expect(ring.add(noDeviceTime(decoder, at, k))).toBe(k !== 1);
        last = at;
      }
      expect(refused).toEqual([{ channel: 'II', reason: 'overlap', backMs: 106 }]);
      const win = ring.window(KEY, last, 15);
      expect(win[0]!.samples).toHaveLength(15 * 500);
      expect(nanCount(win[0]!.samples)).toBe(lost * SAMPLES);
    });
  }

  it('cut at an alarm timed on receipt: a device clock noted before the monitor lost its time does not move the end', () => {
    const ring = new WaveformRing();
    // The monitor's alarms were stamped with its time before it restarted: its clock noted 10 s ahead of the gateway's.
    ring.noteAlarmClock('mx800-1', T0, T0 + 10_000);
    const decoder = new ObservationDecoder({ deviceId: 'mx800-1', bed: 'ICU-7', source: 'intellivue' }, new DeviceClock(0));
    let last = 0;
    for (let k = 0; k < 60; k++) {
      last = T0 + (k + 1) * SEG_MS;
      ring.add(noDeviceTime(decoder, last, k));
    }
    // An alarm of this monitor without device time is placed at its receipt: the window ends at the last answer.
    const win = ring.window(KEY, last, 15);
    expect(nanCount(win[0]!.samples)).toBe(0);
    // 1 s after the last answer: 1 s of samples missing at the end, not 11 s.
    expect(nanCount(ring.window(KEY, last + 1000, 15)[0]!.samples)).toBe(500);
  });
});

describe('IntelliVue waves without device time when the gateway clock steps back (fx114)', () => {
  it('the timeline re-anchors 5 min back: the ring starts afresh at once (said once, not refused), an alarm right after has its samples', () => {
    const refused: ChannelRefusal[] = [];
    const steps: { key: string; channel: string; stepMs: number }[] = [];
    const ring = new WaveformRing(
      undefined,
      undefined,
      (_k, _c, reason) => refused.push(reason),
      (key, channel, stepMs) => steps.push({ key, channel, stepMs }),
    );
    const decoder = new ObservationDecoder({ deviceId: 'mx800-1', bed: 'ICU-7', source: 'intellivue' }, new DeviceClock(0));
    const STEP = 300_000;
    const at = (k: number) => T0 + (k + 1) * SEG_MS + 20 - (k >= 100 ? STEP : 0);
    const kept: boolean[] = [];
    for (let k = 0; k <= 100; k++) kept.push(ring.add(noDeviceTime(decoder, at(k), k)));
    expect(kept.every((x) => x)).toBe(true);
    expect(refused).toEqual([]);
    expect(steps).toEqual([{ key: KEY, channel: 'II', stepMs: STEP }]);
    // An alarm right after the step, on the stepped-back clock: the answer just received, none of the old samples.
    const first = ring.window(KEY, at(100) + 10, 15)[0]!.samples;
    expect(first).toHaveLength(SAMPLES);
    expect(nanCount(first)).toBe(0);
    for (let k = 101; k < 200; k++) expect(ring.add(noDeviceTime(decoder, at(k), k))).toBe(true);
    expect(refused).toEqual([]);
    expect(steps).toHaveLength(1);
    const win = ring.window(KEY, at(199), 15)[0]!.samples;
    expect(win).toHaveLength(15 * 500);
    expect(nanCount(win)).toBe(0);
  });
});
