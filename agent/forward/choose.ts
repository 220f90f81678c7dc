// How the agent reaches the hub: from the config's hub section and the environment (IoT Edge's variables, a
// connection string). One decision, made here: --check and a twin change report its problems (nothing connects), the
// start refuses them (exit 2, naming the field) and builds the transport from it.
import type { AgentConfig, ConfigProblem } from '../config/load.js';
import { ConfigError, requireSecret } from '../config/load.js';
import { AzureIotTransport, connectionStringProblem, edgeModuleIdentity, type HubTransport } from './azure.js';

export type HubRoute =
  // noHubFound: hub.mode auto looked for a hub and found none (not an intended off); says what it looked for.
  | { via: 'off'; why: string; noHubFound?: string }
  | { via: 'module'; why: string }
  | { via: 'connection-string'; why: string; connectionString: string };

/**
 * How the hub would be reached, and what stops it. `atStart`: the environment is the module's own, so module mode
 * without IoT Edge's variables is a problem; --check may run outside the module and judges module mode by the file.
 */
export function hubRoute(config: AgentConfig, env: NodeJS.ProcessEnv, atStart = false): { route: HubRoute; problems: ConfigProblem[] } {
  const hub = config.hub;
  if (hub.mode === 'off') return { route: { via: 'off', why: 'hub.mode is off' }, problems: [] };
  const problems: ConfigProblem[] = [];
  const edge = AzureIotTransport.edgeEnvironmentPresent(env);
  if (hub.mode === 'module' || (hub.mode === 'auto' && edge)) {
    if (hub.caFile) problems.push({ path: 'hub.caFile', message: 'is for a connection string; as an IoT Edge module the IoT Edge runtime provides the trust bundle (remove hub.caFile)' });
    if (atStart && !edge) problems.push({ path: 'hub.mode', message: 'is module but the IoT Edge environment (IOTEDGE_WORKLOADURI, IOTEDGE_MODULEID) is missing: run the agent as an IoT Edge module, or set hub.mode to device or auto' });
    // The SDK must have an identity to connect as, and it is the default gateway id. gateway.id mends neither: the SDK
    // would retry for ever, or throw where nothing catches it (review rv184 M1). Not only at start: in the module
    // environment --check judges what the start will (rv184 L1); elsewhere `edge` is false and module mode is judged
    // by the file alone.
    const named = edge ? edgeModuleIdentity(env) : null;
    if (named && 'problem' in named) problems.push({ path: `${named.variable} (environment)`, message: named.problem });
    return { route: { via: 'module', why: 'IoT Edge module environment' }, problems };
  }
  // A connection string named in the file must be readable (its owner meant to forward); the environment variable is
  // the fallback, whose absence means "no hub" unless the mode says device.
  let cs: string | undefined;
  const field = hub.connectionString !== undefined ? 'hub.connectionString' : 'IOTHUB_DEVICE_CONNECTION_STRING (environment)';
  if (hub.connectionString !== undefined) {
    try {
      cs = requireSecret(hub.connectionString, 'hub.connectionString', env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  } else {
    cs = env.IOTHUB_DEVICE_CONNECTION_STRING || undefined;
  }
  const problem = cs !== undefined ? connectionStringProblem(cs) : null;
  if (problem) problems.push({ path: field, message: problem });
  if (cs === undefined && hub.mode === 'device' && hub.connectionString === undefined) {
    problems.push({ path: 'hub.connectionString', message: 'hub.mode is device but no connection string is configured (set hub.connectionString, or IOTHUB_DEVICE_CONNECTION_STRING in the environment)' });
  }
  if (cs === undefined) {
    const why = 'no hub is configured (no IoT Edge environment, no connection string)';
    return { route: { via: 'off', why, ...(hub.mode === 'auto' && { noHubFound: noHubFound(env) }) }, problems };
  }
  return { route: { via: 'connection-string', why: 'connection string', connectionString: cs }, problems };
}

/** The environment variables hub.mode auto looks in for a hub (AzureIotTransport.edgeEnvironmentPresent, then the connection string). */
export const AUTO_HUB_VARIABLES = ['IOTEDGE_WORKLOADURI', 'IOTEDGE_MODULEID', 'EdgeHubConnectionString', 'IOTHUB_DEVICE_CONNECTION_STRING'] as const;

/**
 * What hub.mode auto looked for and did not find, naming the variables: a service whose environment lost the
 * connection string otherwise runs as if forwarding were off on purpose (review rv119 L1). Names only, never values.
 */
function noHubFound(env: NodeJS.ProcessEnv): string {
  const partly: string[] = [];
  if (env.IOTEDGE_WORKLOADURI && !env.IOTEDGE_MODULEID) partly.push('IOTEDGE_WORKLOADURI is set without IOTEDGE_MODULEID');
  if (env.IOTEDGE_MODULEID && !env.IOTEDGE_WORKLOADURI) partly.push('IOTEDGE_MODULEID is set without IOTEDGE_WORKLOADURI');
  for (const name of ['EdgeHubConnectionString', 'IOTHUB_DEVICE_CONNECTION_STRING']) if (env[name] === '') partly.push(`${name} is set but empty`);
  return (
    'hub.mode is auto and no hub was found: it looked in the environment for IOTEDGE_WORKLOADURI with IOTEDGE_MODULEID or ' +
    'EdgeHubConnectionString (IoT Edge module), and IOTHUB_DEVICE_CONNECTION_STRING (device), and in the config for ' +
    `hub.connectionString${partly.length ? ` (${partly.join('; ')})` : ''}. ` +
    'To forward, set IOTHUB_DEVICE_CONNECTION_STRING in the agent\'s environment or hub.connectionString; to keep the data here on purpose, set hub.mode: off'
  );
}

/**
 * The transport to the hub, as hubRoute decides; null: forwarding is off. Its problems are refused (ConfigError).
 * noHubFound: off because hub.mode auto found no hub (see HubRoute).
 */
export function chooseTransport(config: AgentConfig, env: NodeJS.ProcessEnv): { transport: HubTransport | null; why: string; noHubFound?: string } {
  const { route, problems } = hubRoute(config, env, true);
  if (problems.length) throw new ConfigError('hub', problems);
  if (route.via === 'off') return { transport: null, why: route.why, ...(route.noHubFound !== undefined && { noHubFound: route.noHubFound }) };
  if (route.via === 'module') return { transport: AzureIotTransport.fromEdgeEnvironment(env), why: route.why };
  return { transport: AzureIotTransport.fromConnectionString(route.connectionString, config.hub.caFile, config.hub.sasTokenTtlS), why: route.why };
}
