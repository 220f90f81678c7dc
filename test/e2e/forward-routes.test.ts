// The IoT Hub routes docs/cloud-consumers.md gives cloud teams, applied to what a real agent sends (real SDK over
// TLS, hub stand-in): every message must reach a route, and a compact or gzipped body never the route schema-1 readers use.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { startHubStandin, type HubStandin } from '../hub-standin/index.js';
import { captureLog } from '../support/log.js';
import { tempDir } from '../support/agent-process.js';
import { testConfig } from '../support/agent-config.js';

const KEY = Buffer.from('test-device-key-0123456789abcdef').toString('base64');

let hub: HubStandin | null = null;
let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop().catch(() => undefined);
  agent = null;
  await hub?.stop();
  hub = null;
});

/** The documented routes: `-- route "name" → endpoint` followed by its query, in the doc's sql blocks. */
function documentedRoutes(): Map<string, string> {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'cloud-consumers.md'), 'utf8');
  const sql = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!).join('\n');
  return new Map([...sql.matchAll(/^-- route "([^"]+)"[^\n]*\n([^\n]+)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
}

/** A routing query of `property = 'value'` terms joined by AND, on the application properties. */
function matches(query: string, properties: Record<string, string>): boolean {
  return query.split(/\s+AND\s+/).every((term) => {
    const m = /^(\w+) = '([^']*)'$/.exec(term.trim());
    if (!m) throw new Error(`cannot evaluate the routing term ${term}`);
    return properties[m[1]!] === m[2];
  });
}

const CASES = [
  { hubSettings: { encoding: 'compact' }, telemetryRoute: { '1': 'bedside-telemetry', '2': 'bedside-telemetry-compact' } },
  { hubSettings: { compression: 'gzip' }, telemetryRoute: { '1-gzip': 'bedside-telemetry-gzip', '2-gzip': 'bedside-telemetry-compact-gzip' } },
  { hubSettings: { encoding: 'compact', compression: 'gzip' }, telemetryRoute: { '1-gzip': 'bedside-telemetry-gzip', '2-gzip': 'bedside-telemetry-compact-gzip' } },
] as const;

it.each(CASES)('with hub settings $hubSettings, every message the agent sends takes exactly one documented route: the one its readers can read', async ({ hubSettings, telemetryRoute }) => {
  hub = await startHubStandin({ identities: [{ deviceId: 'gw-dev', key: KEY }] });
  const standin = hub;
  const drivers = [{ name: 'ward-sim', type: 'simulator', options: { beds: 4, waveforms: false, numericPeriodMs: 200, episodesPerHour: 3600 } }];
  agent = new Agent({ config: testConfig(tempDir(), { hub: hubSettings, drivers }, standin.connectionString('gw-dev')), registry, log: captureLog().log });
  await agent.start();
  const compact = 'encoding' in hubSettings;
  await standin.waitUntil(
    () => standin.messages.some((m) => m.properties.kind === 'alarm') && standin.messages.some((m) => m.properties.kind === 'telemetry' && (!compact || m.properties.schemaVersion!.startsWith('2'))),
    30_000,
    'an alarm and a telemetry message (compact if so set)',
  );
  expect(await agent.drain(20_000)).toBe(true);

  const routes = documentedRoutes();
  expect(routes.size).toBeGreaterThan(0);
  const taken = standin.messages.map((m) => ({
    kind: m.properties.kind,
    version: m.properties.schemaVersion as '1' | '2' | '1-gzip' | '2-gzip',
    gzipped: m.contentEncoding === undefined && m.body[0] === 0x1f && m.body[1] === 0x8b,
    routes: [...routes].filter(([, q]) => matches(q, m.properties)).map(([name]) => name),
  }));
  expect(taken.filter((t) => t.routes.length !== 1)).toEqual([]);
  for (const t of taken) {
    if (t.kind === 'telemetry') expect(t.routes).toEqual([(telemetryRoute as Record<string, string>)[t.version]]);
    if (t.kind === 'alarm') expect(t.routes).toEqual(['bedside-alarms']);
    // Only the gzip routes' readers decompress: nothing else may carry a gzipped body.
    expect(t.gzipped).toBe(t.routes[0]!.endsWith('-gzip'));
  }
  // Routes the doc names in prose (the MedTech service's) are checked too: a gzipped or compact body never matches.
  const medtech = /IoT Hub route with `([^`]+)` to an Event Hub/.exec(readFileSync(join(PACKAGE_ROOT, 'docs', 'cloud-consumers.md'), 'utf8'));
  expect(medtech).not.toBeNull();
  for (const m of standin.messages) {
    if (matches(medtech![1]!, m.properties)) expect([m.properties.kind, m.properties.schemaVersion]).toEqual(['telemetry', '1']);
  }
  expect([...routes.keys()].sort()).toEqual(['bedside-alarms', 'bedside-telemetry', 'bedside-telemetry-compact', 'bedside-telemetry-compact-gzip', 'bedside-telemetry-gzip']);
}, 60_000);
