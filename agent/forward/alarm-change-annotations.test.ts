// Review rv125 H1: which annotations an alarm-change record carries. An `annotated` change: the one it added. Any
// other: the latest of each kind, and the edge model's latest assessment when a later model annotation followed it;
// `annotationCount` counts them all (also those the engine no longer keeps).
import { describe, expect, it } from 'vitest';
import { AlarmEngine, LATEST_ANNOTATIONS_KEPT } from '../alarms/engine.js';
import { MODEL_ANNOTATION_KIND, type Actor, type AlarmStateChange } from '../alarms/types.js';
import { alarmChangeRecord, envelope } from './wire.js';
import { messageSchemaErrors } from '../../test/support/message-schema.js';

const model: Actor = { user: 'edge-model edge-alarm-gbt-5', role: 'model', from: 'sha256:ab' };
const nurse: Actor = { user: 'nurse', role: 'clinician', from: '10.0.0.9' };

type Rec = { change: string; annotations?: { kind: string; values: Record<string, unknown>; note?: string }[]; annotationCount?: number };
const rec = (c: AlarmStateChange) => JSON.parse(JSON.stringify(alarmChangeRecord(c))) as Rec;
const tags = (r: Rec) => r.annotations?.map((n) => `${n.kind}:${String(n.values.verdict ?? n.values.text)}`);

describe('annotations on alarm-change records (review rv125 H1)', () => {
  it('an annotated change carries the one it added; others the latest per kind and the model’s latest assessment', () => {
    const e = new AlarmEngine({ idPrefix: 't' });
    const [raised] = e.condition({
      present: true,
      at: 1000,
      why: 'test',
      spec: { key: 'k', source: 'device', bed: 'bed-1', deviceId: 'm', sourceAlarmId: 'M-7', condition: { code: null, text: 'VTACH' }, priority: 'high', category: 'physiological' },
    });
    const id = raised!.alarmId;
    expect(rec(raised!).annotations).toBeUndefined();
    expect(rec(raised!).annotationCount).toBeUndefined();
    const annotate = (kind: string, values: Record<string, string | number>, at: number, by = model) => rec(e.annotate(id, { kind, values }, by, at).changes[0]!);

    const first = annotate(MODEL_ANNOTATION_KIND, { verdict: 'likely-false', probability: 0.02 }, 2000);
    expect([tags(first), first.annotationCount]).toEqual([['model:likely-false'], 1]);
    expect(tags(annotate('note', { text: 'checked at bedside' }, 2500, nurse))).toEqual(['note:checked at bedside']);
    const held = annotate(MODEL_ANNOTATION_KIND, { verdict: 'not-assessed', action: 'hold-ended' }, 3000);
    expect([tags(held), held.annotationCount]).toEqual([['model:not-assessed'], 3]);

    // A change that is no annotation: the nurse's note, the model's last assessment and its word after it.
    const ack = rec(e.acknowledge(id, nurse, 4000).changes[0]!);
    expect([ack.change, tags(ack), ack.annotationCount]).toEqual(['acknowledged', ['model:likely-false', 'note:checked at bedside', 'model:not-assessed'], 3]);
    // The latest model annotation an assessment: it alone.
    annotate(MODEL_ANNOTATION_KIND, { verdict: 'likely-true', probability: 0.9 }, 5000);
    const ended = rec(e.condition({ present: false, key: 'k', at: 6000, why: 'ended' })[0]!);
    expect([ended.change, tags(ended), ended.annotationCount]).toEqual(['resolved', ['note:checked at bedside', 'model:likely-true'], 4]);
  });

  it('annotationCount counts the annotations the engine left out; the records validate against schema 1', () => {
    const e = new AlarmEngine({ idPrefix: 't' });
    const [raised] = e.condition({
      present: true,
      at: 1000,
      why: 'test',
      spec: { key: 'k', source: 'limit', bed: 'bed-1', deviceId: 'm', condition: { code: null, text: 'HR HIGH' }, priority: 'medium', category: 'physiological' },
    });
    const id = raised!.alarmId;
    const changes: AlarmStateChange[] = [];
    for (let i = 0; i < LATEST_ANNOTATIONS_KEPT + 30; i++) changes.push(...e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values: { verdict: 'likely-false', probability: 0.01, episode: i + 1 } }, model, 2000 + i).changes);
    changes.push(...e.acknowledge(id, nurse, 9000).changes);
    const records = changes.map(rec);
    expect(records.at(-1)!.annotationCount).toBe(LATEST_ANNOTATIONS_KEPT + 30);
    expect(records.at(-1)!.annotations).toHaveLength(1);
    expect(records.at(-1)!.annotations![0]!.values.episode).toBe(LATEST_ANNOTATIONS_KEPT + 30);
    const body = envelope('gw')('m-1', 'alarms', records.map((r) => JSON.stringify(r)));
    expect(messageSchemaErrors(JSON.parse(body))).toEqual([]);
  });
});
