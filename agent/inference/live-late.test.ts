// The live edge model's timing against the real alarm engine, with a stand-in model: a verdict that comes long after
// its alarm does not hold it, a hold never runs past holdS after the raise (review rv101 M2), and alarms still
// waiting for the model when the agent stops are annotated "not assessed", counted and logged (rv101 L1).
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLog } from '../../test/support/log.js';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { Metrics } from '../metrics.js';
import type { AlarmEvent } from '../model/reading.js';
import type { ModelConfig } from '../config/load.js';
import { COMMITTED_MODEL } from './approved.js';
import { HOLD_WITHIN_MS, LiveModel } from './live.js';
import type { Assessment, EdgeModel } from './edge-model.js';

const silent = pino({ level: 'silent' });

function config(policy: Partial<ModelConfig['policy']> = {}): ModelConfig {
  return { enabled: true, path: 'models/edge-model.onnx', approved: [{ ...COMMITTED_MODEL }], policy: { mode: 'annotate', holdS: 20, recheckS: 10, ...policy }, maxBeds: 8 };
}

const likelyFalse: Assessment = { probability: 0.01, threshold: 0.07, verdict: 'likely-false', ecgLeads: 2, modelVersion: 'fake-1', modelSha256: 'ab'.repeat(32), inferenceMs: 1, featureMs: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alarm(i: number, over: Partial<AlarmEvent> = {}): AlarmEvent {
  const at = Date.now();
  return { kind: 'alarm', deviceId: `mon-${i}`, bed: `B${i}`, source: 't', alarmId: `A-${i}`, condition: null, text: 'VTACH', priority: 'medium', category: 'physiological', phase: 'start', deviceTime: at, receivedAt: at, ...over };
}

/** A live model around a stand-in model whose assess() the test controls; `loaded`: the load finishes when it settles. */
function harness(cfg: ModelConfig, assess: () => Promise<Assessment>, log = silent, loaded?: Promise<void>) {
  const engine = new AlarmEngine({ idPrefix: 't' });
  const metrics = new Metrics();
  const service = new AlarmService(engine, () => undefined, silent, metrics);
  const changes: AlarmStateChange[] = [];
  service.subscribe((cs) => changes.push(...cs));
  const model = { version: 'fake-1', sha256: 'ab'.repeat(32), assess, close: async () => undefined } as unknown as EdgeModel;
  const live = new LiveModel({ gatewayId: 'gw', alarms: service, metrics, onCommitted: () => undefined }, cfg, log, Date.now, async () => {
    await loaded;
    return { model, error: null };
  });
  open.push(live);
  const annotated = () => changes.filter((c) => c.change === 'annotated').map((c) => ({ id: c.alarmId, raisedAt: c.alarm.raisedAt, ...c.alarm.annotations.at(-1)! }));
  const modelPauses = () => changes.filter((c) => c.change === 'audio-paused' && c.actor !== 'system' && c.actor.role === 'model');
  const raised = () => changes.filter((c) => c.change === 'raised').map((c) => c.alarmId);
  const waitFor = async (pred: () => boolean, ms = 8000) => {
    for (let i = 0; i < ms / 20 && !pred(); i++) await sleep(20);
    expect(pred()).toBe(true);
  };
  return { engine, service, metrics, live, changes, annotated, modelPauses, raised, waitFor };
}

let open: LiveModel[] = [];
afterEach(async () => {
  for (const l of open) await l.close();
  open = [];
});

describe('delay policy: a late verdict and the hold bound (rv101 M2)', () => {
  it(`a likely-false verdict that comes more than ${HOLD_WITHIN_MS} ms after its alarm does not pause it: annotated "not held", counted`, async () => {
    // Three alarms at once, 1.1 s each: verdicts ~1.1, ~2.2 and ~3.3 s after the raise. Only the first may hold.
    const h = harness(config({ mode: 'delay', holdS: 20, recheckS: 10 }), () => sleep(1100).then(() => likelyFalse));
    await h.live.ready;
    for (let i = 0; i < 3; i++) h.service.handle([alarm(i)]);
    await h.waitFor(() => h.annotated().length === 3);
    const [first, ...late] = h.annotated();
    expect(first).toMatchObject({ values: { verdict: 'likely-false', action: 'audio-paused', check: 1 } });
    for (const a of late) {
      expect(a.values).toMatchObject({ verdict: 'likely-false', action: 'none', check: 1 });
      expect(a.values.latencyMs as number).toBeGreaterThan(HOLD_WITHIN_MS);
      expect(a.note).toMatch(/^likely false; not held: the verdict came \d+\.\d s after the alarm/);
      expect(h.engine.get(a.id)!.state).toBe('active');
    }
    expect(h.modelPauses().map((p) => p.alarmId)).toEqual([first!.id]);
    expect(h.metrics.get('model_not_held_total', { reason: 'late' })).toBe(2);
    expect(h.metrics.get('model_late_total')).toBe(3); // late annotations are still counted as such
  }, 15_000);

  it('no pause of a hold runs past holdS after the alarm was raised (the bound runs from the raise, not the decision)', async () => {
    // The first verdict comes 1.5 s after the raise (within HOLD_WITHIN_MS), the re-checks at once.
    let calls = 0;
    const h = harness(config({ mode: 'delay', holdS: 4, recheckS: 3 }), () => (++calls === 1 ? sleep(1500).then(() => likelyFalse) : Promise.resolve(likelyFalse)));
    h.service.start(100); // the engine's tick ends audio pauses
    await h.live.ready;
    h.service.handle([alarm(0)]);
    await h.waitFor(() => h.annotated().some((a) => a.values.action === 'hold-ended'));
    h.service.stop();
    const raisedAt = h.changes[0]!.alarm.raisedAt;
    expect(h.modelPauses().length).toBeGreaterThanOrEqual(1);
    for (const p of h.modelPauses()) expect(p.alarm.audioPausedUntil!).toBeLessThanOrEqual(raisedAt + 4000 + 50);
    expect(h.annotated().at(-1)!.note).toBe('hold ended: 4 s limit reached');
  }, 15_000);
});

describe('stopping with alarms still waiting for the model (rv101 L1)', () => {
  it('queued alarms are annotated "not assessed: the agent stopped first", counted, and logged once with the count', async () => {
    const cap = captureLog();
    const h = harness(config(), () => sleep(300).then(() => likelyFalse), cap.log);
    await h.live.ready;
    for (let i = 0; i < 4; i++) h.service.handle([alarm(i)]);
    await sleep(50); // the first is being assessed, three wait
    await h.live.close();
    const byId = new Map(h.annotated().map((a) => [a.id, a]));
    expect(h.raised().every((id) => byId.has(id))).toBe(true);
    const stopped = h.annotated().filter((a) => a.note === 'not assessed: the agent stopped first');
    expect(stopped).toHaveLength(3);
    for (const a of stopped) expect(a.values).toMatchObject({ verdict: 'not-assessed', action: 'none', alarmType: 'Ventricular_Tachycardia', check: 1 });
    expect(h.metrics.get('model_not_assessed_total', { reason: 'stopping' })).toBe(3);
    const logged = cap.lines.filter((l) => /stopped first/.test(String(l.msg)));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 40, alarms: 3 });
  });

  it('alarms raised while the model loads are annotated "not assessed" at stop, and the late load annotates nothing more', async () => {
    let finish!: () => void;
    const h = harness(config(), async () => likelyFalse, silent, new Promise<void>((r) => (finish = r)));
    for (let i = 0; i < 3; i++) h.service.handle([alarm(i)]);
    await h.live.close();
    finish();
    await sleep(200);
    expect(h.annotated().map((a) => a.id).sort()).toEqual(h.raised().sort());
    for (const a of h.annotated()) expect(a).toMatchObject({ values: { verdict: 'not-assessed', action: 'none' }, note: 'not assessed: the agent stopped first' });
    expect(h.metrics.get('model_not_assessed_total', { reason: 'stopping' })).toBe(3);
  });

  it('a held alarm\'s re-check still queued at stop ends the hold, annotated; one whose hold a person ended already gets nothing more', async () => {
    let calls = 0;
    // Alarms 0 and 1 judged at once and held (re-checks due ~1.5 s later); alarm 2's assessment then takes 1 s.
    const h = harness(config({ mode: 'delay', holdS: 20, recheckS: 2 }), () => (++calls <= 2 ? Promise.resolve(likelyFalse) : sleep(1000).then(() => likelyFalse)));
    await h.live.ready;
    h.service.handle([alarm(0)]);
    h.service.handle([alarm(1)]);
    await h.waitFor(() => h.modelPauses().length === 2);
    const [held, acked] = h.raised();
    await sleep(1300);
    h.service.handle([alarm(2)]);
    await sleep(400); // both re-checks are queued behind alarm 2's assessment
    expect(h.service.acknowledge(acked!, { user: 'nurse', role: 'clinician', from: '10.0.0.9' }).ok).toBe(true);
    await h.live.close();
    const of = (id: string) => h.annotated().filter((a) => a.id === id);
    expect(of(held!).at(-1)).toMatchObject({ values: { verdict: 'not-assessed', action: 'hold-ended', check: 2 }, note: 'hold ended: not assessed: the agent stopped first' });
    expect(of(acked!).at(-1)).toMatchObject({ note: 'hold ended: the alarm was acknowledged' });
    expect(of(acked!).filter((a) => a.values.action === 'hold-ended')).toHaveLength(1);
    expect(h.metrics.get('model_not_assessed_total', { reason: 'stopping' })).toBe(1);
  }, 15_000);
});
