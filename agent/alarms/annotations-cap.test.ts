// Review rv125 H1: an alarm's annotations are bounded (its first and the latest ones kept, the others counted), so an
// alarm the edge model judges at every return of its condition does not grow without end in memory, in every audited
// change's copy of it, or on the wire. The display still shows the model's word on the latest episode.
import { describe, expect, it } from 'vitest';
import { AlarmEngine, LATEST_ANNOTATIONS_KEPT } from './engine.js';
import { MODEL_ANNOTATION_KIND, type Actor } from './types.js';
import { alarmView } from '../display/view.js';

const model: Actor = { user: 'edge-model edge-alarm-gbt-5', role: 'model', from: 'sha256:ab' };

function raised() {
  const e = new AlarmEngine({ idPrefix: 't' });
  const [c] = e.condition({
    present: true,
    at: 1000,
    why: 'test',
    spec: { key: 'k', source: 'device', bed: 'bed-1', deviceId: 'm', condition: { code: null, text: 'Xtrm Tachy' }, priority: 'high', category: 'physiological' },
  });
  return { e, id: c!.alarmId };
}

describe('alarm annotations are bounded (review rv125 H1)', () => {
  it('keep the first and the latest ones, and count the ones left out', () => {
    const { e, id } = raised();
    const added = 500;
    let last;
    for (let i = 0; i < added; i++) {
      const r = e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values: { n: i } }, model, 2000 + i);
      expect(r.ok).toBe(true);
      last = r.changes[0]!;
    }
    const a = e.get(id)!;
    expect(LATEST_ANNOTATIONS_KEPT).toBeGreaterThanOrEqual(10);
    expect(a.annotations.map((x) => x.values.n)).toEqual([0, ...Array.from({ length: LATEST_ANNOTATIONS_KEPT }, (_, i) => added - LATEST_ANNOTATIONS_KEPT + i)]);
    expect(a.annotationsDropped).toBe(added - 1 - LATEST_ANNOTATIONS_KEPT);
    // The audited change's copy of the alarm is bounded too, and ends with the annotation it added.
    expect(last!.alarm.annotations).toHaveLength(1 + LATEST_ANNOTATIONS_KEPT);
    expect(last!.alarm.annotations.at(-1)!.values.n).toBe(added - 1);
  });

  it('below the bound, none is left out and none counted', () => {
    const { e, id } = raised();
    for (let i = 0; i < 3; i++) e.annotate(id, { kind: 'note', values: { n: i } }, model, 2000 + i);
    const a = e.get(id)!;
    expect(a.annotations.map((x) => x.values.n)).toEqual([0, 1, 2]);
    expect(a.annotationsDropped).toBeUndefined();
  });

  it('the display shows the latest episode’s verdict, and the earlier one while it is re-assessed', () => {
    const { e, id } = raised();
    const verdict = (episode: number, probability: number, verdict: string) =>
      e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values: { verdict, probability, threshold: 0.07, modelVersion: 'edge-alarm-gbt-5', episode } }, model, 2000 + episode);
    verdict(1, 0.01, 'likely-false');
    for (let episode = 2; episode <= 200; episode++) {
      e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values: { verdict: 're-assessing', episode }, note: 're-assessing' }, model, 2000 + episode);
      verdict(episode, episode === 200 ? 0.9 : 0.02, episode === 200 ? 'likely-true' : 'likely-false');
    }
    expect(alarmView(e.get(id)!).model).toMatchObject({ verdict: 'likely-true', probability: 0.9 });
    e.annotate(id, { kind: MODEL_ANNOTATION_KIND, values: { verdict: 're-assessing', episode: 201 }, note: 're-assessing' }, model, 3000);
    expect(alarmView(e.get(id)!).model).toMatchObject({ verdict: 're-assessing', note: 're-assessing; earlier episode: likely-true, p 0.9' });
  });
});
