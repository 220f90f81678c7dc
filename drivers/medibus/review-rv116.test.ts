// Review rv116 (M1, L2): realtime curves after lost sample sets (the segments of one curve never overlap and their
// start times only go forward), and a re-set-up after a stall that finds none of the configured curves offered.
import { afterEach, describe, expect, it } from 'vitest';
import { fakeContext, memoryCable, waitFor } from '../serial/testing.js';
import { CMD, encodeSample } from './protocol/index.js';
import { MedibusDriver } from './index.js';
import { buildPlan, type MedibusOptions } from './options.js';
import { ScriptedDevice, sleep } from './test-support.js';
import { WaveformBuffer } from './waveforms.js';

let driver: MedibusDriver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

/** A realtime configuration record: code, interval 8000 µs (125 Hz), min, max, maxbin FFF. */
const rtConfig = (code: string, min: number, max: number) => `${code}00008000${String(min).padStart(5)}${String(max).padStart(5)}FFF`;

const normal = (code: number): string | null => {
  if (code === CMD.DEVICE_ID) return "0161'Evita'01.00:06.00";
  if (code === CMD.RT_CONFIG) return rtConfig('00', -20, 80) + rtConfig('01', -120, 120) + rtConfig('03', 0, 2000);
  if (code === CMD.DATA_CP1) return '7D  22';
  return '';
};

async function cycling(answer: (code: number, args: string) => string | null, extra: Partial<MedibusOptions>) {
  const { host, device } = memoryCable();
  await device.open();
  const dev = new ScriptedDevice(device, answer);
  const ctx = fakeContext();
  const options: MedibusOptions = { id: 'v1', path: '/dev/x', requests: ['measured1', 'alarms1'], pollIntervalMs: 50, silenceMs: 0, ...extra };
  driver = new MedibusDriver(buildPlan(options), ctx, () => host);
  await driver.start();
  await waitFor('cycling', () => dev.received.includes(CMD.DATA_CP1));
  return { ctx, dev };
}

/** Each segment's span in ms: [start, end) with end = start + n / rate. */
const spans = (segs: Array<{ startTime: number; samples: number[]; sampleRateHz: number }>) =>
  segs.map((w) => ({ n: w.samples.length, start: w.startTime, end: w.startTime + (w.samples.length * 1000) / w.sampleRateHz }));

describe('realtime curves after lost sample sets (rv116 M1)', () => {
  const set3 = (a: number, b: number, c: number) => [0xd7, ...encodeSample(a), ...encodeSample(b), ...encodeSample(c)];
  const good = (n: number) => Array.from({ length: n }, () => set3(100, 2000, 50)).flat();
  const damagedSet = () => {
    const d = set3(100, 2000, 50);
    d.splice(4, 1); // the high half of the flow value is lost
    return d;
  };

  it('two sets lost in one received chunk: the segments follow one another with a gap of one set each, never overlapping', async () => {
    const { ctx, dev } = await cycling(normal, { realtime: { enabled: true, codes: [0, 1, 3], segmentMs: 60_000 } });
    await waitFor('realtime set up', () => dev.received.includes(CMD.RT_CONFIGURE));
    await sleep(20);
    const sentAt = Date.now();
    dev.send([...good(10), ...damagedSet(), ...good(10), ...damagedSet(), ...good(10)]);
    await sleep(20); // flushed soon after the chunk: the last run must not reach back over the gaps
    await driver?.stop();
    expect(ctx.counter('realtime_sets_dropped')).toBe(2);
    for (const code of ['rt:00', 'rt:01', 'rt:03']) {
      const s = spans(ctx.waveforms().filter((w) => w.raw?.code === code));
      expect(s.map((x) => x.n)).toEqual([10, 10, 10]);
      for (let i = 1; i < s.length; i++) {
        // Start times go forward, and each lost set's 8 ms lies between two runs (ms rounding aside).
        expect(s[i]!.start).toBeGreaterThan(s[i - 1]!.start);
        expect(s[i]!.start - s[i - 1]!.end).toBeGreaterThanOrEqual(7.5);
        expect(s[i]!.start - s[i - 1]!.end).toBeLessThanOrEqual(8.5);
      }
      // The samples arrived by the time the flush came: none is placed after it, nor long before the chunk was sent.
      expect(s.at(-1)!.end).toBeLessThanOrEqual(Date.now());
      expect(s[0]!.start).toBeGreaterThanOrEqual(sentAt - 300);
    }
  });

  it('waveform buffer: two gaps at one receipt time, then a flush soon after: runs in sequence, a set apart', () => {
    const b = new WaveformBuffer({ deviceId: 'v1', source: 's' });
    const cfg = [{ code: 1, intervalUs: 8000, min: -120, max: 120, maxBin: 4095 }];
    for (let i = 0; i < 10; i++) b.add(0, 2000, 1000);
    expect(b.gap(1000)).toBe(0);
    for (let i = 0; i < 10; i++) b.add(0, 2000, 1000);
    expect(b.gap(1000)).toBe(0);
    for (let i = 0; i < 10; i++) b.add(0, 2000, 1000);
    const { segments } = b.flush(cfg, 1010);
    // The last run ends at the flush; those before it end a lost set's 8 ms before the next begins.
    expect(spans(segments).map((x) => [x.start, x.end])).toEqual([
      [754, 834],
      [842, 922],
      [930, 1010],
    ]);
  });

  it('waveform buffer: sets lost back to back, and a set lost just after a flush, space the following run by as many sets', () => {
    const b = new WaveformBuffer({ deviceId: 'v1', source: 's' });
    const cfg = [{ code: 1, intervalUs: 8000, min: -120, max: 120, maxBin: 4095 }];
    for (let i = 0; i < 10; i++) b.add(0, 2000, 1000);
    b.gap(1000);
    b.gap(1000);
    b.gap(1000);
    for (let i = 0; i < 5; i++) b.add(0, 2000, 1000);
    const first = spans(b.flush(cfg, 1000).segments);
    // The second run ends at the flush; the first ends the three lost sets' 24 ms before it begins.
    expect(first.map((x) => [x.start, x.end])).toEqual([
      [856, 936],
      [960, 1000],
    ]);
    // A set lost right after the flush, and the next run flushed early: it starts no sooner than a set after the
    // previous segment ended, rather than back over it.
    b.gap(1001);
    for (let i = 0; i < 10; i++) b.add(0, 2000, 1002);
    const second = spans(b.flush(cfg, 1002).segments);
    expect(second.map((x) => [x.start, x.end])).toEqual([[1008, 1088]]);
    expect(b.held).toBe(0);
  });

  it('waveform buffer: a run dropped for too many lost sets still counts as lost time before the next run', () => {
    const b = new WaveformBuffer({ deviceId: 'v1', source: 's' });
    const cfg = [{ code: 1, intervalUs: 8000, min: -120, max: 120, maxBin: 4095 }];
    let dropped = 0;
    for (let i = 0; i < 10; i++) {
      b.add(0, 2000, 2000);
      dropped += b.gap(2000);
    }
    b.add(0, 2000, 2000);
    const s = spans(b.flush(cfg, 2000).segments);
    expect(dropped).toBe(2); // runs 9 and 10 (one sample each)
    expect(s).toHaveLength(9);
    // Between the 8th run and the last: the 8th's lost set, run 9 and its lost set, run 10 and its lost set.
    expect(s[8]!.start - s[7]!.end).toBe(5 * 8);
    for (let i = 1; i < s.length; i++) expect(s[i]!.start).toBeGreaterThanOrEqual(s[i - 1]!.end);
  });
});

describe('a re-set-up after a stall that finds none of the configured curves offered (rv116 L2)', () => {
  it('ends the stall; health names the cause rather than "not received" for ever', async () => {
    let rtAsks = 0;
    const rt = (code: string) => `${code}00008000  -20   80FFF`;
    const { ctx } = await cycling(
      (code) => {
        if (code === CMD.RT_CONFIG) return ++rtAsks === 1 ? rt('00') : rt('05'); // curve 00 no longer offered
        return normal(code);
      },
      { realtime: { enabled: true, codes: [0], segmentMs: 100 } },
    );
    await waitFor('second 53H', () => rtAsks >= 2, 5000);
    await sleep(1500);
    expect(ctx.counter('realtime_stalls')).toBe(1);
    expect(driver?.health().detail).not.toMatch(/not received/);
    expect(driver?.health().detail).toMatch(/; realtime curves off: none of the configured curves is offered$/);
    expect(ctx.logs.some((l) => /medibus realtime: none of the configured curves is offered by the device/.test(String(l.msg)))).toBe(true);
    // Not set up again and again: the stall watch stays off while no curve is set up.
    await sleep(1000);
    expect(rtAsks).toBe(2);
    expect(ctx.counter('realtime_stalls')).toBe(1);
  });
});

describe('curves at different rates after lost sets (review rv118 H2)', () => {
  it('a lost set is one set period for every curve: a 32 ms curve is not pushed hundreds of ms ahead, nor back over its last segment', () => {
    const cfg = [
      { code: 0, intervalUs: 8000, min: -20, max: 80, maxBin: 4095 },
      { code: 5, intervalUs: 32000, min: 0, max: 100, maxBin: 4095 },
    ];
    const b = new WaveformBuffer({ deviceId: 'v1', source: 's' });
    let set = 0;
    const feed = (t: number) => {
      b.add(0, 2000, t);
      if (set++ % 4 === 0) b.add(1, 2000, t); // the slow curve has a value in every 4th set
    };
    const flush = (now: number) => b.flush(cfg, now).segments.map((s) => ({ code: s.raw!.code, start: s.startTime, end: s.startTime + (s.samples.length * 1000) / s.sampleRateHz }));
    for (let t = 8; t <= 1000; t += 8) feed(t);
    const first = flush(1000);
    for (let t = 1008; t <= 1080; t += 8, set++) b.gap(t); // 10 sets (80 ms) lost right after the flush
    for (let t = 1088; t <= 2000; t += 8) feed(t);
    const second = flush(2000);
    for (let t = 2008; t <= 3000; t += 8) feed(t);
    const third = flush(3000);
    const slow = [first, second, third].map((segs) => segs.find((s) => s.code === 'rt:05')!);
    const fast = second.find((s) => s.code === 'rt:00')!;
    // The two curves of the same sets start within one set of each other (the old count put them 240 ms apart).
    expect(Math.abs(slow[1]!.start - fast.start)).toBeLessThanOrEqual(8);
    // Not ahead of the flush that sent it by more than a set, and the next segment does not start before it ends.
    expect(slow[1]!.end - 2000).toBeLessThanOrEqual(8);
    expect(slow[2]!.start).toBeGreaterThanOrEqual(slow[1]!.end);
  });
});
