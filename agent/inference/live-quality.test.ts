// Waveform quality on the edge model's live path (review rv153 F2, F3): samples a device flags questionable for their
// signal (device flag, calibration, early indication, HL7 result status) are not read as good signal without saying so,
// and such an alarm is never held; doubt about their time alone (placed at receipt) is no doubt about the signal.
// A waveform with no sample rate is refused, counted and logged, not dropped silently.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog } from '../../test/support/log.js';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { Metrics } from '../metrics.js';
import type { AlarmEvent, DriverEvent, Quality, WaveformSegment } from '../model/reading.js';
import type { ModelConfig } from '../config/load.js';
import { COMMITTED_MODEL } from './approved.js';
import { LiveModel } from './live.js';
import type { Assessment, EdgeModel } from './edge-model.js';
import { WaveformRing } from './ring.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const likelyFalse: Assessment = { probability: 0.01, threshold: 0.07, verdict: 'likely-false', ecgLeads: 2, modelVersion: 'fake-1', modelSha256: 'ab'.repeat(32), inferenceMs: 1, featureMs: 1 };
const II = 'MDC_ECG_ELEC_POTL_II';
const I = 'MDC_ECG_ELEC_POTL_I';

function config(mode: 'annotate' | 'delay'): ModelConfig {
  return { enabled: true, path: 'models/edge-model.onnx', approved: [{ ...COMMITTED_MODEL }], policy: { mode, holdS: 20, recheckS: 10 }, maxBeds: 8 };
}

/** One-second segments of a lead, 250 Hz, ending at `end`; `quality(i)`: the i-th segment's. */
function lead(refid: string, end: number, seconds: number, quality: (i: number) => Quality, fs = 250): WaveformSegment[] {
  return Array.from({ length: seconds }, (_, i) => {
    const start = end - (seconds - i) * 1000;
    return {
      kind: 'waveform', deviceId: 'mon-A', bed: 'A', source: 't', mdc: { code: 0, refid }, unit: { ucum: 'mV' }, startTime: start, sampleRateHz: fs,
      samples: Array.from({ length: 250 }, (_, k) => Math.sin(k / 10)), receivedAt: start + 1000, quality: quality(i),
    };
  });
}

function harness(cfg: ModelConfig, log = silent) {
  const engine = new AlarmEngine({ idPrefix: 't' });
  const metrics = new Metrics();
  const service = new AlarmService(engine, () => undefined, silent, metrics);
  const changes: AlarmStateChange[] = [];
  service.subscribe((cs) => changes.push(...cs));
  const listeners: ((e: readonly DriverEvent[]) => void)[] = [];
  const model = { version: 'fake-1', sha256: 'ab'.repeat(32), assess: async () => likelyFalse, close: async () => undefined } as unknown as EdgeModel;
  const live = new LiveModel({ gatewayId: 'gw', alarms: service, metrics, onCommitted: (l) => listeners.push(l) }, cfg, log, Date.now, async () => ({ model, error: null }));
  open.push(live);
  const annotations = () => changes.filter((c) => c.change === 'annotated').map((c) => c.alarm.annotations.at(-1)!);
  const modelPauses = () => changes.filter((c) => c.change === 'audio-paused' && c.actor !== 'system' && c.actor.role === 'model');
  const waitFor = async (pred: () => boolean) => {
    for (let i = 0; i < 200 && !pred(); i++) await sleep(20);
    expect(pred()).toBe(true);
  };
  const feed = (events: DriverEvent[]) => {
    for (const l of listeners) l(events);
  };
  const vt = (end: number): AlarmEvent => ({ kind: 'alarm', deviceId: 'mon-A', bed: 'A', source: 't', alarmId: 'A-1', condition: null, text: 'VTACH', priority: 'high', category: 'physiological', phase: 'start', deviceTime: end, receivedAt: end });
  return { engine, service, metrics, live, annotations, modelPauses, waitFor, feed, vt };
}

let open: LiveModel[] = [];
afterEach(async () => {
  for (const l of open) await l.close();
  open = [];
});

describe('waveform samples flagged questionable for their signal (rv153 F2)', () => {
  it('the ring reports, per channel, the seconds of the window from segments questionable for a signal reason, not for timing alone', () => {
    const ring = new WaveformRing();
    const end = 1_000_000;
    // II: its first 10 s during calibration; I: placed at receipt (timing doubt only), the signal as good as valid.
    for (const s of lead(II, end, 30, (i) => (i < 10 ? { state: 'questionable', reasons: ['calibration-ongoing', 'time-from-receipt'] } : { state: 'valid' }))) ring.add(s);
    for (const s of lead(I, end, 30, () => ({ state: 'questionable', reasons: ['time-from-receipt'] })))  ring.add(s);
    const w = ring.windowWithQuality('bed:A', end);
    expect(w.channels.map((c) => c.name)).toEqual(['II', 'I']);
    expect(w.channels.every((c) => c.samples.length === 7500)).toBe(true);
    expect(w.questionable).toEqual([{ channel: 'II', seconds: 10, reasons: ['calibration-ongoing'] }]);
    // A window that ends before the flagged stretch is over holds only the part of it within the window.
    expect(ring.windowWithQuality('bed:A', end - 20_000, 5).questionable).toEqual([{ channel: 'II', seconds: 5, reasons: ['calibration-ongoing'] }]);
    // …and one after it none.
    expect(ring.windowWithQuality('bed:A', end, 15).questionable).toEqual([]);
    // window() is the same channels.
    expect(ring.window('bed:A', end)).toEqual(w.channels);
  });

  for (const reason of ['device-flag:questionable', 'calibration-ongoing', 'hl7-status:QUES']) {
    it(`delay: an alarm judged likely-false on ECG flagged ${reason} is not held, and the annotation says how much is questionable and why`, async () => {
      const h = harness(config('delay'));
      await h.live.ready;
      const end = Date.now();
      const q: Quality = { state: 'questionable', reasons: [reason] };
      h.feed([...lead(II, end, 30, () => q), ...lead(I, end, 30, () => q)]);
      h.service.handle([h.vt(end)]);
      await h.waitFor(() => h.annotations().length === 1);
      const a = h.annotations()[0]!;
      expect(a.values).toMatchObject({ verdict: 'likely-false', action: 'none', questionableS: 30 });
      expect(a.note).toMatch(/^likely false; not held: 30 s of the window flagged questionable by the device \(II, I: /);
      expect(a.note).toContain(reason);
      expect(h.modelPauses()).toHaveLength(0);
      expect(h.engine.list()[0]!.state).toBe('active');
    });
  }

  it('delay: ECG doubted for its timing alone (placed at receipt) is good signal: the alarm is held, and nothing is said of quality', async () => {
    const h = harness(config('delay'));
    await h.live.ready;
    const end = Date.now();
    const q: Quality = { state: 'questionable', reasons: ['time-from-receipt'] };
    h.feed([...lead(II, end, 30, () => q), ...lead(I, end, 30, () => q)]);
    h.service.handle([h.vt(end)]);
    await h.waitFor(() => h.modelPauses().length === 1);
    const a = h.annotations()[0]!;
    expect(a.values).toMatchObject({ verdict: 'likely-false', action: 'audio-paused' });
    expect(a.values.questionableS).toBeUndefined();
    expect(a.note).not.toMatch(/questionable/);
  });

  it('annotate: the annotation says so too', async () => {
    const h = harness(config('annotate'));
    await h.live.ready;
    const end = Date.now();
    h.feed([...lead(II, end, 30, (i) => (i >= 28 ? { state: 'questionable', reasons: ['early-indication'] } : { state: 'valid' })), ...lead(I, end, 30, () => ({ state: 'valid' }))]);
    h.service.handle([h.vt(end)]);
    await h.waitFor(() => h.annotations().length === 1);
    const a = h.annotations()[0]!;
    expect(a.values).toMatchObject({ verdict: 'likely-false', action: 'none', questionableS: 2 });
    expect(a.note).toMatch(/2 s of the window flagged questionable by the device \(II: early-indication\)/);
  });
});

describe('a waveform with no sample rate (rv153 F3)', () => {
  it('is refused: counted under reason rate-unknown (present at 0 from the start) and logged once per device and code', async () => {
    const cap = captureLog();
    const h = harness(config('delay'), cap.log);
    await h.live.ready;
    expect(h.metrics.snapshot()['model_ring_channels_refused_total{reason="rate-unknown"}']).toBe(0);
    const end = Date.now();
    const q: Quality = { state: 'questionable', reasons: ['sample-rate-unknown'] };
    h.feed([...lead(II, end, 30, () => q, 0), ...lead(I, end, 30, () => q, 0)]);
    expect(h.metrics.get('model_ring_channels_refused_total', { reason: 'rate-unknown' })).toBe(60);
    const lines = cap.lines.filter((l) => /^edge model: waveform not used/.test(String(l.msg)));
    expect(lines.map((l) => [l.level, l.deviceId, l.code, l.reason])).toEqual([
      [40, 'mon-A', II, 'rate-unknown'],
      [40, 'mon-A', I, 'rate-unknown'],
    ]);
    expect(String(lines[0]!.msg)).toMatch(/II: no sample rate/);
  });

  it('a signal refused for one reason is still logged when refused for another (once per device, code and reason: rv155 F3)', async () => {
    const cap = captureLog();
    const h = harness(config('delay'), cap.log);
    await h.live.ready;
    const end = Date.now();
    const q: Quality = { state: 'questionable', reasons: ['sample-rate-unknown'] };
    h.feed(lead(II, end - 40_000, 5, () => q, 0));
    // Then the same lead at a rate faster than the ring keeps.
    h.feed(lead(II, end, 2, () => ({ state: 'valid' }), 4000));
    h.feed(lead(II, end + 2000, 2, () => ({ state: 'valid' }), 4000));
    const lines = cap.lines.filter((l) => /^edge model: waveform not used/.test(String(l.msg)));
    expect(lines.map((l) => [l.code, l.reason])).toEqual([
      [II, 'rate-unknown'],
      [II, 'rate'],
    ]);
  });

  it('the ring refuses it through onChannelRefused, with the reason', () => {
    const refused: [string, string, string][] = [];
    const ring = new WaveformRing(undefined, undefined, (key, name, reason) => refused.push([key, name, reason]));
    expect(ring.add(lead(II, 1_000_000, 1, () => ({ state: 'valid' }), 0)[0]!)).toBe(false);
    expect(ring.add(lead(II, 1_000_000, 1, () => ({ state: 'valid' }), Number.NaN)[0]!)).toBe(false);
    expect(refused).toEqual([['bed:A', 'II', 'rate-unknown'], ['bed:A', 'II', 'rate-unknown']]);
  });
});
