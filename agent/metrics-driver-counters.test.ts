// A driver's loss and fault counters are scraped at 0 from its start (review rv154 F1): a series whose first sample
// is already 1 never shows in increase(), so the first lost events or the first failed start would fire no alert.
import { describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { declareDriverCounters, Metrics } from './metrics.js';
import { registry } from '../drivers/registry.js';
import { testConfig } from '../test/support/agent-config.js';
import { tempDir } from '../test/support/agent-process.js';
import { captureLog } from '../test/support/log.js';

describe('driver counters at 0 from the start', () => {
  it('an agent with one simulator driver scrapes emit_failures and start_failures at 0 before any failure', async () => {
    const config = testConfig(tempDir(), {
      display: { enabled: true, host: '127.0.0.1', port: 0 },
      drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } }],
    });
    const agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    try {
      const text = await (await fetch(`${agent.display!.address().url}/metrics`)).text();
      expect(text).toContain('# TYPE bedside_driver_emit_failures_total counter');
      expect(text).toContain('bedside_driver_emit_failures_total{driver="sim"} 0\n');
      expect(text).toContain('bedside_driver_start_failures_total{driver="sim"} 0\n');
      // The simulator has no TLS listener and no capture file: those series would only be noise.
      expect(text).not.toContain('bedside_driver_tls_clients_rejected_total');
      expect(text).not.toContain('bedside_driver_capture_errors_total');
    } finally {
      await agent.stop();
    }
  });

  it('declares per driver type the counters the docs point engineers at', () => {
    const m = new Metrics();
    declareDriverCounters(m, 'icu-mllp', 'hl7-mllp');
    declareDriverCounters(m, 'bed3-vent', 'medibus');
    declareDriverCounters(m, 'bed4-mon', 'intellivue');
    const snap = m.snapshot();
    expect(snap['driver_tls_clients_rejected_total{driver="icu-mllp"}']).toBe(0);
    expect(snap['driver_capture_errors_total{driver="bed3-vent"}']).toBe(0);
    expect(snap['driver_capture_errors_total{driver="bed4-mon"}']).toBe(0);
    expect(snap['driver_capture_errors_total{driver="icu-mllp"}']).toBeUndefined();
    for (const d of ['icu-mllp', 'bed3-vent', 'bed4-mon']) {
      expect(snap[`driver_emit_failures_total{driver="${d}"}`]).toBe(0);
      expect(snap[`driver_start_failures_total{driver="${d}"}`]).toBe(0);
    }
  });
});
