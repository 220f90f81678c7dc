// The process's memory is in /metrics, so an operator can watch it against the module's limits.
import { describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { registry } from '../drivers/registry.js';
import { testConfig } from '../test/support/agent-config.js';
import { tempDir } from '../test/support/agent-process.js';
import { captureLog } from '../test/support/log.js';

describe('memory in /metrics', () => {
  it('gives the resident set, the heap in use, V8\'s heap, external memory and the heap limit, in bytes', async () => {
    const config = testConfig(tempDir(), {
      display: { enabled: true, host: '127.0.0.1', port: 0 },
      drivers: [{ name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } }],
    });
    const agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    try {
      const text = await (await fetch(`${agent.display!.address().url}/metrics`)).text();
      // A missing series is NaN, which fails every comparison below.
      const value = (name: string) => Number(new RegExp(`^bedside_${name} (\\S+)$`, 'm').exec(text)?.[1]);
      const rss = value('process_resident_memory_bytes');
      const used = value('heap_used_bytes');
      const limit = value('heap_limit_bytes');
      const total = value('heap_total_bytes');
      const external = value('external_memory_bytes');
      // Within a few MB of what the process itself says at the same moment (the scrape allocates a little).
      expect(Math.abs(rss - process.memoryUsage.rss())).toBeLessThan(64 * 2 ** 20);
      expect(used).toBeGreaterThan(0);
      expect(used).toBeLessThan(limit);
      // V8 holds at least what is in use; memory outside it (Buffers, typed arrays) is there and far below RSS.
      expect(total).toBeGreaterThanOrEqual(used);
      expect(total).toBeLessThan(rss);
      expect(external).toBeGreaterThan(0);
      expect(external).toBeLessThan(rss);
      expect(limit).toBe((await import('node:v8')).getHeapStatistics().heap_size_limit);
    } finally {
      await agent.stop();
    }
  });
});
