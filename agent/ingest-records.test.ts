// How ingest hands an emit's records to the store (Ingest.toBatch, records()): serialised only when the store takes
// them, and with what the store would otherwise count again.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Ingest } from './ingest.js';
import { Metrics } from './metrics.js';
import { MDC, UNITS } from './model/mdc.js';
import type { NumericReading, WaveformSegment } from './model/reading.js';
import { Outbox, recordBytes, type AppendBatch, type OutboxRecord } from './store/outbox.js';

const reading: NumericReading = {
  kind: 'numeric', deviceId: 'dev-1', bed: 'Intensiv-Süd-1', patientId: 'p-1', source: 'test', mdc: MDC.ECG_HEART_RATE, value: 72,
  unit: UNITS.BEAT_PER_MIN, deviceTime: 1000, receivedAt: 1000, quality: { state: 'valid' },
};
const wave: WaveformSegment = {
  kind: 'waveform', deviceId: 'dev-1', bed: 'Intensiv-Süd-1', patientId: 'p-1', source: 'test', mdc: null, unit: { ucum: 'mV' },
  startTime: 1000, sampleRateHz: 250, samples: [0.1, -0.25, 1.5, 0], receivedAt: 1020, quality: { state: 'valid' },
};

/** An outbox whose appends go to a real store in memory, with the records it was handed (copies, as handed). */
function watched() {
  const box = new Outbox(':memory:');
  const handed: OutboxRecord[] = [];
  const append = box.appendBatches.bind(box);
  box.appendBatches = (bs: AppendBatch[], now?: number) =>
    append(bs.map((b) => ({ ...b, records: (function* () { for (const r of b.records) { handed.push({ ...r }); yield r; } })() })), now);
  return { box, handed };
}

describe('Ingest: records handed to the store', () => {
  it('a waveform record comes with its UTF-8 byte count, counted once in ingest (the store takes it, not counting again)', async () => {
    const { box, handed } = watched();
    const ingest = new Ingest(box, { commitIntervalMs: 0, forwardWaveforms: true }, pino({ level: 'silent' }), new Metrics());
    await ingest.accept('test', [wave]);
    const [r] = handed;
    // The JSON as it travels: the placeholder replaced by the samples' text. Non-ASCII in it: bytes are not characters.
    const travels = r!.body.replace('"samples":null', `"samples":${JSON.stringify(wave.samples)}`);
    expect(Buffer.byteLength(travels)).toBeGreaterThan(travels.length);
    expect(r!.bytes).toBe(Buffer.byteLength(travels));
    expect(r!.bytes).toBe(recordBytes(r!));
    expect(box.pending('telemetry')).toMatchObject({ records: 1, bytes: Buffer.byteLength(travels) });
    ingest.close();
    box.close();
  });

  it('an emit is serialised when the store takes it, in its append, and not at all for a resend already stored', async () => {
    const box = new Outbox(':memory:');
    let serialised = 0;
    const seenBeforeAppend: number[] = [];
    const append = box.appendBatches.bind(box);
    box.appendBatches = (bs: AppendBatch[], now?: number) => {
      seenBeforeAppend.push(serialised);
      return append(bs, now);
    };
    // patientId is applied to each record as it is written: it counts the records serialised.
    const patientId = (id: string) => {
      serialised++;
      return `x-${id}`;
    };
    const ingest = new Ingest(box, { commitIntervalMs: 0, forwardWaveforms: true, patientId }, pino({ level: 'silent' }), new Metrics());
    await ingest.accept('test', [reading, wave], { idempotencyKey: 'k1' });
    expect(seenBeforeAppend).toEqual([0]);
    expect(serialised).toBe(2);
    await ingest.accept('test', [reading, wave], { idempotencyKey: 'k1' });
    expect(serialised).toBe(2);
    expect(box.pending('telemetry').records).toBe(2);
    ingest.close();
    box.close();
  });
});
