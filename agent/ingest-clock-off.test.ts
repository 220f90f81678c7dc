// A device time far from receipt (review rv146 F3): the forwarded records of those readings say so, so that a cloud
// consumer (the shipped FHIR template) can time them at receipt; what the listeners judge stays as the device sent it.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DEVICE_TIME_FAR_FROM_RECEIPT, Ingest } from './ingest.js';
import { Metrics } from './metrics.js';
import { MDC, UNITS } from './model/mdc.js';
import type { DriverEvent, NumericReading } from './model/reading.js';
import { Outbox } from './store/outbox.js';
import { envelope } from './forward/wire.js';

const T = 1_790_000_000_000;
const MIN = 60_000;
const YEAR = 365 * 24 * 60 * MIN;
const hr: NumericReading = {
  kind: 'numeric', deviceId: 'dev-1', bed: 'ICU-01', source: 'test', mdc: MDC.ECG_HEART_RATE, value: 142,
  unit: UNITS.BEAT_PER_MIN, deviceTime: T, receivedAt: T, quality: { state: 'valid' },
};
const at = (deviceTime: number | null, more: Partial<NumericReading> = {}): NumericReading => ({ ...hr, deviceTime, receivedAt: T, ...more });

interface Rec { code: number | null; bed?: string; value: unknown; deviceTime: string | null; quality: string; qualityReasons?: string[] }

/** Each emit accepted on its own, then the records as a consumer receives them. */
async function forwarded(emits: DriverEvent[][]): Promise<{ records: Rec[]; seen: DriverEvent[] }> {
  const box = new Outbox(':memory:');
  const ingest = new Ingest(box, { commitIntervalMs: 0, forwardWaveforms: false }, pino({ level: 'silent' }), new Metrics());
  const seen: DriverEvent[] = [];
  ingest.subscribe((es) => seen.push(...es));
  for (const e of emits) await ingest.accept('test', e);
  const msg = box.pack('telemetry', 1 << 20, envelope('gw'));
  ingest.close();
  box.close();
  return { records: (JSON.parse(msg!.body) as { records: Rec[] }).records, seen };
}

describe('Ingest: a device time far from receipt (rv146 F3)', () => {
  it('marks the records of a device whose clock is a year behind or hours ahead, quality unchanged; not one 5 min off, nor an old NBP beside a current HR', async () => {
    const { records } = await forwarded([
      [at(T - YEAR), at(T - YEAR, { mdc: MDC.PULS_OXIM_SAT_O2, value: 97 }), at(null, { mdc: MDC.RESP_RATE, value: 18 })],
      [at(T + 3 * 60 * MIN, { bed: 'ICU-02' })], // a zone read wrong: ahead
      [at(T - 5 * MIN, { bed: 'ICU-03' })], // within what is not worth telling
      // A monitor whose clock is right: an NBP measured 25 min ago with an HR of now (the device judged by its newest time).
      [at(T - 25 * MIN, { bed: 'ICU-04', mdc: MDC.PRESS_BLD_NONINV_SYS, value: 120 }), at(T - 4000, { bed: 'ICU-04' })],
      // Already questionable (a bound, a zone assumed): the reason is added, the state and the other reasons kept.
      [at(T - YEAR, { bed: 'ICU-05', mdc: MDC.RESP_RATE, value: 40, quality: { state: 'questionable', reasons: ['sn-comparator:>', 'time-zone-assumed'] } })],
    ]);
    expect(records.map((r) => [r.bed, r.code, r.quality, r.qualityReasons ?? []])).toEqual([
      ['ICU-01', MDC.ECG_HEART_RATE.code, 'valid', [DEVICE_TIME_FAR_FROM_RECEIPT]],
      ['ICU-01', MDC.PULS_OXIM_SAT_O2.code, 'valid', [DEVICE_TIME_FAR_FROM_RECEIPT]],
      ['ICU-01', MDC.RESP_RATE.code, 'valid', []], // no device time: timed at receipt already
      ['ICU-02', MDC.ECG_HEART_RATE.code, 'valid', [DEVICE_TIME_FAR_FROM_RECEIPT]],
      ['ICU-03', MDC.ECG_HEART_RATE.code, 'valid', []],
      ['ICU-04', MDC.PRESS_BLD_NONINV_SYS.code, 'valid', []],
      ['ICU-04', MDC.ECG_HEART_RATE.code, 'valid', []],
      ['ICU-05', MDC.RESP_RATE.code, 'questionable', ['sn-comparator:>', 'time-zone-assumed', DEVICE_TIME_FAR_FROM_RECEIPT]],
    ]);
    expect(DEVICE_TIME_FAR_FROM_RECEIPT).toBe('device-time-far-from-receipt');
    // The device's time itself is forwarded as given.
    expect(records[0]!.deviceTime).toBe(new Date(T - YEAR).toISOString());
  });

  it('the listeners (alarms, NEWS2, display, model) get the readings as the device sent them: the mark is the forwarded record\'s only', async () => {
    // A reason on the event would make a bound (RR >40, onlyBeyondRange) or a zone assumed (onlyTimingDoubt) "not valid" to them.
    const bound = at(T - YEAR, { mdc: MDC.RESP_RATE, value: 40, quality: { state: 'questionable', reasons: ['sn-comparator:>'] } });
    const { seen, records } = await forwarded([[at(T - YEAR), bound]]);
    expect(records.every((r) => r.qualityReasons?.includes(DEVICE_TIME_FAR_FROM_RECEIPT))).toBe(true);
    expect(seen.map((e) => (e as NumericReading).quality)).toEqual([{ state: 'valid' }, { state: 'questionable', reasons: ['sn-comparator:>'] }]);
  });
});
