import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../metrics.js';
import { parseKey, toPrometheus } from './prometheus.js';

describe('Prometheus text format', () => {
  it('renders counters and gauges with TYPE lines, prefixed names and escaped labels', () => {
    const m = new Metrics();
    m.inc('ingest_events_total', { source: 'sim' }, 3);
    m.inc('ingest_events_total', { source: 'we"ird\\src\nx' });
    m.inc('driver_frames-bad', { driver: 'm1' });
    m.gauge('store_pending_records', () => 7, { stream: 'alarms' });
    const text = toPrometheus(m.snapshot());
    expect(text).toBe(
      [
        '# TYPE bedside_driver_frames_bad gauge',
        'bedside_driver_frames_bad{driver="m1"} 1',
        '# TYPE bedside_ingest_events_total counter',
        'bedside_ingest_events_total{source="sim"} 3',
        'bedside_ingest_events_total{source="we\\"ird\\\\src\\nx"} 1',
        '# TYPE bedside_store_pending_records gauge',
        'bedside_store_pending_records{stream="alarms"} 7',
        '',
      ].join('\n'),
    );
  });

  it('round-trips any label value through the snapshot key', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const m = new Metrics();
        m.inc('x_total', { a, b });
        const [key] = Object.keys(m.snapshot());
        expect(parseKey(key!)).toEqual({ name: 'x_total', labels: [['a', a], ['b', b]] });
      }),
    );
  });
});
