// The delay policy's hold against a step of the gateway's wall clock (NTP/chrony step, set by hand; review rv147 F1):
// the hold's durations (holdS from the raise, the re-check's pause) run on a monotonic clock, so a step can neither
// stretch the holdS cap nor be taken for a person's pause.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { Metrics } from '../metrics.js';
import type { AlarmEvent, DriverEvent } from '../model/reading.js';
import type { ModelConfig } from '../config/load.js';
import { COMMITTED_MODEL } from './approved.js';
import { LiveModel } from './live.js';
import type { Assessment, EdgeModel } from './edge-model.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const likelyFalse: Assessment = { probability: 0.01, threshold: 0.07, verdict: 'likely-false', ecgLeads: 2, modelVersion: 'fake-1', modelSha256: 'ab'.repeat(32), inferenceMs: 1, featureMs: 1 };
const HOUR_MS = 3_600_000;
let offset = 0;
/** The gateway's wall clock: real time, off by `offset` once the test steps it. */
const wall = () => Date.now() + offset;
const open: LiveModel[] = [];
afterEach(async () => {
  for (const l of open) await l.close();
  open.length = 0;
  offset = 0;
});

function harness(assess: () => Promise<Assessment>) {
  const cfg: ModelConfig = { enabled: true, path: 'models/edge-model.onnx', approved: [{ ...COMMITTED_MODEL }], policy: { mode: 'delay', holdS: 3, recheckS: 1 }, maxBeds: 8 };
  const engine = new AlarmEngine({ idPrefix: 't' });
  const service = new AlarmService(engine, () => undefined, silent, new Metrics(), wall, () => performance.now());
  const changes: AlarmStateChange[] = [];
  service.subscribe((cs) => changes.push(...cs));
  const model = { version: 'fake-1', sha256: 'ab'.repeat(32), assess, close: async () => undefined } as unknown as EdgeModel;
  const host = { gatewayId: 'gw', alarms: service, metrics: new Metrics(), onCommitted: (_l: (e: readonly DriverEvent[]) => void) => undefined };
  const live = new LiveModel(host, cfg, silent, wall, async () => ({ model, error: null }), () => performance.now());
  open.push(live);
  const modelPauses = () => changes.filter((c) => c.change === 'audio-paused' && c.actor !== 'system' && c.actor.role === 'model');
  const notes = () => changes.filter((c) => c.change === 'annotated').map((c) => c.alarm.annotations.at(-1)!.note ?? '');
  return { engine, service, live, changes, modelPauses, notes };
}

function alarm(): AlarmEvent {
  const at = wall();
  return { kind: 'alarm', deviceId: 'mon-A', bed: 'A', source: 't', alarmId: 'A-1', condition: null, text: 'VTACH', priority: 'medium', category: 'physiological', phase: 'start', deviceTime: at, receivedAt: at };
}

describe('delay policy hold across a step of the gateway clock (rv147 F1)', () => {
  it('a step back of 1 h before the first verdict: the hold still ends at holdS (3 s) after the raise', async () => {
    const h = harness(() => sleep(300).then(() => likelyFalse));
    await h.live.ready;
    h.service.handle([alarm()]);
    await sleep(100);
    offset = -HOUR_MS;
    h.service.tick(); // the service's tick sees the step
    await sleep(4500);
    const ended = h.notes().filter((n) => /hold ended: 3 s limit reached/.test(n));
    expect(ended).toHaveLength(1);
    // Pauses of 1 s while under 3 s of the raise: at most three, never one per second for an hour.
    expect(h.modelPauses().length).toBeGreaterThanOrEqual(1);
    expect(h.modelPauses().length).toBeLessThanOrEqual(3);
    h.service.tick(); // the engine ends the model's last pause (run out) at a tick
    expect(h.engine.get(h.changes[0]!.alarmId)!.state).toBe('active');
  }, 15_000);

  it('a step forward of 1 h before the first verdict: still held (the verdict came 0.3 s after the alarm, not 3600 s)', async () => {
    const h = harness(() => sleep(300).then(() => likelyFalse));
    await h.live.ready;
    h.service.handle([alarm()]);
    await sleep(100);
    offset = HOUR_MS;
    h.service.tick();
    await sleep(600);
    expect(h.notes()[0]).toMatch(/^likely false: audio paused 1 s while the evidence is re-checked/);
    expect(h.modelPauses()).toHaveLength(1);
  }, 15_000);

  it('a step back of 1 h during a hold is not taken for a person\'s pause: the hold runs on to its limit', async () => {
    const h = harness(async () => likelyFalse);
    await h.live.ready;
    h.service.handle([alarm()]);
    await sleep(100);
    expect(h.modelPauses()).toHaveLength(1);
    offset = -HOUR_MS;
    h.service.tick();
    await sleep(1500);
    expect(h.notes().some((n) => /paused by a person/.test(n))).toBe(false);
    expect(h.modelPauses().length).toBeGreaterThanOrEqual(2); // the re-check paused it again
  }, 15_000);

  it('a person\'s pause during the hold still ends it, told as such', async () => {
    const h = harness(async () => likelyFalse);
    await h.live.ready;
    h.service.handle([alarm()]);
    await sleep(100);
    expect(h.modelPauses()).toHaveLength(1);
    const id = h.changes[0]!.alarmId;
    expect(h.service.audioPause({ alarmId: id }, { user: 'nurse', role: 'clinician', from: 'ws' }, 60).ok).toBe(true);
    expect(h.notes().at(-1)).toMatch(/hold ended: the alarm was paused by a person/);
    await sleep(1500);
    expect(h.modelPauses()).toHaveLength(1);
  }, 15_000);
});
