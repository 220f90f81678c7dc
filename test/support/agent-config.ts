// Builds validated agent configs for tests: the same validation (and defaults) as a real config file.
import { join } from 'node:path';
import { validateConfig, type AgentConfig } from '../../agent/config/load.js';
import { registry } from '../../drivers/registry.js';
import { STANDIN_CA_FILE } from '../hub-standin/certs.js';

export { STANDIN_CA_FILE };

/** Deep-ish merge of plain objects; arrays and scalars replace. */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** A config for a test agent: its own store, fast batching and retries, forwarding to the stand-in if given. */
export function testConfig(dir: string, overrides: Record<string, unknown> = {}, connectionString?: string): AgentConfig {
  const base: Record<string, unknown> = {
    gateway: { id: 'test-gw' },
    log: { level: 'debug', pretty: 'never' },
    store: { path: join(dir, 'agent.db'), synchronous: 'normal', commitIntervalMs: 5 },
    hub: connectionString
      ? {
          mode: 'device',
          connectionString,
          caFile: STANDIN_CA_FILE,
          batchDelayMs: 100,
          sendTimeoutMs: 2000,
          retry: { initialDelayMs: 100, maxDelayMs: 500 },
        }
      : { mode: 'off' },
    drivers: [],
  };
  return validateConfig(merge(base, overrides), registry, 'test');
}
