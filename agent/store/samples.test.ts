import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import type { NumericReading, WaveformSegment } from '../model/reading.js';
import { MDC, UNITS } from '../model/mdc.js';
import { toRecord } from '../ingest.js';
import { envelope, waveformRecord } from '../forward/wire.js';
import { Outbox } from './outbox.js';
import { encodeSamples, recordJson, samplesJsonBytes, samplesText, UnreadableRecordError } from './samples.js';

// Device-like samples: counts of a decimal step, small (int16 thousandths) or large (int32).
const small = fc.integer({ min: -32767, max: 32767 }).map((k) => k / 1000);
const large = fc.tuple(fc.integer({ min: -999_999_999, max: 999_999_999 }), fc.constantFrom(1, 10, 100, 1000)).map(([n, d]) => Math.trunc(n / d) / (1000 / d));
const any = fc.oneof(small, large, fc.double(), fc.constantFrom(-0, 0.1 + 0.2, 1e-7, 0.0005, Number.NaN, Infinity));

describe('binary samples in the store', () => {
  it('give back JSON.stringify(samples) exactly, and know its length, for any doubles', () => {
    for (const gen of [small, large, any]) {
      fc.assert(fc.property(fc.array(gen, { maxLength: 80 }), (xs) => {
        const blob = encodeSamples(xs);
        const json = JSON.stringify(xs);
        expect(samplesText(blob)).toBe(json);
        expect(samplesJsonBytes(blob)).toBe(Buffer.byteLength(json));
      }), { numRuns: 2000 });
    }
  });

  it('take 2 bytes a sample for ECG-like millivolts, 4 for larger counts, 8 for anything else', () => {
    expect(encodeSamples([0.125, -1.5, 32.767]).length).toBe(8 + 3 * 2);
    expect(encodeSamples([-32.767]).length).toBe(8 + 2);
    // Just past the 16-bit range: 32-bit (as 16 bits, 32.768 would wrap round to -32.768).
    for (const x of [32.768, -32.768, 999999.999, -999999.999]) {
      expect(encodeSamples([x]).length).toBe(8 + 4);
      expect(samplesText(encodeSamples([x]))).toBe(JSON.stringify([x]));
    }
    expect(encodeSamples([1e6]).length).toBe(8 + 8); // beyond 32-bit thousandths
    expect(samplesText(encodeSamples([1e6, 0.5]))).toBe('[1000000,0.5]');
    expect(encodeSamples([0.125, 40.5]).length).toBe(8 + 2 * 4);
    expect(encodeSamples([0.125, 0.1 + 0.2]).length).toBe(8 + 2 * 8);
    expect(samplesText(encodeSamples([]))).toBe('[]');
    expect(samplesText(encodeSamples([-0, 0.05]))).toBe('[0,0.05]');
  });

  it('refuse a blob of an unknown format or a wrong length rather than write wrong numbers', () => {
    const blob = encodeSamples([1, 2]);
    blob[0] = 9;
    expect(() => samplesText(blob)).toThrow(UnreadableRecordError);
    expect(() => samplesText(blob)).toThrow(/unknown format 9/);
    expect(() => samplesText(encodeSamples([1, 2, 3]).subarray(0, 13))).toThrow(/16-bit samples of 5 bytes/);
  });

  it('refuse a damaged blob whose numbers are out of their range or whose text is not the length its header says', () => {
    // 32-bit thousandths are written below 1e9 only; a bit flip can give more (whose text is also longer).
    const blob = encodeSamples([40.5, -1.25]);
    blob.writeInt32LE(-2147483647, 8 + 4);
    expect(() => samplesText(blob)).toThrow(/sample 1 of -2147483647 thousandths: out of range/);
    // In range, but not the samples the header's length was computed for (the message was sized by it).
    const other = encodeSamples([40.5, -1.25]);
    other.writeInt32LE(123456789, 8);
    expect(() => samplesText(other)).toThrow(UnreadableRecordError);
    // Any damage at all is caught or gives the same-length text of the same format: never text that is not JSON.
    fc.assert(fc.property(fc.array(fc.oneof(small, large), { minLength: 1, maxLength: 20 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (xs, at, byte) => {
      const b = encodeSamples(xs);
      b[8 + (at % (b.length - 8))] = byte;
      let text: string;
      try {
        text = samplesText(b);
      } catch (err) {
        expect(err).toBeInstanceOf(UnreadableRecordError);
        return;
      }
      expect(Buffer.byteLength(text)).toBe(samplesJsonBytes(b));
      expect(Array.isArray(JSON.parse(text))).toBe(true);
    }), { numRuns: 3000 });
  });

  it('a stored waveform record packs to the JSON of its record, in a row of its own', () => {
    const segment = (i: number): WaveformSegment => ({
      kind: 'waveform', deviceId: 'mon-1', source: 'sim', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT,
      startTime: 1_790_000_000_000 + i * 1000, sampleRateHz: 250,
      samples: Array.from({ length: 250 }, (_, k) => Math.round(Math.sin(k / 10 + i) * 1500) / 1000),
      receivedAt: 1_790_000_000_100 + i * 1000, quality: { state: 'valid' },
    });
    const records = [segment(0), segment(1)].map((w) => toRecord(w, true)!);
    expect(records[0]!.samples).toBeInstanceOf(Uint8Array);
    expect(recordJson(records[0]!.body, records[0]!.samples!)).toBe(JSON.stringify(waveformRecord(segment(0))));
    // The stored body alone is valid JSON with samples null: what an older agent, blind to the blob, would send.
    expect(JSON.parse(records[0]!.body)).toEqual({ ...JSON.parse(JSON.stringify(waveformRecord(segment(0)))), samples: null });
    const box = new Outbox(':memory:');
    box.append(records);
    const expected = [segment(0), segment(1)].map((w) => JSON.stringify(waveformRecord(w)));
    // Pending bytes count the JSON the records will be, not what the store holds.
    expect(box.pending('telemetry')).toMatchObject({ records: 2, bytes: expected.reduce((n, t) => n + Buffer.byteLength(t), 0) });
    const m = box.pack('telemetry', 65536, (_id, _s, entries) => `[${entries.join(',')}]`)!;
    expect(m.count).toBe(2);
    expect(m.body).toBe(`[${expected.join(',')}]`);
    box.close();
  });

  it('a stored body and blob that do not belong together are an error, not a wrong record', () => {
    expect(() => recordJson('{"type":"waveform","samples":null}', encodeSamples([1], 3))).toThrow(/no samples placeholder at 3/);
    expect(recordJson('{"type":"waveform","samples":null}', encodeSamples([1], 29))).toBe('{"type":"waveform","samples":[1]}');
    expect(() => recordJson('{}', Buffer.alloc(4))).toThrow(UnreadableRecordError);
    // A context key named "samples" before the record's own does not mislead the placeholder.
    const w: WaveformSegment = {
      kind: 'waveform', deviceId: 'd', source: 's', context: { samples: null }, mdc: MDC.ECG_ELEC_POTL_II,
      unit: UNITS.MILLI_VOLT, startTime: 0, sampleRateHz: 250, samples: [0.5], receivedAt: 0, quality: { state: 'valid' },
    };
    const r = toRecord(w, true)!;
    expect(recordJson(r.body, r.samples!)).toBe(JSON.stringify(waveformRecord(w)));
  });
});

describe('a stored row whose body was damaged on disk', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const numeric = (deviceId: string, i: number): NumericReading => ({
    kind: 'numeric', deviceId, source: 'sim', mdc: MDC.ECG_HEART_RATE, value: 60 + i, unit: UNITS.BEAT_PER_MIN,
    deviceTime: 1_790_000_000_000 + i * 1000, receivedAt: 1_790_000_000_100 + i * 1000, quality: { state: 'valid' },
  });
  const wave = (i: number): WaveformSegment => ({
    kind: 'waveform', deviceId: 'mon-w', source: 'sim', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT,
    startTime: 1_790_000_000_000 + i * 1000, sampleRateHz: 250, samples: [0.5, -1.25, i],
    receivedAt: 1_790_000_000_100 + i * 1000, quality: { state: 'valid' },
  });

  it('is moved to `unreadable` and counted when packed, and the message holds the other rows as valid JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'samples-'));
    dirs.push(dir);
    const path = join(dir, 'agent.db');
    const box = new Outbox(path);
    // Rows as ingest stores them: a device's consecutive numerics share a row (3 records each), a waveform has its own.
    const events = [
      ...[0, 1, 2].map((i) => numeric('mon-a', i)), ...[3, 4, 5].map((i) => numeric('mon-b', i)),
      wave(6), wave(7), ...[8, 9, 10].map((i) => numeric('mon-a', i)),
    ];
    box.append(events.map((e) => toRecord(e, true)!));
    // One byte flipped in the body of mon-b's row and of the second waveform's (not at its placeholder): SQLite
    // keeps no checksum of content, so nothing but the JSON shows it.
    const db = new Database(path);
    const flip = (table: string, nth: number, from: string, to: string): void => {
      const row = db.prepare<[number], { seq: number; body: string }>(`SELECT seq, body FROM ${table} ORDER BY seq LIMIT 1 OFFSET ?`).get(nth)!;
      expect(row.body).toContain(from);
      db.prepare(`UPDATE ${table} SET body = ? WHERE seq = ?`).run(row.body.replace(from, to), row.seq);
    };
    flip('outbox_1', 1, '"value"', '#value"');
    flip('outbox_2', 1, '"unit"', '"unit#');
    db.close();

    const m = box.pack('telemetry', 65_536, envelope('gw'))!;
    const kept = [0, 1, 2, 6, 8, 9, 10].map((i) => events[i]!);
    // Before the fix the damaged rows went in as they were, and this parse failed for the whole message.
    const sent = (JSON.parse(m.body) as { records: unknown[] }).records;
    expect(sent).toEqual(kept.map((e) => JSON.parse(recordJson(toRecord(e, true)!.body, toRecord(e, true)!.samples ?? null)) as unknown));
    expect(m.count).toBe(7);
    expect(box.pending('telemetry')).toEqual({ records: 0, bytes: 0, oldestAt: null });
    // Set aside, counted (mon-b's row held 3 records), and reported once by the limits check (which the agent logs and alarms).
    expect(box.unreadableRecords()).toEqual({ records: 4, reason: expect.stringMatching(/^stored record unreadable: stored body is not JSON/) as unknown });
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(4);
    box.settleUnreadable(); // the agent reports them (rv74 M1): counted until then
    expect(box.enforceLimits(1e12, 1e12).unreadable).toBe(0);
    box.close();
  });

  it('is any body that is not one or more JSON values joined by commas', () => {
    expect(recordJson('{"a":1},{"b":2}', null)).toBe('{"a":1},{"b":2}');
    for (const bad of ['{"a":1},#"b":2}', '{"a":1}]', '{"a":1},', '', ' ', '{"a":"\u0007"}' /* a raw control character */]) {
      expect(() => recordJson(bad, null), bad).toThrow(UnreadableRecordError);
    }
    // A waveform's body is checked with its placeholder, before the samples go in.
    const body = '{"type":"waveform","samples":null,#}';
    expect(() => recordJson(body, encodeSamples([1], body.indexOf('null')))).toThrow(/stored body is not JSON/);
    // The reason says where, and quotes nothing of the body (it is logged).
    expect(() => recordJson('{"patient":"Jane Doe"x}', null)).toThrow(/^stored record unreadable: stored body is not JSON( \(at character \d+\))?$/);
  });
});
