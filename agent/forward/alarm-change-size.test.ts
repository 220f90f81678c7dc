// Review rv125 H1: a latched alarm the edge model judges at each return of its condition. Its alarm-change records
// must stay small (an `annotated` change carries the one annotation it added, others the latest per kind), so that
// the store never refuses one and the alarm's end and resolution reach the cloud. Real AlarmEngine, AlarmService,
// LiveModel (stand-in model, as agent/inference/live-returned.test.ts) and Outbox; journalled as agent.ts does.
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { AlarmService } from '../alarms/service.js';
import type { AlarmStateChange } from '../alarms/types.js';
import { Metrics } from '../metrics.js';
import type { AlarmEvent, DriverEvent } from '../model/reading.js';
import { COMMITTED_MODEL } from '../inference/approved.js';
import { LiveModel } from '../inference/live.js';
import type { Assessment, EdgeModel } from '../inference/edge-model.js';
import { Outbox } from '../store/outbox.js';
import { alarmChangeRecord, envelope } from './wire.js';
import { messageSchemaErrors } from '../../test/support/message-schema.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const verdict: Assessment = { probability: 0.01, threshold: 0.07, verdict: 'likely-false', ecgLeads: 2, modelVersion: 'edge-alarm-gbt-5', modelSha256: 'ab'.repeat(32), inferenceMs: 1, featureMs: 1 };
const RETURNS = 500;

let live: LiveModel | undefined;
let outbox: Outbox | undefined;
afterEach(async () => {
  await live?.close();
  outbox?.close();
});

it('a latched alarm judged at each of 500 returns: every alarm-change record stays under 4 KB, none refused, its resolution journalled', async () => {
  const engine = new AlarmEngine({ idPrefix: 'gw-x' });
  const metrics = new Metrics();
  const box = new Outbox(':memory:');
  outbox = box;
  const bodies: string[] = [];
  const service = new AlarmService(
    engine,
    (changes) => {
      const recs = changes.map((c: AlarmStateChange) => ({ stream: 'alarms' as const, cls: 0 as const, deviceId: c.alarm.deviceId, body: JSON.stringify(alarmChangeRecord(c)) }));
      for (const r of recs) bodies.push(r.body);
      box.append(recs);
    },
    silent,
    metrics,
  );
  let verdicts = 0;
  service.subscribe((cs) => {
    for (const c of cs) if (c.change === 'annotated' && c.alarm.annotations.at(-1)?.values.verdict === 'likely-false') verdicts++;
  });
  const model = { version: 'edge-alarm-gbt-5', sha256: 'ab'.repeat(32), assess: async () => verdict, close: async () => undefined } as unknown as EdgeModel;
  const cfg = { enabled: true, path: 'models/edge-model.onnx', approved: [{ ...COMMITTED_MODEL }], policy: { mode: 'annotate' as const, holdS: 20, recheckS: 10 }, maxBeds: 8 };
  live = new LiveModel({ gatewayId: 'gw', alarms: service, metrics, onCommitted: (_l: (e: readonly DriverEvent[]) => void) => undefined }, cfg, silent, Date.now, async () => ({ model, error: null }));
  await live.ready;
  // A monitor's high alarm: it latches, and with the display off nobody acknowledges it while it comes and goes.
  const ev = (phase: AlarmEvent['phase']): AlarmEvent => {
    const at = Date.now();
    return { kind: 'alarm', deviceId: 'mon-A', bed: 'ICU-1', source: 'icu', alarmId: 'A-1', condition: null, text: 'Xtrm Tachy', priority: 'high', category: 'physiological', phase, deviceTime: at, receivedAt: at };
  };
  for (let episode = 1; episode <= RETURNS + 1; episode++) {
    service.handle([ev('start')]);
    // The model's verdict on this episode, before its condition ends again.
    for (let i = 0; i < 500 && verdicts < episode; i++) await sleep(1);
    expect(verdicts).toBe(episode);
    service.handle([ev('end')]);
    if (service.journalState().refused > 0) break; // the old behaviour: stop early, the assertions below say why
  }
  const alarm = engine.list()[0]!;
  expect(alarm.state).toBe('latched');
  expect(service.acknowledge(alarm.id, { user: 'nurse', role: 'clinician', from: '10.0.0.9' }).ok).toBe(true);

  expect(service.journalState().refused).toBe(0);
  const sizes = bodies.map((b) => Buffer.byteLength(b));
  expect(Math.max(...sizes)).toBeLessThan(4096);
  const records = bodies.map((b) => JSON.parse(b) as Record<string, unknown>);
  expect(records.filter((r) => r.change === 'condition-returned')).toHaveLength(RETURNS);
  // Acknowledging a latched alarm resolves it, in that one change.
  const last = records.at(-1)!;
  expect([last.change, last.to, last.state]).toEqual(['acknowledged', 'resolved', 'resolved']);
  // Every change is in the store, to be forwarded, the resolution last (not only handed to it).
  expect(box.pending('alarms').records).toBe(records.length);
  let lastBody = '';
  for (let m = box.pack('alarms', 250_000, envelope('gw')); m; m = box.pack('alarms', 250_000, envelope('gw'))) lastBody = m.body;
  const packed = (JSON.parse(lastBody) as { records: Record<string, unknown>[] }).records.at(-1)!;
  expect([packed.alarmId, packed.seq, packed.state]).toEqual([alarm.id, last.seq, 'resolved']);
  // Every annotation ever added is counted: two per return (re-assessing, then the verdict), one at the raise.
  expect(last.annotationCount).toBe(1 + 2 * RETURNS);
  expect(messageSchemaErrors({ schemaVersion: 1, gatewayId: 'gw', messageId: 'm', stream: 'alarms', records: records.slice(-3) })).toEqual([]);
}, 120_000);
