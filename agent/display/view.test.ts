// The alarm view's `model` field: what the bedside page shows of the edge model's annotations.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { MODEL_ANNOTATION_KIND, type Actor } from '../alarms/types.js';
import { alarmView } from './view.js';

const model: Actor = { user: 'edge-model edge-alarm-gbt-4', role: 'model', from: 'sha256:ab' };
const nurse: Actor = { user: 'nurse', role: 'clinician', from: '10.0.0.9' };

function raised() {
  const e = new AlarmEngine({ idPrefix: 't' });
  const [c] = e.condition({
    present: true,
    at: 1000,
    why: 'test',
    spec: { key: 'k', source: 'device', bed: 'bed-1', deviceId: 'm', condition: { code: null, text: 'VTACH' }, priority: 'high', category: 'physiological' },
  });
  const id = c!.alarmId;
  const annotate = (values: Record<string, string | number | null>, note?: string, by: Actor = model) =>
    expect(e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values, ...(note !== undefined && { note }) }, by, 2000).ok).toBe(true);
  return { view: () => alarmView(e.get(id)!), annotate, e, id };
}

describe('alarmView model', () => {
  it('is null without a model annotation, also with other annotations', () => {
    const a = raised();
    expect(a.view().model).toBeNull();
    expect(a.e.annotate(a.id, { kind: 'note', values: { text: 'x' } }, nurse, 1500).ok).toBe(true);
    expect(a.view().model).toBeNull();
  });

  it('shows the latest assessment; a later "not assessed" does not hide it, and is shown when there is nothing else', () => {
    const a = raised();
    a.annotate({ verdict: 'not-assessed', action: 'none' }, 'not assessed: model not loaded (x)');
    expect(a.view().model).toEqual({ verdict: 'not-assessed', probability: null, threshold: null, version: null, note: 'not assessed: model not loaded (x)' });
    a.annotate({ verdict: 'likely-false', probability: 0.031, threshold: 0.0749, modelVersion: 'edge-alarm-gbt-4' });
    a.annotate({ verdict: 'not-assessed', action: 'hold-ended' }, 'hold ended');
    expect(a.view().model).toEqual({ verdict: 'likely-false', probability: 0.031, threshold: 0.0749, version: 'edge-alarm-gbt-4', note: 'then: hold ended' });
    a.annotate({ verdict: 'likely-true', probability: 0.81, threshold: 0.0749, modelVersion: 'edge-alarm-gbt-4' }, 're-check');
    expect(a.view().model).toMatchObject({ verdict: 'likely-true', probability: 0.81, note: 're-check' });
  });
});
