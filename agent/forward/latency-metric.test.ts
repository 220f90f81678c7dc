// The send latency is a running total: it must be exposed as a Prometheus counter (`_total`), to be divided by
// forward_messages_total for the mean (review rv154 F3). As `forward_latency_ms_sum` it was typed gauge.
import { describe, expect, it } from 'vitest';
import { Outbox } from '../store/outbox.js';
import { Metrics } from '../metrics.js';
import { Forwarder } from './forwarder.js';
import type { HubTransport, OutgoingMessage } from './azure.js';
import { toPrometheus } from '../http/prometheus.js';
import { captureLog } from '../../test/support/log.js';

class AcceptingTransport implements HubTransport {
  readonly description = 'accepting';
  readonly identity = 'dev';
  sent: OutgoingMessage[] = [];
  async connect() {}
  async send(m: OutgoingMessage) {
    // A hub that takes a little time, so that the total is above 0.
    await new Promise((r) => setTimeout(r, 5));
    this.sent.push(m);
  }
  async disconnect() {}
  onDisconnect() {}
}

describe('forward latency metric', () => {
  it('is a counter, forward_latency_ms_total per stream, beside forward_messages_total', async () => {
    const box = new Outbox(':memory:');
    const metrics = new Metrics();
    const f = new Forwarder(box, new AcceptingTransport(), { gatewayId: 'gw', maxMessageBytes: 4096, batchDelayMs: 0, sendTimeoutMs: 1000, retry: { initialDelayMs: 10, maxDelayMs: 40 } }, captureLog().log, metrics);
    box.append([{ stream: 'telemetry', cls: 1, deviceId: 'd', body: '{"i":1}' }]);
    f.start();
    try {
      const end = Date.now() + 5000;
      while (metrics.get('forward_messages_total', { stream: 'telemetry' }) < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      expect(metrics.get('forward_messages_total', { stream: 'telemetry' })).toBe(1);
      expect(metrics.get('forward_latency_ms_total', { stream: 'telemetry' })).toBeGreaterThan(0);
      const text = toPrometheus(metrics.snapshot());
      expect(text).toContain('# TYPE bedside_forward_latency_ms_total counter');
      expect(text).not.toMatch(/forward_latency_ms_sum/);
    } finally {
      await f.stop();
      box.close();
    }
  });
});
