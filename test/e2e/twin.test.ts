// Module twin end to end: desired `agentConfig` → validated → applied live (or refused with reasons) → reported,
// against the IoT Hub stand-in with the real SDK, as a device and as an IoT Edge module.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Harness, MODES, logSink, sim } from './control-harness.js';
import { saveOverlay } from '../../agent/control/persist.js';
import { Agent } from '../../agent/agent.js';
import { registry } from '../../drivers/registry.js';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { GATEWAY_BED } from '../../agent/alarms/types.js';
import { MllpClient, freePort } from '../support/mllp-client.js';
import { initialBeds, pcd01Message, rng } from '../../drivers/hl7/ward.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const started = (sink: ReturnType<typeof logSink>, driver: string) => sink.find('driver started', (l) => l.driver === driver).length;
const stoppedCount = (sink: ReturnType<typeof logSink>, driver: string) => sink.find('driver stopped', (l) => l.driver === driver).length;

describe('module twin: errors the hub answers', () => {
  it('a throttled (429) twin read and refused reported updates keep the telemetry connection; reported once the hub accepts', async () => {
    h = new Harness('device');
    await h.startHub();
    h.hub.setTwinPolicy({ refuseGet: 429, refuseReported: 429 });
    const sink = logSink();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(2) }]), sink);
    await h.hub.waitUntil(() => h!.hub.stats.twinRefused >= 2, 15_000, 'twin reads refused');
    await h.hub.waitUntil(() => h!.hub.messages.length >= 2, 15_000, 'telemetry while the twin is refused');
    expect(sink.find('the hub refused the twin read; connection kept, reading it again later').length).toBeGreaterThanOrEqual(1);
    // Reads are answered (refused) now, so the second read on the connection is let through; updates stay refused.
    h.hub.setTwinPolicy({ refuseReported: 429 });
    await h.hub.waitUntil(() => sink.find('the hub refused the reported properties update; connection kept, sent again at the next report').length >= 1, 15_000, 'a refused report');
    h.hub.setTwinPolicy({});
    await h.hub.waitUntil(() => h!.reportedConfig().status === 'applied', 15_000, 'reported once accepted');
    expect(h.hub.stats.connects).toBe(1);
    expect(sink.find('cannot read the twin; recycling the hub connection')).toHaveLength(0);
    // Counted, not only logged (review rv68 L1).
    expect(agent.metrics.get('control_twin_refused_total', { op: 'read' })).toBeGreaterThanOrEqual(1);
    expect(agent.metrics.get('control_twin_refused_total', { op: 'report' })).toBeGreaterThanOrEqual(1);
    expect(agent.metrics.get('control_twin_recycles_total')).toBe(0);
    const ids = h.hub.messages.map((m) => m.messageId);
    expect(new Set(ids).size).toBe(ids.length); // no resends: the connection was never dropped
    expect(agent.health().forwarder.state).toBe('connected');
  });
});

describe('module twin: reads and patches racing', () => {
  it('a refused second read on a connection (right after subscribing) does not leave desired patches ignored', async () => {
    h = new Harness('device');
    await h.startHub();
    // The agent's first read is answered, the one after subscribing to patches is throttled, later ones answered.
    h.hub.setTwinPolicy({ refuseGet: 429, refuseGetNumbers: [2] });
    const sink = logSink();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(1) }]), sink);
    await h.untilConnected(agent);
    expect(h.hub.stats.twinRefused).toBe(1);
    const v = h.updateDesired({ agentConfig: { log: { level: 'warn' } } });
    // Well before the periodic resync (30 s in these tests): the patch itself is taken.
    await h.untilConfigVersion(v, 10_000);
    expect(h.reportedConfig()).toMatchObject({ status: 'applied', logLevel: 'warn' });
  });

  it('a patch arriving in the same burst as a read\'s answer: the list it sets replaces the read\'s list (IoT Hub\'s rule), not merged into it', async () => {
    h = new Harness('device');
    const A = { name: 'ward-a', ...sim(1, { deviceIdPrefix: 'a-' }) };
    const B = { name: 'ward-b', ...sim(1, { deviceIdPrefix: 'b-' }) };
    await h.startHub({ desired: { agentConfig: { drivers: [A, B] } } });
    let pushed = -1;
    // Right after answering the read the agent makes after subscribing: B removed, in the list form.
    h.hub.setTwinPolicy({ afterGet: (n) => void (n === 2 && (pushed = h!.updateDesired({ agentConfig: { drivers: [A] } }))) });
    const { agent } = await h.startAgent(h.localConfig([]), logSink());
    await h.untilConnected(agent);
    expect(pushed).toBeGreaterThan(0);
    await h.untilConfigVersion(pushed, 10_000);
    expect(h.reportedConfig()).toMatchObject({ status: 'applied', drivers: ['ward-a'] });
    await h.hub.waitUntil(() => Object.keys(agent.health().drivers).join() === 'ward-a', 5000, 'only ward-a running');
  });
});

describe.each(MODES)('module twin (%s mode)', (mode) => {
  it('reports versions, drivers, store and uplink; applies driver and log-level changes live, keeping unchanged drivers running', async () => {
    h = new Harness(mode);
    await h.startHub();
    const sink = logSink();
    const probe = sink.log.child({ probe: true }); // made before the change: must follow the new level too
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(2) }]), sink);
    await h.untilConnected(agent);

    // Reported properties: who we are and how we are.
    await h.hub.waitUntil(() => (h!.reported().forward as { lastSuccessAt?: string | null } | undefined)?.lastSuccessAt != null, 15_000, 'a forward reported');
    const r = h.reported();
    expect(r.agent).toMatchObject({ version: '0.1.0', gatewayId: 'test-gw' });
    expect(r.config).toMatchObject({ status: 'applied', source: 'local', drivers: ['ward-a'], logLevel: 'debug' });
    expect(r.drivers).toMatchObject({ 'ward-a': { state: 'running', devices: { total: 2 } } });
    expect(r.store).toMatchObject({ pendingRecords: { telemetry: expect.any(Number), alarms: expect.any(Number) } });
    expect(r.counters).toMatchObject({ forward_messages_total: expect.any(Number) });
    expect(JSON.stringify(h.twin().reported).length).toBeLessThan(16 * 1024);

    // Add a driver (keyed by name, as twin patches merge) and change the log level.
    let v = h.updateDesired({ agentConfig: { drivers: { 'ward-b': sim(1, { deviceIdPrefix: 'b-mon-' }) }, log: { level: 'warn' } } });
    let c = await h.untilConfigVersion(v);
    expect(c).toMatchObject({ status: 'applied', source: 'twin', drivers: ['ward-a', 'ward-b'], logLevel: 'warn' });
    expect(Object.keys(agent.health().drivers).sort()).toEqual(['ward-a', 'ward-b']);
    expect(started(sink, 'ward-a')).toBe(1); // unchanged: not restarted
    expect(stoppedCount(sink, 'ward-a')).toBe(0);
    expect(probe.level).toBe('warn');
    expect(sink.log.level).toBe('warn');
    await h.hub.waitUntil(() => Object.keys((h!.reported().drivers ?? {}) as object).includes('ward-b'), 10_000, 'ward-b reported');

    // Back to debug logging (a log-only change touches no driver).
    v = h.updateDesired({ agentConfig: { log: { level: 'debug' } } });
    c = await h.untilConfigVersion(v);
    expect(c).toMatchObject({ status: 'applied', logLevel: 'debug' });
    expect(probe.level).toBe('debug');

    // Change ward-a's options: it alone is restarted.
    v = h.updateDesired({ agentConfig: { drivers: { 'ward-a': { options: { beds: 3 } } } } });
    c = await h.untilConfigVersion(v);
    expect(c.status).toBe('applied');
    expect(stoppedCount(sink, 'ward-a')).toBe(1);
    expect(started(sink, 'ward-a')).toBe(2);
    expect(started(sink, 'ward-b')).toBe(1);
    expect(Object.keys(agent.health().drivers['ward-a']?.devices ?? {})).toHaveLength(3);

    // Remove ward-b by replacing the whole list.
    v = h.updateDesired({ agentConfig: { drivers: [{ name: 'ward-a', ...sim(3) }] } });
    c = await h.untilConfigVersion(v);
    expect(c).toMatchObject({ status: 'applied', drivers: ['ward-a'] });
    expect(Object.keys(agent.health().drivers)).toEqual(['ward-a']);
    expect(stoppedCount(sink, 'ward-b')).toBe(1);
    await h.hub.waitUntil(() => !Object.keys((h!.reported().drivers ?? {}) as object).includes('ward-b'), 10_000, 'ward-b gone from reported');

    // The applied overlay is saved beside the store for a restart without the hub.
    const saved = JSON.parse(readFileSync(join(h.dir, 'desired-overlay.json'), 'utf8')) as { desiredVersion: number; overlay: unknown };
    expect(saved.desiredVersion).toBe(v);
    expect(saved.overlay).toEqual({ drivers: [{ name: 'ward-a', ...sim(3) }], log: { level: 'debug' } });
  });

  it('refuses an invalid change with the reasons, and the previous configuration keeps running', async () => {
    h = new Harness(mode);
    await h.startHub();
    const sink = logSink();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(2) }]), sink);
    await h.untilConnected(agent);

    let v = h.updateDesired({ agentConfig: { drivers: { 'ward-a': { options: { beds: 0 } }, 'ward-x': { type: 'no-such-driver' } } } });
    let c = await h.untilConfigVersion(v);
    expect(c.status).toBe('rejected');
    expect(c.errors).toEqual(
      expect.arrayContaining([expect.stringMatching(/^drivers\.ward-a\.options\.beds: must be >= 1/), expect.stringMatching(/^drivers\.ward-x\.type: unknown driver type "no-such-driver"/)]),
    );
    expect(Object.keys(agent.health().drivers)).toEqual(['ward-a']);
    expect(Object.keys(agent.health().drivers['ward-a']?.devices ?? {})).toHaveLength(2);
    expect(stoppedCount(sink, 'ward-a')).toBe(0);

    // A section that could cut the gateway off is refused outright.
    v = h.updateDesired({ agentConfig: { drivers: null, hub: { mode: 'off' }, store: { maxBytes: 2000000 } } });
    c = await h.untilConfigVersion(v);
    expect(c.status).toBe('rejected');
    expect(c.errors).toEqual(expect.arrayContaining([expect.stringMatching(/^hub: the uplink cannot be changed remotely/), expect.stringMatching(/^store: /)]));
    expect(agent.health().forwarder.state).toBe('connected');
    expect(existsSync(join(h.dir, 'desired-overlay.json'))).toBe(false);
    // Each refusal counted, not only logged and reported (review rv68 L1).
    expect(agent.metrics.get('control_desired_rejected_total')).toBe(2);

    // Fixed: applied.
    v = h.updateDesired({ agentConfig: { hub: null, store: null, log: { level: 'info' } } });
    c = await h.untilConfigVersion(v);
    expect(c).toMatchObject({ status: 'applied', logLevel: 'info' });
    expect(c.errors).toBeUndefined(); // the old reasons are removed from the twin, not left behind
  });

  it('picks up a desired change made while it was disconnected, and keeps following the twin after the hub lost its session', async () => {
    h = new Harness(mode);
    // No persistent sessions: every reconnect finds the hub without our subscriptions, like a hub that lost them.
    await h.startHub({ persistentSessions: false });
    const sink = logSink();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(1) }]), sink);
    await h.untilConnected(agent);

    h.hub.refuseConnections('tcp-close');
    h.hub.dropConnections();
    await h.hub.waitUntil(() => agent.health().forwarder.state !== 'connected', 10_000, 'agent disconnected');
    const v1 = h.updateDesired({ agentConfig: { drivers: { 'ward-b': sim(1, { deviceIdPrefix: 'b-mon-' }) } } });
    expect(h.hub.stats.twinDesiredPushes).toBe(0); // nobody to push to: only a twin read finds it
    h.hub.refuseConnections('off');
    const c = await h.untilConfigVersion(v1, 20_000);
    expect(c).toMatchObject({ status: 'applied', drivers: ['ward-a', 'ward-b'] });

    // Lose the session again (drop, subscriptions forgotten), then change desired while connected: it still arrives.
    const pushesBefore = h.hub.stats.twinDesiredPushes;
    h.hub.dropConnections();
    h.hub.forgetSessions();
    await h.untilConnected(agent);
    await h.hub.waitUntil(() => h!.hub.subscriptions(h!.deviceId, h!.moduleId).some((f) => f.startsWith('$iothub/twin/PATCH/properties/desired')), 10_000, 'desired subscription renewed');
    const v2 = h.updateDesired({ agentConfig: { drivers: { 'ward-b': { enabled: false } } } });
    const c2 = await h.untilConfigVersion(v2, 20_000);
    expect(c2).toMatchObject({ status: 'applied', drivers: ['ward-a'] });
    expect(h.hub.stats.twinDesiredPushes).toBeGreaterThan(pushesBefore); // arrived as a push, not only by a later read
  });
});

describe('module twin: a change that would stop the next start', () => {
  it('is refused like an invalid one (TLS files that are not there), and not saved (the sections with secrets, hub and privacy, are refused outright)', async () => {
    h = new Harness('device');
    await h.startHub();
    const { agent } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(1) }]), logSink());
    await h.untilConnected(agent);
    // Valid by the schema, and it would stop the next start. (The display's TLS, port and switch are refused outright
    // since reviews rv82 M1 and rv91 M5: they are the local file's.)
    const v = h.updateDesired({
      agentConfig: {
        drivers: { central: { type: 'hl7-mllp', options: { host: '127.0.0.1', port: 0, tls: { certFile: '/nonexistent/c.pem', keyFile: '/nonexistent/k.pem' } } } },
      },
    });
    const c = await h.untilConfigVersion(v);
    expect(c.status).toBe('rejected');
    expect(c.errors).toEqual(expect.arrayContaining([expect.stringMatching(/^drivers\.central\.options\.tls\.certFile: cannot read \/nonexistent\/c\.pem/)]));
    expect(existsSync(join(h.dir, 'desired-overlay.json'))).toBe(false);
    expect(Object.keys(agent.health().drivers)).toEqual(['ward-a']);
  });

  it('saved by an earlier version, it is ignored at start (with the reason), and the agent starts on the local file', async () => {
    h = new Harness('device');
    await h.startHub();
    h.hub.refuseConnections('tcp-close');
    saveOverlay(join(h.dir, 'desired-overlay.json'), {
      desiredVersion: 7,
      appliedAt: new Date().toISOString(),
      overlay: { privacy: { pseudonymizePatientIds: true, pseudonymKey: { env: 'TWIN_TEST_KEY_NOT_SET' } } },
    });
    const { agent, sink } = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(1) }]));
    expect(Object.keys(agent.health().drivers)).toEqual(['ward-a']);
    expect(sink.find('saved desired overlay does not fit the local config any more; ignored until the hub sends a new one')).toHaveLength(1);
    expect(agent.control?.configStatus).toMatchObject({ source: 'local' });
  });
});

describe('module twin: a saved overlay from an older version holding fields now refused (review rv94 H2, H3)', () => {
  it('the rest is applied (the twin\'s driver and bed limits), the fields are warned of, counted, reported and alarmed; the same twin read again keeps it so; the twin dropping them ends the alarm; limits outside their range are alarmed while in force: from the file at start, from the twin after the restart that applies them (review rv96 M3)', async () => {
    h = new Harness('device');
    const overlay = { display: { port: 9999, enabled: true }, drivers: { 'ward-b': sim(1, { deviceIdPrefix: 'b-mon-', bedPrefix: 'B-' }) }, alarms: { limits: { beds: { 'B-01': { spo2: { low: 85 } } } } } };
    await h.startHub({ desired: { agentConfig: overlay } });
    saveOverlay(join(h.dir, 'desired-overlay.json'), { desiredVersion: 1, appliedAt: new Date().toISOString(), overlay });
    // The file holds a high limit meant as "none" (999): it starts, as before 5db4b97.
    const local = h.localConfig([{ name: 'ward-a', ...sim(1) }], { alarms: { limits: { beds: { 'ICU-01': { hr: { high: 999 } } } } } });
    const { agent, sink } = await h.startAgent(local);
    const gateway = () => agent.alarms.engine.list({ bed: GATEWAY_BED }).filter((a) => a.conditionPresent).map((a) => a.condition.text);
    const ignoredText = 'Twin settings ignored: display.port, display.enabled; change them in the local file';
    expect(Object.keys(agent.health().drivers).sort()).toEqual(['ward-a', 'ward-b']);
    expect(agent.display).toBeNull(); // the file's display (off) stands
    expect(agent.control?.config.alarms.limits.beds['B-01']).toEqual({ spo2: { low: 85 } });
    expect(sink.find('saved desired overlay: display.port from the twin is ignored: this version takes it from the local file only; set it in the local file')).toHaveLength(1);
    expect(agent.metrics.get('control_overlay_fields_ignored_total', { field: 'display.port' })).toBe(1);
    expect(agent.metrics.get('control_overlay_fields_ignored_total', { field: 'display.enabled' })).toBe(1);
    expect(gateway()).toEqual(expect.arrayContaining([ignoredText, 'Limit alarms.limits.beds.ICU-01.hr.high 999 is outside what the rule accepts (hr is in /min, 0..300: a digit too many?); check the configuration']));
    expect(agent.alarms.engine.list({ bed: GATEWAY_BED }).find((a) => a.condition.text === ignoredText)?.priority).toBe('low');

    // The twin's document is the saved one: applied as at start (not refused), the fields reported as ignored.
    await h.untilConnected(agent);
    await h.hub.waitUntil(() => (h!.reportedConfig() as { ignored?: string[] }).ignored !== undefined, 15_000, 'ignored fields reported');
    expect(h.reportedConfig()).toMatchObject({ status: 'applied', drivers: ['ward-a', 'ward-b'], ignored: ['display.port', 'display.enabled'] });
    expect(agent.metrics.get('control_desired_rejected_total')).toBe(0);
    expect(gateway()).toContain(ignoredText);

    // The twin drops them, and sets a limit outside its range: the first alarm ends. The limit is in the alarms
    // section, put in force by a restart (pendingRestart): the engine keeps the limits it started with until then, so
    // the limit's alarm comes with that restart, not before; the change is logged as pending (review rv96 M3).
    const slipText = 'Limit alarms.limits.beds.B-01.temp.high 100.4 is outside what the rule accepts (temp is in Cel, 10..45: a Fahrenheit value?); check the configuration';
    const v = h.updateDesired({ agentConfig: { display: { port: null, enabled: null }, alarms: { limits: { beds: { 'B-01': { temp: { high: 100.4 } } } } } } });
    expect(await h.untilConfigVersion(v)).toMatchObject({ status: 'applied', pendingRestart: ['alarms'] });
    expect((h.reportedConfig() as { ignored?: string[] }).ignored).toBeUndefined();
    expect(gateway()).not.toContain(ignoredText);
    expect(gateway()).not.toContain(slipText);
    expect(sink.find(slipText)).toHaveLength(0);
    expect(sink.find('limit change pending a restart: the alarm engine keeps the limits it started with until then').map((l) => l.afterRestart)).toEqual([
      ['alarms.limits.beds.ICU-01.hr.high=999', 'alarms.limits.beds.B-01.temp.high=100.4'],
    ]);

    // The restart puts it in force (from the saved overlay): now its alarm is up, beside the file's.
    await agent.stop();
    h.agents.length = 0;
    const second = await h.startAgent(local);
    const gatewayAfter = second.agent.alarms.engine.list({ bed: GATEWAY_BED }).filter((a) => a.conditionPresent).map((a) => a.condition.text);
    expect(second.agent.control?.config.alarms.limits.beds['B-01']).toEqual({ spo2: { low: 85 }, temp: { high: 100.4 } });
    expect(gatewayAfter).toContain(slipText);
    expect(gatewayAfter).toContain('Limit alarms.limits.beds.ICU-01.hr.high 999 is outside what the rule accepts (hr is in /min, 0..300: a digit too many?); check the configuration');
    expect(gatewayAfter).not.toContain(ignoredText);
  });
});

/** A hub that refuses connections, and a desired overlay (log level debug, this version) saved by an earlier run. */
async function offlineWithSavedOverlay(desiredVersion: number) {
  h = new Harness('device');
  await h.startHub();
  h.hub.refuseConnections('tcp-close');
  const file = join(h.dir, 'desired-overlay.json');
  saveOverlay(file, { desiredVersion, appliedAt: new Date().toISOString(), overlay: { log: { level: 'debug' } } });
  return { file, local: h.localConfig([{ name: 'ward-a', ...sim(1) }]) };
}

describe('module twin: a saved overlay whose start does not complete', () => {
  it('is set aside after two such starts in a row; the next runs on the local file and says why', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = (holder.address() as AddressInfo).port;
    try {
      h = new Harness('device');
      await h.startHub();
      h.hub.refuseConnections('tcp-close');
      const file = join(h.dir, 'desired-overlay.json');
      // Valid, and it passed every check when it was applied. Since then another program took the display's port
      // (the local file's: the twin may not set the display's host, port or switch, reviews rv82 M1 and rv91 M5), so
      // starts with it do not complete: the start cannot tell the overlay from another cause.
      saveOverlay(file, { desiredVersion: 4, appliedAt: new Date().toISOString(), overlay: { log: { level: 'warn' } } });
      const local = h.localConfig([{ name: 'ward-a', ...sim(1) }], { display: { enabled: true, host: '127.0.0.1', port: taken } });
      // One start that does not complete may have a cause of its own (a power cut): the overlay is tried once more.
      for (let i = 0; i < 2; i++) {
        await expect(h.startAgent(local)).rejects.toThrow(/EADDRINUSE/);
        await h.agents.pop()!.stop();
        expect(existsSync(file)).toBe(true);
      }
      await new Promise<void>((r) => holder.close(() => r())); // the port is free again

      const { agent, sink } = await h.startAgent(local);
      expect(sink.find('the last starts with the saved desired overlay did not complete: set aside, starting with the local config file only')).toHaveLength(1);
      expect(agent.control?.configStatus).toMatchObject({ status: 'rejected', source: 'local', errors: [expect.stringMatching(/did not complete/)] });
      expect(agent.control?.config.log.level).toBe('debug'); // the local file's, not the overlay's warn
      expect(Object.keys(agent.health().drivers)).toEqual(['ward-a']);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(join(h.dir, 'desired-overlay.failed.json'))).toBe(true);
      // A start that completes with a saved overlay leaves no mark behind.
      await agent.stop();
      h.agents.length = 0;
      saveOverlay(file, { desiredVersion: 5, appliedAt: new Date().toISOString(), overlay: { log: { level: 'debug' } } });
      const third = await h.startAgent(local);
      expect(third.agent.control?.configStatus).toMatchObject({ status: 'applied', source: 'saved-overlay' });
      expect(existsSync(`${file}.starting`)).toBe(false);
    } finally {
      if (holder.listening) holder.close();
    }
  });

  it('a start the store lock refuses (the old container still running during an update) is not counted against the overlay (review rv41 §1)', async () => {
    const { file, local } = await offlineWithSavedOverlay(6);
    const old = await h!.startAgent(local);
    for (let i = 0; i < 3; i++) expect(() => new Agent({ config: local, registry, log: logSink().log })).toThrow(/is in use by another agent/);
    expect(existsSync(file)).toBe(true);
    await old.agent.stop();
    h!.agents.length = 0;
    const { agent } = await h!.startAgent(local);
    expect(agent.control?.configStatus).toMatchObject({ status: 'applied', source: 'saved-overlay', desiredVersion: 6 });
  });

  it('a start stopped on request (SIGTERM while starting) is not counted against the overlay', async () => {
    const { local } = await offlineWithSavedOverlay(9);
    for (let i = 0; i < 3; i++) {
      const a = new Agent({ config: local, registry, log: logSink().log });
      const starting = a.start();
      await a.stop();
      await starting;
    }
    const { agent } = await h!.startAgent(local);
    expect(agent.control?.configStatus).toMatchObject({ status: 'applied', source: 'saved-overlay', desiredVersion: 9 });
  });
});

describe('module twin: restart without the hub', () => {
  it('starts with the overlay last applied from the twin when the hub is unreachable', async () => {
    h = new Harness('device');
    await h.startHub();
    const config = h.localConfig([{ name: 'ward-a', ...sim(1) }]);
    const first = await h.startAgent(config);
    await h.untilConnected(first.agent);
    const v = h.updateDesired({ agentConfig: { drivers: { 'ward-b': sim(1, { deviceIdPrefix: 'b-mon-' }) } } });
    await h.untilConfigVersion(v);
    await first.agent.stop();
    h.agents.length = 0;

    h.hub.refuseConnections('tcp-close');
    const second = await h.startAgent(h.localConfig([{ name: 'ward-a', ...sim(1) }]));
    expect(Object.keys(second.agent.health().drivers).sort()).toEqual(['ward-a', 'ward-b']);
    expect(second.sink.find('starting with the desired overlay last applied from the twin')).toHaveLength(1);
    expect(second.agent.control?.configStatus).toMatchObject({ status: 'applied', source: 'saved-overlay', desiredVersion: v });

    // Back online: the twin's (newer) desired wins.
    const v2 = h.updateDesired({ agentConfig: null });
    h.hub.refuseConnections('off');
    const c = await h.untilConfigVersion(v2, 20_000);
    expect(c).toMatchObject({ status: 'applied', source: 'local', drivers: ['ward-a'] });
    expect(existsSync(join(h.dir, 'desired-overlay.json'))).toBe(false);
  });
});

describe('module twin: transport security is the gateway\'s (review rv82 H2)', () => {
  it('a desired change that takes TLS off the MLLP listener and binds it to every interface is refused: reported, warned, counted; the listener keeps TLS', async () => {
    h = new Harness('device');
    await h.startHub();
    const certs = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
    const port = await freePort();
    const entry = { name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port, tls: { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem') } } };
    const sink = logSink();
    const { agent } = await h.startAgent(h.localConfig([entry]), sink);
    await h.untilConnected(agent);

    // The review's probe: the entry repeated in the list form (IoT Hub drops nulls, so not `tls: null`).
    const v = h.updateDesired({ agentConfig: { drivers: [{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '0.0.0.0', port } }] } });
    const c = await h.untilConfigVersion(v);
    expect(c.status).toBe('rejected');
    expect(c.errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^drivers\.icu-mllp\.options\.tls: transport security cannot be weakened remotely: TLS removed/),
        expect.stringMatching(/^drivers\.icu-mllp\.options\.host: transport security cannot be weakened remotely/),
      ]),
    );
    expect(sink.find("desired configuration would weaken a driver's transport security: refused").map((l) => [l.level, l.driver, l.field])).toEqual([
      [40, 'icu-mllp', 'options.tls'],
      [40, 'icu-mllp', 'options.host'],
    ]);
    expect(agent.metrics.get('control_desired_rejected_total')).toBe(1);
    expect(stoppedCount(sink, 'icu-mllp')).toBe(0);
    expect(existsSync(join(h.dir, 'desired-overlay.json'))).toBe(false);
    // Still TLS: plain HL7 gets no ACK (the handshake fails and the listener closes the connection).
    const [bed] = initialBeds(1, rng(21));
    const plain = await MllpClient.connect(port);
    try {
      await expect(plain.send(pcd01Message(bed!, 'P2', Date.now(), { waveform: false }), 5000)).rejects.toThrow(/closed before the ACK|no ACK/);
    } finally {
      plain.close();
    }
  });

  it('the twin can undo its own tightening: TLS it added to the local plain listener is removed when it drops its override; plain HL7 is ACKed again (review rv83 M1)', async () => {
    h = new Harness('device');
    await h.startHub();
    const certs = join(PACKAGE_ROOT, 'test', 'hub-standin', 'certs');
    const port = await freePort();
    const local = h.localConfig([{ name: 'icu-mllp', type: 'hl7-mllp', options: { host: '127.0.0.1', port } }]);
    const sink = logSink();
    const { agent } = await h.startAgent(local, sink, h.writeLocal(local));
    await h.untilConnected(agent);
    const v1 = h.updateDesired({ agentConfig: { log: { level: 'info' }, drivers: { 'icu-mllp': { options: { tls: { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem') } } } } } });
    expect((await h.untilConfigVersion(v1)).status).toBe('applied');
    // The senders cannot do TLS: the twin removes its override, back to the local file's entry.
    const v2 = h.updateDesired({ agentConfig: { drivers: null } });
    expect(await h.untilConfigVersion(v2)).toMatchObject({ status: 'applied' });
    expect(agent.metrics.get('control_desired_rejected_total')).toBe(0);
    // reloadConfig judges the same document the same way.
    expect(await h.invoke('reloadConfig')).toMatchObject({ status: 200, payload: { status: 'applied', stopped: [], started: [] } });
    const [bed] = initialBeds(1, rng(22));
    const plain = await MllpClient.connect(port);
    try {
      await plain.send(pcd01Message(bed!, 'P3', Date.now(), { waveform: false }), 5000);
    } finally {
      plain.close();
    }
  });
});
