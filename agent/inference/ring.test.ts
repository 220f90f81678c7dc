// The ring's refusal of segments that go back (review rv84 M2, L1): coarse (whole-second) sender times are kept in
// order, a re-send or a second lead of one message is refused, and a waveform of an unknown code is said, not dropped.
import { describe, expect, it } from 'vitest';
import { mapMessage } from '../../drivers/hl7/pcd01.js';
import { parseMessage, readHeader } from '../../drivers/hl7/protocol/index.js';
import { signalCode } from '../../drivers/wfdb-replay/codes.js';
import type { WaveformSegment } from '../model/reading.js';
import { BED_IDLE_MS, bedKey, WaveformRing, type ChannelRefusal } from './ring.js';

const FS = 250;
const generic = signalCode('V', ''); // MDC_ECG_ELEC_POTL
/** An HL7-like segment: the generic ECG code, no code of the device's own. */
function seg(value: number, startTime: number, receivedAt: number, n: number, reasons?: string[]): WaveformSegment {
  return {
    kind: 'waveform', deviceId: 'mon-A', bed: 'A', source: 'hl7', mdc: generic.mdc, unit: generic.unit, startTime, sampleRateHz: FS,
    samples: new Array<number>(n).fill(value), receivedAt, quality: reasons ? { state: 'questionable', reasons } : { state: 'valid' },
  };
}

function ringWithRefusals(opts?: ConstructorParameters<typeof WaveformRing>[0]) {
  const refused: { channel: string; reason: ChannelRefusal; backMs: number | undefined }[] = [];
  const steps: { key: string; channel: string; stepMs: number }[] = [];
  const ring = new WaveformRing(
    opts,
    undefined,
    (_k, channel, reason, _seg, backMs) => refused.push({ channel, reason, backMs }),
    (key, channel, stepMs) => steps.push({ key, channel, stepMs }),
  );
  return { ring, refused, steps };
}

const dtm = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + '+0000';
/** An ORU with 0.5 s of lead II (125 samples at 250 Hz), OBR-7 to the whole second (no fraction). */
function oru(startMs: number): string {
  const samples = Array.from({ length: 125 }, (_, i) => (i % 10) / 10).join('^');
  return (
    `MSH|^~\\&|MON^0011223344556677^EUI-64|WARD|||${dtm(startMs + 500)}||ORU^R01^ORU_R01|C1|P|2.6|||AL|NE||UNICODE UTF-8\r` +
    `PID|||P1\rPV1||I|ICU^^A\rOBR|1|||x|||${dtm(startMs)}\r` +
    `OBX|1|NA|131330^MDC_ECG_ELEC_POTL_II^MDC|1.1.1.1|${samples}|266418^MDC_DIM_MILLI_VOLT^MDC|||||F\r` +
    `OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1.1|250|264608^MDC_DIM_PER_SEC^MDC|||||F\r`
  );
}

describe('sender times to the whole second (review rv84 M2)', () => {
  it('HL7 with 0.5 s of ECG per message and OBR-7 to the second: every segment kept, the 30 s window full', () => {
    const { ring, refused } = ringWithRefusals();
    const t0 = Date.UTC(2024, 0, 1, 12, 0, 0);
    let kept = 0;
    let last = 0;
    let key = '';
    for (let k = 0; k < 60; k++) {
      const m = parseMessage(oru(t0 + k * 500));
      last = t0 + k * 500 + 520;
      const w = mapMessage(m, readHeader(m), { source: 'hl7', receivedAt: last }).events.find((e) => e.kind === 'waveform') as WaveformSegment;
      if (k === 1) expect(w.startTime).toBe(t0); // stamped the same second as the segment before it
      key = bedKey(w.bed, w.deviceId);
      if (ring.add(w)) kept++;
    }
    expect(refused).toEqual([]);
    expect(kept).toBe(60);
    const w = ring.window(key, last);
    expect(w.map((c) => c.name)).toEqual(['II']);
    expect(w[0]!.samples).toHaveLength(7500);
    expect(Array.from(w[0]!.samples).filter((x) => Number.isNaN(x))).toHaveLength(0);
  });

  it('coarse stamps: a segment sent again (1 s or more back) is still refused, a lost second still padded', () => {
    const { ring, refused } = ringWithRefusals();
    const t0 = 1_000_000;
    for (let k = 0; k < 10; k++) expect(ring.add(seg(1, t0 + Math.floor(k / 2) * 1000, t0 + k * 500 + 520, FS / 2))).toBe(true);
    // The last two 0.5 s segments were stamped t0 + 4 s; one stamped t0 + 3 s goes back 1.5 s: a re-send.
    expect(ring.add(seg(1, t0 + 3000, t0 + 5_600, FS / 2))).toBe(false);
    expect(refused).toEqual([{ channel: 'ECG', reason: 'overlap', backMs: 1500 }]);
    // 1 s segments, one re-sent: 1 s back, refused.
    const { ring: r1, refused: f1 } = ringWithRefusals();
    for (let k = 0; k < 5; k++) expect(r1.add(seg(1, t0 + k * 1000, t0 + k * 1000 + 1020, FS))).toBe(true);
    expect(r1.add(seg(1, t0 + 4000, t0 + 5_100, FS))).toBe(false);
    expect(f1.map((f) => f.backMs)).toEqual([1000]);
    // A second lost (1 s gap between whole-second stamps): padded with 1 s of invalid samples, not shifted.
    expect(r1.add(seg(2, t0 + 6000, t0 + 7_020, FS))).toBe(true);
    const w = r1.window('bed:A', t0 + 7_020)[0]!.samples;
    expect(Array.from(w.slice(-500, -250)).every((x) => Number.isNaN(x))).toBe(true);
    expect(Array.from(w.slice(-250)).every((x) => x === 2)).toBe(true);
  });

  it('device times to the ms: a step back of more than 100 ms is still refused', () => {
    const { ring } = ringWithRefusals();
    const t0 = 1_000_003;
    for (let k = 0; k < 4; k++) expect(ring.add(seg(1, t0 + k * 500, t0 + k * 500 + 520, FS / 2))).toBe(true);
    expect(ring.add(seg(1, t0 + 1500, t0 + 2_600, FS / 2))).toBe(false); // 500 ms back
    expect(ring.add(seg(1, t0 + 1995, t0 + 2_700, FS / 2))).toBe(true); // 5 ms back: rounding
  });
});

describe('two leads under one code in one message (review rv84 L1)', () => {
  it('timed on receipt (V and MCL, 1 s each, in one ORU): the second lead is refused as overlap, V alone is kept', () => {
    const { ring, refused } = ringWithRefusals();
    const end = 1_000_000;
    let kept = 0;
    for (let k = 0; k < 30; k++) {
      const r = end - 30_000 + k * 1000 + 1000;
      if (ring.add(seg(1, r, r, FS, ['time-from-receipt']))) kept++;
      if (ring.add(seg(2, r, r, FS, ['time-from-receipt']))) kept++;
    }
    expect(kept).toBe(30);
    expect(refused).toHaveLength(30);
    expect(refused.every((f) => f.reason === 'overlap' && f.backMs === 1000)).toBe(true);
    const w = ring.window('bed:A', end);
    expect(w).toHaveLength(1);
    expect(Array.from(w[0]!.samples).filter((x) => x === 2)).toHaveLength(0); // no MCL spliced in
  });

  it('stamped to the second (0.5 s segments, both leads in one message): the second lead is refused', () => {
    const { ring, refused } = ringWithRefusals();
    const t0 = 1_000_000;
    for (let k = 0; k < 60; k++) {
      const stamp = t0 + Math.floor(k / 2) * 1000;
      const at = t0 + k * 500 + 520;
      expect(ring.add(seg(1, stamp, at, FS / 2))).toBe(true);
      expect(ring.add(seg(2, stamp, at, FS / 2))).toBe(false);
    }
    expect(refused).toHaveLength(60);
    const w = ring.window('bed:A', t0 + 30_020)[0]!.samples;
    expect(Array.from(w).filter((x) => x === 1)).toHaveLength(7500);
  });
});

describe('a waveform whose code is not in the MDC table', () => {
  it('is refused with reason unknown-code, named by its raw code (the generic 131328 from HL7)', () => {
    const { ring, refused } = ringWithRefusals();
    const s: WaveformSegment = { ...seg(1, 1_000_000, 1_001_000, FS), mdc: null, raw: { system: 'MDC', code: '131328', text: 'MDC_ECG_ELEC_POTL' } };
    expect(ring.add(s)).toBe(false);
    expect(refused).toEqual([{ channel: 'MDC_ECG_ELEC_POTL', reason: 'unknown-code', backMs: undefined }]);
    expect(ring.bedCount).toBe(0);
  });
});

describe('the gateway clock steps back (fx114: NTP correction of 5 min)', () => {
  const STEP = 300_000;
  const nan = (x: Float32Array) => Array.from(x).filter((v) => Number.isNaN(v)).length;

  it('timed on receipt: the next segment starts a fresh ring at once (said once, not refused), and an alarm right after has its samples', () => {
    const { ring, refused, steps } = ringWithRefusals();
    const t0 = 1_000_000_000;
    for (let k = 0; k < 40; k++) expect(ring.add(seg(1, t0 + k * 1000, t0 + k * 1000, FS, ['time-from-receipt']))).toBe(true);
    const back = t0 + 40_000 - STEP; // the clock read t0 + 40 s, then 5 min less
    expect(ring.add(seg(2, back, back, FS, ['time-from-receipt']))).toBe(true);
    expect(refused).toEqual([]);
    expect(steps).toEqual([{ key: 'bed:A', channel: 'ECG', stepMs: STEP }]);
    // An alarm right after the step (its time is the stepped-back clock): the new segment, none of the old samples.
    const w = ring.window('bed:A', back + 50)[0]!.samples;
    expect(w).toHaveLength(FS);
    expect(Array.from(w).every((x) => x === 2)).toBe(true);
    // Half a second later: the samples still in transit are missing at the end.
    const w2 = ring.window('bed:A', back + 500)[0]!.samples;
    expect(Array.from(w2.slice(0, FS)).every((x) => x === 2)).toBe(true);
    expect(nan(w2)).toBe(FS / 2);
    // The ring goes on from there: no refusal, no second notice, no gap.
    for (let k = 1; k < 5; k++) expect(ring.add(seg(2, back + k * 1000, back + k * 1000, FS, ['time-from-receipt']))).toBe(true);
    const w3 = ring.window('bed:A', back + 4000)[0]!.samples;
    expect(w3).toHaveLength(5 * FS);
    expect(nan(w3)).toBe(0);
    expect(refused).toEqual([]);
    expect(steps).toHaveLength(1);
  });

  it('timed on receipt, a second lead in the same message after the step: still refused as overlap', () => {
    const { ring, refused } = ringWithRefusals();
    const t0 = 1_000_000_000;
    for (let k = 0; k < 10; k++) expect(ring.add(seg(1, t0 + k * 1000, t0 + k * 1000, FS, ['time-from-receipt']))).toBe(true);
    const back = t0 + 10_000 - STEP;
    expect(ring.add(seg(1, back, back, FS, ['time-from-receipt']))).toBe(true);
    expect(ring.add(seg(2, back, back, FS, ['time-from-receipt']))).toBe(false);
    expect(refused).toEqual([{ channel: 'ECG', reason: 'overlap', backMs: 1000 }]);
  });

  it('on the device clock: a segment going back is still refused though the receipt clock stepped back too (a re-send is no clock step)', () => {
    const { ring, refused, steps } = ringWithRefusals();
    const t0 = 1_000_000_003; // device times to the ms
    const r0 = 2_000_000_000;
    for (let k = 0; k < 40; k++) expect(ring.add(seg(1, t0 + k * 1000, r0 + k * 1000 + 20, FS))).toBe(true);
    // Received after the gateway's clock stepped back 5 min: an old segment sent again (5 s back in device time).
    expect(ring.add(seg(3, t0 + 35_000, r0 + 40_020 - STEP, FS))).toBe(false);
    expect(refused).toEqual([{ channel: 'ECG', reason: 'overlap', backMs: 5000 }]);
    expect(steps).toEqual([]);
    // The device's next segment, received on the stepped-back clock: kept, and an alarm right after has its window.
    expect(ring.add(seg(2, t0 + 40_000, r0 + 41_020 - STEP, FS))).toBe(true);
    const w = ring.window('bed:A', r0 + 41_050 - STEP)[0]!.samples;
    expect(w).toHaveLength(30 * FS);
    expect(nan(w)).toBe(0);
    expect(Array.from(w.slice(-FS)).every((x) => x === 2)).toBe(true);
    expect(Array.from(w).filter((x) => x === 3)).toHaveLength(0);
  });

  it('bed idle eviction: a bed fed across the step is idle BED_IDLE_MS after its last segment on the new clock, not 5 min later', () => {
    const { ring } = ringWithRefusals({ seconds: 30, maxBeds: 1, maxChannelsPerBed: 6, maxRateHz: 1000 });
    const t0 = 1_000_000_003;
    const r0 = 2_000_000_000;
    for (let k = 0; k < 10; k++) expect(ring.add(seg(1, t0 + k * 1000, r0 + k * 1000 + 20, FS))).toBe(true);
    // Bed A goes on after the step (device times in order), then its monitor leaves.
    let last = 0;
    for (let k = 10; k < 13; k++) {
      last = r0 + k * 1000 + 20 - STEP;
      expect(ring.add(seg(1, t0 + k * 1000, last, FS))).toBe(true);
    }
    const other = (at: number): WaveformSegment => ({ ...seg(1, at, at, FS), deviceId: 'mon-B', bed: 'B' });
    expect(ring.add(other(last + BED_IDLE_MS - 1000))).toBe(false); // A not yet idle
    expect(ring.isRefused('bed:B')).toBe(true);
    expect(ring.add(other(last + BED_IDLE_MS + 1000))).toBe(true); // A idle for 61 s: B takes its place
    expect(ring.bedCount).toBe(1);
    expect(ring.window('bed:A', last + BED_IDLE_MS + 1000)).toEqual([]);
  });
});
