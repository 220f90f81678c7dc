// The compact encoding (schema version 2) is lossless: expandCompact() gives back exactly the v1 records, in order,
// for simulator output packed by the real outbox; its bodies validate against message-v2.schema.json; the decoder
// throws only its own error on arbitrary input.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { pino } from 'pino';
import { PACKAGE_ROOT } from '../paths.js';
import type { DriverEvent } from '../model/reading.js';
import { MDC, UNITS } from '../model/mdc.js';
import { createSimulator } from '../../drivers/simulator/index.js';
import { toRecord } from '../ingest.js';
import { recordJson } from '../store/samples.js';
import { Outbox, type OutboxRecord } from '../store/outbox.js';
import { CompactFormatError, encodeCompact, expandCompact } from './compact.js';
import { envelope, numericJson } from './wire.js';

const schemaDir = join(PACKAGE_ROOT, 'agent/forward/schema');
const ajv = new Ajv({ allErrors: true, strict: false });
// ajv-formats is CommonJS; its default export arrives as the module namespace under NodeNext.
(addFormats as unknown as { default: (a: Ajv) => void }).default(ajv);
ajv.addSchema(JSON.parse(readFileSync(join(schemaDir, 'message-v1.schema.json'), 'utf8')) as object);
const validateV2 = ajv.compile(JSON.parse(readFileSync(join(schemaDir, 'message-v2.schema.json'), 'utf8')) as object);
const validateV1 = ajv.getSchema('https://github.com/bedside-edge-gateway/schema/message-v1.schema.json')!;

/** A simulated ward: numerics, NIBP, waveforms, episodes (sensor-off, lead-off: null values, reasons), status. */
async function simulatorEvents(beds: number, seconds: number, patientIds = false): Promise<DriverEvent[]> {
  const events: DriverEvent[] = [];
  const sim = createSimulator(
    { beds, seed: 5, episodesPerHour: 120, patientIds, nibpIntervalS: 60 },
    { name: 'ward-sim', log: pino({ level: 'silent' }), emit: async (e) => void events.push(...e), count: () => undefined },
    { clock: 'manual', startTime: Date.UTC(2026, 10, 22, 6) },
  );
  await sim.start();
  for (let s = 0; s < seconds; s++) sim.tick(1000);
  await sim.stop();
  return events;
}

/** Packs records through the real outbox with an envelope; returns every message body. */
function pack(records: OutboxRecord[], env: ReturnType<typeof envelope>, maxBytes = 65536): string[] {
  const box = new Outbox(':memory:', { retainAckedMs: 0 });
  box.append(records);
  const bodies: string[] = [];
  for (const stream of ['alarms', 'telemetry'] as const) {
    for (let m = box.pack(stream, maxBytes, env); m; m = box.pack(stream, maxBytes, env)) bodies.push(m.body);
  }
  box.close();
  return bodies;
}

describe('compact encoding (schema version 2)', () => {
  it('round-trips simulator output exactly: same v1 records, same order, same text, per message', async () => {
    const events = await simulatorEvents(8, 240, true);
    const records = events.map((e) => toRecord(e, true)).filter((r): r is OutboxRecord => r !== null);
    const v1 = pack(records, envelope('gw', 'records'));
    const compact = pack(records, envelope('gw', 'compact'));
    // Same packing (the size budget is counted in v1), so the messages correspond one to one.
    expect(compact.length).toBe(v1.length);
    let compacted = 0;
    for (let i = 0; i < v1.length; i++) {
      const body = JSON.parse(compact[i]!) as { schemaVersion: number };
      if (body.schemaVersion === 2) {
        compacted++;
        expect(validateV2(body), JSON.stringify(validateV2.errors)).toBe(true);
      }
      const expanded = expandCompact(compact[i]!);
      expect(validateV1(expanded), JSON.stringify(validateV1.errors)).toBe(true);
      // Text-identical to the v1 body, record by record and in the envelope (the two outboxes differ only in
      // their store id, part of the message id).
      const v1Body = JSON.parse(v1[i]!) as { messageId: string };
      expect(expanded.messageId.split('-').slice(1)).toEqual(v1Body.messageId.split('-').slice(1));
      expect(JSON.stringify({ ...expanded, messageId: v1Body.messageId }) === v1[i]).toBe(true);
    }
    expect(compacted).toBeGreaterThan(0);
    const all = compact.flatMap((b) => expandCompact(b).records);
    expect(all.length).toBe(records.length);
    // The simulator's episodes made non-valid qualities, null values and reasons; they survived.
    expect(all.some((r) => r.type === 'numeric' && r.value === null && Array.isArray(r.qualityReasons))).toBe(true);
    expect(all.some((r) => r.type === 'waveform')).toBe(true);
    expect(all.some((r) => r.type === 'device-status')).toBe(true);
  });

  it('is several times smaller than v1 for numerics', async () => {
    const events = (await simulatorEvents(32, 10)).filter((e) => e.kind === 'numeric');
    const entries = events.map((e) => toRecord(e, false)!.body);
    const v1 = envelope('gw', 'records')('id-1', 'telemetry', entries);
    const compact = encodeCompact('gw', 'id-1', 'telemetry', entries, v1);
    expect(compact.startsWith('{"schemaVersion":2')).toBe(true);
    // ≥ 40 readings per 4 KB is the target; stay well clear of it.
    expect(Buffer.byteLength(compact) / entries.length).toBeLessThan(4096 / 60);
    expect(Buffer.byteLength(compact) * 4).toBeLessThan(Buffer.byteLength(v1));
  });

  it('carries verbatim what does not fit a run, and falls back to the v1 body when compact is not smaller', () => {
    const base = {
      kind: 'numeric' as const, deviceId: 'd', source: 's', mdc: MDC.ECG_HEART_RATE, value: 60, unit: UNITS.BEAT_PER_MIN,
      deviceTime: null, receivedAt: Date.UTC(2026, 0, 1), quality: { state: 'valid' as const },
    };
    const odd = [
      // A time that is not the canonical ISO text, and a field a later version might add.
      numericJson(base).replace('.000Z"', 'Z"'),
      numericJson(base).replace('"quality":"valid"', '"quality":"valid","extra":1'),
      // Not JSON at all: the outbox never holds such a thing, but the encoder must not lose it either.
      '{"type":"numeric",',
    ];
    const entries = [numericJson(base), ...odd.slice(0, 2), numericJson({ ...base, value: 61 })];
    const v1 = envelope('gw')('m', 'telemetry', entries);
    const body = encodeCompact('gw', 'm', 'telemetry', entries, v1);
    const parsed = JSON.parse(body) as { schemaVersion: number; items: unknown[] };
    if (parsed.schemaVersion === 2) {
      expect(parsed.items.filter((i) => !Array.isArray(i))).toHaveLength(2);
      expect(JSON.stringify(expandCompact(body))).toBe(v1);
    } else {
      expect(body).toBe(v1);
    }
    // A single waveform: compact would only add tables, so the v1 body goes.
    const stored = toRecord(
      { kind: 'waveform', deviceId: 'd', source: 's', mdc: MDC.ECG_ELEC_POTL_II, unit: UNITS.MILLI_VOLT, startTime: 0, sampleRateHz: 250, samples: [0.1, 0.2], receivedAt: 0, quality: { state: 'valid' } },
      true,
    )!;
    const wave = recordJson(stored.body, stored.samples ?? null);
    const v1w = envelope('gw')('w', 'telemetry', [wave]);
    expect(encodeCompact('gw', 'w', 'telemetry', [wave], v1w)).toBe(v1w);
    expect(JSON.stringify(expandCompact(v1w))).toBe(v1w);
  });

  it('carries a setting verbatim, valid v1, beside a run of measurements with the same code', () => {
    const base = {
      kind: 'numeric' as const, deviceId: 'vent', source: 's', mdc: MDC.RESP_RATE, value: 22, unit: UNITS.RESP_PER_MIN,
      deviceTime: null, receivedAt: Date.UTC(2026, 0, 1), quality: { state: 'valid' as const },
    };
    const entries = [numericJson(base), numericJson({ ...base, value: 14, setting: true }), ...[23, 24, 25].map((value) => numericJson({ ...base, value }))];
    const v1 = envelope('gw')('m', 'telemetry', entries);
    const body = encodeCompact('gw', 'm', 'telemetry', entries, v1);
    const parsed = JSON.parse(body) as { schemaVersion: number; items: unknown[] };
    expect(parsed.schemaVersion).toBe(2);
    expect(validateV2(parsed), JSON.stringify(validateV2.errors)).toBe(true);
    expect(parsed.items.filter((i) => !Array.isArray(i))).toEqual([expect.objectContaining({ setting: true, value: 14 })]);
    const expanded = expandCompact(body);
    expect(JSON.stringify(expanded)).toBe(v1);
    expect(validateV1(expanded), JSON.stringify(validateV1.errors)).toBe(true);
  });

  it('the Stream Analytics UDF in docs/ expands every message, compact or v1, to the very records expandCompact gives', async () => {
    // The file consumers paste into Azure, run as it is (its own realm, as a plain script defining main).
    const udfFile = join(PACKAGE_ROOT, 'docs', 'stream-analytics', 'expand-compact.udf.js');
    const main = runInNewContext(`${readFileSync(udfFile, 'utf8')}\n;main`, {}) as (m: unknown) => unknown;
    const events = await simulatorEvents(8, 240, true);
    const records = events.map((e) => toRecord(e, true)).filter((r): r is OutboxRecord => r !== null);
    const bodies = [...pack(records, envelope('gw', 'compact')), ...pack(records.slice(0, 50), envelope('gw', 'records'))];
    const versions = new Set<number>();
    let expanded = 0;
    for (const body of bodies) {
      const parsed = JSON.parse(body) as { schemaVersion: number };
      versions.add(parsed.schemaVersion);
      const want = expandCompact(body).records;
      expect(JSON.stringify(main(parsed))).toBe(JSON.stringify(want));
      expanded += want.length;
    }
    expect([...versions].sort()).toEqual([1, 2]);
    expect(expanded).toBeGreaterThan(records.length);
    expect(() => main({ schemaVersion: 3 })).toThrow(/unsupported schemaVersion 3/);
  });

  it('decoding arbitrary input throws nothing but CompactFormatError', () => {
    const runLike = fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(null), fc.array(fc.oneof(fc.integer({ min: -1, max: 3 }), fc.string(), fc.constant(null), fc.array(fc.string())))));
    const body = fc.record({
      schemaVersion: fc.oneof(fc.constant(2), fc.constant(1), fc.anything()),
      encoding: fc.oneof(fc.constant('compact'), fc.anything()),
      gatewayId: fc.oneof(fc.string(), fc.anything()),
      messageId: fc.string(),
      stream: fc.constantFrom('telemetry', 'alarms', 'x'),
      t0: fc.oneof(fc.constant('2026-01-01T00:00:00.000Z'), fc.constant(null), fc.string(), fc.anything()),
      origins: fc.oneof(fc.array(fc.record({ deviceId: fc.string(), source: fc.string() })), fc.anything()),
      codes: fc.oneof(fc.array(fc.record({ code: fc.integer(), refid: fc.string(), unit: fc.string() })), fc.anything()),
      items: fc.oneof(fc.array(fc.oneof(runLike, fc.object())), fc.anything()),
      records: fc.anything(),
    }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(body, fc.anything(), fc.string().map((s) => `{"schemaVersion":2,${s}`)), (input) => {
        try {
          const out = expandCompact(input);
          expect(Array.isArray(out.records)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(CompactFormatError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('says where a body is wrong', () => {
    const ok = { schemaVersion: 2, encoding: 'compact', gatewayId: 'g', messageId: 'm', stream: 'telemetry', t0: '2026-01-01T00:00:00.000Z', origins: [{ deviceId: 'd', source: 's' }], codes: [{ code: 1, refid: 'MDC_X', unit: '' }] };
    expect(() => expandCompact({ ...ok, items: [[0, null, 0, [5, 1]]] })).toThrow(/\/items\/0\/3\/0: must be an index below 1/);
    expect(() => expandCompact({ ...ok, items: [[0, null, 1.5, [0, 1]]] })).toThrow(/\/items\/0\/2: must be an integer ms offset/);
    expect(expandCompact({ ...ok, items: [[0, -1000, 5, [0, 7, 'questionable', ['artifact']]]] }).records).toEqual([
      { type: 'numeric', deviceId: 'd', source: 's', code: 1, refid: 'MDC_X', value: 7, unit: '', deviceTime: '2025-12-31T23:59:59.000Z', receivedAt: '2026-01-01T00:00:00.005Z', quality: 'questionable', qualityReasons: ['artifact'] },
    ]);
  });
});
