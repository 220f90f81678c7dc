// A driver that leaves the configuration, or whose name is given another type, leaves no series behind in /metrics
// (review rv156 F1); a restart of the same driver (its options changed, a retry) keeps its counts.
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from './agent.js';
import { loadConfigFile } from './config/load.js';
import { Metrics } from './metrics.js';
import { registry } from '../drivers/registry.js';
import { tempDir } from '../test/support/agent-process.js';
import { captureLog } from '../test/support/log.js';
import { idleHub } from './forward/test-support.js';

describe('Metrics.forget', () => {
  it('removes the counters and gauges of a name prefix whose label has the value, and nothing else', () => {
    const m = new Metrics();
    m.inc('driver_emit_failures_total', { driver: 'a' }, 2);
    m.inc('driver_emit_failures_total', { driver: 'b' });
    m.inc('ingest_refused_total', { reason: 'SQLITE_FULL', source: 'a' });
    m.inc('alarms_raised_total', { source: 'a', priority: 'low' });
    m.gauge('driver_up', () => 1, { driver: 'a' });
    m.forget('driver', 'a', 'driver_');
    m.forget('source', 'a', 'ingest_');
    expect(m.snapshot()).toEqual({ 'driver_emit_failures_total{driver="b"}': 1, 'alarms_raised_total{priority="low",source="a"}': 1 });
  });

  it('a handle kept on a forgotten counter counts into the series of now, not into one no snapshot shows', () => {
    const m = new Metrics();
    const count = m.counter('ingest_events_total', { source: 'a' });
    count(5);
    m.forget('source', 'a', 'ingest_');
    expect(m.snapshot()).toEqual({});
    // The name configured again: declared at 0, and the old handle (ingest keeps one per source) counts there.
    m.declare('ingest_events_total', { source: 'a' });
    count(2);
    expect(m.snapshot()).toEqual({ 'ingest_events_total{source="a"}': 2 });
    // A late count after a forget brings its series back, rather than losing the count.
    m.forget('source', 'a', 'ingest_');
    count();
    expect(m.get('ingest_events_total', { source: 'a' })).toBe(1);
  });
});

// Connected to nothing, but with control on, so that reloadConfig goes through AgentControl to the agent.
const idle = idleHub();

function writeFile(path: string, drivers: unknown[]): void {
  const config = {
    gateway: { id: 'test-gw' },
    log: { level: 'info', pretty: 'never' },
    store: { path: join(path, '..', 'agent.db'), synchronous: 'normal' },
    hub: { mode: 'off' },
    display: { enabled: true, host: '127.0.0.1', port: 0 },
    drivers,
  };
  writeFileSync(path, JSON.stringify(config));
}

const SIM = { name: 'sim', type: 'simulator', options: { beds: 1, waveforms: false } };
// The name bed4-mon as a simulator, with device ids of its own.
const SIM4 = { name: 'bed4-mon', type: 'simulator', options: { beds: 1, waveforms: false, deviceIdPrefix: 'b4' } };
const hl7 = (options: Record<string, unknown> = {}) => ({ name: 'bed4-mon', type: 'hl7-mllp', options: { host: '127.0.0.1', port: 0, ...options } });

let agent: Agent | null = null;
afterEach(async () => {
  await agent?.stop();
  agent = null;
});

async function start(path: string) {
  agent = new Agent({ config: loadConfigFile(path, registry), configPath: path, registry, log: captureLog().log, transport: idle });
  await agent.start();
  const a = agent;
  const reload = async () => ((await a.control!.method('reloadConfig', null)) as { status: number }).status;
  const scrape = async (name: string) =>
    (await (await fetch(`${a.display!.address().url}/metrics`)).text()).split('\n').filter((l) => !l.startsWith('#') && l.includes(`"${name}"`));
  return { a, reload, scrape };
}

describe('per-driver series follow the configuration in force (review rv156 F1)', () => {
  it('a driver removed by reloadConfig has no series left; configured again as a simulator, none its old type counts', async () => {
    const path = join(tempDir(), 'config.json');
    writeFile(path, [hl7(), SIM]);
    const { a, reload, scrape } = await start(path);
    // Counts the driver had (its TLS listener refusing a sender, ingest finding a code it cannot map).
    a.metrics.inc('driver_tls_clients_rejected_total', { driver: 'bed4-mon' }, 2);
    a.metrics.inc('ingest_unmapped_codes_total', { source: 'bed4-mon' }, 3);
    expect((await scrape('bed4-mon')).length).toBeGreaterThanOrEqual(10);

    writeFile(path, [SIM]);
    expect(await reload()).toBe(200);
    expect(await scrape('bed4-mon')).toEqual([]);
    // The driver left in the configuration keeps its series.
    expect(await scrape('sim')).toContain('bedside_driver_emit_failures_total{driver="sim"} 0');

    writeFile(path, [SIM, SIM4]);
    expect(await reload()).toBe(200);
    const again = await scrape('bed4-mon');
    expect(again).toContain('bedside_driver_emit_failures_total{driver="bed4-mon"} 0');
    expect(again).toContain('bedside_ingest_unmapped_codes_total{source="bed4-mon"} 0');
    expect(again.filter((l) => l.includes('tls_clients_rejected'))).toEqual([]);
  });

  it('a driver switched off by reloadConfig has no series left', async () => {
    const path = join(tempDir(), 'config.json');
    writeFile(path, [hl7(), SIM]);
    const { reload, scrape } = await start(path);
    writeFile(path, [{ ...hl7(), enabled: false }, SIM]);
    expect(await reload()).toBe(200);
    expect(await scrape('bed4-mon')).toEqual([]);
  });

  it('the same name given another type in one change loses the old type\'s series and its counts', async () => {
    const path = join(tempDir(), 'config.json');
    writeFile(path, [hl7(), SIM]);
    const { a, reload, scrape } = await start(path);
    a.metrics.inc('driver_emit_failures_total', { driver: 'bed4-mon' }, 4);
    writeFile(path, [SIM4, SIM]);
    expect(await reload()).toBe(200);
    const retyped = await scrape('bed4-mon');
    expect(retyped.filter((l) => l.includes('tls_clients_rejected'))).toEqual([]);
    // Another driver under the old name: the old one's failures are not its own.
    expect(retyped).toContain('bedside_driver_emit_failures_total{driver="bed4-mon"} 0');
  });

  it('a restart of the same driver with other options keeps its counts', async () => {
    const path = join(tempDir(), 'config.json');
    writeFile(path, [hl7(), SIM]);
    const { a, reload, scrape } = await start(path);
    a.metrics.inc('driver_tls_clients_rejected_total', { driver: 'bed4-mon' }, 2);
    a.metrics.inc('ingest_unmapped_codes_total', { source: 'bed4-mon' }, 3);
    writeFile(path, [hl7({ maxConnections: 32 }), SIM]);
    expect(await reload()).toBe(200);
    const kept = await scrape('bed4-mon');
    expect(kept).toContain('bedside_driver_tls_clients_rejected_total{driver="bed4-mon"} 2');
    expect(kept).toContain('bedside_ingest_unmapped_codes_total{source="bed4-mon"} 3');
  });

  it('a driver retried after a failed start keeps its start failures', async () => {
    const path = join(tempDir(), 'config.json');
    writeFile(path, [SIM]);
    const { a } = await start(path);
    const entry = { name: 'late', type: 'simulator', enabled: true, options: { beds: 1, waveforms: false } } as Parameters<Agent['startDriver']>[0];
    a.metrics.inc('driver_start_failures_total', { driver: 'late' }, 2);
    await a.startDriver(entry);
    expect(a.metrics.get('driver_start_failures_total', { driver: 'late' })).toBe(2);
    await a.stopDriver('late');
    await a.startDriver(entry);
    expect(a.metrics.get('driver_start_failures_total', { driver: 'late' })).toBe(2);
  });
});
