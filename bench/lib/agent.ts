// The real Agent for benchmarks, forwarding to the stand-in, with the forwarder options a benchmark varies.
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { validateConfig, type AgentConfig } from '../../agent/config/load.js';
import { AzureIotTransport } from '../../agent/forward/azure.js';
import { Forwarder, type ForwarderOptions } from '../../agent/forward/forwarder.js';
import { registry } from '../../drivers/registry.js';
import { STANDIN_CA_FILE } from '../../test/support/agent-config.js';
import type { StandinProcess } from './standin.js';

export interface BenchAgentOptions {
  dir: string;
  hub: StandinProcess;
  encoding?: 'records' | 'compact';
  maxInFlight?: number;
  drivers?: unknown[];
  display?: boolean;
  model?: boolean;
  logLevel?: string;
}

/**
 * Builds (does not start) an agent from a validated config. If agent.ts does not (yet) hand hub.encoding and
 * hub.maxInFlight to its forwarder, the forwarder is replaced before start by one built as agent.ts builds it,
 * with those two options: every other part is the agent's own. `swapped` says whether that was needed.
 */
export function benchAgent(o: BenchAgentOptions): { agent: Agent; config: AgentConfig; swapped: boolean } {
  const config = validateConfig(
    {
      gateway: { id: 'bench' },
      log: { level: o.logLevel ?? 'warn' },
      store: { path: join(o.dir, 'agent.db') },
      hub: {
        mode: 'device',
        connectionString: o.hub.connectionString,
        caFile: STANDIN_CA_FILE,
        // Only when not the default, so that the benchmark also runs against an agent without these options.
        ...(o.encoding && o.encoding !== 'records' && { encoding: o.encoding }),
        ...(o.maxInFlight && o.maxInFlight !== 1 && { maxInFlight: o.maxInFlight }),
      },
      display: { enabled: o.display ?? false, port: 0 },
      model: { enabled: o.model ?? false },
      control: { enabled: false },
      drivers: o.drivers ?? [],
    },
    registry,
    'bench',
  );
  const log = pino({ level: config.log.level });
  const agent = new Agent({ config, registry, log });
  // The forwarder's options are private; reading them here is the one way to see what agent.ts passed.
  const given = (agent.forwarder as unknown as { opts: ForwarderOptions }).opts;
  const want = { encoding: o.encoding ?? 'records', maxInFlight: o.maxInFlight ?? 1 };
  const swapped = (given.encoding ?? 'records') !== want.encoding || (given.maxInFlight ?? 1) !== want.maxInFlight;
  if (swapped) {
    const transport = AzureIotTransport.fromConnectionString(o.hub.connectionString, config.hub.caFile, config.hub.sasTokenTtlS);
    const forwarder = new Forwarder(agent.outbox, transport, { ...given, ...want }, log.child({ component: 'forwarder' }), agent.metrics);
    // `forwarder` is readonly for the agent's own code; the agent reads it afresh wherever it uses it.
    (agent as unknown as { forwarder: Forwarder }).forwarder = forwarder;
  }
  return { agent, config, swapped };
}
