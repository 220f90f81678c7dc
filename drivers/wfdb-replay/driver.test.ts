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

  it('claims its device id (given, or wfdb-<record name>) and its bed, also as that bed\'s monitor (review rv120 M7)', () => {
    const b1 = [{ bed: 'B1', field: 'options.bed' }];
    expect(wfdbReplayDriver.claims!({ record: join(RECORDS, 'v100s.hea'), bed: 'B1' })).toEqual({
      deviceIds: [{ id: 'wfdb-v100s', field: 'options.record' }],
      beds: b1,
      monitorBeds: b1,
      deviceBeds: [{ id: 'wfdb-v100s', bed: 'B1', field: 'options.bed' }],
    });
    expect(wfdbReplayDriver.claims!({ record: join(RECORDS, 'v100s'), deviceId: 'mon-7' })).toEqual({ deviceIds: [{ id: 'mon-7', field: 'options.deviceId' }], beds: [], monitorBeds: [], deviceBeds: [] });
  });
});

/** A copy of t106s (3 signals, 250 Hz, 7500 frames) under `name` in a new folder, its header and data changed. */
function variant(name: string, header: (hea: string) => string, data: (dat: Buffer) => Buffer = (d) => d): string {
  const dir = mkdtempSync(join(tmpdir(), 'wfdb-var-'));
  const hea = readFileSync(join(RECORDS, 't106s.hea'), 'utf8').replaceAll('t106s', name);
  writeFileSync(join(dir, `${name}.hea`), header(hea));
  writeFileSync(join(dir, `${name}.dat`), data(readFileSync(join(RECORDS, 't106s.dat'))));
  return join(dir, name);
}

/** A context that records what it is given, counts, log lines, and refuses the emits `refuse` says to. */
function refusingContext(refuse: (n: number, events: DriverEvent[]) => boolean) {
  const events: DriverEvent[] = [];
  const counts: Record<string, number> = {};
  const logs: { level: number; msg: string }[] = [];
  let n = 0;
  const log = pino({ level: 'debug' }, { write: (l: string) => void logs.push(JSON.parse(l) as { level: number; msg: string }) });
  const ctx: DriverContext = {
    name: 'replay',
    log,
    emit: async (e) => {
      if (refuse(++n, e)) throw new Error('store refused: SQLITE_FULL');
      events.push(...e);
    },
    count: (c, by = 1) => void (counts[c] = (counts[c] ?? 0) + by),
  };
  return { ctx, events, counts, logs };
}

describe('wfdb-replay driver: a refused emit (review rv86 M1)', () => {
  it('plays on after a refused segment, counts it, logs it, reports degraded, and still raises the alarm at its time', async () => {
    const { ctx, events, counts, logs } = refusingContext((n) => n === 3 || n === 4);
    // 30 s at 20× = 1.5 s: long enough to see the state while playing.
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 't106s'), speed: 20, segmentMs: 500 }, ctx);
    await d.start();
    await until(() => counts.emit_failures === 2);
    expect(d.health().state).toBe('degraded');
    expect(d.health().detail).toMatch(/2 emits refused.*SQLITE_FULL/);
    expect(d.health().devices?.['wfdb-t106s']?.state).toBe('online');
    await until(() => events.some((e) => e.kind === 'alarm'));
    await d.stop();
    const ii = events.filter((e): e is WaveformSegment => e.kind === 'waveform' && e.raw?.code === 'II');
    expect(ii.length).toBe(60 - 2); // all but the two refused
    const alarm = events.at(-1) as AlarmEvent;
    expect(alarm.kind).toBe('alarm');
    expect(alarm.deviceTime! - ii[0]!.startTime).toBe(30_000);
    expect(counts.alarms_emitted).toBe(1);
    // Logged once (rate-gated), with what was refused.
    const refusedLogs = logs.filter((l) => /refused/.test(l.msg));
    expect(refusedLogs.length).toBe(1);
    expect(refusedLogs[0]!.level).toBe(50);
  });

  it('a refused alarm is counted and logged every time, and the replay finishes', async () => {
    const { ctx, counts, logs } = refusingContext((_n, e) => e.some((x) => x.kind === 'alarm'));
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 't106s'), speed: 1000 }, ctx);
    await d.start();
    await until(() => d.health().detail?.startsWith('finished t106s') === true);
    // Finished, and degraded for 10 s after the refusal as while playing (a finished replay stays 'running': rv95 M1).
    expect(d.health()).toMatchObject({ state: 'degraded', detail: expect.stringMatching(/^finished t106s; 1 emits refused by the pipeline/) });
    await d.stop();
    expect(counts.emit_failures).toBe(1);
    expect(counts.alarms_emitted).toBeUndefined();
    expect(logs.some((l) => l.level === 50 && /alarm .*refused/.test(l.msg))).toBe(true);
  });
});

describe('wfdb-replay driver: records refused when made, not at every start (review rv86 M3, L4)', () => {
  const make = (record: string) => () => wfdbReplayDriver.create({ record }, context().ctx);

  it('format 212 (MIT-BIH), naming options.record and the signal', () => {
    const r = variant('f212', (h) => h.replaceAll(' 16 ', ' 212 '));
    expect(make(r)).toThrow(/^options\.record: .*f212\.hea: signal 0 \("II"\) has format 212; only format 16 is supported/);
  });

  it('signals in two files, or at two byte offsets', () => {
    const two = variant('two', (h) => h.replace(/^two\.dat(?= 16 8249)/m, 'two_b.dat'));
    expect(make(two)).toThrow(/^options\.record: .*two\.hea: signal 1 \("III"\) is in two_b\.dat at byte 0, signal 0 in two\.dat at byte 0: all signals must share one file/);
    const off = variant('off', (h) => h.replace(/^(off\.dat) 16 (?=8249)/m, '$1 16+6 '));
    expect(make(off)).toThrow(/^options\.record: .*off\.hea: signal 1 \("III"\) is in off\.dat at byte 6/);
  });

  it('a .dat file shorter than the header says', () => {
    const r = variant('trunc', (h) => h, (d) => d.subarray(0, 1000));
    expect(make(r)).toThrow(/^options\.record: .*trunc\.dat holds 1000 bytes; the header's 7500 samples of 3 signals need 45000/);
    const o = variant('short', (h) => h.replace(/^(short\.dat) 16 /gm, '$1 16+100 '), (d) => d.subarray(0, 50));
    expect(make(o)).toThrow(/^options\.record: .*short\.dat holds 50 bytes, less than its byte offset 100/);
  });

  it('an empty .dat file with no sample count in the header (nothing to play, so no alarm)', () => {
    const r = variant('empty', (h) => h.replace('empty 3 250 7500', 'empty 3 250'), () => Buffer.alloc(0));
    expect(make(r)).toThrow(/^options\.record: .*empty\.dat holds no whole frame/);
  });

  it('a sampling frequency outside 1..10000 Hz', () => {
    expect(make(variant('fast', (h) => h.replace('fast 3 250 7500', 'fast 3 1e9 7500')))).toThrow(/^options\.record: .*fast\.hea: sampling frequency 1000000000 Hz is outside 1–10000 Hz/);
    expect(make(variant('slow', (h) => h.replace('slow 3 250 7500', 'slow 3 0.5 7500')))).toThrow(/^options\.record: .*slow\.hea: sampling frequency 0\.5 Hz is outside/);
  });

  it('the fixture records pass', () => {
    for (const r of ['a103l', 'b124s', 'f120s', 't106s', 'v100s']) expect(make(join(RECORDS, r))).not.toThrow();
  });
});

describe('wfdb-replay driver: a header and a .dat that do not match, refused rather than played as nonsense (review rv193 M1)', () => {
  const make = (record: string, alarm?: boolean) => () => wfdbReplayDriver.create({ record, ...(alarm !== undefined && { alarm }) }, context().ctx);

  it('a header whose record line announces fewer signals than its signal lines (a 3-signal file read as 2-signal frames)', () => {
    const r = variant('fewer', (h) => h.replace('fewer 3 250 7500', 'fewer 2 250 7500'));
    expect(make(r)).toThrow(/^options\.record: .*fewer\.hea: header line 4: the record line announces 2 signals, but this line follows their 2 signal lines: "fewer\.dat 16 /);
  });

  it('a .dat longer than the header says, naming the file and both sizes', () => {
    const r = variant('long', (h) => h, (d) => Buffer.concat([d, d]));
    expect(make(r)).toThrow(/^options\.record: .*long\.dat holds 90000 bytes; the header's 7500 samples of 3 signals need 45000: /);
    const one = variant('onebyte', (h) => h, (d) => Buffer.concat([d, Buffer.from([1])]));
    expect(make(one)).toThrow(/^options\.record: .*onebyte\.dat holds 45001 bytes; the header's 7500 samples of 3 signals need 45000/);
  });

  it('a .dat cut mid-frame in a header without a sample count (it used to play its whole frames)', () => {
    const r = variant('cut', (h) => h.replace('cut 3 250 7500', 'cut 3 250'), (d) => d.subarray(0, 6 * 1000 + 3));
    expect(make(r)).toThrow(
      /^options\.record: .*cut\.dat holds 6003 bytes of samples; the header gives no sample count, and that is not a whole number of 6-byte frames \(3 signals\): 3 bytes left over/,
    );
    // Whole frames without a sample count play.
    expect(make(variant('whole', (h) => h.replace('whole 3 250 7500', 'whole 3 250'), (d) => d.subarray(0, 6000)))).not.toThrow();
  });
});

describe('wfdb-replay driver: edge cases said, not silent (review rv193 L5)', () => {
  const make = (record: string, alarm?: boolean) => () => wfdbReplayDriver.create({ record, ...(alarm !== undefined && { alarm }) }, context().ctx);
  const warnings = (o: Parameters<typeof wfdbReplayDriver.create>[0]) => wfdbReplayDriver.warnings!(o);

  it('a negative sample count is named as such, with its line', () => {
    const r = variant('neg', (h) => h.replace('neg 3 250 7500', 'neg 3 250 -7500'));
    expect(make(r)).toThrow(/^options\.record: .*neg\.hea: header line 1: samples per signal -7500 is negative$/);
  });

  it('gain 0 (WFDB: uncalibrated) is refused, not played as if 200 ADC units were 1 mV', () => {
    const r = variant('gain0', (h) => h.replace(/^(gain0\.dat 16) \S+/m, '$1 0/mV'));
    expect(make(r)).toThrow(/^options\.record: .*gain0\.hea: header line 2 \(signal 0\): signal "II" has gain 0, which WFDB reads as uncalibrated/);
  });

  it('an alarm type it does not know is refused, unless the alarm is off', async () => {
    const r = variant('odd', (h) => h.replace(/^#Tachycardia/m, '#Sinus_Arrest'));
    expect(make(r)).toThrow(
      /^options\.record: .*odd\.hea: its header names the alarm type "Sinus_Arrest", which is not one of the PhysioNet 2015 types .*Asystole.*: .*options\.alarm: false/,
    );
    expect(make(r, false)).not.toThrow();
  });

  it('a header with no alarm type: warned by --check, and said at start', async () => {
    const r = variant('quiet', (h) => h.replace(/^#Tachycardia\r?\n/m, ''));
    expect(warnings({ record: r })).toEqual([{ field: 'options.record', message: expect.stringMatching(/header names no alarm type .*: the replay raises no alarm/) }]);
    expect(warnings({ record: r, alarm: false })).toEqual([]);
    const { ctx, logs } = refusingContext(() => false);
    const d = wfdbReplayDriver.create({ record: r, speed: 1000 }, ctx);
    await d.start();
    await until(() => d.health().detail === 'finished quiet');
    await d.stop();
    expect(logs.some((l) => l.level === 40 && /names no alarm type/.test(l.msg))).toBe(true);
  });

  it('an alarmAtS beyond the record: warned, naming the field (it is raised at the end)', () => {
    const t106s = join(RECORDS, 't106s');
    expect(warnings({ record: t106s, alarmAtS: 500 })).toEqual([
      { field: 'options.alarmAtS', message: expect.stringMatching(/^500 s is beyond the end of the record \(30\.0 s\): the alarm is raised at its end/) },
    ]);
    expect(warnings({ record: t106s, alarmAtS: 30 })).toEqual([]);
    expect(warnings({ record: t106s, alarmAtS: 500, alarm: false })).toEqual([]);
  });

  it('a record longer than 300 s without alarmAtS: warned that PhysioNet 2015 puts the onset at 300 s', () => {
    // t106s made 330 s long, as the corpus's full/ "l" records are (the alarm sounds at 300 s, 30 s before the end).
    const r = variant('long330', (h) => h.replace('long330 3 250 7500', 'long330 3 250 82500'), (d) => Buffer.concat(Array.from({ length: 11 }, () => d)));
    expect(warnings({ record: r })).toEqual([
      { field: 'options.alarmAtS', message: expect.stringMatching(/not set: the alarm is raised at the end of the record, 330\.0 s.*onset at 300 s.*alarmAtS: 300/) },
    ]);
    expect(warnings({ record: r, alarmAtS: 300 })).toEqual([]);
  });

  it('a header without a sample count: warned that the size cannot confirm its signal lines (review rv195 L4)', () => {
    const r = variant('nocount', (h) => h.replace('nocount 3 250 7500', 'nocount 3 250'));
    expect(warnings({ record: r })).toEqual([{ field: 'options.record', message: expect.stringMatching(/^the header gives no sample count: the \.dat's size cannot confirm its 3 signal line\(s\)/) }]);
    expect(warnings({ record: r, alarm: false })).toHaveLength(1);
  });

  it('training and evaluation name the record whose header they refuse (review rv195 L1)', () => {
    const r = variant('gain0', (h) => h.replace(/^(gain0\.dat 16) \S+/m, '$1 0/mV'));
    const dir = r.slice(0, -'/gain0'.length);
    expect(() => readRecord(dir, 'gain0')).toThrow(new RegExp(`^${dir.replaceAll('.', '\\.')}/gain0\\.hea: header line 2 \\(signal 0\\): signal "II" has gain 0`));
  });

  it('the fixture records give no warning; a record it refuses gives none either (create() refuses it)', () => {
    for (const r of ['a103l', 'b124s', 'f120s', 't106s', 'v100s']) expect(warnings({ record: join(RECORDS, r) })).toEqual([]);
    expect(warnings({ record: join(RECORDS, 'nope') })).toEqual([]);
  });
});

describe('wfdb-replay driver: small input gaps (review rv86 L4)', () => {

  it('alarmAtS 0 raises the alarm before any sample', async () => {
    const { ctx, events } = context();
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 't106s'), speed: 1000, alarmAtS: 0 }, ctx);
    await d.start();
    await until(() => d.health().detail === 'finished t106s');
    await d.stop();
    expect(events[0]?.kind).toBe('alarm');
    const first = events.find((e): e is WaveformSegment => e.kind === 'waveform')!;
    expect((events[0] as AlarmEvent).deviceTime).toBe(first.startTime);
  });
});

describe('wfdb-replay driver: a finished replay (review rv86 L2, rv95 M1)', () => {
  it('keeps the driver running (detail "finished <record>") with its device offline, so /healthz stays ok and the "No data" alarm reads consistently', async () => {
    const { ctx } = context();
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 't106s'), speed: 1000 }, ctx);
    expect(d.health().state).toBe('starting');
    await d.start();
    await until(() => d.health().detail === 'finished t106s');
    const h = d.health();
    // 'running', not 'stopped': the agent's health() counts any driver not running as degraded, and a replay that
    // played its record did what it was asked (rv95 M1). Not 'degraded' or 'failed' either: the device's silence is
    // the agent's "No data" alarm.
    expect(h.state).toBe('running');
    expect(h.devices?.['wfdb-t106s']).toMatchObject({ state: 'offline', detail: 'finished' });
    expect(h.devices?.['wfdb-t106s']?.lastDataAt).toEqual(expect.any(Number));
    await d.stop();
    // Stopped on purpose afterwards: stopped, as any driver.
    expect(d.health()).toMatchObject({ state: 'stopped', detail: 'finished t106s', devices: { 'wfdb-t106s': { state: 'offline', detail: 'finished' } } });
  });

  it('while playing: running and online', async () => {
    const { ctx } = context();
    const d = wfdbReplayDriver.create({ record: join(RECORDS, 't106s'), speed: 1 }, ctx);
    await d.start();
    expect(d.health()).toMatchObject({ state: 'running', devices: { 'wfdb-t106s': { state: 'online' } } });
    await d.stop();
    expect(d.health()).toMatchObject({ state: 'stopped', devices: { 'wfdb-t106s': { state: 'offline', detail: 'stopped' } } });
  });
});
