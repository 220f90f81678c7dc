// The alarm view's `model` field: what the bedside page shows of the edge model's annotations; the priority colours.
import { describe, expect, it } from 'vitest';
import { AlarmEngine } from '../alarms/engine.js';
import { MODEL_ANNOTATION_KIND, type Actor } from '../alarms/types.js';
import { alarmView, bedTile, changeView, presentation } from './view.js';
import { WardState } from './ward.js';

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

  it('a returned condition (a later episode): the earlier verdict is not shown as current, only as the earlier episode\'s (rv101 M1)', () => {
    const a = raised();
    a.annotate({ verdict: 'likely-false', probability: 0.01, threshold: 0.07, modelVersion: 'v' });
    a.annotate({ verdict: 're-assessing', action: 'none', episode: 2 }, 're-assessing: the condition returned');
    expect(a.view().model).toEqual({
      verdict: 're-assessing', probability: null, threshold: null, version: null,
      note: 're-assessing: the condition returned; earlier episode: likely-false, p 0.01',
    });
    // A late verdict on the earlier episode does not take its place either.
    a.annotate({ verdict: 'likely-false', probability: 0.02, threshold: 0.07, modelVersion: 'v' }, 'not held: an earlier episode');
    expect(a.view().model).toMatchObject({ verdict: 're-assessing', note: 're-assessing: the condition returned; earlier episode: likely-false, p 0.02' });
    a.annotate({ verdict: 'not-assessed', action: 'none', episode: 2 }, 'not assessed: queue full');
    expect(a.view().model).toMatchObject({ verdict: 'not-assessed', probability: null, note: 'not assessed: queue full; earlier episode: likely-false, p 0.02' });
    a.annotate({ verdict: 'likely-true', probability: 0.9, threshold: 0.07, modelVersion: 'v', episode: 2 });
    expect(a.view().model).toEqual({ verdict: 'likely-true', probability: 0.9, threshold: 0.07, version: 'v', note: null });
  });
});

describe('alarmView audioPausedBy', () => {
  const ward = new WardState({ staleAfterS: 10, intermittentStaleAfterS: 1800, trend: { intervalS: 5, points: 4 }, waveformSeconds: 2, maxBeds: 4 });
  const tileView = (a: ReturnType<typeof raised>) => bedTile(ward, a.e, 'bed-1', 3000).alarms.find((x) => x.id === a.id)!;

  it("tells the edge model's hold from a person's pause, in the bed's tile and in the pause's change", () => {
    const a = raised();
    expect(tileView(a).audioPausedBy).toBeNull();
    const held = a.e.audioPause({ alarmId: a.id }, model, 10, 2000, 'high');
    expect(changeView(held.changes[0]!).alarm).toMatchObject({ state: 'audio-paused', audioPausedBy: 'model' });
    expect(tileView(a)).toMatchObject({ state: 'audio-paused', audioPausedBy: 'model', audioPausedUntil: 12_000 });
    // The model's annotation right after its pause: that change does not say who paused (null), the tile still does.
    a.annotate({ verdict: 'likely-false', probability: 0.01, action: 'audio-paused' }, 'likely false: audio paused 10 s');
    expect(tileView(a).audioPausedBy).toBe('model');

    const mine = a.e.audioPause({ alarmId: a.id }, nurse, 60, 2500, 'high');
    expect(changeView(mine.changes[0]!, false).alarm.audioPausedBy).toBe('person');
    expect(tileView(a)).toMatchObject({ audioPausedBy: 'person', audioPausedUntil: 62_500 });
  });

  it('is null when the audio is not paused, and from the alarm alone', () => {
    const a = raised();
    a.e.audioPause({ alarmId: a.id }, model, 10, 2000, 'high');
    expect(alarmView(a.e.get(a.id)!).audioPausedBy).toBeNull();
    expect(a.e.acknowledge(a.id, nurse, 2100).ok).toBe(true);
    expect(tileView(a)).toMatchObject({ state: 'acknowledged', audioPausedBy: null });
  });
});

/** WCAG relative luminance, optionally as seen through a colour-vision-deficiency matrix (linear RGB). */
function luminance(hex: string, m?: number[][]): number {
  const lin = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const v = m ? m.map((row) => Math.min(1, Math.max(0, row[0]! * lin[0]! + row[1]! * lin[1]! + row[2]! * lin[2]!))) : lin;
  return 0.2126 * v[0]! + 0.7152 * v[1]! + 0.0722 * v[2]!;
}
const contrast = (a: number, b: number) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
/** Machado, Oliveira & Fernandes (2009), severity 1.0. */
const PROTANOPIA = [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]];
const DEUTERANOPIA = [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]];
/** The tiles' panel colour (app.css --panel), behind the alarm rows and tile borders. */
const PANEL = '#161b22';

describe('presentation colours', () => {
  it('high-priority red stands out from the panel by luminance (3:1) with normal vision, protanopia and deuteranopia', () => {
    const red = presentation().high.colour;
    for (const m of [undefined, PROTANOPIA, DEUTERANOPIA]) expect(contrast(luminance(red, m), luminance(PANEL, m))).toBeGreaterThanOrEqual(3);
  });
});
