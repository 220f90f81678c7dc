// The live edge model's hold and health against the real alarm engine, with a stand-in model: a hold ends at once
// when the alarm rises in priority, its condition ends or the device pauses it; no hold once stopping; a model
// that keeps failing is reported; late annotations are logged. And the ring: windows anchored at the alarm,
// channel places by the model's use, unit changes.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { captureLog } from '../../test/support/log.js';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { Metrics } from '../metrics.js';
import type { AlarmEvent, DriverEvent, NumericReading, WaveformSegment } from '../model/reading.js';
import { MDC, UNITS } from '../model/mdc.js';
import type { ModelConfig } from '../config/load.js';
import { COMMITTED_MODEL } from './approved.js';
import { ASSESS_TIMEOUT_MS, FAILURES_BEFORE_ALARM, LiveModel, LOAD_TIMEOUT_MS, MAX_QUEUE, RETRY_FAILED_MS } from './live.js';
import type { Assessment, EdgeModel } from './edge-model.js';
import { CHANNEL_IDLE_MS, WaveformRing } from './ring.js';

const silent = pino({ level: 'silent' });

function config(policy: Partial<ModelConfig['policy']> = {}): ModelConfig {
  return { enabled: true, path: 'models/edge-model.onnx', approved: [{ ...COMMITTED_MODEL }], policy: { mode: 'annotate', holdS: 20, recheckS: 10, ...policy }, maxBeds: 8 };
}

const likelyFalse: Assessment = { probability: 0.01, threshold: 0.07, verdict: 'likely-false', ecgLeads: 2, modelVersion: 'fake-1', modelSha256: 'ab'.repeat(32), inferenceMs: 1, featureMs: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alarm(over: Partial<AlarmEvent> = {}): AlarmEvent {
  const at = Date.now();
  return { kind: 'alarm', deviceId: 'mon-A', bed: 'A', source: 't', alarmId: 'A-1', condition: null, text: 'VTACH', priority: 'medium', category: 'physiological', phase: 'start', deviceTime: at, receivedAt: at, ...over };
}

/**
 * A live model around a stand-in EdgeModel whose assess() the test controls. `loaded`: the model's load finishes when
 * it settles (default at once).
 */
function fakeHarness(cfg: ModelConfig, assess: () => Promise<Assessment>, log = silent, now: () => number = Date.now, abandon?: () => void, loaded?: Promise<void>) {
  const engine = new AlarmEngine({ idPrefix: 't' });
  const metrics = new Metrics();
  const service = new AlarmService(engine, () => undefined, silent, metrics);
  const changes: AlarmStateChange[] = [];
  service.subscribe((cs) => changes.push(...cs));
  const listeners: ((e: readonly DriverEvent[]) => void)[] = [];
  const model = { version: 'fake-1', sha256: 'ab'.repeat(32), assess, abandon, close: async () => undefined } as unknown as EdgeModel;
  const live = new LiveModel({ gatewayId: 'gw', alarms: service, metrics, onCommitted: (l) => listeners.push(l) }, cfg, log, now, async () => {
    await loaded;
    return { model, error: null };
  });
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
  return { engine, service, metrics, live, changes, annotations, modelPauses, waitFor, feed };
}

let open: LiveModel[] = [];
afterEach(async () => {
  vi.useRealTimers(); // also after a test that failed with fake timers on
  for (const l of open) await l.close();
  open = [];
});

describe('delay policy: the hold ends at once when the alarm changes', () => {
  it('a rise in priority ends the hold at once, annotated, with no further pause by the model', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => likelyFalse);
    await h.live.ready;
    h.service.handle([alarm()]);
    await h.waitFor(() => h.modelPauses().length === 1);
    h.service.handle([alarm({ priority: 'high', phase: 'continue' })]);
    // Annotated as part of the rise, not at the next re-check.
    expect(h.annotations().at(-1)).toMatchObject({ values: { action: 'hold-ended' }, note: expect.stringMatching(/rose to high priority/) });
    await sleep(2000); // past the re-check the hold would have made
    expect(h.modelPauses()).toHaveLength(1);
    expect(h.annotations().filter((a) => a.values.action === 'hold-ended')).toHaveLength(1);
  });

  it('an alarm that rose while the model assessed it is not paused: the model pauses only the priority it judged', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), () => sleep(200).then(() => likelyFalse));
    await h.live.ready;
    h.service.handle([alarm()]);
    await sleep(50); // the model is assessing
    h.service.handle([alarm({ priority: 'high', phase: 'continue' })]);
    await h.waitFor(() => h.annotations().length === 1);
    expect(h.modelPauses()).toHaveLength(0);
    expect(h.annotations()[0]).toMatchObject({ values: { verdict: 'likely-false', action: 'none' }, note: expect.stringMatching(/^not held: .*high/) });
  });

  it('a latching alarm whose condition ends: the hold ends at once and the model does not pause it again', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => likelyFalse);
    await h.live.ready;
    h.service.handle([alarm({ priority: 'high' })]); // high alarms latch
    await h.waitFor(() => h.modelPauses().length === 1);
    h.service.handle([alarm({ priority: 'high', phase: 'end' })]);
    const id = h.changes[0]!.alarmId;
    expect(h.engine.get(id)).toMatchObject({ conditionPresent: false, latching: true });
    expect(h.annotations().at(-1)).toMatchObject({ values: { action: 'hold-ended' }, note: expect.stringMatching(/condition ended/) });
    await sleep(2000);
    expect(h.modelPauses()).toHaveLength(1);
  });

  it('a pause at the bedside device during the hold replaces the model\'s and ends the hold', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => likelyFalse);
    await h.live.ready;
    h.service.handle([alarm({ priority: 'high' })]);
    await h.waitFor(() => h.modelPauses().length === 1);
    h.service.handle([alarm({ priority: 'high', phase: 'continue', atDevice: 'audio-paused' })]);
    const byDevice = h.changes.filter((c) => c.change === 'audio-paused' && c.actor !== 'system' && c.actor.role === 'device');
    expect(byDevice).toHaveLength(1);
    expect(h.annotations().at(-1)).toMatchObject({ values: { action: 'hold-ended' }, note: expect.stringMatching(/paused by a person/) });
    await sleep(2000);
    expect(h.modelPauses()).toHaveLength(1);
  });
});

/** HR readings from mon-<bed> for `bed`, one a second for 12 s up to now: the agent's limit rule (10 s delay) raises on them. */
function heartRate(bed: string, value: number): NumericReading[] {
  const now = Date.now();
  return Array.from({ length: 12 }, (_, i) => ({
    kind: 'numeric' as const, deviceId: `mon-${bed}`, bed, source: 't', mdc: MDC.ECG_HEART_RATE, value, unit: UNITS.BEAT_PER_MIN,
    deviceTime: null, receivedAt: now - (11 - i) * 1000, quality: { state: 'valid' as const },
  }));
}

describe('delay policy: what the model does not hold', () => {
  it('the agent\'s own HR limit alarms judged likely-false are annotated, not paused (the model learned extreme-rate alarms); a device alarm still is', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => likelyFalse);
    await h.live.ready;
    h.service.handle(heartRate('A', 126)); // limit:hr-high (120/min): true by its own definition
    h.service.handle(heartRate('B', 47)); // limit:hr-low (50/min)
    const limits = h.changes.filter((c) => c.change === 'raised').map((c) => c.alarm.condition.raw?.code);
    expect(limits).toEqual(['limit:hr-high', 'limit:hr-low']);
    await h.waitFor(() => h.annotations().length === 2);
    for (const a of h.annotations())
      expect(a).toMatchObject({
        values: { verdict: 'likely-false', action: 'none' },
        note: "likely false; not held: the model's figure is indicative only for the agent's own heart-rate limit alarms (it learned the monitors' extreme-rate alarms)",
      });
    expect(h.modelPauses()).toHaveLength(0);
    // A device's arrhythmia alarm keeps the policy.
    h.service.handle([alarm({ alarmId: 'C-1', deviceId: 'mon-C', bed: 'C' })]);
    await h.waitFor(() => h.modelPauses().length === 1);
  });

  it('annotate policy: a limit alarm\'s annotation says the figure is indicative', async () => {
    const h = fakeHarness(config(), async () => likelyFalse);
    await h.live.ready;
    h.service.handle(heartRate('A', 126));
    await h.waitFor(() => h.annotations().length === 1);
    expect(h.annotations()[0]!.note).toMatch(/^the model's figure is indicative only for the agent's own heart-rate limit alarms/);
  });

  it('a window with one ECG lead: the verdict stands, the alarm is not paused (validated on two leads only), and the note says so', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => ({ ...likelyFalse, ecgLeads: 1 }));
    await h.live.ready;
    h.service.handle([alarm()]);
    await h.waitFor(() => h.annotations().length === 1);
    expect(h.annotations()[0]).toMatchObject({
      values: { verdict: 'likely-false', action: 'none', ecgLeads: 1 },
      note: 'likely false; not held: one ECG lead in the window (the model was validated on two-lead windows only)',
    });
    expect(h.modelPauses()).toHaveLength(0);
  });

  it('a window with no ECG is never held, whatever the verdict; a re-check that finds one lead ends the hold', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => ({ ...likelyFalse, ecgLeads: 0 }));
    await h.live.ready;
    h.service.handle([alarm()]);
    await h.waitFor(() => h.annotations().length === 1);
    expect(h.annotations()[0]!.note).toMatch(/^likely false; not held: no ECG in the window/);
    expect(h.modelPauses()).toHaveLength(0);
    let calls = 0;
    const g = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => ({ ...likelyFalse, ecgLeads: ++calls === 1 ? 2 : 1 }));
    await g.live.ready;
    g.service.handle([alarm()]);
    await g.waitFor(() => g.annotations().some((a) => a.values.action === 'hold-ended'));
    expect(g.annotations().at(-1)).toMatchObject({ values: { action: 'hold-ended', check: 2 }, note: expect.stringMatching(/^hold ended: one ECG lead in the window/) });
    expect(g.modelPauses()).toHaveLength(1);
  });
});

describe('loading and queueing', () => {
  const flush = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };

  it(`a load that has not finished after ${LOAD_TIMEOUT_MS / 1000} s: failed, technical alarm, the alarms waiting told; a load that finishes later is still taken`, async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let finish: () => void = () => undefined;
      const h = fakeHarness(config(), async () => likelyFalse, silent, Date.now, undefined, new Promise<void>((r) => (finish = r)));
      h.service.handle([alarm(), alarm({ alarmId: 'B-1', deviceId: 'mon-B', bed: 'B' })]);
      await vi.advanceTimersByTimeAsync(LOAD_TIMEOUT_MS - 1);
      expect(h.live.status().state).toBe('loading');
      expect(h.annotations()).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      await h.live.ready;
      const why = `the model did not finish loading within ${LOAD_TIMEOUT_MS / 1000} s`;
      expect(h.live.status()).toMatchObject({ state: 'failed', error: why });
      expect(h.engine.list().find((a) => a.key === 'gateway:model-unavailable')?.condition.text).toBe(`Alarm-validation model not loaded: ${why}`);
      expect(h.annotations().map((a) => [a.values.verdict, a.note])).toEqual(Array(2).fill(['not-assessed', `not assessed: model not loaded (${why})`]));
      expect(h.metrics.get('model_not_assessed_total', { reason: 'model-unavailable' })).toBe(2);
      // It comes after all: taken, the technical alarm ended, the next alarm assessed.
      finish();
      await flush();
      expect(h.live.status()).toMatchObject({ state: 'ready', version: 'fake-1' });
      expect(h.live.status().error).toBeUndefined();
      expect(h.engine.list().find((a) => a.key === 'gateway:model-unavailable')).toBeUndefined();
      h.service.handle([alarm({ alarmId: 'C-1', deviceId: 'mon-C', bed: 'C' })]);
      await flush();
      expect(h.annotations().at(-1)!.values.verdict).toBe('likely-false');
    } finally {
      vi.useRealTimers();
    }
  });

  it(`alarms raised while the model loads wait for it, at most ${MAX_QUEUE}; beyond, annotated "not assessed" at once`, async () => {
    let finish: () => void = () => undefined;
    let calls = 0;
    const h = fakeHarness(config(), async () => (calls++, likelyFalse), silent, Date.now, undefined, new Promise<void>((r) => (finish = r)));
    const n = MAX_QUEUE + 2;
    h.service.handle(Array.from({ length: n }, (_, i) => alarm({ alarmId: `A-${i}`, deviceId: `mon-${i}`, bed: `B${i}` })));
    expect(h.annotations()).toHaveLength(2);
    for (const a of h.annotations())
      expect(a).toMatchObject({ values: { verdict: 'not-assessed', action: 'none', alarmType: 'Ventricular_Tachycardia', check: 1 }, note: `not assessed: ${MAX_QUEUE} alarms already waiting for the model` });
    expect(h.metrics.get('model_not_assessed_total', { reason: 'queue-full' })).toBe(2);
    finish();
    await h.live.ready;
    await h.waitFor(() => h.annotations().length === n);
    expect(calls).toBe(MAX_QUEUE);
  });

  it('a held alarm\'s re-check that finds the queue full ends the hold, annotated with the check that could not run', async () => {
    let calls = 0;
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), () => (++calls === 1 ? Promise.resolve(likelyFalse) : new Promise<Assessment>(() => undefined)));
    await h.live.ready;
    h.service.handle([alarm()]);
    await h.waitFor(() => h.modelPauses().length === 1);
    const id = h.changes[0]!.alarmId;
    // Other beds' alarms: one assessed (hung until its 2 s timeout), MAX_QUEUE waiting when the re-check is due (1.5 s).
    h.service.handle([alarm({ alarmId: 'B-0', deviceId: 'mon-B0', bed: 'B0' })]);
    await sleep(50);
    h.service.handle(Array.from({ length: MAX_QUEUE }, (_, i) => alarm({ alarmId: `B-${i + 1}`, deviceId: `mon-B${i + 1}`, bed: `B${i + 1}` })));
    const mine = () => h.changes.filter((c) => c.alarmId === id && c.change === 'annotated').map((c) => c.alarm.annotations.at(-1)!);
    await h.waitFor(() => mine().length === 2);
    expect(mine()[1]).toMatchObject({
      values: { verdict: 'not-assessed', action: 'hold-ended', alarmType: 'Ventricular_Tachycardia', check: 2 },
      note: `hold ended: not assessed: ${MAX_QUEUE} alarms already waiting for the model`,
    });
    expect(h.metrics.get('model_not_assessed_total', { reason: 'queue-full' })).toBe(1);
  }, 10_000);
});

describe('live model health and stopping', () => {
  it(`${FAILURES_BEFORE_ALARM} failed assessments in a row: state failed with the error and the technical alarm; alarms then told at once; the next success clears both`, async () => {
    let fail = true;
    let calls = 0;
    let skew = 0;
    const h = fakeHarness(
      config(),
      async () => {
        calls++;
        if (fail) throw new Error('onnxruntime: Non-zero status code returned');
        return likelyFalse;
      },
      silent,
      () => Date.now() + skew,
    );
    await h.live.ready;
    const technical = () => h.engine.list().find((a) => a.key === 'gateway:model-unavailable');
    for (let i = 1; i <= FAILURES_BEFORE_ALARM; i++) {
      expect(h.live.status().state).toBe('ready');
      h.service.handle([alarm({ alarmId: `A-${i}`, deviceId: `mon-${i}`, bed: `B${i}` })]);
      await h.waitFor(() => h.annotations().length === i);
    }
    expect(h.live.status()).toMatchObject({ state: 'failed', error: expect.stringMatching(/Non-zero status code/) });
    expect(h.live.report().alarmValidation).toMatchObject({ state: 'failed', error: expect.stringMatching(/Non-zero status code/) });
    expect(technical()?.condition.text).toMatch(/Alarm-validation model failing/);
    // While failed, an alarm is annotated "not assessed" at once, the model not tried (a hung one would keep each
    // alarm waiting ASSESS_TIMEOUT_MS)…
    fail = false;
    h.service.handle([alarm({ alarmId: 'A-8', deviceId: 'mon-8', bed: 'B8' })]);
    await h.waitFor(() => h.annotations().length === FAILURES_BEFORE_ALARM + 1);
    expect(h.annotations().at(-1)).toMatchObject({
      values: { verdict: 'not-assessed', action: 'none', alarmType: 'Ventricular_Tachycardia', check: 1 },
      note: expect.stringMatching(/^not assessed: the model is failing \(3 assessments in a row failed: onnxruntime/),
    });
    expect(calls).toBe(FAILURES_BEFORE_ALARM);
    expect(h.metrics.get('model_not_assessed_total', { reason: 'model-failed' })).toBe(1);
    // …and tried again on an alarm RETRY_FAILED_MS after its last try: once it works again the failure is over.
    skew = RETRY_FAILED_MS;
    h.service.handle([alarm({ alarmId: 'A-9', deviceId: 'mon-9', bed: 'B9' })]);
    await h.waitFor(() => h.annotations().length === FAILURES_BEFORE_ALARM + 2);
    expect(h.annotations().at(-1)!.values.verdict).toBe('likely-false');
    expect(h.live.status().state).toBe('ready');
    expect(h.live.status().error).toBeUndefined();
    expect(technical()).toBeUndefined();
  });

  it('a hung model and alarms queued behind it: after the failures that make it failed, the rest are told at once, not each after a timeout', async () => {
    let calls = 0;
    let abandoned = 0;
    const h = fakeHarness(config(), () => (calls++, new Promise<Assessment>(() => undefined)), silent, Date.now, () => abandoned++);
    await h.live.ready;
    const n = FAILURES_BEFORE_ALARM + 3;
    h.service.handle(Array.from({ length: n }, (_, i) => alarm({ alarmId: `A-${i}`, deviceId: `mon-${i}`, bed: `B${i}` })));
    const end = Date.now() + FAILURES_BEFORE_ALARM * ASSESS_TIMEOUT_MS + 5000;
    while (h.annotations().length < n && Date.now() < end) await sleep(20);
    expect(h.annotations().map((a) => a.note!.replace(/\(.*/, ''))).toEqual([
      ...Array<string>(FAILURES_BEFORE_ALARM).fill(`assessment failed: no result within ${ASSESS_TIMEOUT_MS} ms`),
      ...Array<string>(n - FAILURES_BEFORE_ALARM).fill('not assessed: the model is failing '),
    ]);
    expect(calls).toBe(FAILURES_BEFORE_ALARM); // the queued alarms did not each wait for the hung model
    expect(abandoned).toBe(FAILURES_BEFORE_ALARM); // each timed-out run given up (a WorkerModel: a fresh worker)
    expect(h.metrics.get('model_not_assessed_total', { reason: 'timeout' })).toBe(FAILURES_BEFORE_ALARM);
    expect(h.metrics.get('model_not_assessed_total', { reason: 'model-failed' })).toBe(n - FAILURES_BEFORE_ALARM);
    expect(h.live.status().state).toBe('failed');
  }, 20_000);

  it('a result that comes after the deadline is dropped, also from a model that holds this thread (no pause on its word)', async () => {
    // Like onnxruntime-node's run() on the agent's thread: synchronous work inside a setImmediate, so no timer runs meanwhile.
    const busy = () =>
      new Promise<Assessment>((resolve) =>
        setImmediate(() => {
          const until = Date.now() + ASSESS_TIMEOUT_MS + 500;
          while (Date.now() < until);
          resolve(likelyFalse);
        }),
      );
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 10 }), busy);
    await h.live.ready;
    h.service.handle([alarm({ priority: 'high' })]);
    await h.waitFor(() => h.annotations().length === 1);
    expect(h.annotations()[0]).toMatchObject({ values: { verdict: 'not-assessed', action: 'none' }, note: expect.stringMatching(/no result within/) });
    expect(h.modelPauses()).toHaveLength(0);
    expect(h.metrics.get('model_not_assessed_total', { reason: 'timeout' })).toBe(1);
  });

  it('a non-sustained VT alarm is not judged as VT: annotated "not assessed", saying why', async () => {
    let calls = 0;
    const h = fakeHarness(config({ mode: 'delay' }), async () => (calls++, likelyFalse));
    await h.live.ready;
    h.service.handle([alarm({ text: 'Non Sustain VTach' })]);
    expect(h.annotations()).toHaveLength(1); // at once, not queued
    expect(h.annotations()[0]).toMatchObject({ values: { verdict: 'not-assessed', action: 'none' }, note: expect.stringMatching(/^not assessed: non-sustained VT is not a type the model was trained on/) });
    await sleep(100);
    expect(calls).toBe(0);
    expect(h.modelPauses()).toHaveLength(0);
    expect(h.metrics.get('model_not_assessed_total', { reason: 'alarm-type' })).toBe(1);
  });

  it('a re-check that ends a hold as uncertain keeps the model\'s reason', async () => {
    const uncertain: Assessment = { ...likelyFalse, verdict: 'uncertain', reason: 'the last seconds before the alarm are missing (II 4.0 s; more than 2 s)' };
    let calls = 0;
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), async () => (++calls === 1 ? likelyFalse : uncertain));
    await h.live.ready;
    h.service.handle([alarm()]);
    await h.waitFor(() => h.annotations().some((a) => a.values.action === 'hold-ended'));
    expect(h.annotations().at(-1)).toMatchObject({
      values: { verdict: 'uncertain', action: 'hold-ended', check: 2 },
      note: 'hold ended: re-check says uncertain: the last seconds before the alarm are missing (II 4.0 s; more than 2 s)',
    });
  });

  it('"not assessed" and "hold ended" annotations carry the alarm type, the check and the latency', async () => {
    let calls = 0;
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 10 }), async () => {
      if (++calls === 2) throw new Error('onnxruntime: Non-zero status code returned');
      return likelyFalse;
    });
    await h.live.ready;
    h.service.handle([alarm()]);
    await h.waitFor(() => h.modelPauses().length === 1);
    expect(h.service.acknowledge(h.changes[0]!.alarmId, { user: 'nurse', role: 'clinician', from: '10.0.0.9' }).ok).toBe(true);
    h.service.handle([alarm({ alarmId: 'B-1', deviceId: 'mon-B', bed: 'B', text: 'ASYSTOLE' })]);
    await h.waitFor(() => h.annotations().length === 3);
    const [, ended, failed] = h.annotations();
    expect(ended).toMatchObject({ values: { verdict: 'not-assessed', action: 'hold-ended', alarmType: 'Ventricular_Tachycardia', check: 1 }, note: 'hold ended: the alarm was acknowledged' });
    expect(failed).toMatchObject({ values: { verdict: 'not-assessed', action: 'none', alarmType: 'Asystole', check: 1 }, note: expect.stringMatching(/^assessment failed/) });
    for (const a of [ended!, failed!]) expect(a.values.latencyMs).toEqual(expect.any(Number));
  });

  it('stopping while an assessment runs: the alarm is annotated, not paused, and no re-check is left behind', async () => {
    const h = fakeHarness(config({ mode: 'delay', holdS: 20, recheckS: 10 }), () => sleep(200).then(() => likelyFalse));
    await h.live.ready;
    h.service.handle([alarm()]);
    await sleep(50);
    await h.live.close();
    expect(h.modelPauses()).toHaveLength(0);
    expect(h.annotations()).toHaveLength(1);
    expect(h.annotations()[0]).toMatchObject({ values: { verdict: 'likely-false', action: 'none' }, note: expect.stringMatching(/agent is stopping/) });
    expect(h.engine.get(h.changes[0]!.alarmId)!.state).toBe('active');
  });

  it('annotations later than a second are logged as a warning, at most once a minute', async () => {
    const cap = captureLog();
    const h = fakeHarness(config(), async () => likelyFalse, cap.log);
    await h.live.ready;
    const old = Date.now() - 5000; // alarms that reached the gateway 5 s before the model could look at them
    h.service.handle([alarm({ receivedAt: old, deviceTime: old }), alarm({ alarmId: 'B-1', deviceId: 'mon-B', bed: 'B', receivedAt: old, deviceTime: old })]);
    await h.waitFor(() => h.annotations().length === 2);
    expect(h.metrics.get('model_late_total')).toBe(2);
    const warnings = cap.lines.filter((l) => /annotations are late/.test(String(l.msg)));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40 });
  });
});

/** A synthetic waveform segment: `n` samples of `value` at `fs`, received at the end of the segment. */
function seg(o: { device?: string; refid: string; ucum?: string; fs?: number; start: number; n?: number; value?: number; receivedAt?: number }): WaveformSegment {
  const fs = o.fs ?? 250;
  const n = o.n ?? fs;
  return {
    kind: 'waveform', deviceId: o.device ?? 'mon-A', bed: 'A', source: 't', mdc: { code: 0, refid: o.refid }, unit: { ucum: o.ucum ?? 'mV' },
    startTime: o.start, sampleRateHz: fs, samples: new Array<number>(n).fill(o.value ?? 1), receivedAt: o.receivedAt ?? o.start + (n / fs) * 1000, quality: { state: 'valid' },
  };
}

/** `seconds` one-second segments of a channel ending at `end`. */
function stream(refid: string, end: number, seconds: number, over: Partial<Parameters<typeof seg>[0]> = {}): WaveformSegment[] {
  return Array.from({ length: seconds }, (_, i) => seg({ refid, start: end - (seconds - i) * 1000, ...over }));
}

const II = 'MDC_ECG_ELEC_POTL_II';
const PLETH = 'MDC_PULS_OXIM_PLETH';
const ABP = 'MDC_PRESS_BLD_ART_ABP';

describe('waveform ring', () => {
  it('ends every channel at the alarm: a channel lagging less than 3 s is padded with invalid samples, not shifted', () => {
    const ring = new WaveformRing();
    const end = 1_000_000;
    for (const s of stream(II, end, 30)) ring.add(s);
    for (const s of stream(PLETH, end - 2000, 28, { fs: 125 })) ring.add(s); // its last 2 s still in transit
    const w = ring.window('bed:A', end);
    const pleth = w.find((c) => c.name === 'PLETH')!.samples;
    expect(pleth.length).toBe(30 * 125);
    expect(pleth.slice(-250).every(Number.isNaN)).toBe(true);
    expect(pleth.slice(0, -250).some(Number.isNaN)).toBe(false);
    expect(w.find((c) => c.name === 'II')!.samples.some(Number.isNaN)).toBe(false);
  });

  it('keeps the model\'s channels (two ECG leads, PLETH, ABP) ahead of extra leads, and counts refusals', () => {
    const refused: string[] = [];
    const ring = new WaveformRing(undefined, undefined, (_key, name) => refused.push(name));
    const end = 1_000_000;
    // A monitor exporting seven leads first, then its pulse channels.
    const leads = ['II', '', 'I', 'III', 'AVR', 'AVL', 'AVF'].map((l) => (l ? `MDC_ECG_ELEC_POTL_${l}` : 'MDC_ECG_ELEC_POTL'));
    for (let t = 0; t < 30; t++) {
      const start = end - (30 - t) * 1000;
      for (const refid of [...leads, PLETH, ABP]) ring.add(seg({ refid, start, ...(refid === ABP && { ucum: 'mm[Hg]' }) }));
    }
    const names = ring.window('bed:A', end).map((c) => c.name);
    expect(names.slice(0, 2)).toEqual(['II', 'I']); // the two leads the model reads (canonical order: II, then I, III…, then chest leads)
    expect(names).toContain('PLETH');
    expect(names).toContain('ABP');
    expect(names).toHaveLength(6);
    expect(refused.length).toBeGreaterThan(0);
  });

  it('a new monitor on the bed gets channel places once the old one has been silent for 30 s', () => {
    const ring = new WaveformRing();
    const end = 1_000_000;
    const leads = ['II', 'I', 'III', 'AVR'].map((l) => `MDC_ECG_ELEC_POTL_${l}`);
    const unit = (refid: string) => (refid === ABP ? { ucum: 'mm[Hg]' } : {});
    for (const refid of [...leads, PLETH, ABP]) for (const s of stream(refid, end, 30, unit(refid))) ring.add(s);
    const later = end + CHANNEL_IDLE_MS + 30_000;
    for (const refid of [II, PLETH, ABP]) for (const s of stream(refid, later, 30, { device: 'mon-A2', ...unit(refid) })) ring.add(s);
    const w = ring.window('bed:A', later);
    expect(w.map((c) => c.name)).toEqual(['II', 'PLETH', 'ABP']);
    expect(w.every((c) => c.samples.length > 0 && !c.samples.some(Number.isNaN))).toBe(true);
  });

  it('a unit change on a channel (mV, then µV) does not mix scales', () => {
    const ring = new WaveformRing();
    const end = 1_000_000;
    for (const s of stream(II, end - 1000, 29)) ring.add(s);
    ring.add(seg({ refid: II, ucum: 'uV', value: 1000, start: end - 1000 }));
    const ii = ring.window('bed:A', end)[0]!.samples;
    expect(ii.length).toBe(7500); // the window is kept, in one scale
    expect(ii.every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    expect(ii[ii.length - 1]).toBeCloseTo(1, 6);
  });

  it('LiveModel counts refused channels in model_ring_channels_refused_total', async () => {
    const h = fakeHarness(config(), async () => likelyFalse);
    await h.live.ready;
    const end = Date.now();
    const leads = ['II', 'I', 'III', 'AVR', 'AVL', 'AVF', 'V1'].map((l) => `MDC_ECG_ELEC_POTL_${l}`);
    h.feed(leads.map((refid) => seg({ refid, start: end - 1000 })));
    expect(h.metrics.get('model_ring_channels_refused_total', { reason: 'channel-limit' })).toBe(1);
  });

  it('refuses channels faster than maxRateHz or in a unit it cannot convert, and says which and why', () => {
    const refused: [string, string, string][] = [];
    const ring = new WaveformRing(undefined, undefined, (key, name, reason) => refused.push([key, name, reason]));
    const start = 1_000_000;
    expect(ring.add(seg({ refid: II, fs: 2000, start }))).toBe(false);
    expect(ring.add(seg({ refid: II, ucum: '1', start }))).toBe(false);
    expect(ring.add(seg({ refid: ABP, ucum: 'mV', start }))).toBe(false);
    expect(ring.add(seg({ refid: 'MDC_PRESS_BLD_VEN_CENT', ucum: 'mm[Hg]', start }))).toBe(false); // not a model signal: no refusal
    expect(refused).toEqual([['bed:A', 'II', 'rate'], ['bed:A', 'II', 'unit'], ['bed:A', 'ABP', 'unit']]);
    expect('skipped' in ring).toBe(false); // counted by the callback (LiveModel: metrics), not in a field nothing reads
  });

  it('LiveModel counts waveforms of a code not in the MDC table (unknown-code), from 0, and logs each device and code once (review rv84 L1)', async () => {
    const cap = captureLog();
    const h = fakeHarness(config(), async () => likelyFalse, cap.log);
    await h.live.ready;
    expect(h.metrics.snapshot()['model_ring_channels_refused_total{reason="unknown-code"}']).toBe(0);
    const end = Date.now();
    const unknown = (code: string, device = 'mon-A', start = end - 1000): WaveformSegment => ({
      ...seg({ refid: II, device, start }), mdc: null, raw: code === '131328' ? { system: 'MDC', code, text: 'MDC_ECG_ELEC_POTL' } : { system: 'MDC', code },
    });
    for (let i = 0; i < 3; i++) h.feed([unknown('131328', 'mon-A', end - (3 - i) * 1000), unknown('999', 'mon-A', end - (3 - i) * 1000), unknown('131328', 'mon-B', end - (3 - i) * 1000)]);
    expect(h.metrics.get('model_ring_channels_refused_total', { reason: 'unknown-code' })).toBe(9);
    const lines = cap.lines.filter((l) => /^edge model: waveform not used/.test(String(l.msg)));
    expect(lines.map((l) => [l.deviceId, l.code, l.reason])).toEqual([
      ['mon-A', 'MDC:131328', 'unknown-code'],
      ['mon-A', 'MDC:999', 'unknown-code'],
      ['mon-B', 'MDC:131328', 'unknown-code'],
    ]);
    expect(String(lines[0]!.msg)).toMatch(/MDC_ECG_ELEC_POTL: its code MDC:131328 is not in the MDC table/);
  });

  it('LiveModel counts channels refused for their rate or unit by reason, from 0, and logs each device and code once', async () => {
    const cap = captureLog();
    const h = fakeHarness(config(), async () => likelyFalse, cap.log);
    await h.live.ready;
    for (const reason of ['rate', 'unit', 'channel-limit']) expect(h.metrics.snapshot()[`model_ring_channels_refused_total{reason="${reason}"}`]).toBe(0);
    const end = Date.now();
    for (let i = 0; i < 3; i++) {
      const start = end - (3 - i) * 1000;
      h.feed([seg({ refid: II, fs: 2000, start }), seg({ refid: 'MDC_ECG_ELEC_POTL_V1', ucum: '1', start }), seg({ refid: II, device: 'mon-A2', fs: 2000, start })]);
    }
    expect(h.metrics.get('model_ring_channels_refused_total', { reason: 'rate' })).toBe(6);
    expect(h.metrics.get('model_ring_channels_refused_total', { reason: 'unit' })).toBe(3);
    const lines = cap.lines.filter((l) => /^edge model: waveform not used/.test(String(l.msg)));
    expect(lines).toHaveLength(3); // once per device and code
    expect(lines[0]).toMatchObject({ level: 40, deviceId: 'mon-A', bed: 'A', code: II, reason: 'rate', sampleRateHz: 2000, maxRateHz: 1000 });
    expect(lines[0]!.msg).toMatch(/faster than the 1000 Hz the model's ring keeps/);
    expect(lines[1]).toMatchObject({ level: 40, deviceId: 'mon-A', code: 'MDC_ECG_ELEC_POTL_V1', reason: 'unit', unit: '1' });
    expect(lines[1]!.msg).toMatch(/unit '1' cannot be converted to mV/);
    expect(lines[2]).toMatchObject({ deviceId: 'mon-A2', code: II, reason: 'rate' });
  });
});
