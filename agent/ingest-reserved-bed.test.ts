// Review rv121 M4: bed "*" is the agent's own id for gateway-wide conditions. A device that reports it (HL7 PV1-3 is
// device data) must not be mixed into the gateway section: ingest takes it as no bed, warns once per device, counts it.
import { describe, expect, it } from 'vitest';
import { Ingest } from './ingest.js';
import { Outbox } from './store/outbox.js';
import { Metrics } from './metrics.js';
import { MDC, UNITS } from './model/mdc.js';
import type { AlarmEvent, DriverEvent, NumericReading } from './model/reading.js';
import { captureLog } from '../test/support/log.js';
import { AlarmEngine } from './alarms/engine.js';
import { GATEWAY_BED } from './alarms/types.js';
import { engineConfigFromPolicy } from './config/alarm-policy.js';
import { validateConfig } from './config/load.js';
import { registry } from '../drivers/registry.js';

const hr = (deviceId: string, bed: string | undefined): NumericReading => ({
  kind: 'numeric', deviceId, ...(bed !== undefined && { bed }), source: 'hl7', mdc: MDC.ECG_HEART_RATE, value: 180,
  unit: UNITS.BEAT_PER_MIN, deviceTime: null, receivedAt: 1000, quality: { state: 'valid' },
});
const vtach = (deviceId: string, bed: string): AlarmEvent => ({
  kind: 'alarm', deviceId, bed, source: 'hl7', alarmId: 'vt', condition: null, text: 'VTACH', priority: 'high',
  category: 'physiological', phase: 'start', deviceTime: null, receivedAt: 1000,
});

function setup(bedOf?: (deviceId: string) => string | undefined) {
  const box = new Outbox(':memory:');
  const metrics = new Metrics();
  const cap = captureLog();
  const ingest = new Ingest(box, { commitIntervalMs: 0, forwardWaveforms: false, ...(bedOf && { bedOf }) }, cap.log, metrics);
  const seen: DriverEvent[] = [];
  ingest.subscribe((e) => seen.push(...e));
  return { box, metrics, cap, ingest, seen };
}

describe('a device reporting the reserved bed "*" (review rv121 M4)', () => {
  it('is taken as no bed (its configured bed, else unassigned downstream), stored so, warned once per device and counted', async () => {
    const { ingest, seen, metrics, cap, box } = setup((id) => (id === 'mon-2' ? 'bed-2' : undefined));
    await ingest.accept('hl7', [hr('mon-1', '*'), vtach('mon-1', '*'), hr('mon-2', '*'), hr('mon-3', 'bed-3')]);
    await ingest.accept('hl7', [hr('mon-1', '*')]);
    expect(seen.map((e) => e.bed)).toEqual([undefined, undefined, 'bed-2', 'bed-3', undefined]);
    expect(seen.some((e) => e.bed === '*')).toBe(false);
    // Stored and forwarded without it too.
    const env = (id: string, _s: string, entries: string[]) => `{"id":"${id}","records":[${entries.join(',')}]}`;
    for (const stream of ['telemetry', 'alarms'] as const) {
      const records = (JSON.parse(box.pack(stream, 250_000, env)!.body) as { records: { bed?: string }[] }).records;
      expect(records.length).toBeGreaterThan(0);
      expect(records.map((r) => r.bed)).not.toContain('*');
    }
    expect(metrics.get('ingest_bed_reserved_total', { source: 'hl7' })).toBe(4);
    const lines = cap.lines.filter((l) => /reserved/.test(String(l.msg)));
    expect(lines.map((l) => [l.level, l.deviceId, l.source])).toEqual([[40, 'mon-1', 'hl7'], [40, 'mon-2', 'hl7']]);
  });

  it('a configured bed "*" (alarms.devices, only warned of by --check: review rv123 M1) is no bed either', async () => {
    const { ingest, seen } = setup((id) => (id === 'mon-4' ? '*' : undefined));
    await ingest.accept('hl7', [hr('mon-4', undefined), hr('mon-4', '*')]);
    expect(seen.map((e) => e.bed)).toEqual([undefined, undefined]);
  });

  it('a configured bed "*" puts none of the device\'s alarms on the gateway\'s bed, as the agent wires ingest and the engine (review rv124 H1)', async () => {
    const config = validateConfig({ alarms: { devices: { 'mon-9': { bed: '*' } } } }, registry, 'test.yaml');
    const engine = new AlarmEngine({ ...engineConfigFromPolicy(config.alarms), idPrefix: 't' });
    const t0 = Date.now();
    for (const [id, d] of Object.entries(config.alarms.devices)) engine.expectDevice(id, t0, d.bed === GATEWAY_BED ? undefined : d.bed);
    const { ingest } = setup((id) => config.alarms.devices[id]?.bed);
    ingest.subscribe((events) => void engine.ingestAll(events));
    for (let i = 0; i < 40; i++) await ingest.accept('hl7', [{ ...hr('mon-9', undefined), receivedAt: t0 + i * 1000 }]);
    engine.tick(t0 + 41_000);
    engine.tick(t0 + 40_000 + 10 * 60_000); // and silent since
    const alarms = engine.list();
    expect(alarms.some((a) => a.deviceId === 'mon-9' && a.condition.text.startsWith('HR HIGH'))).toBe(true);
    expect(alarms.some((a) => a.deviceId === 'mon-9' && a.condition.text.startsWith('No data'))).toBe(true);
    expect(alarms.filter((a) => a.bed === GATEWAY_BED)).toEqual([]);
  });
});
