// The NEWS2 observations note (kept in the store across restarts) with privacy.pseudonymizePatientIds on: the patient
// ids in it are pseudonyms, never the raw ids (review rv82 H1), and a restart still restores them for the same patient.
import { describe, expect, it } from 'vitest';
import { MDC } from '../model/mdc.js';
import { pseudonymizer } from '../privacy.js';
import { numeric, s } from './fixtures.js';
import { DEFAULT_NEWS2_CONFIG, News2Monitor } from './news2.js';
import { pino } from 'pino';
import { Metrics } from '../metrics.js';
import { AlarmEngine } from './engine.js';
import { AlarmService } from './service.js';

const pseudonym = pseudonymizer('a-long-pseudonymisation-key-for-the-news2-test');
const private_ = { ...DEFAULT_NEWS2_CONFIG, storedPatientId: pseudonym };
const P = (mdc: typeof MDC.RESP_RATE, v: number, t: number, patientId: string, deviceId = 'mon-1') => numeric(mdc, v, t, { patientId, deviceId });
const saved = (m: News2Monitor, at: number) => JSON.parse(JSON.stringify(m.observations(s(at)))) as Record<string, Record<string, unknown>>;

describe('NEWS2 observations note with pseudonymisation', () => {
  it('holds pseudonyms only, and restores the observations for the same patient', () => {
    const a = new News2Monitor(private_);
    a.reading(P(MDC.RESP_RATE, 16, 0, 'MRN-1'));
    a.reading(P(MDC.PULS_OXIM_SAT_O2, 97, 0, 'V-778', 'ox-1')); // the same patient by visit number
    a.observe('bed-1', { oxygen: 'oxygen', consciousness: 'V' }, s(0));
    const kept = saved(a, 10);
    expect(JSON.stringify(kept)).not.toMatch(/MRN-1|V-778/);
    expect(kept['bed-1']).toMatchObject({ patientId: pseudonym('MRN-1'), patientIds: { 'mon-1': pseudonym('MRN-1'), 'ox-1': pseudonym('V-778') } });

    const b = new News2Monitor(private_);
    expect(b.restoreObservations(kept)).toEqual(['bed-1']);
    expect(saved(b, 20)).toEqual(kept); // not confirmed yet: kept as they came
    b.reading(P(MDC.RESP_RATE, 16, 30, 'MRN-1'));
    expect(b.score('bed-1', s(30))).toMatchObject({ total: 5, assumed: [] });
    // The bed's devices keep giving their ids: the same patient, nothing reset (the live state holds raw ids).
    for (const t of [40, 45, 50]) {
      b.reading(P(MDC.RESP_RATE, 16, t, 'MRN-1'));
      b.reading(P(MDC.PULS_OXIM_SAT_O2, 97, t, 'V-778', 'ox-1'));
    }
    expect(b.score('bed-1', s(50))).toMatchObject({ total: 5, assumed: [] });
    expect(b.take()).toMatchObject({ observationsDropped: [], formerPatient: { readings: 0 } });
    const again = saved(b, 60);
    expect(JSON.stringify(again)).not.toMatch(/MRN-1|V-778/);
    expect(again['bed-1']).toMatchObject({ patientId: pseudonym('MRN-1'), patientIds: { 'mon-1': pseudonym('MRN-1'), 'ox-1': pseudonym('V-778') } });
  });

  it('drops them for another patient, and reports it', () => {
    const a = new News2Monitor(private_);
    a.reading(P(MDC.RESP_RATE, 16, 0, 'MRN-1'));
    a.observe('bed-1', { oxygen: 'oxygen' }, s(0));
    const b = new News2Monitor(private_);
    b.restoreObservations(saved(a, 10));
    b.reading(P(MDC.RESP_RATE, 16, 600, 'MRN-2'));
    expect(b.score('bed-1', s(600))).toMatchObject({ assumed: ['oxygen', 'consciousness'] });
    expect(b.take().observationsDropped).toEqual([{ bed: 'bed-1', deviceId: 'mon-1' }]);
  });

  it('restores a note with raw ids (written before pseudonymisation) for the same patient, and saves it with pseudonyms', () => {
    const a = new News2Monitor(); // the previous version, or pseudonymisation off
    a.reading(P(MDC.RESP_RATE, 16, 0, 'MRN-1'));
    a.observe('bed-1', { oxygen: 'oxygen', consciousness: 'V' }, s(0));
    const old = saved(a, 10);
    expect(old['bed-1']).toMatchObject({ patientId: 'MRN-1' });
    const b = new News2Monitor(private_);
    expect(b.restoreObservations(old)).toEqual(['bed-1']);
    expect(JSON.stringify(saved(b, 20))).not.toMatch(/MRN-1/); // rewritten at once, even before it is confirmed
    b.reading(P(MDC.RESP_RATE, 16, 30, 'MRN-1'));
    expect(b.score('bed-1', s(30))).toMatchObject({ total: 5, assumed: [] });
    expect(b.take().observationsDropped).toEqual([]);
  });

  it('without pseudonymisation the note keeps the ids as given; a note of pseudonyms then matches no patient and is dropped', () => {
    const a = new News2Monitor(private_);
    a.reading(P(MDC.RESP_RATE, 16, 0, 'MRN-1'));
    a.observe('bed-1', { oxygen: 'oxygen' }, s(0));
    const b = new News2Monitor();
    expect(b.restoreObservations(saved(a, 10))).toEqual([]);
    b.reading(P(MDC.RESP_RATE, 16, 30, 'MRN-1'));
    expect(b.score('bed-1', s(30))).toMatchObject({ assumed: ['oxygen', 'consciousness'] });
    // Told with its cause at restore (review rv83 L1), not as "mon-1 now gives another patient id".
    expect(b.take()).toMatchObject({ observationsDropped: [], observationsUnmatchable: [{ bed: 'bed-1', reason: 'pseudonyms-off' }] });
    b.observe('bed-1', { oxygen: 'oxygen' }, s(40));
    expect(saved(b, 40)['bed-1']).toEqual({ oxygen: { value: 'oxygen', at: s(40) }, patientId: 'MRN-1', patientIds: { 'mon-1': 'MRN-1' } });
  });

  it('notes a fingerprint of the key: after a key change the observations are dropped at restore, with that cause (review rv83 L1)', () => {
    const a = new News2Monitor(private_);
    a.reading(P(MDC.RESP_RATE, 16, 0, 'MRN-1'));
    a.observe('bed-1', { oxygen: 'oxygen', consciousness: 'V' }, s(0));
    const note = saved(a, 10);
    const fp = note['bed-1']!.keyFingerprint as string;
    expect(fp).toMatch(/^[0-9a-f]{8}$/);
    // The same key: the same fingerprint, restored as before.
    const same = new News2Monitor(private_);
    expect(same.restoreObservations(note)).toEqual(['bed-1']);
    expect(saved(same, 20)['bed-1']!.keyFingerprint).toBe(fp);
    // Another key.
    const b = new News2Monitor({ ...DEFAULT_NEWS2_CONFIG, storedPatientId: pseudonymizer('another-long-pseudonymisation-key-rotated!!') });
    expect(b.restoreObservations(note)).toEqual([]);
    b.reading(P(MDC.RESP_RATE, 16, 30, 'MRN-1'));
    expect(b.score('bed-1', s(30))).toMatchObject({ assumed: ['oxygen', 'consciousness'] });
    expect(b.take()).toMatchObject({ observationsDropped: [], observationsUnmatchable: [{ bed: 'bed-1', reason: 'key-changed' }] });
    expect(b.take().observationsUnmatchable).toEqual([]); // told once
    // A note from before fingerprints (no keyFingerprint): compared by pseudonym as before.
    const { keyFingerprint: _fp, ...older } = note['bed-1']!;
    const c = new News2Monitor(private_);
    expect(c.restoreObservations({ 'bed-1': older })).toEqual(['bed-1']);
  });

  it('the service counts observations not restored and tells the cause once, without a per-device line', () => {
    const a = new News2Monitor(private_);
    for (const bed of ['bed-1', 'bed-2']) {
      a.reading(numeric(MDC.RESP_RATE, 16, 0, { patientId: `MRN-${bed}`, deviceId: `mon-${bed}`, bed }));
      a.observe(bed, { oxygen: 'oxygen' }, s(0));
    }
    const note = saved(a, 10);
    const metrics = new Metrics();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const engine = new AlarmEngine({ idPrefix: 't', news2: { ...DEFAULT_NEWS2_CONFIG, storedPatientId: pseudonymizer('another-long-pseudonymisation-key-rotated!!') } });
    expect(engine.restoreNews2Observations(note)).toEqual([]);
    const service = new AlarmService(engine, () => undefined, log, metrics, () => s(30));
    service.handle([numeric(MDC.RESP_RATE, 16, 30, { patientId: 'MRN-bed-1', deviceId: 'mon-bed-1' })]);
    service.handle([numeric(MDC.RESP_RATE, 16, 31, { patientId: 'MRN-bed-1', deviceId: 'mon-bed-1' })]);
    expect(metrics.get('news2_observations_not_restored_total', { reason: 'key-changed' })).toBe(2);
    const told = lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('NEWS2 observations'));
    expect(told).toEqual([
      expect.objectContaining({ level: 40, beds: ['bed-1', 'bed-2'], msg: expect.stringMatching(/pseudonym key changed .* record them again/) }),
    ]);
  });
});
