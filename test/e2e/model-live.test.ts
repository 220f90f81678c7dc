// The edge model's live path end to end: PhysioNet alarm windows replayed by the wfdb-replay driver →
// ingest → store → alarm engine (device alarm raised) → edge model on the 30 s before the alarm →
// an audited `annotated` change carrying probability, verdict, model version and hash. Also: a model that is not
// approved is refused, the agent runs on rules only and raises a gateway technical alarm.
// Records from models/fixtures (no ../shared needed); expected outputs from models/fixtures/golden.json, the
// offline scoring of the very same windows, so the live path must reproduce it exactly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import type { AlarmStateChange } from '../../agent/alarms/types.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { sha256Hex } from '../../agent/inference/approval.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

const FIXTURES = join(PACKAGE_ROOT, 'models', 'fixtures');
const MODEL = join(PACKAGE_ROOT, 'models', 'edge-model.onnx');
interface Golden {
  modelVersion: string;
  modelSha256: string;
  records: { record: string; alarmType: string; probability: number; threshold: number; verdict: string }[];
}
const golden = JSON.parse(readFileSync(join(FIXTURES, 'golden.json'), 'utf8')) as Golden;
const expected = (name: string) => golden.records.find((r) => r.record === name)!;

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

function replay(name: string, bed: string) {
  return { name: `replay-${name}`, type: 'wfdb-replay', options: { record: join(FIXTURES, 'records', name), speed: 40, bed } };
}

/** Resolves with the first change matching `pred` (changes seen before the call are kept too). */
function recorder(a: Agent) {
  const seen: AlarmStateChange[] = [];
  const waiters: { pred: (c: AlarmStateChange) => boolean; resolve: (c: AlarmStateChange) => void }[] = [];
  a.alarms.subscribe((changes) => {
    for (const c of changes) {
      seen.push(c);
      for (const w of [...waiters]) if (w.pred(c)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(c));
    }
  });
  return {
    seen,
    waitFor(pred: (c: AlarmStateChange) => boolean, timeoutMs = 15_000): Promise<AlarmStateChange> {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timed out waiting for an alarm change')), timeoutMs);
        waiters.push({ pred, resolve: (c) => (clearTimeout(t), resolve(c)) });
      });
    },
  };
}

describe('edge model, live: replayed PhysioNet record → device alarm → model annotation', () => {
  it('annotates a true tachycardia and a false asystole alarm with the offline verdicts', async () => {
    const { log } = captureLog('info');
    const config = testConfig(tempDir(), { drivers: [replay('t106s', 'ICU-1'), replay('a103l', 'ICU-2')] });
    expect(config.model.enabled).toBe(true); // on by default, with the committed model approved
    agent = new Agent({ config, registry, log });
    const rec = recorder(agent);
    await agent.start();

    for (const [name, bed] of [['t106s', 'ICU-1'], ['a103l', 'ICU-2']] as const) {
      const raised = await rec.waitFor((c) => c.change === 'raised' && c.alarm.bed === bed);
      expect(raised.alarm).toMatchObject({ source: 'device', priority: 'high', category: 'physiological' });
      const ann = await rec.waitFor((c) => c.change === 'annotated' && c.alarmId === raised.alarmId);
      const a = ann.alarm.annotations.find((n) => n.kind === 'model')!;
      const want = expected(name);
      expect(a.values).toMatchObject({
        alarmType: want.alarmType,
        verdict: want.verdict,
        modelVersion: golden.modelVersion,
        modelSha256: sha256Hex(readFileSync(MODEL)),
        policy: 'annotate',
        action: 'none',
        check: 1,
      });
      // The live window is the record itself: the same features, so the same probability as offline scoring.
      expect(a.values.probability as number).toBeCloseTo(want.probability, 3);
      expect(a.values.windowS).toBe(30);
      // Audited as the model, with its version and hash; the alarm itself is untouched (never dropped).
      expect(ann.actor).toEqual({ user: `edge-model ${golden.modelVersion}`, role: 'model', from: `sha256:${golden.modelSha256}` });
      expect(ann.from).toBe('active');
      expect(ann.to).toBe('active');
      // After the alarm it judges. How soon (issue 11: within one second) is measured by bench/model-live.ts, not
      // asserted here: a test's timing depends on the machine's load (1.2 s once with a 2-core machine overloaded).
      expect(ann.at).toBeGreaterThanOrEqual(raised.alarm.raisedAt);
    }
    const h = agent.health();
    expect(h.model).toMatchObject({ state: 'ready', version: golden.modelVersion, sha256: golden.modelSha256, assessed: 2 });
    expect(h.metrics['model_assessments_total{type="Tachycardia",verdict="likely-true"}']).toBe(1);
    // The annotation travels the audit stream to the hub like any alarm change.
    expect(agent.outbox.pending('alarms').records).toBeGreaterThanOrEqual(4);
  });

  it("the gateway's own rhythm analysis (alarms.rhythm) finds the true tachycardia in the replayed ECG, and the model judges its alarm", async () => {
    const { log } = captureLog('info');
    // The record's own device alarm is off: the ECG is the only evidence.
    const drivers = [{ ...replay('t106s', 'ICU-4'), options: { ...replay('t106s', 'ICU-4').options, alarm: false } }];
    const config = testConfig(tempDir(), { drivers, alarms: { rhythm: { enabled: true } } });
    agent = new Agent({ config, registry, log });
    const rec = recorder(agent);
    await agent.start();
    const raised = await rec.waitFor((c) => c.change === 'raised' && c.alarm.bed === 'ICU-4');
    expect(raised.alarm).toMatchObject({ source: 'rhythm', priority: 'high', category: 'physiological', deviceId: 'wfdb-t106s', condition: { raw: { system: 'agent', code: 'rhythm:tachy' } } });
    expect(raised.alarm.condition.text).toMatch(/^EXTREME TACHY \(gateway ECG analysis\): HR 1[4-9]\d \/min over 17 beats on ECG II$/);
    const ann = await rec.waitFor((c) => c.change === 'annotated' && c.alarmId === raised.alarmId);
    expect(ann.alarm.annotations.find((n) => n.kind === 'model')!.values).toMatchObject({ alarmType: 'Tachycardia', modelVersion: golden.modelVersion });
    // Forwarded like any alarm: its changes are in the store's alarm stream, valid against the schema (forward tests).
    expect(agent.outbox.pending('alarms').records).toBeGreaterThanOrEqual(2);
  });

  it('refuses a model that is not approved: rules only, a technical alarm, the alarm annotated "not assessed"', async () => {
    const { log, find } = captureLog('info');
    const other = 'ab'.repeat(32);
    const config = testConfig(tempDir(), { drivers: [replay('v100s', 'ICU-3')], model: { approved: [{ sha256: other }] } });
    agent = new Agent({ config, registry, log });
    const rec = recorder(agent);
    await agent.start();
    const tech = await rec.waitFor((c) => c.change === 'raised' && c.alarm.key === 'gateway:model-unavailable');
    expect(tech.alarm.category).toBe('technical');
    expect(tech.alarm.condition.text).toMatch(/not in the approved model list; refusing to load it/);
    const raised = await rec.waitFor((c) => c.change === 'raised' && c.alarm.bed === 'ICU-3');
    expect(raised.alarm.condition.text).toBe('VTACH'); // the device alarm still comes through, on rules only
    // No verdict: the alarm says it was not assessed, and why.
    const annotated = await rec.waitFor((c) => c.change === 'annotated' && c.alarmId === raised.alarmId);
    expect(annotated.alarm.annotations.at(-1)).toMatchObject({ values: { verdict: 'not-assessed', modelVersion: null }, note: expect.stringMatching(/model not loaded \(.*not in the approved model list/) });
    expect(rec.seen.filter((c) => c.change === 'annotated')).toHaveLength(1);
    expect(agent.health().model).toMatchObject({ state: 'refused', version: null, sha256: null });
    expect(agent.health().model.error).toMatch(/sha256 [0-9a-f]{64}/);
    expect(find('edge model not loaded: alarms run on rules only')).toBeDefined();
  });
});

describe('edge model at a stop', () => {
  it('the stop\'s local part (after which a second Ctrl-C exits at once) ends only once the model\'s threads are closed', async () => {
    // A process that exits while a model thread is inside onnxruntime aborts (exit 134): main.ts's second Ctrl-C
    // exits as soon as localStopDone settles, so the model must be closed by then.
    const { log } = captureLog('info');
    agent = new Agent({ config: testConfig(tempDir(), { drivers: [] }), registry, log });
    await agent.start();
    await agent.edgeModel.ready;
    expect(agent.edgeModel.status().state).toBe('ready');
    const a = agent;
    let stateAtLocalDone: string | undefined;
    void a.localStopDone.then(() => (stateAtLocalDone = a.edgeModel.status().state));
    await a.stop();
    agent = null;
    expect(stateAtLocalDone).toBe('closed');
  });
});
