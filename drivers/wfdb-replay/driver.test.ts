// The wfdb-replay driver against a recording context: every sample of every signal once, in order, with
// contiguous device times, then the header's alarm as a device AlarmEvent at the end of the record.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AlarmEvent, DriverEvent, WaveformSegment } from '../../agent/model/reading.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { readRecord } from '../../models/records.js';
import { WaveformRing } from '../../agent/inference/ring.js';
import type { DriverContext } from '../types.js';
import { wfdbReplayDriver } from './index.js';
import { signalCode } from './codes.js';

const RECORDS = join(PACKAGE_ROOT, 'models', 'fixtures', 'records');

function context() {
  const events: DriverEvent[] = [];
  const ctx: DriverContext = { name: 'replay', log: pino({ level: 'silent' }), emit: async (e) => void events.push(...e), count: () => undefined };
  return { ctx, events };
}

async function until(pred: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('wfdb-replay driver', () => {
  it('plays every sample once, in order, then raises the record\'s alarm', async () => {
    const { ctx, events } = context();
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 'v100s'), speed: 200, segmentMs: 500, bed: 'B1' }, ctx);
    await d.start();
    await until(() => events.some((e) => e.kind === 'alarm'));
    await d.stop();
    const rec = readRecord(RECORDS, 'v100s');
    const segs = events.filter((e): e is WaveformSegment => e.kind === 'waveform');
    for (const c of rec.channels) {
      const mine = segs.filter((s) => s.raw?.code === c.name);
      expect(mine.flatMap((s) => s.samples)).toEqual(Array.from(c.samples));
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.startTime - mine[i - 1]!.startTime).toBeCloseTo(500, -1);
    }
    expect(segs.find((s) => s.raw?.code === 'II')?.mdc?.refid).toBe('MDC_ECG_ELEC_POTL_II');
    expect(segs.find((s) => s.raw?.code === 'V')?.mdc?.refid).toBe('MDC_ECG_ELEC_POTL');
    expect(segs.find((s) => s.raw?.code === 'RESP')?.mdc).toBeNull();
    expect(segs.every((s) => s.bed === 'B1' && s.deviceId === 'wfdb-v100s' && s.sampleRateHz === 250)).toBe(true);
    const last = events.at(-1) as AlarmEvent;
    expect(last).toMatchObject({ kind: 'alarm', text: 'VTACH', phase: 'start', priority: 'high', category: 'physiological', condition: { refid: 'MDC_EVT_ECG_V_TACHY' } });
    expect(last.deviceTime! - segs[0]!.startTime).toBe(30_000);
    expect(d.health().detail).toMatch(/finished v100s|playing/);
  });

  it('can raise the alarm part-way through a record and play on', async () => {
    const { ctx, events } = context();
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 't106s.hea'), speed: 500, alarmAtS: 10 }, ctx);
    await d.start();
    await until(() => d.health().detail === 'finished t106s');
    await d.stop();
    const i = events.findIndex((e) => e.kind === 'alarm');
    const before = events.slice(0, i).filter((e): e is WaveformSegment => e.kind === 'waveform' && e.raw?.code === 'II');
    expect(before.reduce((n, s) => n + s.samples.length, 0)).toBe(2500);
    expect(events.slice(i + 1).some((e) => e.kind === 'waveform')).toBe(true);
  });

  it('sends each signal in its header\'s units (a uV ECG is not sent as mV), which the model\'s ring converts', async () => {
    // f120s with lead II recorded in uV and ABP in kPa: the same ADC values, other gains and units.
    const dir = mkdtempSync(join(tmpdir(), 'wfdb-units-'));
    const hea = readFileSync(join(RECORDS, 'f120s.hea'), 'utf8').replace(' 8700/mV ', ' 8.7/uV ').replace(' 102.9/mmHg ', ` ${102.9 * 7.50062}/kPa `);
    writeFileSync(join(dir, 'f120s.hea'), hea);
    copyFileSync(join(RECORDS, 'f120s.dat'), join(dir, 'f120s.dat'));
    const { ctx, events } = context();
    const d = wfdbReplayDriver.create({ record: join(dir, 'f120s'), speed: 500, bed: 'B1', alarm: false }, ctx);
    await d.start();
    await until(() => d.health().detail === 'finished f120s');
    await d.stop();
    const segs = events.filter((e): e is WaveformSegment => e.kind === 'waveform');
    const unit = (name: string) => segs.find((s) => s.raw?.code === name)?.unit.ucum;
    expect([unit('II'), unit('V'), unit('PLETH'), unit('ABP')]).toEqual(['uV', 'mV', '1', 'kPa']);
    const ring = new WaveformRing();
    for (const s of segs) ring.add(s);
    const w = ring.window('bed:B1', Math.max(...segs.map((s) => s.receivedAt)));
    const rec = readRecord(RECORDS, 'f120s'); // mV and mmHg
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    expect(maxDiff(w.find((c) => c.name === 'II')!.samples, rec.channels[0]!.samples)).toBeLessThan(1e-4);
    expect(maxDiff(w.find((c) => c.name === 'ABP')!.samples, rec.channels[3]!.samples)).toBeLessThan(1e-3);
  });

  it('a signal it has no MDC term for keeps its header\'s unit (RESP in NU, CO2 in kPa or %), as a known one does', () => {
    expect(signalCode('RESP', 'NU').unit).toMatchObject({ ucum: '1' }); // with its MDC unit term
    expect(signalCode('CO2', 'kPa').unit).toEqual({ ucum: 'kPa' });
    expect(signalCode('CO2', '%').unit).toEqual({ ucum: '%' });
    expect(signalCode('CO2', '').unit).toEqual({ ucum: '' });
    expect(signalCode('ABP', 'kPa').unit).toEqual({ ucum: 'kPa' });
  });

  it('refuses a record it would misread (2 samples per frame) when made, naming options.record and the signal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfdb-spf-'));
    writeFileSync(join(dir, 'r.hea'), 'r 2 250 4\nr.dat 16x2 100/mV 16 0 0 0 0 II\nr.dat 16 1/NU 16 0 0 0 0 PLETH\n');
    writeFileSync(join(dir, 'r.dat'), new Uint8Array(24));
    expect(() => wfdbReplayDriver.create({ record: join(dir, 'r') }, context().ctx)).toThrow(/^options\.record: .*r\.hea: header line 2 \(signal 0\): signal "II" has 2 samples per frame/);
  });

  it('refuses a missing record when made (so --check and the start name it), naming options.record and the file', () => {
    const { ctx } = context();
    expect(() => wfdbReplayDriver.create({ record: join(RECORDS, 'nope') }, ctx)).toThrow(/^options\.record: cannot read the record's header .*nope\.hea \(ENOENT\)/);
    // A header whose signal file is not there.
    const dir = mkdtempSync(join(tmpdir(), 'wfdb-nodat-'));
    copyFileSync(join(RECORDS, 'v100s.hea'), join(dir, 'v100s.hea'));
    expect(() => wfdbReplayDriver.create({ record: join(dir, 'v100s') }, ctx)).toThrow(/^options\.record: the record's signal file .*v100s\.dat, named in its header, is not there$/);
  });

  it('sends, reports and claims one device id, from the record\'s file name, also for a copy whose header names another record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wfdb-id-'));
    copyFileSync(join(RECORDS, 't106s.hea'), join(dir, 'bed7-replay.hea')); // its header still says t106s
    copyFileSync(join(RECORDS, 't106s.dat'), join(dir, 't106s.dat'));
    const record = join(dir, 'bed7-replay');
    const { ctx, events } = context();
    const d = wfdbReplayDriver.create({ record, speed: 1000 }, ctx);
    const claimed = (wfdbReplayDriver.claims!({ record }).deviceIds ?? []).map((x) => x.id);
    expect(claimed).toEqual(['wfdb-bed7-replay']);
    expect(Object.keys(d.health().devices ?? {})).toEqual(claimed); // before the start too
    await d.start();
    await until(() => events.some((e) => e.kind === 'alarm'));
    await d.stop();
    expect([...new Set(events.map((e) => e.deviceId))]).toEqual(claimed);
    expect(Object.keys(d.health().devices ?? {})).toEqual(claimed);
  });

  it('claims its device id (given, or wfdb-<record name>) and its bed', () => {
    expect(wfdbReplayDriver.claims!({ record: join(RECORDS, 'v100s.hea'), bed: 'B1' })).toEqual({ deviceIds: [{ id: 'wfdb-v100s', field: 'options.record' }], beds: [{ bed: 'B1', field: 'options.bed' }] });
    expect(wfdbReplayDriver.claims!({ record: join(RECORDS, 'v100s'), deviceId: 'mon-7' })).toEqual({ deviceIds: [{ id: 'mon-7', field: 'options.deviceId' }], beds: [] });
  });
});
