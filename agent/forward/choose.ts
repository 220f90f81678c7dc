// How the agent reaches the hub: from the config's hub section and the environment (IoT Edge's variables, a
// connection string). Also run by --check, so that a hub section that cannot work is a config problem (exit 2).
import type { AgentConfig } from '../config/load.js';
import { resolveSecret } from '../config/load.js';
import { AzureIotTransport, type HubTransport } from './azure.js';

/** Decides how to reach the hub, from config and environment. Null: forwarding is off. */
export function chooseTransport(config: AgentConfig, env: NodeJS.ProcessEnv): { transport: HubTransport | null; why: string } {
  const hub = config.hub;
  if (hub.mode === 'off') return { transport: null, why: 'hub.mode is off' };
  const edge = AzureIotTransport.edgeEnvironmentPresent(env);
  if (hub.mode === 'module' || (hub.mode === 'auto' && edge)) {
    if (!edge) throw new Error('hub.mode is module but the IoT Edge environment (IOTEDGE_WORKLOADURI, IOTEDGE_MODULEID) is missing');
    return { transport: AzureIotTransport.fromEdgeEnvironment(env, hub.caFile), why: 'IoT Edge module environment' };
  }
  const cs = resolveSecret(hub.connectionString ?? { env: 'IOTHUB_DEVICE_CONNECTION_STRING' }, 'hub.connectionString', env);
  if (!cs) {
    if (hub.mode === 'device') throw new Error('hub.mode is device but no connection string is configured (hub.connectionString or IOTHUB_DEVICE_CONNECTION_STRING)');
    return { transport: null, why: 'no hub is configured (no IoT Edge environment, no connection string)' };
  }
  return { transport: AzureIotTransport.fromConnectionString(cs, hub.caFile, hub.sasTokenTtlS), why: 'connection string' };
}
