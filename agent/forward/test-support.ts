// Test helper: a hub transport connected to nothing, for agents under test that need a hub but no broker.
import type { HubTransport } from './azure.js';

/**
 * Sends succeed at once and nothing ever disconnects. `control`: with setControl, so that the agent runs its control
 * plane (reloadConfig goes through AgentControl, the twin's reported properties are built).
 */
export function idleHub(control = true): HubTransport {
  return {
    description: 'idle',
    identity: 'dev',
    connect: async () => undefined,
    send: async () => undefined,
    disconnect: async () => undefined,
    onDisconnect: () => undefined,
    ...(control && { setControl: () => undefined }),
  };
}
