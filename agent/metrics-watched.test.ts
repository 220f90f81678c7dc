// The counters an operator alerts on are in /metrics at 0 from the start (review rv48 M1): Prometheus's increase()
// sees no rise in a series whose first sample is already 1.
import { describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import type { DriverEntry } from './config/load.js';
import { WATCHED_COUNTERS, WATCHED_SOURCE_COUNTERS } from './metrics.js';
import { registry } from '../drivers/registry.js';
import { testConfig } from '../test/support/agent-config.js';
import { tempDir } from '../test/support/agent-process.js';
import { captureLog } from '../test/support/log.js';

function series(name: string, labels?: Record<string, string>): string {
  const l = labels ? `{${Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(',')}}` : '';
  return `bedside_${name}${l}`;
}

describe('watched counters', () => {
  it('are scraped at 0 from a fresh agent, per enabled driver for those counted per source', async () => {
    const config = testConfig(tempDir(), {
      display: { enabled: true, host: '127.0.0.1', port: 0 },
      drivers: [
        { name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } },
        { name: 'spare', type: 'simulator', enabled: false, options: { beds: 1, waveforms: false } },
      ],
    });
    const agent = new Agent({ config, registry, log: captureLog().log });
    await agent.start();
    try {
      const text = await (await fetch(`${agent.display!.address().url}/metrics`)).text();
      const values = new Map(
        text
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))] as const),
      );
      const expected = [
        ...WATCHED_COUNTERS.map(([n, l]) => series(n, l)),
        ...WATCHED_SOURCE_COUNTERS.map(([n, l]) => series(n, { ...l, source: 'sim' })),
      ];
      for (const s of expected) expect(values.get(s), s).toBe(0);
      // A disabled driver sends nothing: no series of its own.
      expect([...values.keys()].filter((k) => k.includes('source="spare"'))).toEqual([]);
      // A driver started later (the twin's drivers section) has its series from its start (review rv50 §2).
      await agent.startDriver({ name: 'added', type: 'simulator', enabled: true, options: { beds: 1, waveforms: false } } as DriverEntry);
      const after = await (await fetch(`${agent.display!.address().url}/metrics`)).text();
      for (const [n, l] of WATCHED_SOURCE_COUNTERS) expect(after, n).toContain(`${series(n, { ...l, source: 'added' })} 0`);
    } finally {
      await agent.stop();
    }
  });
});
